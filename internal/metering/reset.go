package metering

import (
	"context"
	"fmt"
)

// UsageWiper is a Store that can forget all usage: the usage records and
// RegisterUsage's registrations. Reference data (accounts, products,
// customers, tokens), signing keys, settings and webhook notifications
// stay. Test controls' reset uses it between test cases.
type UsageWiper interface {
	// WipeUsage deletes the usage in one transaction and returns how many
	// usage records it deleted.
	WipeUsage(ctx context.Context) (records int64, err error)
}

// WipeUsage forgets all usage, so that the same records can be metered
// again as new. Calls in flight while it runs are either wiped or kept
// whole. It is Unavailable on a store that cannot wipe.
func (s *Service) WipeUsage(ctx context.Context) (int64, error) {
	w, ok := s.store.(UsageWiper)
	if !ok {
		return 0, Errorf(KindUnavailable, "This store cannot wipe usage.")
	}
	n, err := w.WipeUsage(ctx)
	if err != nil {
		return 0, fmt.Errorf("wipe usage: %w", err)
	}
	return n, nil
}
