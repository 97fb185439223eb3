// Package app opens and closes the whole meterd service: store, rules,
// handlers and listener. cmd/meterd and the end-to-end tests share it, so
// the tests start exactly what users run.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/meterd/meterd/internal/adminapi"
	"github.com/meterd/meterd/internal/admission"
	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/audithook"
	"github.com/meterd/meterd/internal/awsapi"
	"github.com/meterd/meterd/internal/controls"
	"github.com/meterd/meterd/internal/dashboard"
	"github.com/meterd/meterd/internal/httpserver"
	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metrics"
	"github.com/meterd/meterd/internal/postgres"
	"github.com/meterd/meterd/internal/registersig"
	"github.com/meterd/meterd/internal/reports"
	"github.com/meterd/meterd/internal/sqlite"
	"github.com/meterd/meterd/internal/statefile"
	"github.com/meterd/meterd/internal/webhook"
)

// Config is everything `meterd serve` can be told.
type Config struct {
	Listen    string // host:port; default 127.0.0.1:8080
	Database  string // SQLite file, or postgres:// URL for PostgreSQL; default meterd.db
	StateFile string // optional state file applied at start
	Region    string // overrides the state file's region; default us-east-1
	// RegisterUsageKeys is a directory of N.pem private keys for
	// RegisterUsage key versions; meterd generates keys it is not given.
	RegisterUsageKeys string
	Rules             metering.Config
	Logger            *slog.Logger
	Clock             metering.Clock
	// AdminToken is the admin API's bearer token. Empty: the one generated
	// at first start, whose hash the database keeps.
	AdminToken string
	// MaxInFlight bounds the data-plane calls in flight; past it meterd
	// answers ThrottlingException. Default admission.DefaultMax.
	MaxInFlight int
	// AuditRetention is how long audit events and refused metering
	// attempts are kept. Default 90 days.
	AuditRetention time.Duration
	// AuditDatabase is the SQLite file of the audit log, for a SQLite
	// Database. Default: beside Database (sqlite.AuditPath). PostgreSQL
	// keeps the audit log in its database.
	AuditDatabase string
}

// App is a running meterd.
type App struct {
	Service    *metering.Service
	Store      metering.Store
	DemoLoaded bool // the built-in demo state was applied
	// AdminToken is the admin API token when this start generated it, for
	// `meterd serve` to print once; empty otherwise. It is never logged.
	AdminToken string
	server     *httpserver.Server
	logger     *slog.Logger
	webhooks   *webhook.Dispatcher
	// stopRefresh ends the catalog refresher.
	stopRefresh func()
	// Metrics are this process's Prometheus metrics, served at /metrics.
	Metrics *metrics.Metrics
	// Controls are the test controls (internal/controls); its clock is the
	// one the metering rules read.
	Controls *controls.Controls
	// Audit is the audit log: every API call, and the metering attempts
	// the record debugger explains.
	Audit     *audit.Log
	stateFile string
	closeOnce sync.Once
	closeErr  error

	// closeAudit closes the audit log's store when it has one of its own.
	closeAudit func() error
}

