package admission

import (
	"context"
	"testing"

	"github.com/meterd/meterd/internal/awsapi"
	"github.com/meterd/meterd/internal/metering"
)

func call(account string) *awsapi.Call {
	return &awsapi.Call{Operation: "MeterUsage", AccountID: account}
}

// TestFairShare fills the gate from one account, then checks that a
// second account still gets in, that the first is held to its share
// while both are in flight, and that After gives every slot back.
func TestFairShare(t *testing.T) {
	ctx := context.Background()
	g := New(Options{Max: 8})
	var held []*awsapi.Call
	admit := func(account string) bool {
		c := call(account)
		if err := g.Before(ctx, c); err != nil {
			if metering.KindOf(err) != metering.KindThrottling {
				t.Fatalf("refusal %v is not a throttle", err)
			}
			g.After(ctx, c)
			return false
		}
		held = append(held, c)
		return true
	}
	n := 0
	for i := 0; i < 20; i++ {
		if admit("A") {
			n++
		}
	}
	if n != 6 {
		t.Fatalf("one account alone took %d of 8 slots, want 6 (a quarter kept for others)", n)
	}
	if !admit("B") || !admit("B") {
		t.Fatal("a second account was refused while slots were free")
	}
	if g.InFlight() != 8 {
		t.Fatalf("InFlight = %d, want 8", g.InFlight())
	}
	if admit("C") {
		t.Fatal("admitted past Max")
	}
	// A gives back two slots: A holds 4 then, its share (8/2) while A and B
	// are in flight, so A's next call is refused and B's is not.
	g.After(ctx, held[0])
	g.After(ctx, held[1])
	held = held[2:]
	if admit("A") {
		t.Error("A admitted beyond its share of 4")
	}
	if !admit("B") {
		t.Error("B refused below its share")
	}
	for _, c := range held {
		g.After(ctx, c)
		g.After(ctx, c) // a second After is harmless
	}
	if g.InFlight() != 0 || len(g.byAccount) != 0 || len(g.held) != 0 {
		t.Errorf("after every After: in flight %d, accounts %v, held %d", g.InFlight(), g.byAccount, len(g.held))
	}
}

// TestAfterUnseen checks that After ignores calls Before never admitted.
func TestAfterUnseen(t *testing.T) {
	g := New(Options{Max: 1})
	g.After(context.Background(), call("A"))
	if err := g.Before(context.Background(), call("A")); err != nil {
		t.Fatalf("Before after a stray After: %v", err)
	}
}
