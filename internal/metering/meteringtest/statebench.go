package meteringtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// BenchmarkApplyState applies n SaaS customers to the store open returns
// through metering.Service.ApplyState, as `meterd bench -scaling` does, and
// then starts a second Service on it, as `meterd serve` does. It reports,
// per customer, the peak Go heap above what the process held before the
// phase and the heap the catalog keeps afterwards, and the process's peak
// resident set (VmHWM) of each phase in MB: this process's, so a database
// server's memory is not in them.
func BenchmarkApplyState(b *testing.B, n int, open func(b *testing.B) metering.Store) {
	ctx := context.Background()
	var applyPeak, applyHWM, applyKept, loadPeak, loadHWM, loadKept int64
	for b.Loop() {
		b.StopTimer()
		db := open(b)
		svc, err := metering.NewService(ctx, metering.Options{Store: db}, metering.Config{})
		if err != nil {
			b.Fatal(err)
		}
		base := metering.State{
			Accounts: []metering.Account{{ID: "111111111111", Name: "seller"}},
			Products: []metering.Product{{Code: "loadgen-saas", Seller: "111111111111", Type: metering.ProductSaaS, Dimensions: []string{"users"}}},
		}
		if err := svc.ApplyState(ctx, base); err != nil {
			b.Fatal(err)
		}
		empty := liveHeap()
		b.StartTimer()

		// The caller's customers are part of the phase, as they are in
		// the bench's process.
		p := startPeak(b)
		cs := make([]metering.Customer, n)
		for i := range cs {
			cs[i] = metering.Customer{
				Product:            "loadgen-saas",
				AccountID:          fmt.Sprintf("%012d", 300000000000+i+1),
				CustomerIdentifier: fmt.Sprintf("loadgen-customer-%06d", i+1),
				Status:             metering.StatusSubscribed,
			}
		}
		if err := svc.ApplyState(ctx, metering.State{Customers: cs}); err != nil {
			b.Fatal(err)
		}
		heap, hwm := p.end()
		cs = nil
		applyPeak, applyHWM, applyKept = heap-empty, hwm, liveHeap()-empty
		runtime.KeepAlive(svc) // its catalog is what applyKept measures

		empty = liveHeap()
		p = startPeak(b)
		svc, err = metering.NewService(ctx, metering.Options{Store: db}, metering.Config{})
		if err != nil {
			b.Fatal(err)
		}
		heap, hwm = p.end()
		loadPeak, loadHWM, loadKept = heap-empty, hwm, liveHeap()-empty
		if _, ok := svc.Catalog().CustomerByAccount("loadgen-saas", "300000000001"); !ok {
			b.Fatal("customer 1 not loaded")
		}

		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(applyPeak)/float64(n), "apply-peak-B/customer")
	b.ReportMetric(float64(applyKept)/float64(n), "apply-kept-B/customer")
	b.ReportMetric(float64(applyHWM)/1e6, "apply-VmHWM-MB")
	b.ReportMetric(float64(loadPeak)/float64(n), "load-peak-B/customer")
	b.ReportMetric(float64(loadKept)/float64(n), "load-kept-B/customer")
	b.ReportMetric(float64(loadHWM)/1e6, "load-VmHWM-MB")
}

// peakMemory follows the Go heap and the process's resident set while a
// phase runs: the heap by sampling (a collection's peak lasts far longer
// than the interval), the resident set by the kernel's high-water mark,
// which it resets.
type peakMemory struct {
	stop chan struct{}
	done sync.WaitGroup
	heap uint64
}

func startPeak(b *testing.B) *peakMemory {
	// The heap an earlier phase freed counts in VmRSS until it goes back
	// to the system.
	debug.FreeOSMemory()
	// Writing 5 resets VmHWM to the current VmRSS (proc(5), clear_refs).
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset VmHWM: %v", err)
	}
	p := &peakMemory{stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			p.heap = max(p.heap, s[0].Value.Uint64())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// end returns the peak heap and VmHWM of the phase, in bytes.
func (p *peakMemory) end() (heap, hwm int64) {
	close(p.stop)
	p.done.Wait()
	return int64(p.heap), int64(procStatus("VmHWM"))
}

// procStatus returns a kB field of /proc/self/status in bytes, 0 where
// there is none.
func procStatus(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && name == field {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
