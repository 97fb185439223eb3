package main

import (
	"context"
	"errors"
	"io"
)

// bench is filled in by the load generator (internal/loadgen).
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("bench: not built yet")
}
