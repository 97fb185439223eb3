package app

import (
	"context"

	"github.com/meterd/meterd/internal/awsapi"
)

// hookChain runs several awsapi.Hooks as one: Before in order until one
// refuses the call, After for every hook, last first. Each hook's After
// must accept calls its Before never saw (refused earlier in the chain, or
// before authentication).
type hookChain []awsapi.Hooks

var _ awsapi.Hooks = hookChain(nil)

// Before runs each hook's Before until one refuses.
func (hs hookChain) Before(ctx context.Context, c *awsapi.Call) error {
	for _, h := range hs {
		if err := h.Before(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// After runs every hook's After, in reverse order.
func (hs hookChain) After(ctx context.Context, c *awsapi.Call) {
	for i := len(hs) - 1; i >= 0; i-- {
		hs[i].After(ctx, c)
	}
}
