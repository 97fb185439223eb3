package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Options tune a Log.
type Options struct {
	// Now is the log's clock, for retention; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger // default: discard
	// Retention is how long events and attempts are kept. Default 90 days.
	Retention time.Duration
	// FlushInterval is the longest an event waits in memory before it is
	// written, unless a reader asks for it sooner. Default 200 ms.
	FlushInterval time.Duration
	// PruneInterval is how often events older than Retention are deleted.
	// Default 1 hour.
	PruneInterval time.Duration
	// MaxPending caps the events waiting to be written while the store
	// fails; past it the oldest are dropped (and counted). Default 100000.
	MaxPending int
}

// Defaults of Options.
const (
	DefaultRetention     = 90 * 24 * time.Hour
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultPruneInterval = time.Hour
	DefaultMaxPending    = 100000
)

// flushAt is the queue length that starts a write before the interval.
const flushAt = 2048

// ErrClosed is returned by reads after Close.
var ErrClosed = errors.New("audit: log is closed")

// Log queues events for its Store and fans them out to live subscribers.
// It is safe for concurrent use.
type Log struct {
	store Store
	o     Options

	mu       sync.Mutex
	events   []Event
	attempts []Attempt
	recorded uint64        // Record calls so far
	stored   uint64        // Record calls whose events are stored
	written  chan struct{} // closed, and replaced, after each write
	lastErr  error         // of the last write; nil once one succeeds
	dropped  uint64
	closed   bool

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	subMu  sync.Mutex
	subs   map[*subscriber]struct{}
	noSubs bool // CloseStreams was called
}

type subscriber struct {
	ch      chan Event
	dropped uint64
}

// Start returns a Log writing to store and starts its writer.
func Start(store Store, o Options) *Log {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = DefaultPruneInterval
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	l := &Log{
		store:   store,
		o:       o,
		written: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		subs:    map[*subscriber]struct{}{},
	}
	go l.run()
	return l
}

// Retention is how long the log keeps events.
func (l *Log) Retention() time.Duration { return l.o.Retention }

// Record queues ev, and the attempts its call refused, and hands ev to the
// live subscribers. It never blocks on the store.
func (l *Log) Record(ev Event, attempts []Attempt) {
	if ev.EventVersion == "" {
		ev.EventVersion = EventVersion
	}
	ev.EventTime = ev.EventTime.UTC().Truncate(time.Millisecond)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.events = append(l.events, ev)
	l.attempts = append(l.attempts, attempts...)
	l.recorded++
	if over := len(l.events) - l.o.MaxPending; over > 0 {
		// The store has been failing for a while: keep the newest.
		l.events = append(l.events[:0], l.events[over:]...)
		l.dropped += uint64(over)
	}
	full := len(l.events) >= flushAt
	l.mu.Unlock()
	if full {
		l.poke()
	}
	l.publish(ev)
}

