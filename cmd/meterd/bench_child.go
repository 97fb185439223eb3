package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is `meterd serve` in a process of its own, so that its memory can
// be read from /proc apart from the generator's.
type child struct {
	cmd      *exec.Cmd
	endpoint string
	done     chan error
	stderr   *os.File
	stopOnce sync.Once
	stopErr  error
}

// meterdBinary returns a meterd binary to start children with: this
// program, unless it is a test binary, which `go build` replaces.
func meterdBinary(ctx context.Context, dir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(filepath.Base(exe), ".test") {
		return exe, nil
	}
	bin := filepath.Join(dir, "meterd")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/meterd/meterd/cmd/meterd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build meterd: %v: %s", err, out)
	}
	return bin, nil
}

// serveArgs are the arguments of a child on database: a port of its own
// choosing and no state file, since the builder stored the state in the
// database.
func serveArgs(database string) []string {
	return []string{"serve", "-listen", "127.0.0.1:0", "-database", database, "-log-level", "warn", "-admin-token", "bench-admin-token"}
}

// startChild starts bin serving database and waits for its banner, which
// names the port it got.
func startChild(ctx context.Context, bin, database string) (*child, error) {
	errFile, err := os.Create(database + ".stderr")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, serveArgs(database)...)
	cmd.Stderr = errFile
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "METERD_") })
	out, err := cmd.StdoutPipe()
	if err != nil {
		errFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		errFile.Close()
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan error, 1), stderr: errFile}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if ep, ok := bannerEndpoint(sc.Text()); ok && !sent {
				found <- ep
				sent = true
			}
		}
		io.Copy(io.Discard, out)
		c.done <- cmd.Wait()
	}()
	timer := time.NewTimer(5 * time.Minute) // migrations of a large database
	defer timer.Stop()
	select {
	case c.endpoint = <-found:
		return c, nil
	case err := <-c.done:
		c.done <- err
		return nil, fmt.Errorf("meterd serve exited before listening (%v): %s", err, c.tail())
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	case <-timer.C:
		c.stop()
		return nil, fmt.Errorf("meterd serve did not listen within 5 minutes: %s", c.tail())
	}
}

// bannerEndpoint finds the endpoint in serve's first banner line,
// "meterd <version> listening on http://127.0.0.1:1234 (region …".
func bannerEndpoint(line string) (string, bool) {
	_, rest, ok := strings.Cut(line, " listening on ")
	if !ok || !strings.HasPrefix(line, "meterd ") {
		return "", false
	}
	ep, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(ep, "http://") {
		return "", false
	}
	return ep, true
}

// tail is the end of the child's stderr, for error messages.
func (c *child) tail() string {
	b, _ := os.ReadFile(c.stderr.Name())
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// stop ends the child with SIGTERM, as a service manager would, so that it
// drains and closes the database; SIGKILL after a minute. Later calls
// return the first one's result.
func (c *child) stop() error {
	c.stopOnce.Do(func() {
		defer c.stderr.Close()
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-c.done:
			if err != nil {
				c.stopErr = fmt.Errorf("meterd serve: %v: %s", err, c.tail())
			}
		case <-time.After(time.Minute):
			_ = c.cmd.Process.Kill()
			<-c.done
			c.stopErr = errors.New("meterd serve did not stop within a minute of SIGTERM: killed")
		}
	})
	return c.stopErr
}

// procMemory is a process's resident set now (VmRSS) and at its peak
// (VmHWM), in bytes, from /proc/<pid>/status.
type procMemory struct{ rss, hwm int64 }

func (c *child) memory() (procMemory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return procMemory{}, err
	}
	return parseProcStatus(string(b))
}

func parseProcStatus(s string) (procMemory, error) {
	var m procMemory
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("/proc status: %s: %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, err
		}
		if k == "VmRSS" {
			m.rss = n << 10
		} else {
			m.hwm = n << 10
		}
	}
	if m.rss == 0 || m.hwm == 0 {
		return m, errors.New("/proc status: no VmRSS or VmHWM")
	}
	return m, nil
}

// cpu is the CPU time the child has used, from /proc/<pid>/stat, or -1.
func (c *child) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	return parseProcStatCPU(string(b))
}

// parseProcStatCPU adds utime and stime, fields 14 and 15 of
// /proc/<pid>/stat; the command name (field 2) may hold spaces, so fields
// count from its closing parenthesis.
func parseProcStatCPU(s string) time.Duration {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is f[11], stime f[12].
	if len(f) < 13 {
		return -1
	}
	var ticks int64
	for _, x := range f[11:13] {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return -1
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ
}

// dataFiles lists the files meterd keeps beside database: the database, its
// -wal and -shm, and files named after it such as <name>-audit.db, with
// their sizes. The child's stderr log is not one.
func dataFiles(database string) (map[string]int64, error) {
	dir := filepath.Dir(database)
	base := strings.TrimSuffix(filepath.Base(database), filepath.Ext(database))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string]int64{}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, base) || strings.HasSuffix(name, ".stderr") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		files[name] = fi.Size()
	}
	return files, nil
}
