// Package pgtest runs throwaway PostgreSQL clusters for tests: initdb in a
// temporary directory, the server on a free 127.0.0.1 port with its unix
// socket in that directory, fsync on, trust authentication, torn down when
// the tests end.
//
// Most tests share one cluster per test binary and take a fresh database
// each (NewDatabase). A package that uses it runs its tests through Main,
// which stops the shared cluster when they are done:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// A test that stops and starts the server (an outage) takes a cluster of its
// own with NewCluster, so that it does not pull the database away from
// tests running beside it.
//
// The PostgreSQL server binaries are looked up in $METERD_PG_BIN, then in
// /usr/lib/postgresql/<newest>/bin, then beside pg_config or initdb on PATH.
// Without them the tests skip, unless METERD_TEST_POSTGRES=1 (as in CI):
// then they fail. Run as root, the server runs as the postgres user, since
// PostgreSQL refuses to run as root.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvRequire makes missing PostgreSQL binaries a test failure, not a skip.
const EnvRequire = "METERD_TEST_POSTGRES"

// EnvBin names the directory of the PostgreSQL server binaries.
const EnvBin = "METERD_PG_BIN"

// Bounds of the harness's own waits.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 30 * time.Second
)

var (
	sharedOnce    sync.Once
	shared        *Cluster
	sharedErr     error
	sharedSkipped bool
	databases     atomic.Int64
)

// Main runs a test binary's tests, then stops the shared cluster, if a test
// started it, and removes the template cluster.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	if templateDir != "" {
		os.RemoveAll(templateDir)
	}
	os.Exit(code)
}

// Start starts the shared cluster of this test binary, once, and returns
// the DSN of its postgres database (the cluster's superuser connects).
// It skips the test when the binaries are missing, or fails it when
// METERD_TEST_POSTGRES=1.
func Start(t testing.TB) string {
	t.Helper()
	bin := binDir(t)
	sharedOnce.Do(func() {
		shared, sharedErr = newCluster(bin)
	})
	if sharedErr != nil {
		t.Fatalf("pgtest: start the shared cluster: %v", sharedErr)
	}
	return shared.DSN("postgres")
}

// NewDatabase creates an empty database on the shared cluster and returns
// its DSN. Databases are left for the cluster's removal.
func NewDatabase(t testing.TB) string {
	t.Helper()
	Start(t)
	name, err := shared.CreateDatabase()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return shared.DSN(name)
}

// Cluster is one running (or stopped) PostgreSQL cluster.
type Cluster struct {
	bin, dir string
	port     int
	cred     *syscall.Credential // run as this user; nil: as ourselves

	mu   sync.Mutex
	proc *exec.Cmd
	exit <-chan struct{} // closed when proc has exited
	log  *os.File
}

// NewCluster starts a cluster of the test's own, stopped and removed when
// the test ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := newCluster(binDir(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// StartServer starts a throwaway cluster outside a test, for tools such as
// `meterd bench`: the same server as the tests get (fsync on), which the
// caller stops and removes with Close.
func StartServer() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return newCluster(bin)
}

// Close stops a cluster of StartServer and removes its files and the
// template it was copied from.
func (c *Cluster) Close() error {
	err := c.close()
	if templateDir != "" {
		err = errors.Join(err, os.RemoveAll(templateDir))
	}
	return err
}

// DSN returns the URL of database db on the cluster.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// CreateDatabase creates a database named test_N and returns its name.
func (c *Cluster) CreateDatabase() (string, error) {
	name := fmt.Sprintf("test_%d", databases.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return name, nil
}

// Stop shuts the server down (fast mode: clients are disconnected, open
// transactions roll back) and waits until it has exited.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if err := c.stop(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Restart starts a stopped server again on the same port and data.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	if err := c.start(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// binDir finds the server binaries or ends the test.
func binDir(t testing.TB) string {
	t.Helper()
	dir, err := findBin()
	if err == nil {
		return dir
	}
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("pgtest: %v, and %s=1 requires the PostgreSQL tests", err, EnvRequire)
	}
	t.Skipf("pgtest: %v (install postgresql, or set %s; %s=1 makes this a failure)", err, EnvBin, EnvRequire)
	return ""
}