func (l *Log) poke() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Flush waits until everything recorded before the call is stored, and
// returns the store's error if the write failed.
func (l *Log) Flush(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.stored >= l.recorded && len(l.events) == 0 && len(l.attempts) == 0 {
			l.mu.Unlock()
			return nil
		}
		target := l.recorded
		if l.closed {
			l.mu.Unlock()
			return ErrClosed
		}
		ch := l.written
		l.mu.Unlock()
		l.poke()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		l.mu.Lock()
		ok, err := l.stored >= target, l.lastErr
		l.mu.Unlock()
		if ok {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Lookup returns a page of events, after storing everything recorded so far.
func (l *Log) Lookup(ctx context.Context, f Filter) (Page, error) {
	if err := f.Normalize(); err != nil {
		return Page{}, err
	}
	if err := l.Flush(ctx); err != nil {
		return Page{}, err
	}
	return l.store.LookupEvents(ctx, f)
}

// Attempts returns the attempts that match f, after storing everything
// recorded so far.
func (l *Log) Attempts(ctx context.Context, f AttemptFilter) ([]Attempt, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultAttemptLimit
	}
	if err := l.Flush(ctx); err != nil {
		return nil, err
	}
	return l.store.Attempts(ctx, f)
}

// Prune deletes what is older than the retention period now.
func (l *Log) Prune(ctx context.Context) (int64, error) {
	n, err := l.store.PruneAudit(ctx, l.o.Now().Add(-l.o.Retention))
	if err != nil {
		return 0, err
	}
	if n > 0 {
		l.o.Logger.Info("audit: pruned events and attempts past retention", "deleted", n, "retention", l.o.Retention)
	}
	return n, nil
}

// run is the writer: it stores what is queued every FlushInterval, or at
// once when poked, and prunes every PruneInterval.
func (l *Log) run() {
	defer close(l.done)
	tick := time.NewTicker(l.o.FlushInterval)
	defer tick.Stop()
	prune := time.NewTimer(0) // once at start
	defer prune.Stop()
	for {
		select {
		case <-l.stop:
			l.write()
			return
		case <-l.kick:
		case <-tick.C:
		case <-prune.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if _, err := l.Prune(ctx); err != nil {
				l.o.Logger.Error("audit: prune", "error", err)
			}
			cancel()
			prune.Reset(l.o.PruneInterval)
		}
		l.write()
	}
}

// write stores the queue in one call of the store.
func (l *Log) write() {
	l.mu.Lock()
	events, attempts, target := l.events, l.attempts, l.recorded
	l.events, l.attempts = nil, nil
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if dropped > 0 {
		l.o.Logger.Error("audit: dropped events the store could not take", "dropped", dropped)
	}
	var err error
	if len(events) > 0 || len(attempts) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = l.store.AppendAudit(ctx, events, attempts)
		cancel()
	}
	l.mu.Lock()
	if err != nil {
		l.o.Logger.Error("audit: write events", "events", len(events), "error", err)
		// Keep them for the next write, ahead of what came since.
		l.events = append(events, l.events...)
		l.attempts = append(attempts, l.attempts...)
		if over := len(l.events) - l.o.MaxPending; over > 0 {
			l.events = l.events[over:]
			l.dropped += uint64(over)
		}
		if over := len(l.attempts) - l.o.MaxPending; over > 0 {
			l.attempts = l.attempts[over:]
		}
	} else {
		l.stored = target
	}
	l.lastErr = err
	close(l.written)
	l.written = make(chan struct{})
	l.mu.Unlock()
}

// Subscribe returns a channel that receives every event recorded from now
// on, and a function that ends the subscription. A subscriber that falls
// more than buffer events behind misses events rather than slowing calls.
// The channel is closed when the subscription ends or CloseStreams is
// called.
func (l *Log) Subscribe(buffer int) (<-chan Event, func()) {
	if buffer <= 0 {
		buffer = 256
	}
	s := &subscriber{ch: make(chan Event, buffer)}
	l.subMu.Lock()
	if l.noSubs {
		l.subMu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	l.subs[s] = struct{}{}
	l.subMu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			l.subMu.Lock()
			if _, ok := l.subs[s]; ok {
				delete(l.subs, s)
				close(s.ch)
			}
			l.subMu.Unlock()
		})
	}
}

func (l *Log) publish(ev Event) {
	l.subMu.Lock()
	defer l.subMu.Unlock()
	for s := range l.subs {
		select {
		case s.ch <- ev:
		default:
			s.dropped++
		}
	}
}

// CloseStreams ends every subscription and refuses new ones, so that
// long-lived streams let a server shut down.
func (l *Log) CloseStreams() {
	l.subMu.Lock()
	defer l.subMu.Unlock()
	l.noSubs = true
	for s := range l.subs {
		delete(l.subs, s)
		close(s.ch)
	}
}

// Close ends the streams, writes what is queued and stops the writer. It is
// safe to call more than once.
func (l *Log) Close() error {
	l.CloseStreams()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}
