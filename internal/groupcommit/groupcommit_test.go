package groupcommit

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

type testJob struct {
	Call
	size int
	out  int // set by commit
}

func (j *testJob) Size() int { return j.size }

// recorder is a commit function that keeps the sizes of every batch and
// can be held before committing.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	hold    chan struct{} // when set, commit waits for it to close
	entered chan struct{} // when set, gets a value as commit starts
}

func (r *recorder) commit(batch []*testJob) {
	if r.entered != nil {
		r.entered <- struct{}{}
	}
	if r.hold != nil {
		<-r.hold
	}
	sizes := make([]int, len(batch))
	for i, j := range batch {
		sizes[i] = j.size
		j.out = j.size * 10
	}
	r.mu.Lock()
	r.batches = append(r.batches, sizes)
	r.mu.Unlock()
}

func (r *recorder) got() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slicesClone(r.batches)
}

func slicesClone(b [][]int) [][]int { return append([][]int(nil), b...) }

// submit calls Submit in a goroutine and waits until the job is queued
// (or Submit has returned), so that jobs queue in the order submitted.
func submit(t *testing.T, ctx context.Context, q *Queue[*testJob], j *testJob) <-chan error {
	t.Helper()
	before := q.Len()
	c := make(chan error, 1)
	go func() { c <- q.Submit(ctx, j) }()
	deadline := time.Now().Add(10 * time.Second)
	for q.Len() == before && len(c) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("job never queued")
		}
		time.Sleep(100 * time.Microsecond)
	}
	return c
}

func wait(t *testing.T, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Submit never returned")
		return nil
	}
}

// queue submits jobs of the given sizes before the committer runs, then
// runs it, and returns the batches it committed and the jobs.
func queue(t *testing.T, maxBatch int, sizes ...int) ([][]int, []*testJob) {
	t.Helper()
	q := New[*testJob](maxBatch)
	var (
		jobs []*testJob
		errs []<-chan error
	)
	for _, n := range sizes {
		j := &testJob{size: n}
		jobs = append(jobs, j)
		errs = append(errs, submit(t, t.Context(), q, j))
	}
	r := &recorder{}
	go q.Run(r.commit)
	for i, c := range errs {
		if err := wait(t, c); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		if jobs[i].out != jobs[i].size*10 {
			t.Errorf("job %d answered before commit set its result", i)
		}
	}
	q.Close()
	return r.got(), jobs
}

func TestGathersUpToMaxBatch(t *testing.T) {
	got, _ := queue(t, 5, 1, 2, 2, 1, 3, 1)
	want := [][]int{{1, 2, 2}, {1, 3, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
}

func TestCarriesOverJobThatDoesNotFit(t *testing.T) {
	// 3 does not fit after 4 and starts the next batch; 10 is bigger than
	// a batch and goes alone; the next batch gathers again.
	got, _ := queue(t, 5, 4, 3, 10, 1, 1)
	want := [][]int{{4}, {3}, {10}, {1, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
}

func TestAbandonedJobsAreSkipped(t *testing.T) {
	q := New[*testJob](100)
	ctx, cancel := context.WithCancel(t.Context())
	// Abandoned jobs first (taken by the blocking receive) and in the
	// middle (taken while gathering).
	a1 := submit(t, ctx, q, &testJob{size: 1})
	a2 := submit(t, ctx, q, &testJob{size: 2})
	k1 := submit(t, t.Context(), q, &testJob{size: 3})
	ctx2, cancel2 := context.WithCancel(t.Context())
	a3 := submit(t, ctx2, q, &testJob{size: 4})
	k2 := submit(t, t.Context(), q, &testJob{size: 5})
	cancel()
	cancel2()
	for _, c := range []<-chan error{a1, a2, a3} {
		if err := wait(t, c); !errors.Is(err, context.Canceled) {
			t.Fatalf("abandoned job: Submit returned %v, want context.Canceled", err)
		}
	}
	r := &recorder{}
	go q.Run(r.commit)
	for _, c := range []<-chan error{k1, k2} {
		if err := wait(t, c); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	if got, want := r.got(), [][]int{{3, 5}}; !reflect.DeepEqual(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
}

func TestTakenJobIsAnsweredAfterCancel(t *testing.T) {
	q := New[*testJob](100)
	r := &recorder{hold: make(chan struct{}), entered: make(chan struct{}, 1)}
	go q.Run(r.commit)
	defer q.Close()
	ctx, cancel := context.WithCancel(t.Context())
	j := &testJob{size: 1}
	c := make(chan error, 1)
	go func() { c <- q.Submit(ctx, j) }()
	<-r.entered
	cancel()
	select {
	case err := <-c:
		t.Fatalf("Submit returned %v while its batch was committing", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(r.hold)
	if err := wait(t, c); err != nil || j.out != 10 {
		t.Fatalf("Submit returned %v, out %d; want nil, 10", err, j.out)
	}
}

func TestCloseDrains(t *testing.T) {
	q := New[*testJob](2)
	var errs []<-chan error
	for range 5 {
		errs = append(errs, submit(t, t.Context(), q, &testJob{size: 1}))
	}
	closed := make(chan struct{})
	go func() { q.Close(); close(closed) }()
	// Close refuses new jobs at once, though the committer has not run.
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Before Close takes the queue, a probe queues, times out
		// waiting and is abandoned, which the committer skips.
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		err := q.Submit(ctx, &testJob{size: 1})
		cancel()
		if errors.Is(err, ErrClosed) {
			break
		}
		if !errors.Is(err, context.DeadlineExceeded) || time.Now().After(deadline) {
			t.Fatalf("Submit during Close returned %v", err)
		}
	}
	select {
	case <-closed:
		t.Fatal("Close returned before the committer ran")
	default:
	}
	r := &recorder{}
	go q.Run(r.commit)
	<-closed
	for i, c := range errs {
		if err := wait(t, c); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	if got, want := r.got(), [][]int{{1, 1}, {1, 1}, {1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
	q.Close() // again: returns at once
	if err := q.Submit(t.Context(), &testJob{size: 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close returned %v, want ErrClosed", err)
	}
}
