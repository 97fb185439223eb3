package sqlite

import (
	"context"
	"errors"
)

// ErrCrash is the failure OpenAuditInterrupted injects.
var ErrCrash = errors.New("injected crash")

// OpenAuditInterrupted opens the audit log as OpenAudit does but fails
// the move after step ("token": the main file has its token; "copied": the
// audit file has the rows), as a crash there would.
func OpenAuditInterrupted(ctx context.Context, path string, from *DB, step string) (*AuditDB, error) {
	return OpenAudit(ctx, path, AuditOptions{From: from, moveHook: func(s string) error {
		if s == step {
			return ErrCrash
		}
		return nil
	}})
}
