// Package admission decides whether meterd takes on a data-plane call, as
// an awsapi.Hooks that runs after authentication:
//
//   - Overload: at most Max calls are in flight past authentication. Past
//     that meterd answers ThrottlingException at once, so that clients back
//     off and retry instead of timing out in a queue. The slots are shared
//     fairly: an account alone may take three quarters of them (the rest
//     stays free for others), and once several accounts are in flight each
//     may hold only its share, Max divided by their number.
//   - Test controls (internal/controls): quotas, injected faults and added
//     latency, decided inside an admitted call's slot, so that injected
//     latency occupies capacity as a slow meterd would.
//
// Calls still being read (slow clients) hold no slot: the body is read and
// the signature verified before Before runs, under the HTTP server's read
// timeouts.
package admission

import (
	"context"
	"sync"

	"github.com/meterd/meterd/internal/awsapi"
	"github.com/meterd/meterd/internal/controls"
	"github.com/meterd/meterd/internal/metering"
)

// DefaultMax is Options.Max's default: far more calls than SQLite's group
// commit needs to stay busy, few enough that their memory stays small.
const DefaultMax = 512

// MsgOverload is the message of an overload refusal.
const MsgOverload = "Rate exceeded: meterd is at capacity (%d calls in flight); retry with backoff."

// Options configure a Gate.
type Options struct {
	// Max is the number of calls in flight past authentication; default
	// DefaultMax.
	Max int
	// Controls are the test controls; nil for none.
	Controls *controls.Controls
	// Observe, if set, is told of every overload refusal.
	Observe func(operation, account string)
}

// Gate admits or refuses data-plane calls. It implements awsapi.Hooks.
type Gate struct {
	max      int
	controls *controls.Controls
	observe  func(operation, account string)

	mu        sync.Mutex
	inFlight  int
	byAccount map[string]int
	held      map[*awsapi.Call]string // calls holding a slot, by account
}

var _ awsapi.Hooks = (*Gate)(nil)

// New returns a Gate.
func New(o Options) *Gate {
	if o.Max <= 0 {
		o.Max = DefaultMax
	}
	return &Gate{max: o.Max, controls: o.Controls, observe: o.Observe, byAccount: map[string]int{}, held: map[*awsapi.Call]string{}}
}

// Before takes a slot for the call, then applies the test controls.
func (g *Gate) Before(ctx context.Context, c *awsapi.Call) error {
	if !g.acquire(c) {
		if g.observe != nil {
			g.observe(c.Operation, c.AccountID)
		}
		return metering.Errorf(metering.KindThrottling, MsgOverload, g.max)
	}
	if g.controls != nil {
		return g.controls.Admit(ctx, c.Operation, c.AccountID)
	}
	return nil
}

// After gives back the call's slot, if it took one.
func (g *Gate) After(_ context.Context, c *awsapi.Call) {
	g.mu.Lock()
	defer g.mu.Unlock()
	account, ok := g.held[c]
	if !ok {
		return
	}
	delete(g.held, c)
	g.inFlight--
	if g.byAccount[account]--; g.byAccount[account] == 0 {
		delete(g.byAccount, account)
	}
}

// InFlight returns the number of calls holding a slot.
func (g *Gate) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight
}

func (g *Gate) acquire(c *awsapi.Call) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight >= g.max {
		return false
	}
	mine := g.byAccount[c.AccountID]
	active := len(g.byAccount)
	if mine == 0 {
		active++
	}
	share := g.max / active
	if active == 1 {
		share = g.max - g.max/4
	}
	if mine >= max(share, 1) {
		return false
	}
	g.inFlight++
	g.byAccount[c.AccountID]++
	g.held[c] = c.AccountID
	return true
}
