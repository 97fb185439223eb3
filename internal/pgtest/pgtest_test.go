package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func exec(t *testing.T, dsn, q string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, q)
	return err
}

// TestNewDatabase: every call gives an empty database of its own on the
// shared cluster.
func TestNewDatabase(t *testing.T) {
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two NewDatabase calls gave %s", a)
	}
	if err := exec(t, a, "CREATE TABLE x (n int)"); err != nil {
		t.Fatal(err)
	}
	if err := exec(t, b, "CREATE TABLE x (n int)"); err != nil {
		t.Fatalf("the second database is not empty: %v", err)
	}
	var fsync string
	conn, err := pgx.Connect(t.Context(), pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(t.Context(), "SHOW fsync").Scan(&fsync); err != nil || fsync != "on" {
		t.Errorf("fsync = %q, %v; want on", fsync, err)
	}
}

// TestStopRestart: a stopped cluster refuses connections; restarted, it
// has its data back on the same DSN.
func TestStopRestart(t *testing.T) {
	c := pgtest.NewCluster(t)
	name, err := c.CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	dsn := c.DSN(name)
	if err := exec(t, dsn, "CREATE TABLE kept (n int)"); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)
	if err := exec(t, dsn, "SELECT 1"); err == nil {
		t.Fatal("a stopped cluster answered")
	}
	c.Restart(t)
	if err := exec(t, dsn, "SELECT * FROM kept"); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}
