package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/app"
)

const cliToken = "cli-test-token"

// startApp runs meterd with the demo state and a known admin token.
func startApp(t *testing.T) *app.App {
	t.Helper()
	a, err := app.Open(t.Context(), app.Config{Listen: "127.0.0.1:0", Database: filepath.Join(t.TempDir(), "meterd.db"), AdminToken: cliToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// cli runs one meterd command against a and returns its exit code and
// output.
func cli(t *testing.T, a *app.App, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append(args, "--endpoint", a.Endpoint(), "--admin-token", cliToken)
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// mustCLI runs a command that must succeed.
func mustCLI(t *testing.T, a *app.App, args ...string) string {
	t.Helper()
	code, out, errs := cli(t, a, args...)
	if code != 0 {
		t.Fatalf("meterd %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func mustDecode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
}

// TestAdminCLI runs every admin subcommand against a real meterd.
func TestAdminCLI(t *testing.T) {
	a := startApp(t)
	var mu sync.Mutex
	var forms []url.Values
	var hooks []string
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/fulfill" {
			r.ParseForm()
			forms = append(forms, r.PostForm)
			return
		}
		body, _ := io.ReadAll(r.Body)
		hooks = append(hooks, string(body))
	}))
	defer site.Close()

	t.Run("Accounts", func(t *testing.T) {
		out := mustCLI(t, a, "accounts", "list")
		if !strings.Contains(out, "111122223333") || !strings.Contains(out, "AKIADEMOSELLER000001") || strings.Contains(out, "demo-seller-secret") {
			t.Fatalf("accounts list:\n%s", out)
		}
		mustCLI(t, a, "accounts", "put", "--id", "999900001111", "--name", "cli-buyer", "--access-key", "AKIACLIBUYER", "--secret", "cli-secret", "--platform", "ecs", "--resource", "task-9")
		mustCLI(t, a, "accounts", "put", "--id", "999900001111", "--access-key", "AKIACLIBUYER2", "--secret", "cli-secret-2")
		var accts []struct {
			ID         string
			Name       string
			AccessKeys []map[string]string `json:"access_keys"`
		}
		out = mustCLI(t, a, "accounts", "list", "--json")
		mustDecode(t, out, &accts)
		found := false
		for _, acct := range accts {
			if acct.ID == "999900001111" {
				found = acct.Name == "cli-buyer" && len(acct.AccessKeys) == 2 && acct.AccessKeys[0]["resource"] == "task-9"
			}
		}
		if !found || strings.Contains(out, "cli-secret") {
			t.Fatalf("accounts list --json:\n%s", out)
		}
	})

	t.Run("Products", func(t *testing.T) {
		mustCLI(t, a, "products", "put", "--code", "cli-saas", "--seller", "111122223333", "--dimensions", "users,seats",
			"--fulfillment-url", site.URL+"/fulfill", "--webhook", site.URL+"/sns")
		out := mustCLI(t, a, "products", "list")
		if !strings.Contains(out, "cli-saas") || !strings.Contains(out, "users,seats") || !strings.Contains(out, site.URL+"/fulfill") {
			t.Fatalf("products list:\n%s", out)
		}
		code, _, errs := cli(t, a, "products", "put", "--code", "bad", "--seller", "000000000000", "--dimensions", "x")
		if code != 1 || !strings.Contains(errs, "seller") {
			t.Fatalf("bad product: exit %d, %s", code, errs)
		}
	})

	t.Run("SubscribeUnsubscribe", func(t *testing.T) {
		out := mustCLI(t, a, "subscribe", "--product", "cli-saas", "--account", "999900001111", "--free-trial")
		if !strings.Contains(out, "fulfillment:") || !strings.Contains(out, "HTTP 200") {
			t.Fatalf("subscribe:\n%s", out)
		}
		mu.Lock()
		got := forms
		mu.Unlock()
		if len(got) != 1 || got[0].Get("x-amzn-marketplace-offer-type") != "free-trial" || !strings.Contains(out, got[0].Get("x-amzn-marketplace-token")) {
			t.Fatalf("fulfillment forms %v\n%s", got, out)
		}
		var cs []struct {
			Status string
			Active bool
		}
		mustDecode(t, mustCLI(t, a, "customers", "list", "--product", "cli-saas", "--json"), &cs)
		if len(cs) != 1 || cs[0].Status != "subscribed" || !cs[0].Active {
			t.Fatalf("customers %+v", cs)
		}
		out = mustCLI(t, a, "tokens", "list", "--product", "cli-saas")
		if !strings.Contains(out, got[0].Get("x-amzn-marketplace-token")) {
			t.Fatalf("tokens list:\n%s", out)
		}
		var tok struct{ Token string }
		mustDecode(t, mustCLI(t, a, "tokens", "create", "--product", "cli-saas", "--account", "999900001111", "--ttl", "1h", "--json"), &tok)
		if tok.Token == "" {
			t.Fatal("tokens create made no token")
		}
		out = mustCLI(t, a, "unsubscribe", "--product", "cli-saas", "--account", "999900001111", "--window", "30m")
		if !strings.Contains(out, "unsubscribe-pending until") {
			t.Fatalf("unsubscribe:\n%s", out)
		}
		var ns []struct{ Action, Status string }
		mustDecode(t, mustCLI(t, a, "notifications", "--product", "cli-saas", "--json"), &ns)
		actions := map[string]bool{}
		for _, n := range ns {
			actions[n.Action] = true
		}
		if !actions["subscribe-success"] || !actions["unsubscribe-pending"] || !actions["unsubscribe-success"] {
			t.Fatalf("notifications %+v", ns)
		}
		if out := mustCLI(t, a, "notifications", "--product", "cli-saas"); !strings.Contains(out, "ATTEMPTS") || !strings.Contains(out, "subscribe-success") {
			t.Fatalf("notifications table:\n%s", out)
		}
		code, _, errs := cli(t, a, "unsubscribe", "--product", "cli-saas", "--account", "000000000000")
		if code != 1 || !strings.Contains(errs, "no agreement") {
			t.Fatalf("unsubscribe of a stranger: exit %d %s", code, errs)
		}
	})

	t.Run("KeyVersions", func(t *testing.T) {
		out := mustCLI(t, a, "key-versions")
		if !strings.Contains(out, a.Endpoint()+"/keys/register-usage/1.pem") || !strings.Contains(out, "demo-container") {
			t.Fatalf("key-versions:\n%s", out)
		}
	})

	t.Run("State", func(t *testing.T) {
		out := mustCLI(t, a, "state", "show")
		if !strings.Contains(out, "accounts:") || !strings.Contains(out, `id: "111122223333"`) || strings.Contains(out, "secret") {
			t.Fatalf("state show:\n%s", out)
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "state.yaml")
		if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		if out := mustCLI(t, a, "state", "apply", file); !strings.Contains(out, "applied state.yaml") {
			t.Fatalf("state apply:\n%s", out)
		}
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte("customers:\n  - product: nope\n    account_id: \"999900001111\"\n"), 0o600)
		code, _, errs := cli(t, a, "state", "apply", bad)
		if code != 1 || !strings.Contains(errs, "line 2") || !strings.Contains(errs, "customers[0].product") {
			t.Fatalf("state apply of a bad file: exit %d\n%s", code, errs)
		}
		var st struct{ Region string }
		mustDecode(t, mustCLI(t, a, "state", "show", "--json"), &st)
		if st.Region != "us-east-1" {
			t.Fatalf("state show --json region %q", st.Region)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"products", "list", "--endpoint", a.Endpoint(), "--admin-token", "wrong"}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "admin token") {
			t.Fatalf("wrong token: exit %d %s", code, errb.String())
		}
		errb.Reset()
		code = run(context.Background(), []string{"products", "list", "--endpoint", a.Endpoint(), "--admin-token", ""}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "METERD_ADMIN_TOKEN") {
			t.Fatalf("no token: exit %d %s", code, errb.String())
		}
		errb.Reset()
		if code := run(context.Background(), []string{"products"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "list|put") {
			t.Fatalf("no verb: exit %d %s", code, errb.String())
		}
	})
}

// TestServePrintsAdminTokenOnce checks that serve prints a generated admin
// token at the first start only, never logs it, and that a configured
// token is not printed.
func TestServePrintsAdminTokenOnce(t *testing.T) {
	db := filepath.Join(t.TempDir(), "meterd.db")
	serveOnce := func(extra ...string) (stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncBuffer
		done := make(chan int, 1)
		args := append([]string{"serve", "--listen", "127.0.0.1:0", "--database", db, "--log-level", "debug"}, extra...)
		go func() { done <- run(ctx, args, &out, &errb) }()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !strings.Contains(out.String(), "listening on"); time.Sleep(20 * time.Millisecond) {
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("serve exited %d: %s", code, errb.String())
		}
		return out.String(), errb.String()
	}
	out, logs := serveOnce()
	i := strings.Index(out, "export METERD_ADMIN_TOKEN=mtd_")
	if i < 0 {
		t.Fatalf("the first start printed no admin token:\n%s", out)
	}
	token := strings.Fields(out[i+len("export METERD_ADMIN_TOKEN="):])[0]
	if strings.Contains(logs, token) {
		t.Fatal("the admin token is in the log")
	}
	if out, logs := serveOnce(); strings.Contains(out, "METERD_ADMIN_TOKEN=") || strings.Contains(out+logs, token) {
		t.Fatalf("a restart printed a token:\n%s", out)
	}
	if out, _ := serveOnce("--admin-token", "configured-token"); strings.Contains(out, "METERD_ADMIN_TOKEN=") || strings.Contains(out, "configured-token") {
		t.Fatalf("a configured token was printed:\n%s", out)
	}
}