func findBin() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if d := os.Getenv(EnvBin); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("no initdb and postgres in %s=%s", EnvBin, d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// newCluster runs initdb in a new temporary directory and starts the
// server.
func newCluster(bin string) (c *Cluster, err error) {
	dir, err := os.MkdirTemp("", "meterd-pgtest-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{bin: bin, dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.close())
		}
	}()
	if os.Geteuid() == 0 {
		// initdb and postgres refuse root: run them as postgres, which
		// must own the directory.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	tmpl, err := template(bin, c.cred)
	if err != nil {
		return nil, err
	}
	// cp -a keeps the owner and the 0700 mode PostgreSQL insists on.
	if out, err := exec.Command("cp", "-a", tmpl, c.dataDir()).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy the template cluster: %v\n%s", err, out)
	}
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
		if err = c.writeConfig(); err != nil {
			return nil, err
		}
		if err = c.start(); err == nil || attempt == 3 {
			return c, err
		}
		// Most likely someone took the port between freePort and the
		// server's bind: take another.
	}
}

var (
	templateOnce sync.Once
	templateDir  string // the parent of the template's data directory
	templateErr  error
)

// template runs initdb once per test binary; clusters start from copies
// of its data directory, which saves a second or more for each.
func template(bin string, cred *syscall.Credential) (string, error) {
	templateOnce.Do(func() {
		templateDir, templateErr = os.MkdirTemp("", "meterd-pgtest-template-")
		if templateErr != nil {
			return
		}
		if cred != nil {
			if templateErr = os.Chown(templateDir, int(cred.Uid), int(cred.Gid)); templateErr != nil {
				return
			}
		}
		initdb := exec.Command(filepath.Join(bin, "initdb"),
			"-D", filepath.Join(templateDir, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8",
			"--no-sync", "--no-instructions")
		initdb.Dir = templateDir
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := initdb.CombinedOutput(); err != nil {
			templateErr = fmt.Errorf("initdb: %v\n%s", err, out)
		}
	})
	return filepath.Join(templateDir, "data"), templateErr
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// writeConfig appends the test settings to postgresql.conf: a config file
// instead of -c flags, so that Restart starts the same server.
func (c *Cluster) writeConfig() error {
	conf := fmt.Sprintf(`
# pgtest
port = %d
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
fsync = on
max_connections = 300
shared_buffers = 32MB
log_min_messages = warning
# Tests provoke deadlocks between replicas on purpose; find them sooner
# than the default 1s.
deadlock_timeout = 100ms
`, c.port, c.dir)
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(conf)
	return errors.Join(err, f.Close())
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs postgres as a child process and waits until it accepts
// connections. The server is our child, not pg_ctl's daemon, so that it
// dies with the test binary even when that is killed (see StartProcess).
func (c *Cluster) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		return errors.New("start: the server is running")
	}
	var err error
	if c.log == nil {
		if c.log, err = os.OpenFile(filepath.Join(c.dir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.dataDir())
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = c.log, c.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	exit, err := StartProcess(cmd)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.proc, c.exit = cmd, exit

	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-exit:
			c.proc = nil
			return fmt.Errorf("postgres exited at start: %v\n%s", cmd.ProcessState, c.logTail())
		default:
		}
		if time.Now().After(deadline) {
			c.kill()
			return fmt.Errorf("postgres did not accept connections within %s: %v\n%s", startTimeout, err, c.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts the server down in fast mode (SIGINT), then kills it if it
// does not exit in time.
func (c *Cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return nil
	}
	_ = c.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exit:
		c.proc = nil
		return nil
	case <-time.After(stopTimeout):
		c.kill()
		return fmt.Errorf("postgres did not stop within %s; killed it", stopTimeout)
	}
}

// kill ends the server at once. c.mu is held.
func (c *Cluster) kill() {
	_ = c.proc.Process.Kill()
	<-c.exit
	c.proc = nil
}

// close stops the server and removes the cluster's directory.
func (c *Cluster) close() error {
	err := c.stop()
	if c.log != nil {
		c.log.Close()
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// StartProcess starts cmd so that it cannot outlive the test binary, and
// returns a channel closed when it has exited (cmd.Wait has returned; do
// not call Wait again). It starts cmd from an OS thread that stays locked
// for the child's life: on Linux the child gets SIGKILL when that thread
// ends (Pdeathsig), which is when the test binary ends, however it ends,
// even killed by a timeout. The lock matters because the signal follows the
// thread that forked, not the process. Elsewhere it is a plain Start.
func StartProcess(cmd *exec.Cmd) (<-chan struct{}, error) {
	started := make(chan error, 1)
	exit := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread exits with the goroutine, and with it
		// goes the child, which has exited by then anyway.
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		setPdeathsig(cmd.SysProcAttr)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exit)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exit, nil
}
