package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/admission"
	"github.com/meterd/meterd/internal/app"
	"github.com/meterd/meterd/internal/metering"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	def := metering.DefaultConfig()
	var cfg app.Config
	fs.StringVar(&cfg.Listen, "listen", envDefault("listen", "127.0.0.1:8080"), "address to listen on ($METERD_LISTEN)")
	fs.StringVar(&cfg.Database, "database", envDefault("database", "meterd.db"), "SQLite database file, or a postgres:// URL for several replicas ($METERD_DATABASE)")
	fs.StringVar(&cfg.AuditDatabase, "audit-db", envDefault("audit-db", ""), "SQLite file of the audit log; default the database's name with -audit before its extension, beside it (meterd-audit.db); not for PostgreSQL ($METERD_AUDIT_DB)")
	fs.StringVar(&cfg.StateFile, "state", envDefault("state", ""), "state file to apply at start ($METERD_STATE); none on an empty database loads the demo state")
	fs.StringVar(&cfg.Region, "region", envDefault("region", ""), "region served; default the state file's, else us-east-1 ($METERD_REGION)")
	fs.StringVar(&cfg.RegisterUsageKeys, "register-usage-keys", envDefault("register-usage-keys", ""), "directory of N.pem RSA private keys for RegisterUsage key versions; missing versions are generated ($METERD_REGISTER_USAGE_KEYS)")
	fs.StringVar(&cfg.AdminToken, "admin-token", envDefault("admin-token", ""), "admin API bearer token ($METERD_ADMIN_TOKEN); default: one generated at first start, printed once, only its hash stored")
	maxInFlight := fs.String("max-in-flight", envDefault("max-in-flight", strconv.Itoa(admission.DefaultMax)), "data-plane calls in flight before meterd answers ThrottlingException ($METERD_MAX_IN_FLIGHT)")
	logFormat := fs.String("log-format", envDefault("log-format", "text"), "log format: text or json ($METERD_LOG_FORMAT)")
	logLevel := fs.String("log-level", envDefault("log-level", "info"), "log level: debug, info, warn, error ($METERD_LOG_LEVEL)")
	meterWindow := fs.String("meter-usage-window", envDefault("meter-usage-window", def.MeterUsageWindow.String()), "how old a MeterUsage timestamp may be ($METERD_METER_USAGE_WINDOW)")
	batchWindow := fs.String("batch-window", envDefault("batch-window", def.BatchWindow.String()), "how old a BatchMeterUsage timestamp may be; AWS documented 6h before 2026-07 ($METERD_BATCH_WINDOW)")
	auditRetention := fs.String("audit-retention", envDefault("audit-retention", "2160h"), "how long audit events and refused metering attempts are kept; default 90 days ($METERD_AUDIT_RETENTION)")
	cutoff := fs.String("month-end-cutoff", envDefault("month-end-cutoff", def.MonthEndCutoff.String()), "how long into a month last month's batch records are accepted; -1s for no cut-off ($METERD_MONTH_END_CUTOFF)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if cfg.MaxInFlight, err = strconv.Atoi(*maxInFlight); err != nil || cfg.MaxInFlight < 1 {
		return fmt.Errorf("--max-in-flight: %q is not a positive number", *maxInFlight)
	}
	durations := []struct {
		name string
		text string
		dst  *time.Duration
	}{
		{"meter-usage-window", *meterWindow, &cfg.Rules.MeterUsageWindow},
		{"batch-window", *batchWindow, &cfg.Rules.BatchWindow},
		{"month-end-cutoff", *cutoff, &cfg.Rules.MonthEndCutoff},
		{"audit-retention", *auditRetention, &cfg.AuditRetention},
	}
	for _, d := range durations {
		if *d.dst, err = time.ParseDuration(d.text); err != nil {
			return fmt.Errorf("--%s: %w", d.name, err)
		}
	}
	if cfg.AuditRetention <= 0 {
		return fmt.Errorf("--audit-retention: %s is not a positive duration", cfg.AuditRetention)
	}
	if cfg.Logger, err = newLogger(stderr, *logFormat, *logLevel); err != nil {
		return err
	}

	a, err := app.Open(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, banner(a, cfg))
	<-ctx.Done()
	fmt.Fprintln(stdout, "meterd: shutting down")
	return a.Close()
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// banner tells a new user where meterd is and, with the demo state, how
// to call it. The demo credentials are printed on purpose: they exist only
// in the built-in demo and are meant to be pasted.
func banner(a *app.App, cfg app.Config) string {
	var b strings.Builder
	region := a.Service.Config().Region
	fmt.Fprintf(&b, "meterd %s listening on %s (region %s, database %s)\n", version(), a.Endpoint(), region, app.DatabaseName(cfg.Database))
	if a.AdminToken != "" {
		// Printed once, to stdout and never to the log: only its hash is kept.
		fmt.Fprintf(&b, `
Admin API token, generated at first start (shown only now; meterd keeps only its hash):

  export METERD_ADMIN_TOKEN=%s

Then manage meterd with "%s products list", "%s subscribe", ... (%s help).
`, a.AdminToken, selfName(), selfName(), selfName())
	}
	if !a.DemoLoaded {
		return b.String()
	}
	fmt.Fprintf(&b, `
Loaded the built-in demo state (no --state given and the database was empty).

Demo credentials:
  seller 111122223333  AKIADEMOSELLER000001 / demo-seller-secret   BatchMeterUsage for SaaS product demo-saas
  buyer  444455556666  AKIADEMOBUYER0000001 / demo-buyer-secret    MeterUsage for AMI product demo-ami (instance i-0demo0000000000001)

Meter SaaS usage with the AWS CLI:

  AWS_ACCESS_KEY_ID=AKIADEMOSELLER000001 AWS_SECRET_ACCESS_KEY=demo-seller-secret AWS_DEFAULT_REGION=%[2]s \
  aws meteringmarketplace batch-meter-usage --endpoint-url %[1]s \
    --product-code demo-saas \
    --usage-records "Timestamp=$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ),CustomerIdentifier=demo-customer-0001,Dimension=users,Quantity=3"

Then list what was recorded:

  %[3]s usage --database %[4]s

`, a.Endpoint(), region, selfName(), cfg.Database)
	return b.String()
}

// selfName is how the user started meterd, so the printed commands work as pasted.
func selfName() string {
	if strings.Contains(os.Args[0], "go-build") {
		return "go run ./cmd/meterd"
	}
	return os.Args[0]
}
