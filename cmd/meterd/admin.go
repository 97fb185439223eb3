package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/meterd/meterd/internal/adminapi"
)

// The admin subcommands (accounts, products, customers, tokens, subscribe,
// unsubscribe, notifications, state, key-versions) call a running meterd's
// admin API through adminapi.Client. Each takes --endpoint, --admin-token
// and --json; without --json they print tables.

// adminCommands maps each admin subcommand to what runs it.
var adminCommands = map[string]func(c *adminCmd, args []string) error{
	"accounts":      (*adminCmd).accounts,
	"products":      (*adminCmd).products,
	"customers":     (*adminCmd).customers,
	"tokens":        (*adminCmd).tokens,
	"subscribe":     (*adminCmd).subscribe,
	"unsubscribe":   (*adminCmd).unsubscribe,
	"notifications": (*adminCmd).notifications,
	"state":         (*adminCmd).state,
	"key-versions":  (*adminCmd).keyVersions,
}

const adminUsageText = `Admin commands call a running meterd's admin API (--endpoint, --admin-token, --json):
  meterd accounts list|put            accounts and their access keys (secrets are never shown)
  meterd products list|put            products: dimensions, agreements, key versions, fulfillment URL, webhooks
  meterd customers list               customers (agreements), their status and entitlements
  meterd tokens list|create           registration tokens
  meterd subscribe --product P --account A [--free-trial]
                                      subscribe a buyer: agreement, token, POST to the fulfillment URL
  meterd unsubscribe --product P --account A [--window 1h]
  meterd notifications [--product P] [--status S]
                                      webhook deliveries: status, attempts, last error
  meterd state apply FILE | show      apply a state file, or print the current state (secrets left out)
  meterd key-versions                 RegisterUsage public-key versions and their PEM URLs
`

// adminCmd is one admin subcommand's run.
type adminCmd struct {
	ctx            context.Context
	name           string
	stdout, stderr io.Writer
	endpoint       string
	token          string
	json           bool
}

func admin(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	c := &adminCmd{ctx: ctx, name: name, stdout: stdout, stderr: stderr}
	return adminCommands[name](c, args)
}

// flags returns a flag set for "meterd <name> <verb>" with the shared
// admin flags.
func (c *adminCmd) flags(verb string) *flag.FlagSet {
	name := c.name
	if verb != "" {
		name += " " + verb
	}
	fs := newFlags(name, c.stderr)
	fs.StringVar(&c.endpoint, "endpoint", envDefault("endpoint", "http://127.0.0.1:8080"), "meterd's URL ($METERD_ENDPOINT)")
	fs.StringVar(&c.token, "admin-token", envDefault("admin-token", ""), "admin API token ($METERD_ADMIN_TOKEN); meterd serve printed it at first start")
	fs.BoolVar(&c.json, "json", false, "print JSON instead of a table")
	return fs
}

func (c *adminCmd) client() (*adminapi.Client, error) {
	if c.token == "" {
		return nil, errors.New("no admin token: pass --admin-token or set METERD_ADMIN_TOKEN (meterd serve printed one at its first start)")
	}
	return adminapi.NewClient(c.endpoint, c.token), nil
}

// verb splits "list" off args, or explains the verbs.
func (c *adminCmd) verb(args []string, verbs ...string) (string, []string, error) {
	if len(args) > 0 {
		for _, v := range verbs {
			if args[0] == v {
				return v, args[1:], nil
			}
		}
	}
	fmt.Fprintf(c.stderr, "usage: meterd %s %s [flags]\n", c.name, strings.Join(verbs, "|"))
	return "", nil, errUsage
}

// parseArgs parses flags that may come before or after up to max
// positional arguments, which it returns.
func parseArgs(fs *flag.FlagSet, args []string, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		if len(pos) == max {
			fs.Usage()
			return nil, errUsage
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// print writes v as JSON with --json, else calls table.
func (c *adminCmd) print(v any, table func(tw *tabwriter.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// orDash shows an empty cell as "-", so that columns stay readable.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
