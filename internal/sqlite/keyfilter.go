package sqlite

import (
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/meterd/meterd/internal/metering"
)

// keyFilters are the committer's Bloom filters over the keys of hours it
// saw empty: every key of such an hour that exists, it added itself, so a
// key its hour's filter does not hold is new and needs no lookup in
// usage_keys. Only the committer touches them.
//
// Why: nearly every key BatchMeterUsage and hourly MeterUsage bring is
// new, and looking each up in usage_keys read a random page of the hour's
// keys, mostly from outside SQLite's cache: about a seventh of the
// committer's time (BENCHMARKS.md, change 14). A filter answers in memory;
// a false positive only costs the lookup it would have made anyway.
//
// An hour gets a filter only when it is seen empty, in usage_keys and in
// memory, so a store reopened on old hours looks those up as before. Keys
// another connection adds make the keys stale (keyIndex), and the filters
// go with them: their hours are checked again.
type keyFilters struct {
	byHour map[uint32]*bloom.BloomFilter
	// used: hours checked and found to hold keys, which get no filter
	// until the filters start again.
	used map[uint32]struct{}
	// order is the filtered hours, oldest first, to drop past maxFilters.
	order []uint32

	// lookups counts the keys looked up in usage_keys, for tests.
	lookups int
}

// Filter sizing: an hour of 10,000 customers × 32 dimensions holds 320,000
// keys, which a filter for half a million at 1% holds with well under 1%
// false positives, in about 600 KB. An hour with many more keys still has
// its filter, which then answers "maybe" more often. BatchMeterUsage
// accepts records 24 hours old, so about 25 hours take writes at a time:
// 26 filters, about 16 MB, at most.
const (
	filterKeys = 1 << 19
	filterRate = 0.01
	maxFilters = 26
)

const keyRangeSQL = `SELECT 1 FROM usage_keys WHERE key >= ? AND key < ? LIMIT 1`

// reset forgets every filter: the store changed in ways the committer did
// not see.
func (f *keyFilters) reset() {
	if f.byHour == nil {
		f.byHour = map[uint32]*bloom.BloomFilter{}
		f.used = map[uint32]struct{}{}
	}
	clear(f.byHour)
	clear(f.used)
	f.order = f.order[:0]
}

// keyHour is the hour a key leads with, if it has one (metering.HourKey).
func keyHour(key string) (uint32, bool) {
	if _, ok := metering.KeyHour(key); !ok {
		return 0, false
	}
	return binary.BigEndian.Uint32([]byte(key[:4])), true
}

// absent reports whether key is surely stored nowhere, neither committed
// nor in the open transaction. It may give its hour a filter, which needs
// the open transaction: the hour's emptiness is checked in it.
func (w *writer) absent(key string) (bool, error) {
	h, ok := keyHour(key)
	if !ok {
		return false, nil
	}
	f := &w.db.filters
	if bf, ok := f.byHour[h]; ok {
		return !bf.TestString(key), nil
	}
	if _, ok := f.used[h]; ok {
		return false, nil
	}
	empty, err := w.hourEmpty(h)
	if err != nil || !empty {
		if err == nil {
			if len(f.used) >= 1<<12 {
				clear(f.used) // old hours: they are checked again
			}
			f.used[h] = struct{}{}
		}
		return false, err
	}
	if len(f.order) >= maxFilters {
		old := f.order[0]
		f.order = append(f.order[:0], f.order[1:]...)
		delete(f.byHour, old)
		f.used[old] = struct{}{} // its filter is gone, its keys are not
	}
	f.byHour[h] = bloom.NewWithEstimates(filterKeys, filterRate)
	f.order = append(f.order, h)
	return true, nil
}

// hourEmpty reports whether no key of hour h is in usage_keys, pending in
// memory or added by the open transaction.
func (w *writer) hourEmpty(h uint32) (bool, error) {
	var lo, hi [4]byte
	binary.BigEndian.PutUint32(lo[:], h)
	binary.BigEndian.PutUint32(hi[:], h+1)
	prefix := string(lo[:])
	for _, m := range []map[string]int64{w.db.keys.pending, w.db.keys.added} {
		for key := range m {
			if strings.HasPrefix(key, prefix) {
				return false, nil
			}
		}
	}
	w.two[0] = driver.NamedValue{Ordinal: 1, Value: lo[:]}
	w.two[1] = driver.NamedValue{Ordinal: 2, Value: hi[:]}
	if h == 1<<32-1 {
		w.two[1].Value = []byte{0xff, 0xff, 0xff, 0xff, 0xff}
	}
	found, err := w.query(w.keyRange, w.two[:], w.dest[:1])
	if err != nil {
		return false, fmt.Errorf("sqlite: keys of hour %d: %w", h, err)
	}
	return !found, nil
}

// added puts a key the open transaction gave a record into its hour's
// filter. A transaction rolled back leaves its keys there: the filter
// then answers "maybe" for them, which is still true enough.
func (f *keyFilters) added(key string) {
	if h, ok := keyHour(key); ok {
		if bf, ok := f.byHour[h]; ok {
			bf.AddString(key)
		}
	}
}