// Open starts meterd. With no state file on an empty database it applies
// the built-in demo state.
func Open(ctx context.Context, cfg Config) (a *App, err error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.Database == "" {
		cfg.Database = "meterd.db"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = metering.SystemClock{}
	}
	// The metering rules, token expiry, key dates and webhooks read the
	// test controls' clock, which wraps cfg.Clock; SigV4's skew check
	// keeps cfg.Clock, because SDKs sign with the real time.
	a = &App{logger: cfg.Logger, Metrics: metrics.New(), Controls: controls.New(cfg.Clock), stateFile: cfg.StateFile}

	store, err := openStore(ctx, cfg.Database, cfg.Logger, a.Metrics.ObserveCommit)
	if err != nil {
		return nil, err
	}
	a.Store = store
	defer func() {
		if err != nil {
			store.Close()
		}
	}()

	var file *statefile.File
	if cfg.StateFile != "" {
		if file, err = loadStateFile(cfg.StateFile, a.Controls); err != nil {
			return nil, err
		}
		for _, w := range file.Warnings {
			cfg.Logger.Warn("state file", "warning", w.String())
		}
	}

	rules := cfg.Rules
	rules.Region = cfg.Region
	if rules.Region == "" && file != nil {
		rules.Region = file.State.Region
	}
	opts := metering.Options{Store: store, Clock: a.Controls}
	// RegisterUsage needs a store that keeps signing keys and registrations.
	var keys *registersig.Keys
	keyStore, hasKeys := any(store).(metering.SigningKeyStore)
	regStore, hasRegs := any(store).(metering.RegistrationStore)
	if hasKeys && hasRegs {
		keys = registersig.New(keyStore, a.Controls)
		opts.Signer, opts.Registrations = keys, regStore
		if cfg.RegisterUsageKeys != "" {
			if err := keys.LoadDir(ctx, cfg.RegisterUsageKeys); err != nil {
				return nil, err
			}
		}
	}
	outbox, hasOutbox := any(store).(metering.Outbox)
	if hasOutbox {
		opts.Outbox = outbox
	}
	svc, err := metering.NewService(ctx, opts, rules)
	if err != nil {
		return nil, err
	}
	a.Service = svc
	// No state file and nothing in the database: the demo state. The
	// service has just loaded the database's state; reading it again to
	// decide cost a second load of every customer at each start. (The
	// demo's region is the default one the rules got.)
	if file == nil && len(svc.Catalog().State().Accounts) == 0 {
		file = statefile.Demo(cfg.Clock.Now())
		a.DemoLoaded = true
	}
	if file != nil {
		if err := svc.ApplyState(ctx, file.State); err != nil {
			return nil, file.Explain(err)
		}
	}

	auditStore, err := a.openAudit(ctx, cfg, store)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.closeAudit()
		}
	}()
	auditOpts := audit.Options{Now: a.Controls.Now, Logger: cfg.Logger, Retention: cfg.AuditRetention}
	if _, ok := auditStore.(*sqlite.AuditDB); ok {
		auditOpts.FlushInterval = sqlite.AuditFlushInterval
	}
	a.Audit = audit.Start(auditStore, auditOpts)
	defer func() {
		if err != nil {
			a.Audit.Close()
		}
	}()
	// The audit hook is first, so that its After runs last and sees the call as answered.
	hooks := hookChain{audithook.New(audithook.Options{Log: a.Audit, Service: svc, Clock: a.Controls}),
		admission.New(admission.Options{Max: cfg.MaxInFlight, Controls: a.Controls})}
	handler := awsapi.New(awsapi.Options{Service: svc, Logger: cfg.Logger, Clock: cfg.Clock, Observer: a.Metrics,
		Hooks: hooks, Unprocessed: a.Controls.Unprocessed})
	settings, _ := any(store).(metering.SettingsStore)
	token, err := adminapi.SetupToken(ctx, cfg.AdminToken, settings)
	if err != nil {
		return nil, err
	}
	a.AdminToken = token.Generated
	admin := adminapi.New(adminapi.Options{Service: svc, TokenHash: token.Hash, Clock: a.Controls, Logger: cfg.Logger,
		Test: &adminapi.TestControls{Controls: a.Controls, Reset: a.reset}, Visibility: visibility(store, a.Audit)})
	// Answers wait for the audit hook, so a client never outruns its event.
	routes := httpserver.Routes{DataPlane: audithook.Hold(handler), Admin: admin, Dashboard: dashboard.New(), Metrics: a.Metrics.Handler()}
	if p, ok := store.(interface{ Ping(context.Context) error }); ok {
		routes.Ready = p.Ping
	}
	if keys != nil {
		routes.RegisterUsageKeys = keys.Handler(func(version int) bool { return knownKeyVersion(svc, version) })
	}
	a.server, err = httpserver.Listen(cfg.Listen, routes, cfg.Logger)
	if err != nil {
		return nil, err
	}
	a.stopRefresh = refreshCatalog(svc, cfg.Logger)
	if hasOutbox {
		a.webhooks = webhook.Start(outbox, webhook.Options{Logger: cfg.Logger, Clock: a.Controls, OnAttempt: a.Metrics.ObserveDelivery})
	}
	return a, nil
}

// visibility picks what the reports, audit and debugger routes read:
// rollups where the store keeps them, else sums of its usage summary.
func visibility(store metering.Store, log *audit.Log) adminapi.Visibility {
	v := adminapi.Visibility{Audit: log, Reports: reports.New(reports.Summaries{Store: store})}
	if rs, ok := store.(reports.Store); ok {
		v.Reports = reports.New(rs)
	}
	v.Records, _ = store.(adminapi.RecordLister)
	return v
}

