package awsapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/sigv4/sigv4test"
)

// snap is one of the Go SDK's own request/response snapshot files: a status
// or request line, headers, a blank line and the body.
type snap struct {
	first  string
	header map[string]string
	body   []byte
}

func readSnap(t *testing.T, path string) snap {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	s := snap{header: map[string]string{}}
	sc.Scan()
	s.first = sc.Text()
	inBody := false
	var body []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case inBody:
			body = append(body, line)
		case line == "" && len(s.header) > 0:
			inBody = true
		case line == "":
		default:
			k, v, _ := strings.Cut(line, ": ")
			s.header[k] = v
		}
	}
	s.body = []byte(strings.Join(body, "\n"))
	return s
}

func snapDir(t *testing.T) string {
	return filepath.Join(sigv4test.SharedDir(t), "aws-models", "go-sdk-snapshots", "marketplacemetering-v1.45.0")
}

// TestErrorStatusMatchesSDKSnapshots checks the one error table against the
// status codes the Go SDK's own tests expect for every modelled error.
func TestErrorStatusMatchesSDKSnapshots(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(snapDir(t), "response_snapshot", "*.error.snap"))
	if len(paths) < 15 {
		t.Fatalf("found %d error snapshots", len(paths))
	}
	byCode := map[string]int{}
	for _, w := range wireErrors {
		byCode[w.code] = w.status
	}
	for _, p := range paths {
		s := readSnap(t, p)
		var env struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(s.body, &env); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		want, _ := strconv.Atoi(s.first)
		got, ok := byCode[env.Type]
		if !ok {
			t.Errorf("%s: no entry for %s", filepath.Base(p), env.Type)
			continue
		}
		if got != want {
			t.Errorf("%s: status %d, SDK snapshot says %d", env.Type, got, want)
		}
		// Our envelope has the snapshot's exact shape.
		rec := newRecorder()
		awsproto.WriteError(rec, &awsproto.Error{Status: got, Code: env.Type, Message: env.Message})
		if !bytes.Equal(rec.body.Bytes(), s.body) {
			t.Errorf("%s: body %s, snapshot %s", env.Type, rec.body.Bytes(), s.body)
		}
	}
}

// TestRequestSnapshotsDecode reads the SDK's request snapshots, which carry
// every member, and re-encodes their records: the BatchMeterUsage echo must
// give back exactly what was sent.
func TestRequestSnapshotsDecode(t *testing.T) {
	mu := readSnap(t, filepath.Join(snapDir(t), "request_snapshot", "MeterUsage.request.snap"))
	if mu.header["X-Amz-Target"] != MeteringPrefix+"MeterUsage" || mu.header["Content-Type"] != awsproto.ContentType {
		t.Fatalf("MeterUsage snapshot headers: %v", mu.header)
	}
	var m meterUsageRequest
	if err := awsproto.Decode(mu.body, &m); err != nil {
		t.Fatal(err)
	}
	if *m.ProductCode != "__ProductCode__" || m.Timestamp.Unix() != 946684800 || *m.UsageDimension != "__UsageDimension__" ||
		*m.UsageQuantity != 1 || !*m.DryRun || *m.ClientToken != "__ClientToken__" || len(m.UsageAllocations) != 2 ||
		*m.UsageAllocations[1].Tags[1].Value != "__Value__" {
		t.Fatalf("MeterUsage decoded as %+v", m)
	}

	bm := readSnap(t, filepath.Join(snapDir(t), "request_snapshot", "BatchMeterUsage.request.snap"))
	var b batchMeterUsageRequest
	if err := awsproto.Decode(bm.body, &b); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, out, bm.body)

	resp := readSnap(t, filepath.Join(snapDir(t), "response_snapshot", "BatchMeterUsage.response.snap"))
	var r batchMeterUsageResponse
	if err := json.Unmarshal(resp.body, &r); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(r)
	assertJSONEqual(t, again, resp.body)
}

func assertJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON differs:\n got %s\nwant %s", got, want)
	}
}
