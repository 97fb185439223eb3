package audit

import (
	"context"
	"sort"
	"sync"
	"time"
)

// MemStore keeps events and attempts in memory, for stores without audit
// tables (and tests): the newest Max of each, until the process ends.
type MemStore struct {
	Max int // default 100000

	mu       sync.Mutex
	seq      int64
	events   []Event
	attempts []Attempt
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns a MemStore keeping up to max events and as many
// attempts; max 0 is the default.
func NewMemStore(max int) *MemStore { return &MemStore{Max: max} }

func (m *MemStore) max() int {
	if m.Max <= 0 {
		return 100000
	}
	return m.Max
}

// AppendAudit implements Store.
func (m *MemStore) AppendAudit(_ context.Context, events []Event, attempts []Attempt) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range events {
		m.seq++
		e.Seq = m.seq
		m.events = append(m.events, e)
	}
	m.attempts = append(m.attempts, attempts...)
	if over := len(m.events) - m.max(); over > 0 {
		m.events = append([]Event(nil), m.events[over:]...)
	}
	if over := len(m.attempts) - m.max(); over > 0 {
		m.attempts = append([]Attempt(nil), m.attempts[over:]...)
	}
	return nil
}

// LookupEvents implements Store.
func (m *MemStore) LookupEvents(_ context.Context, f Filter) (Page, error) {
	cur, paged, err := ParseToken(f.NextToken)
	if err != nil {
		return Page{}, err
	}
	m.mu.Lock()
	var match []Event
	for i := range m.events {
		e := &m.events[i]
		if f.Match(e) && (!paged || cur.After(e.EventTime.UnixMilli(), e.Seq)) {
			match = append(match, *e)
		}
	}
	m.mu.Unlock()
	sort.Slice(match, func(i, j int) bool {
		a, b := match[i].EventTime.UnixMilli(), match[j].EventTime.UnixMilli()
		if a != b {
			return a > b
		}
		return match[i].Seq > match[j].Seq
	})
	return PageOf(match, f.MaxResults), nil
}

// PageOf cuts a page of max events from events sorted newest first, with
// the token for the rest. Stores that read max+1 events use it too.
func PageOf(events []Event, max int) Page {
	if max <= 0 {
		max = MaxResults
	}
	p := Page{Events: events}
	if len(events) > max {
		p.Events = events[:max]
		last := p.Events[max-1]
		p.NextToken = Cursor{TimeMS: last.EventTime.UnixMilli(), Seq: last.Seq}.Encode()
	}
	if p.Events == nil {
		p.Events = []Event{}
	}
	return p
}

// Attempts implements Store.
func (m *MemStore) Attempts(_ context.Context, f AttemptFilter) ([]Attempt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Attempt
	for i := range m.attempts {
		if f.Match(&m.attempts[i]) {
			out = append(out, m.attempts[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// PruneAudit implements Store.
func (m *MemStore) PruneAudit(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	events := m.events[:0]
	for _, e := range m.events {
		if e.EventTime.Before(before) {
			n++
			continue
		}
		events = append(events, e)
	}
	m.events = events
	attempts := m.attempts[:0]
	for _, a := range m.attempts {
		if a.Time.Before(before) {
			n++
			continue
		}
		attempts = append(attempts, a)
	}
	m.attempts = attempts
	return n, nil
}