// knownKeyVersion reports whether any product uses a public-key version,
// so that meterd serves (and generates) only keys someone can ask for.
func knownKeyVersion(svc *metering.Service, version int) bool {
	for _, p := range svc.Catalog().State().Products {
		for _, v := range p.PublicKeyVersionsOrDefault() {
			if v == version {
				return true
			}
		}
	}
	return false
}

// Addr is the address meterd listens on.
func (a *App) Addr() string { return a.server.Addr() }

// Endpoint is the URL SDKs use as their endpoint.
func (a *App) Endpoint() string { return "http://" + a.Addr() }

// Close drains in-flight requests, then closes the store. Later calls
// return the first call's result.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Audit.CloseStreams() // live streams would hold the shutdown up
		err := a.server.Close(ctx)
		if a.stopRefresh != nil {
			a.stopRefresh()
		}
		if a.webhooks != nil {
			a.webhooks.Stop()
		}
		// The audit log first, so that it writes what it queued; then its
		// store.
		a.closeErr = errors.Join(err, a.Audit.Close(), a.closeAudit(), a.Store.Close())
	})
	return a.closeErr
}

// openAudit opens the store of the audit log: on SQLite a file of its own
// (into which an older meterd's audit tables move from the main file),
// else the store itself if it keeps the audit log, else memory.
func (a *App) openAudit(ctx context.Context, cfg Config, store metering.Store) (audit.Store, error) {
	a.closeAudit = func() error { return nil }
	if db, ok := store.(*sqlite.DB); ok {
		path := cfg.AuditDatabase
		if path == "" {
			path = sqlite.AuditPath(cfg.Database)
		}
		adb, err := sqlite.OpenAudit(ctx, path, sqlite.AuditOptions{Logger: cfg.Logger, From: db})
		if err != nil {
			return nil, fmt.Errorf("open audit database %s: %w", path, err)
		}
		a.closeAudit = adb.Close
		return adb, nil
	}
	if cfg.AuditDatabase != "" {
		return nil, fmt.Errorf("audit database %s: only a SQLite database keeps its audit log in a file of its own", cfg.AuditDatabase)
	}
	if s, ok := store.(audit.Store); ok {
		return s, nil
	}
	return audit.NewMemStore(0), nil
}

// OpenStore opens the store behind a database path or URL, for commands
// that read it without serving (meterd usage). Only this package picks a
// store.
func OpenStore(ctx context.Context, database string) (metering.Store, error) {
	return openStore(ctx, database, nil, nil)
}

// openStore picks the store: PostgreSQL for a postgres:// or postgresql://
// URL, else SQLite on the file named. Either migrates the schema on open.
func openStore(ctx context.Context, database string, log *slog.Logger, onCommit func(calls, records int, d time.Duration)) (metering.Store, error) {
	if postgres.IsDSN(database) {
		db, err := postgres.Open(ctx, database, postgres.Options{Logger: log, OnCommit: onCommit})
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", DatabaseName(database), err)
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, database, sqlite.Options{Logger: log, OnCommit: onCommit})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", database, err)
	}
	return db, nil
}

// Migrate brings the schema of a database up to date and returns a line
// saying where it stands, for `meterd migrate`. Opening a store migrates
// too; Migrate is for doing it ahead of a rollout.
func Migrate(ctx context.Context, database string, log *slog.Logger) (string, error) {
	if postgres.IsDSN(database) {
		v, err := postgres.Migrate(ctx, database, postgres.Options{Logger: log})
		if err != nil {
			return "", fmt.Errorf("migrate %s: %w", DatabaseName(database), err)
		}
		return fmt.Sprintf("%s: schema version %d", DatabaseName(database), v), nil
	}
	db, err := sqlite.Open(ctx, database, sqlite.Options{Logger: log})
	if err != nil {
		return "", fmt.Errorf("migrate %s: %w", database, err)
	}
	return database + ": schema up to date", db.Close()
}

// DatabaseName is database fit for logs and banners: a URL's password is
// masked.
func DatabaseName(database string) string {
	u, err := url.Parse(database)
	if err != nil || u.User == nil {
		return database
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// refreshInterval bounds how long a state applied through one replica takes
// to reach the others.
const refreshInterval = time.Second

// refreshCatalog polls the store's state version and reloads the catalog
// when another replica changed the reference data.
func refreshCatalog(svc *metering.Service, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(refreshInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), refreshInterval)
				if err := svc.RefreshIfChanged(ctx); err != nil {
					log.Warn("refresh reference data", "error", err)
				}
				cancel()
			}
		}
	}()
	return func() { close(done); <-stopped }
}
