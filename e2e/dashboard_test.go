package e2e

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// -screenshots writes the dashboard test's screenshots to
// docs/screenshots, for the README; without it they go to a temp dir.
var screenshots = flag.Bool("screenshots", false, "write the dashboard screenshots to docs/screenshots")

// chromiumPath finds the browser: $METERD_CHROMIUM, else chromium on PATH.
// Without one the test skips, but fails in CI, which installs it (.ci/run).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("METERD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; CI must run the dashboard tests (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium, or set METERD_CHROMIUM)")
	return ""
}

// browserTab starts a headless Chromium with an empty profile and flags
// that keep it from calling home, and returns a tab. JavaScript exceptions,
// console.error calls and Content-Security-Policy refusals fail the test.
func browserTab(t *testing.T, exe string) context.Context {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 860),
		chromedp.Env("TZ=UTC"),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Start the browser with a context of its own, so that the timeouts of
	// single steps do not close it.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	var (
		mu       sync.Mutex
		problems []string
	)
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			api := m.Type == chromedp.ConsoleError && len(m.Args) > 0
			csp := strings.Contains(m.Text, "Content Security Policy")
			if m.Type == chromedp.ConsoleException || api || csp {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	})
	return ctx
}

// browse runs browser steps, each within 20 seconds.
func browse(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for _, step := range steps {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := chromedp.Do(sctx, step)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\npage: %s", what, err, pageText(ctx))
		}
	}
}

// evalJS runs a JavaScript expression and returns its value.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is truthy.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 25*time.Second)
	defer cancel()
	// An expression that throws (an element not there yet) counts as false.
	expr = "(() => { try { return (" + expr + "); } catch { return false; } })()"
	if _, err := chromedp.Run(sctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v\npage: %s", what, err, pageText(ctx))
	}
}

// pageText is the text of the page's view, for failure messages.
func pageText(ctx context.Context) string {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](`(document.querySelector('#login:not([hidden])') || document.querySelector('#view') || document.body).innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if len(s) > 3000 {
		s = s[:3000] + "…"
	}
	return s
}

// fillField sets a form control's value as typing would, firing input and
// change events.
func fillField(selector, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		if (!el) throw new Error('no element ' + %q);
		el.value = %q;
		el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true}));
	})()`, selector, selector, value))
}

// saveScreenshot saves the viewport as name.png.
func saveScreenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// No hover effect where the last click left the mouse; let the charts
	// settle.
	if err := chromedp.Do(sctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1279, 859)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dashboardTraffic is what seedDashboard metered.
type dashboardTraffic struct {
	records      int   // records in the last 24 hours, all products
	saasBothQty  int64 // saas-both quantity in the last 24 hours
	saasBothRecs int
}

