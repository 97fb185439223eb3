package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meterd/meterd/internal/loadgen"
)

// motoMode is what -moto asks for: no moto row, moto_server started here,
// or a moto server already running at a URL.
type motoMode struct {
	auto bool
	url  string // set when neither off nor auto
}

func (m motoMode) off() bool { return !m.auto && m.url == "" }

func parseMotoFlag(s string) (motoMode, error) {
	switch s {
	case "off", "":
		return motoMode{}, nil
	case "auto":
		return motoMode{auto: true}, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return motoMode{}, fmt.Errorf("-moto %q: want off, auto or the http:// URL of a running moto server", s)
	}
	return motoMode{url: strings.TrimSuffix(s, "/")}, nil
}

// motoScript starts moto_server's own entry point (moto.server.main) after
// subscribing the customers to the product in moto's Marketplace Metering
// backend. moto has no API to subscribe a customer: its
// BatchMeterUsage answers CustomerNotSubscribed for anyone not put into
// customers_by_product in-process. The backend is the one of the account
// moto picks for an access key it does not know (MOTO_ACCOUNT_ID, else its
// default) and of the region the requests are signed for.
const motoScript = `import os, sys
import moto
from moto.core import DEFAULT_ACCOUNT_ID
from moto.meteringmarketplace.models import meteringmarketplace_backends
from moto.server import main
host, port, region, product, customers = sys.argv[1:6]
account = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
with open(customers) as f:
    meteringmarketplace_backends[account][region].customers_by_product[product].extend(l.strip() for l in f if l.strip())
print("moto", moto.__version__, flush=True)
main(["-H", host, "-p", port])
`

// motoCommand is the command line that runs motoScript with the Python
// of moto_server: the interpreter on its #! line, or python3 when the
// line names no Python (pyenv's shims are shell scripts that pick the
// same python3).
func motoCommand(shebang, host string, port int, region, product, customers string) (name string, args []string) {
	args = []string{"-c", motoScript, host, strconv.Itoa(port), region, product, customers}
	line, ok := strings.CutPrefix(strings.TrimSpace(shebang), "#!")
	f := strings.Fields(line)
	if !ok || len(f) == 0 || !strings.Contains(line, "python") {
		return "python3", args
	}
	// "#!/usr/bin/python3 -s" and "#!/usr/bin/env python3" alike.
	return f[0], append(f[1:], args...)
}

// errNoMoto says that -moto auto found no moto_server.
var errNoMoto = errors.New("moto_server is not installed (pip install 'moto[server]')")

// motoServer is moto started by the bench.
type motoServer struct {
	endpoint string
	cmd      *exec.Cmd
	done     chan error
	log      string
}

// startMoto starts moto_server's server on a free port of 127.0.0.1 with
// the fixture's customers subscribed, and waits until it answers.
func startMoto(ctx context.Context, dir string, f loadgen.Fixture) (*motoServer, error) {
	path, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errNoMoto
	}
	shebang := ""
	if file, err := os.Open(path); err == nil {
		shebang, _ = bufio.NewReader(file).ReadString('\n')
		file.Close()
	}
	customers := filepath.Join(dir, "moto-customers.txt")
	if err := os.WriteFile(customers, []byte(strings.Join(f.CustomerIdentifiers(), "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	name, args := motoCommand(shebang, "127.0.0.1", port, loadgen.DefaultRegion, loadgen.SaaSProduct, customers)
	m := &motoServer{endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan error, 1), log: filepath.Join(dir, "moto.log")}
	logFile, err := os.Create(m.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	m.cmd = exec.Command(name, args...)
	// moto logs every request; it goes to a file, not to the bench's output.
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto: %w", err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	if err := m.wait(ctx, time.Minute); err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// freePort asks the kernel for a port nobody listens on. Another process
// may take it before moto does; moto then fails to start and says so.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// wait polls moto until it answers HTTP; importing moto takes seconds.
func (m *motoServer) wait(ctx context.Context, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(m.endpoint + "/moto-api/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		select {
		case err := <-m.done:
			m.done <- err
			return fmt.Errorf("moto exited before answering (%v): %s", err, m.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto did not answer on %s within %s: %s", m.endpoint, limit, m.tail())
		}
	}
}

// version is what the script printed first: "moto 5.2.1".
func (m *motoServer) version() string {
	b, _ := os.ReadFile(m.log)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "moto "); ok {
			return "moto " + v
		}
	}
	return "moto, version unknown"
}

func (m *motoServer) tail() string {
	b, _ := os.ReadFile(m.log)
	s := strings.TrimSpace(string(b))
	if len(s) > 1000 {
		s = "…" + s[len(s)-1000:]
	}
	return s
}

// stop ends moto: SIGTERM, which moto_server handles by exiting, then
// SIGKILL after five seconds.
func (m *motoServer) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// checkMoto sends one BatchMeterUsage request to endpoint and says whether
// every record came back Success: moto answers 200 with
// CustomerNotSubscribed for customers it does not know.
func checkMoto(ctx context.Context, o *benchOptions, endpoint string) error {
	cfg := o.fixture.Config(loadgen.OpBatch)
	cfg.Endpoint = endpoint
	cfg.Concurrency = 1
	cfg.Requests = 1
	cfg.RecordsPerRequest = o.records
	cfg.Duration = 30 * time.Second
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if res.OK != 1 {
		return fmt.Errorf("moto at %s did not answer a BatchMeterUsage request with 200: %v %v", endpoint, res.Errors, res.ErrorSamples)
	}
	if res.Succeeded != res.Records {
		return fmt.Errorf("moto at %s answered %d of %d BatchMeterUsage records with a Status other than Success (CustomerNotSubscribed unless the customers %s… of product %s are subscribed in moto)",
			endpoint, res.Records-res.Succeeded, res.Records, cfg.Customers[0], cfg.ProductCode)
	}
	return nil
}
