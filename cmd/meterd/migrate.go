package main

import (
	"context"
	"fmt"
	"io"

	"github.com/meterd/meterd/internal/app"
)

// migrate brings a database's schema up to date without serving, so that a
// rollout can migrate once before it starts new replicas. Replicas migrate
// at start too, under a lock, so running it is optional.
func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	database := fs.String("database", envDefault("database", "meterd.db"), "SQLite database file or postgres:// URL ($METERD_DATABASE)")
	logFormat := fs.String("log-format", envDefault("log-format", "text"), "log format: text or json ($METERD_LOG_FORMAT)")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logFormat, "info")
	if err != nil {
		return err
	}
	status, err := app.Migrate(ctx, *database, log)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "meterd:", status)
	return nil
}
