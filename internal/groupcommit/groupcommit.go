// Package groupcommit is the one durable-write batching discipline that
// every store follows: callers queue jobs, a single committer takes every
// job waiting (up to a number of records), writes them in one transaction
// and answers them only after it commits. Each store keeps its own
// transaction (its commit function); the queue keeps what must not differ
// between stores: when a caller may give up, what Close does with jobs
// still waiting, and how batches are gathered.
//
// A caller whose context ends while its job still waits in the queue gets
// ctx.Err() and the job is never given to the committer; once the
// committer has taken a job, the caller waits for its answer whatever its
// context does. Close stops taking jobs and returns after the committer has
// finished every job already queued.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrClosed is what Submit returns once Close has been called.
var ErrClosed = errors.New("groupcommit: queue is closed")

// Depth is how many jobs may wait in a queue before Submit blocks.
const Depth = 1024

// Call is the queue's part of a job: a store's job type embeds it.
// A Call is submitted once.
type Call struct {
	// state moves from queued to taken (the committer will finish the job)
	// or to abandoned (the caller gave up first); whoever moves it first
	// decides.
	state atomic.Int32
	done  chan struct{} // closed after the job's batch is committed
}

const (
	queued int32 = iota
	taken
	abandoned
)

func (c *Call) call() *Call { return c }

// Job is a pointer to a store's job type, which embeds Call. Size is the
// number of records the job writes, which batches are bounded by.
type Job interface {
	call() *Call
	Size() int
}

// Queue takes jobs from any number of callers to one committer.
type Queue[J Job] struct {
	maxBatch int

	// mu guards closed and the sending side of jobs, so that Close never
	// closes the channel under a sender.
	mu     sync.RWMutex
	closed bool
	jobs   chan J
	done   chan struct{} // closed when Run has returned
}

// New returns a queue whose batches hold up to maxBatch records; a job of
// more records than that is a batch alone.
func New[J Job](maxBatch int) *Queue[J] {
	return &Queue[J]{maxBatch: maxBatch, jobs: make(chan J, Depth), done: make(chan struct{})}
}

// Submit queues j and waits until the committer has finished it: nil then
// means that j's batch went through the commit function, which set j's
// results. It returns ctx.Err() if ctx ends before the committer takes j,
// which it then never does, and ErrClosed after Close.
func (q *Queue[J]) Submit(ctx context.Context, j J) error {
	c := j.call()
	c.done = make(chan struct{})
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return ErrClosed
	}
	select {
	case q.jobs <- j:
		q.mu.RUnlock()
	case <-ctx.Done():
		q.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		if c.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err()
		}
		<-c.done
	}
	return nil
}

// Len is the number of jobs waiting in the queue, abandoned ones included.
func (q *Queue[J]) Len() int { return len(q.jobs) }

// Run is the committer: it takes every job waiting, up to maxBatch records,
// passes them to commit, answers their callers when commit returns and
// starts again, until Close closes the queue and it is empty. A job taken
// that would make the batch too big is the first of the next one. batch is
// commit's only for the call. Run must run exactly once.
func (q *Queue[J]) Run(commit func(batch []J)) {
	defer close(q.done)
	var (
		batch   []J
		next    J // taken, but did not fit in the last batch
		carried bool
	)
	for {
		clear(batch)
		batch = batch[:0]
		n := 0
		if carried {
			batch, n = append(batch, next), next.Size()
			var zero J
			next, carried = zero, false
		} else {
			j, ok := <-q.jobs
			if !ok {
				return
			}
			if j.call().state.CompareAndSwap(queued, taken) {
				batch, n = append(batch, j), j.Size()
			}
		}
	gather:
		for n < q.maxBatch {
			select {
			case j, ok := <-q.jobs:
				if !ok {
					break gather
				}
				if !j.call().state.CompareAndSwap(queued, taken) {
					continue
				}
				if n > 0 && n+j.Size() > q.maxBatch {
					next, carried = j, true
					break gather
				}
				batch, n = append(batch, j), n+j.Size()
			default:
				break gather
			}
		}
		if len(batch) > 0 {
			commit(batch)
			for _, j := range batch {
				close(j.call().done)
			}
		}
	}
}

// Close stops taking jobs and returns once Run has finished every job
// already queued. It may be called more than once, but only while Run runs
// or after it was started.
func (q *Queue[J]) Close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.jobs)
	}
	q.mu.Unlock()
	<-q.done
}
