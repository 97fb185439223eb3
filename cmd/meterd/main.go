// Command meterd is the AWS Marketplace Metering Service as one
// self-hostable binary.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usageText = `meterd: the AWS Marketplace Metering Service, self-hosted.

Usage:
  meterd serve [flags]    run the service (meterd serve -h for flags)
  meterd usage [flags]    list recorded usage by product, customer, dimension and hour
  meterd bench [flags]    load-test meterd beside a decode-only baseline handler
  meterd migrate [flags]  bring the database schema up to date (before a rollout)
  meterd version          print the version

` + adminUsageText + `
` + controlsUsageText + `
` + visibilityUsageText + `
Every flag can also be set as an environment variable (METERD_LISTEN, METERD_DATABASE,
METERD_ENDPOINT, METERD_ADMIN_TOKEN, ...).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrate(ctx, args[1:], stdout, stderr)
	case "usage":
		err = usage(ctx, args[1:], stdout)
	case "bench":
		err = bench(ctx, args[1:], stdout, stderr)
	case "accounts", "products", "customers", "tokens", "subscribe", "unsubscribe", "notifications", "state", "key-versions":
		err = admin(ctx, args[0], args[1:], stdout, stderr)
	case "controls", "reset":
		err = controlsCommand(ctx, args[0], args[1:], stdout, stderr)
	case "report", "audit", "debug":
		err = visibilityCommand(ctx, args[0], args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "meterd", version())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
	default:
		fmt.Fprintf(stderr, "meterd: unknown command %q\n\n%s", args[0], usageText)
		return 2
	}
	if err == errUsage {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "meterd:", err)
		return 1
	}
	return 0
}