// seedDashboard meters a day of usage with the Go SDK: the seller's hourly
// batches for three SaaS products and the buyer's MeterUsage for an AMI,
// plus refused calls.
func seedDashboard(t *testing.T, s *server) dashboardTraffic {
	t.Helper()
	seller, buyer := s.client(sellerKey), s.client(buyerKey)
	now := s.clock.Now()
	var tr dashboardTraffic
	for h := 22; h >= 0; h-- {
		ts := now.Add(-time.Duration(h)*time.Hour - time.Minute)
		if h == 0 {
			ts = now.Add(-time.Second)
		}
		users := int32(5 + (22-h)%7*3)
		recs := []types.UsageRecord{usage(ts, "users", users, ident("cust-1"))}
		tr.saasBothQty += int64(users)
		if h%3 == 0 {
			recs = append(recs, usage(ts, "storage_gb", int32(40+h), ident("cust-1")))
			tr.saasBothQty += int64(40 + h)
		}
		tr.saasBothRecs += len(recs)
		out, err := seller.BatchMeterUsage(ctx, batch("saas-both", recs...))
		if err != nil || len(out.UnprocessedRecords) > 0 {
			t.Fatalf("BatchMeterUsage saas-both: %v %+v", err, out)
		}
		allSucceeded(t, out)
		tr.records += len(recs)
		if h%2 == 0 {
			out, err := seller.BatchMeterUsage(ctx, batch("saas-new", usage(ts, "requests", int32(100+h*17), licensed(license2, buyer2Account))))
			if err != nil {
				t.Fatalf("BatchMeterUsage saas-new: %v", err)
			}
			allSucceeded(t, out)
			tr.records++
		}
		if h%4 == 1 {
			out, err := seller.BatchMeterUsage(ctx, batch("saas-old", usage(ts, "users", int32(2+h%3), ident("old-1"))))
			if err != nil {
				t.Fatalf("BatchMeterUsage saas-old: %v", err)
			}
			allSucceeded(t, out)
			tr.records++
		}
		if h < 5 {
			if _, err := buyer.MeterUsage(ctx, meterInput("ami-1", "hours", ts, 1)); err != nil {
				t.Fatalf("MeterUsage ami-1: %v", err)
			}
			tr.records++
		}
	}
	// Refused calls, for the error rates and the audit log.
	if _, err := buyer.MeterUsage(ctx, meterInput("no-such-product", "hours", now, 1)); err == nil {
		t.Fatal("MeterUsage of an unknown product succeeded")
	}
	if _, err := s.client(buyer2Key).MeterUsage(ctx, meterInput("ami-1", "hours", now, 1)); err == nil {
		t.Fatal("MeterUsage without entitlement succeeded")
	}
	if _, err := buyer.MeterUsage(ctx, meterInput("ami-1", "hours", now.Add(-time.Second), 7)); err == nil {
		t.Fatal("a MeterUsage duplicate with another quantity succeeded")
	}
	return tr
}

func allSucceeded(t *testing.T, out *mm.BatchMeterUsageOutput) {
	t.Helper()
	for _, r := range out.Results {
		if r.Status != types.UsageRecordResultStatusSuccess {
			t.Fatalf("record %+v: %s", r.UsageRecord, r.Status)
		}
	}
}

