package metering_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/meterd/meterd/internal/metering"
)

// benchCustomers is the size of the catalog benchmarks: the million
// customers at which `meterd bench -scaling` measures meterd's memory.
const benchCustomers = 1_000_000

// loadedState returns n SaaS customers of one product, every string its
// own allocation except the product code and status, as a store that
// interns them loads them.
func loadedState(n int) metering.State {
	st := metering.State{Customers: make([]metering.Customer, n)}
	for i := range st.Customers {
		st.Customers[i] = metering.Customer{
			Product:            "loadgen-saas",
			AccountID:          fmt.Sprintf("%012d", 300000000000+i+1),
			CustomerIdentifier: fmt.Sprintf("loadgen-customer-%06d", i+1),
			Status:             metering.StatusSubscribed,
		}
	}
	return st
}

// heapInuse returns the heap in use after a full collection.
func heapInuse() (inuse, totalAlloc uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.TotalAlloc
}

var catalogSink *metering.Catalog

// BenchmarkCatalog1MCustomers measures what indexing a million customers
// costs on top of their State: index-B/customer is the heap the Catalog
// keeps, alloc-B/customer what building it allocates, state-B/customer
// the State itself for scale.
func BenchmarkCatalog1MCustomers(b *testing.B) {
	var state, index, alloc uint64
	for b.Loop() {
		b.StopTimer()
		catalogSink = nil
		empty, _ := heapInuse()
		st := loadedState(benchCustomers)
		inuse, total := heapInuse()
		state = inuse - empty
		b.StartTimer()
		catalogSink = metering.NewCatalog(st)
		b.StopTimer()
		after, totalAfter := heapInuse()
		index, alloc = after-inuse, totalAfter-total
		b.StartTimer()
	}
	b.ReportMetric(float64(state)/benchCustomers, "state-B/customer")
	b.ReportMetric(float64(index)/benchCustomers, "index-B/customer")
	b.ReportMetric(float64(alloc)/benchCustomers, "alloc-B/customer")
}

// BenchmarkCatalogLookup is the per-request cost of finding a customer in
// a million, by account and by identifier.
func BenchmarkCatalogLookup(b *testing.B) {
	st := loadedState(benchCustomers)
	cat := metering.NewCatalog(st)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		c := st.Customers[i%benchCustomers]
		if _, ok := cat.CustomerByAccount(c.Product, c.AccountID); !ok {
			b.Fatal("customer not found by account")
		}
		if _, ok := cat.CustomerByIdentifier(c.Product, c.CustomerIdentifier); !ok {
			b.Fatal("customer not found by identifier")
		}
		i += 7919 // a prime: lookups spread over the map, not cache-friendly
	}
}