// TestDashboard drives the web dashboard in headless Chromium against a
// real meterd with a day of traffic: sign-in, the overview, the catalog,
// the usage explorer and its CSV, the audit log and the live tail.
func TestDashboard(t *testing.T) {
	exe := chromiumPath(t)
	s := start(t, serverOpts{})
	traffic := seedDashboard(t, s)
	shots := t.TempDir()
	if *screenshots {
		shots = filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// The page is public; the data behind it is not.
	if status, body := adminGet(t, s.Endpoint()+"/ui/", ""); status != 200 || !strings.Contains(body, "Admin token") {
		t.Fatalf("GET /ui/ without a token: %d %.200s", status, body)
	}
	for _, path := range []string{"/admin/v1/reports/usage", "/admin/v1/audit/events", "/admin/v1/events/stream"} {
		if status, _ := adminGet(t, s.Endpoint()+path, ""); status != 401 {
			t.Errorf("GET %s without a token: %d, want 401", path, status)
		}
	}

	tab := browserTab(t, exe)
	browse(t, tab, "open the dashboard",
		chromedp.EmulateViewport(1280, 860),
		chromedp.Navigate(s.Endpoint()+"/ui"),
		chromedp.WaitVisible(chromedp.CSS("#token")))

	signedIn := t.Run("SignIn", func(t *testing.T) {
		browse(t, tab, "a wrong token",
			chromedp.SendKeys(chromedp.CSS("#token"), "mtd_wrong"),
			chromedp.Click(chromedp.CSS("#login-form button[type=submit]")))
		waitJS(t, tab, "the refusal", `document.querySelector('#login-error').textContent.includes('refused')`)
		browse(t, tab, "the admin token",
			fillField("#token", ""),
			chromedp.SendKeys(chromedp.CSS("#token"), s.AdminToken),
			chromedp.Click(chromedp.CSS("#login-form button[type=submit]")))
		waitJS(t, tab, "the overview", `location.hash === '#/overview' && document.querySelector('#login').hidden`)
		if got := evalJS[string](t, tab, `sessionStorage.getItem('meterd.adminToken')`); got != s.AdminToken {
			t.Fatalf("sessionStorage keeps %q, want the token", got)
		}
	})
	if !signedIn {
		t.FailNow()
	}

	t.Run("Overview", func(t *testing.T) {
		want := strconv.Itoa(traffic.records)
		waitJS(t, tab, "the records stat", `(document.querySelector('[data-stat="Records"]') || {}).textContent === `+strconv.Quote(want))
		waitJS(t, tab, "a bar for each of the 23 hours with usage", `document.querySelectorAll('#records-per-hour rect.bar').length === 23`)
		top := evalJS[string](t, tab, `document.querySelector('#top-customers').innerText`)
		if !strings.Contains(top, "cust-1") && !strings.Contains(top, buyerAccount) {
			t.Errorf("top customers do not show the busiest customer:\n%s", top)
		}
		if rows := evalJS[int](t, tab, `document.querySelectorAll('#top-customers tbody tr').length`); rows < 2 {
			t.Errorf("top customers has %d rows, want at least 2:\n%s", rows, top)
		}
		waitJS(t, tab, "the error rates", `document.querySelector('#error-rates').innerText.includes('InvalidProductCodeException')`)
		errs := evalJS[string](t, tab, `document.querySelector('#error-rates').innerText`)
		for _, want := range []string{"MeterUsage", "BatchMeterUsage", "CustomerNotEntitledException", "DuplicateRequestException"} {
			if !strings.Contains(errs, want) {
				t.Errorf("error rates lack %s:\n%s", want, errs)
			}
		}
		saveScreenshot(t, tab, shots, "overview")

		// Narrow screens scroll tables, not the page.
		browse(t, tab, "a phone-sized viewport", chromedp.EmulateViewport(390, 844))
		if over := evalJS[bool](t, tab, `document.documentElement.scrollWidth > window.innerWidth + 1`); over {
			t.Errorf("at 390 px the page is %v px wide", evalJS[int](t, tab, `document.documentElement.scrollWidth`))
		}
		browse(t, tab, "back to the desktop viewport", chromedp.EmulateViewport(1280, 860))
	})

	t.Run("Catalog", func(t *testing.T) {
		browse(t, tab, "open products and customers", chromedp.Click(chromedp.CSS(`#nav a[data-view="catalog"]`)))
		waitJS(t, tab, "the products", `document.querySelector('#view').innerText.includes('container-1')`)
		text := pageText(tab)
		for _, want := range []string{"saas-both", "cust-1", "buyer-2", "unsubscribed"} {
			if !strings.Contains(text, want) {
				t.Errorf("products and customers lack %q", want)
			}
		}
		browse(t, tab, "filter customers by product", fillField(`select[name="product"]`, "saas-new"))
		waitJS(t, tab, "the filtered customers", `[...document.querySelectorAll('caption')].some((c) => c.textContent.startsWith('1 of'))`)
	})

	t.Run("UsageExplorer", func(t *testing.T) {
		downloads := t.TempDir()
		if _, err := chromedp.CallBrowser(tab, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
		}); err != nil {
			t.Fatal(err)
		}
		browse(t, tab, "open the usage explorer", chromedp.Click(chromedp.CSS(`#nav a[data-view="usage"]`)))
		waitJS(t, tab, "the default report", `document.querySelector('#usage-chart svg, #usage-chart .empty')`)
		waitJS(t, tab, "the product list", `document.querySelector('#usage-form select[name="product"] option[value="saas-both"]')`)

		now := s.clock.Now().UTC()
		from := now.Add(-24 * time.Hour).Truncate(time.Hour).Format("2006-01-02T15:04")
		to := now.Add(time.Hour).Truncate(time.Hour).Format("2006-01-02T15:04")
		browse(t, tab, "set the filters",
			fillField(`#usage-form [name="from"]`, from),
			fillField(`#usage-form [name="to"]`, to),
			fillField(`#usage-form [name="tz"]`, "UTC"),
			fillField(`#usage-form [name="window"]`, "hour"),
			fillField(`#usage-form [name="product"]`, "saas-both"),
			chromedp.Evaluate[chromedp.Void](`for (const c of document.querySelectorAll('#usage-form [name="group_by"]')) c.checked = ['customer', 'dimension'].includes(c.value)`),
			chromedp.Click(chromedp.CSS(`#usage-form button[type=submit]`)))
		waitJS(t, tab, "the filtered report", `location.hash.includes('product=saas-both') && /rows/.test(document.querySelector('#usage-summary').textContent)`)
		rows := evalJS[[][]string](t, tab, `[...document.querySelectorAll('#usage-table tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent))`)
		if len(rows) != traffic.saasBothRecs {
			t.Errorf("the report has %d rows, want %d (one per hour and dimension of saas-both)", len(rows), traffic.saasBothRecs)
		}
		var sum int64
		for _, r := range rows {
			if len(r) != 5 {
				t.Fatalf("row %q: want window, customer, dimension, quantity, records", r)
			}
			if r[2] != "users" && r[2] != "storage_gb" {
				t.Errorf("row %q is not saas-both's", r)
			}
			q, _ := strconv.ParseInt(strings.ReplaceAll(r[3], ",", ""), 10, 64)
			sum += q
		}
		if sum != traffic.saasBothQty {
			t.Errorf("the report's quantities add up to %d, want %d", sum, traffic.saasBothQty)
		}
		waitJS(t, tab, "the usage chart's bars, one per hour and dimension", fmt.Sprintf(`document.querySelectorAll('#usage-chart rect.bar').length === %d`, traffic.saasBothRecs))

		browse(t, tab, "download the CSV", chromedp.Click(chromedp.CSS("#download-csv")))
		var file string
		for deadline := time.Now().Add(15 * time.Second); file == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			matches, _ := filepath.Glob(filepath.Join(downloads, "*.csv"))
			if len(matches) > 0 {
				file = matches[0]
			}
		}
		if file == "" {
			t.Fatal("no CSV was downloaded")
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		records, err := csv.NewReader(f).ReadAll()
		if err != nil || len(records) < 2 {
			t.Fatalf("the CSV: %v, %d lines", err, len(records))
		}
		col := map[string]int{}
		for i, name := range records[0] {
			col[name] = i
		}
		qi, ok := col["quantity"]
		if !ok {
			t.Fatalf("the CSV header %q has no quantity", records[0])
		}
		var csvSum int64
		for _, r := range records[1:] {
			if pi, ok := col["product_code"]; ok && r[pi] != "" && r[pi] != "saas-both" {
				t.Errorf("CSV row %q is not saas-both's", r)
			}
			q, _ := strconv.ParseInt(r[qi], 10, 64)
			csvSum += q
		}
		if len(records)-1 != traffic.saasBothRecs || csvSum != traffic.saasBothQty {
			t.Errorf("the CSV has %d rows adding up to %d, want %d adding up to %d", len(records)-1, csvSum, traffic.saasBothRecs, traffic.saasBothQty)
		}
		browse(t, tab, "scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		saveScreenshot(t, tab, shots, "usage-explorer")
	})

	t.Run("AuditLog", func(t *testing.T) {
		browse(t, tab, "open the audit log", chromedp.Click(chromedp.CSS(`#nav a[data-view="audit"]`)))
		waitJS(t, tab, "the audit events", `/events/.test(document.querySelector('#audit-count').textContent)`)
		browse(t, tab, "filter by error code",
			fillField(`#audit-form [name="error_code"]`, "InvalidProductCodeException"),
			chromedp.Click(chromedp.CSS(`#audit-form button[type=submit]`)))
		waitJS(t, tab, "the filtered events", `location.hash.includes('error_code=') && /event/.test(document.querySelector('#audit-count').textContent)`)
		results := evalJS[[]string](t, tab, `[...document.querySelectorAll('#audit-table tbody tr:not(.detail)')].map((tr) => tr.innerText)`)
		if len(results) != 1 || !strings.Contains(results[0], "MeterUsage") || !strings.Contains(results[0], "InvalidProductCodeException") || !strings.Contains(results[0], buyerAccount) {
			t.Errorf("events with error code InvalidProductCodeException: %q, want the one refused MeterUsage", results)
		}

		browse(t, tab, "filter by operation",
			fillField(`#audit-form [name="error_code"]`, ""),
			fillField(`#audit-form [name="event_name"]`, "MeterUsage"),
			chromedp.Click(chromedp.CSS(`#audit-form button[type=submit]`)))
		waitJS(t, tab, "the MeterUsage events", `location.hash.includes('event_name=MeterUsage') && /events/.test(document.querySelector('#audit-count').textContent)`)
		results = evalJS[[]string](t, tab, `[...document.querySelectorAll('#audit-table tbody tr:not(.detail)')].map((tr) => tr.cells[1].textContent + ' ' + tr.cells[4].textContent)`)
		var errors int
		for _, r := range results {
			if !strings.HasPrefix(r, "MeterUsage ") {
				t.Errorf("event %q under the MeterUsage filter", r)
			}
			if !strings.HasSuffix(r, " OK") {
				errors++
			}
		}
		if len(results) != 8 || errors != 3 {
			t.Errorf("MeterUsage events: %q, want 5 successes and 3 errors", results)
		}
		// Open the details of the newest refused call.
		browse(t, tab, "open an error's details", chromedp.Click(chromedp.CSS(`#audit-table tr.is-error button[aria-expanded]`)))
		waitJS(t, tab, "the details", `document.querySelector('#audit-table tr.detail:not([hidden])')`)
		detail := evalJS[string](t, tab, `document.querySelector('#audit-table tr.detail:not([hidden])').innerText`)
		if !strings.Contains(detail, "errorMessage") || !strings.Contains(detail, "ami-1") {
			t.Errorf("the details of an error:\n%s", detail)
		}
		saveScreenshot(t, tab, shots, "audit-log")
	})

	t.Run("LiveTail", func(t *testing.T) {
		browse(t, tab, "open the live tail", chromedp.Click(chromedp.CSS(`#nav a[data-view="live"]`)))
		waitJS(t, tab, "the stream", `document.querySelector('#live-state').dataset.state === 'live'`)
		// The stream is connected; what happens now must show up.
		now := s.clock.Now()
		out, err := s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "vcpus", now, 4))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		if id == "" {
			t.Fatal("MeterUsage answered no request id")
		}
		waitJS(t, tab, "the new call", fmt.Sprintf(`document.querySelector('#live-table tr[data-request-id=%q]')`, id))
		row := evalJS[string](t, tab, fmt.Sprintf(`document.querySelector('#live-table tr[data-request-id=%q]').innerText`, id))
		if !strings.Contains(row, "MeterUsage") || !strings.Contains(row, "OK") {
			t.Errorf("the live row of the call: %q", row)
		}
		// A few more calls, refused ones among them, for the screenshot.
		seller := s.client(sellerKey)
		seller.BatchMeterUsage(ctx, batch("saas-new", usage(now, "requests", 12, licensed(license2, buyer2Account))))
		s.client(buyer2Key).MeterUsage(ctx, meterInput("ami-1", "hours", now, 1))
		seller.BatchMeterUsage(ctx, batch("saas-both", usage(now, "users", 99, ident("cust-1"))))
		s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "gigawatts", now, 1))
		s.client(buyerKey, func(o *mm.Options) { o.Region = "eu-west-1" }).MeterUsage(ctx, meterInput("ami-1", "hours", now, 1))
		waitJS(t, tab, "the later calls", `document.querySelectorAll('#live-table tbody tr:not(.detail)').length >= 6`)
		if n := evalJS[int](t, tab, `document.querySelectorAll('#live-table tr.is-error').length`); n < 3 {
			t.Errorf("the live tail shows %d refused calls, want 3", n)
		}
		time.Sleep(2500 * time.Millisecond) // the arrival highlight fades
		saveScreenshot(t, tab, shots, "live-tail")
	})

	t.Run("SignOut", func(t *testing.T) {
		browse(t, tab, "sign out", chromedp.Click(chromedp.CSS("#signout")))
		waitJS(t, tab, "the sign-in form", `!document.querySelector('#login').hidden`)
		if got := evalJS[string](t, tab, `sessionStorage.getItem('meterd.adminToken') || ''`); got != "" {
			t.Errorf("the token is still in sessionStorage after signing out")
		}
	})
}
