package statefile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/statefile"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// exampleState is what docs/state-file.md's example says.
func exampleState() metering.State {
	return metering.State{
		Region: "us-east-1",
		Accounts: []metering.Account{
			{ID: "111122223333", Name: "acme-seller", AccessKeys: []metering.AccessKey{
				{ID: "AKIAACMESELLER000001", Secret: "acme-seller-secret"},
			}},
			{ID: "444455556666", Name: "globex-buyer", AccessKeys: []metering.AccessKey{
				{ID: "AKIAGLOBEXBUYER00001", Secret: "globex-buyer-secret", Resource: "i-0123456789abcdef0", Platform: metering.PlatformEC2},
			}},
		},
		Products: []metering.Product{
			{Code: "acme-saas-01", Seller: "111122223333", Type: metering.ProductSaaS, Dimensions: []string{"users", "storage_gb"}, Agreements: metering.AgreementsLegacy},
			{Code: "acme-container-01", Seller: "111122223333", Type: metering.ProductContainer, Dimensions: []string{"vcpu_hours"}, PublicKeyVersions: []int{1}},
		},
		Customers: []metering.Customer{
			{
				Product:            "acme-saas-01",
				AccountID:          "444455556666",
				CustomerIdentifier: "globex-cust-0001",
				LicenseArn:         "arn:aws:license-manager::444455556666:license:l-0123456789abcdef0123456789abcdef",
				Status:             metering.StatusSubscribed,
				Entitlements: []metering.Entitlement{{
					Dimension: "users",
					Value:     metering.EntitlementValue{Integer: ptr(int64(100))},
					Expires:   time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC),
				}},
			},
			{Product: "acme-container-01", AccountID: "444455556666", Status: metering.StatusSubscribed},
		},
		RegistrationTokens: []metering.RegistrationToken{
			{Token: "reg-token-globex-0001", Product: "acme-saas-01", AccountID: "444455556666", ExpiresAt: now.Add(4 * time.Hour)},
		},
	}
}

func mustParse(t *testing.T, src string) *statefile.File {
	t.Helper()
	f, err := statefile.Parse("t.yaml", []byte(src), now)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestParseExample(t *testing.T) {
	for _, name := range []string{"example.yaml", "example.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			f, err := statefile.Load(path, now)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if f.Name != path {
				t.Errorf("Name = %q, want %q", f.Name, path)
			}
			if want := exampleState(); !reflect.DeepEqual(f.State, want) {
				t.Errorf("State =\n%#v\nwant\n%#v", f.State, want)
			}
			if len(f.Warnings) != 0 {
				t.Errorf("Warnings = %v, want none", f.Warnings)
			}
			st := f.State
			metering.Normalize(&st)
			if err := metering.Check(st, nil); err != nil {
				t.Errorf("Check: %v", f.Explain(err))
			}
		})
	}
}

// TestParseJSONLayouts parses the JSON example minified and indented with
// tabs, as encoding/json and jq write it.
func TestParseJSONLayouts(t *testing.T) {
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	var compact, tabs bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&tabs, data, "", "\t"); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string][]byte{"compact": compact.Bytes(), "tabs": tabs.Bytes()} {
		f, err := statefile.Parse("state.json", src, now)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(f.State, exampleState()) {
			t.Errorf("%s: State = %+v", name, f.State)
		}
	}
}

func TestPositionOf(t *testing.T) {
	f, err := statefile.Load("testdata/example.yaml", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		line int
	}{
		{"region", 1},
		{"accounts", 3},
		{"accounts[0]", 4},
		{"accounts[1].access_keys[0].platform", 15},
		{"products[0].dimensions[1]", 21},
		{"products[1].public_key_versions[0]", 29},
		{"customers[0].entitlements[0].value", 39},
		{"customers[1].status", 43},
		{"registration_tokens[0].ttl", 49},
		// Keys the file does not write resolve to the nearest entry that it does.
		{"customers[1].license_arn", 41},
		{"products[0].public_key_versions", 18},
		{"nowhere[3].at", 0},
	} {
		got := f.PositionOf(tt.path)
		if got.Line != tt.line || got.File != "testdata/example.yaml" {
			t.Errorf("PositionOf(%q) = %v, want line %d", tt.path, got, tt.line)
		}
	}
}

func TestDemo(t *testing.T) {
	f := statefile.Demo(now)
	if len(f.Warnings) != 0 {
		t.Errorf("demo warnings: %v", f.Warnings)
	}
	st := f.State
	metering.Normalize(&st)
	if err := metering.Check(st, nil); err != nil {
		t.Fatalf("demo does not pass Check:\n%v", f.Explain(err))
	}

	// The parts users are told about (the start-up banner, docs) stay put.
	if st.Region != "us-east-1" {
		t.Errorf("region = %q", st.Region)
	}
	keys := map[string]metering.AccessKey{}
	for _, a := range st.Accounts {
		for _, k := range a.AccessKeys {
			keys[k.ID] = k
		}
	}
	for _, want := range []metering.AccessKey{
		{ID: "AKIADEMOSELLER000001", Secret: "demo-seller-secret", AccountID: "111122223333", Platform: metering.PlatformEC2},
		{ID: "AKIADEMOBUYER0000001", Secret: "demo-buyer-secret", AccountID: "444455556666", Resource: "i-0demo0000000000001", Platform: metering.PlatformEC2},
		{ID: "AKIADEMOAGENT0000001", Secret: "demo-agent-secret", AccountID: "444455556666", Resource: "agent-runtime-demo", Platform: metering.PlatformAgentCore},
		{ID: "AKIADEMOBUYER0000002", Secret: "demo-buyer-2-secret", AccountID: "777788889999", Platform: metering.PlatformEC2},
	} {
		if got := keys[want.ID]; got != want {
			t.Errorf("key %s = %+v, want %+v", want.ID, got, want)
		}
	}
	if len(keys) != 4 {
		t.Errorf("%d access keys, want 4", len(keys))
	}

	var products []string
	for _, p := range st.Products {
		products = append(products, fmt.Sprintf("%s/%s/%s/%v/%v", p.Code, p.Type, p.Agreements, p.Dimensions, p.PublicKeyVersions))
	}
	wantProducts := []string{
		"demo-saas/saas/both/[users storage_gb]/[]",
		"demo-saas-concurrent/saas/concurrent/[requests]/[]",
		"demo-ami/ami/both/[hours vcpus]/[]",
		"demo-container/container/both/[tasks]/[1]",
		"demo-agent/container/both/[invocations]/[]",
	}
	if !reflect.DeepEqual(products, wantProducts) {
		t.Errorf("products = %q, want %q", products, wantProducts)
	}

	wantCustomers := []metering.Customer{
		{Product: "demo-saas", AccountID: "444455556666", CustomerIdentifier: "demo-customer-0001",
			LicenseArn: "arn:aws:license-manager::444455556666:license:l-0demo0000000000000000000000000001",
			Status:     metering.StatusSubscribed,
			Entitlements: []metering.Entitlement{{Dimension: "users", Value: metering.EntitlementValue{Integer: ptr(int64(100))},
				Expires: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}}},
		{Product: "demo-saas", AccountID: "777788889999", CustomerIdentifier: "demo-customer-0002", Status: metering.StatusUnsubscribed},
		{Product: "demo-saas-concurrent", AccountID: "444455556666",
			LicenseArn: "arn:aws:license-manager::444455556666:license:l-0demo0000000000000000000000000002", Status: metering.StatusSubscribed},
		{Product: "demo-ami", AccountID: "444455556666", Status: metering.StatusSubscribed},
		{Product: "demo-container", AccountID: "444455556666", Status: metering.StatusSubscribed},
		{Product: "demo-agent", AccountID: "444455556666", Status: metering.StatusSubscribed},
	}
	if !reflect.DeepEqual(st.Customers, wantCustomers) {
		t.Errorf("customers =\n%+v\nwant\n%+v", st.Customers, wantCustomers)
	}
	wantTokens := []metering.RegistrationToken{
		{Token: "demo-registration-token-0001", Product: "demo-saas", AccountID: "444455556666", ExpiresAt: now.Add(4 * time.Hour)},
	}
	if !reflect.DeepEqual(st.RegistrationTokens, wantTokens) {
		t.Errorf("tokens = %+v, want %+v", st.RegistrationTokens, wantTokens)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "\n", "# nothing yet\n", "---\n", "null\n", "~", "{}", "{}\n# done\n"} {
		f := mustParse(t, src)
		if !reflect.DeepEqual(f.State, metering.State{}) {
			t.Errorf("Parse(%q).State = %+v, want empty", src, f.State)
		}
		if len(f.Warnings) != 0 {
			t.Errorf("Parse(%q) warnings %v", src, f.Warnings)
		}
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want metering.State
	}{
		{
			name: "unquoted account ids keep their digits",
			src: `
accounts:
  - id: 111122223333
  - id: 012345678901
products:
  - code: p
    seller: 012345678901
customers:
  - product: p
    account_id: 000011112222
registration_tokens:
  - token: 12345
    product: p
    account_id: 444455556666
`,
			want: metering.State{
				Accounts:           []metering.Account{{ID: "111122223333"}, {ID: "012345678901"}},
				Products:           []metering.Product{{Code: "p", Seller: "012345678901"}},
				Customers:          []metering.Customer{{Product: "p", AccountID: "000011112222"}},
				RegistrationTokens: []metering.RegistrationToken{{Token: "12345", Product: "p", AccountID: "444455556666", ExpiresAt: now.Add(4 * time.Hour)}},
			},
		},
		{
			name: "defaults stay empty, written values stay",
			src: `
accounts:
  - id: "111122223333"
    access_keys:
      - {id: K1, secret: s1}
      - {id: K2, secret: s2, platform: fargate}
products:
  - {code: a, type: saas, dimensions: [d]}
  - {code: b, type: saas, dimensions: [d], agreements: concurrent}
customers:
  - {product: a, account_id: "111122223333"}
  - {product: b, account_id: "111122223333", status: unsubscribe-pending}
`,
			want: metering.State{
				Accounts: []metering.Account{{ID: "111122223333", AccessKeys: []metering.AccessKey{
					{ID: "K1", Secret: "s1"}, {ID: "K2", Secret: "s2", Platform: metering.PlatformFargate},
				}}},
				Products: []metering.Product{
					{Code: "a", Type: metering.ProductSaaS, Dimensions: []string{"d"}},
					{Code: "b", Type: metering.ProductSaaS, Dimensions: []string{"d"}, Agreements: metering.AgreementsConcurrent},
				},
				Customers: []metering.Customer{
					{Product: "a", AccountID: "111122223333"},
					{Product: "b", AccountID: "111122223333", Status: metering.StatusUnsubscribePending},
				},
			},
		},
		{
			name: "ttl and expires",
			src: `
customers:
  - entitlements:
      - {dimension: a, value: {double: 2.5}, expires: 2027-12-31}
      - {dimension: b, value: {double: 3}, expires: "2027-06-01T10:00:00+02:00"}
      - {dimension: c, value: {boolean: true}}
      - {dimension: d, value: {string: 42}, expires: ~}
      - {dimension: e, value: {string: ""}}
      - {dimension: f, value: {integer: -0x10}}
registration_tokens:
  - {token: a, ttl: 90m}
  - {token: b, ttl: 1h30m}
  - {token: c, ttl: ~}
  - {token: d, ttl: 0s}
`,
			want: metering.State{
				Customers: []metering.Customer{{Entitlements: []metering.Entitlement{
					{Dimension: "a", Value: metering.EntitlementValue{Double: ptr(2.5)}, Expires: time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)},
					{Dimension: "b", Value: metering.EntitlementValue{Double: ptr(3.0)}, Expires: time.Date(2027, 6, 1, 8, 0, 0, 0, time.UTC)},
					{Dimension: "c", Value: metering.EntitlementValue{Boolean: ptr(true)}},
					{Dimension: "d", Value: metering.EntitlementValue{String: ptr("42")}},
					{Dimension: "e", Value: metering.EntitlementValue{String: ptr("")}},
					{Dimension: "f", Value: metering.EntitlementValue{Integer: ptr(int64(-16))}},
				}}},
				RegistrationTokens: []metering.RegistrationToken{
					{Token: "a", ExpiresAt: now.Add(90 * time.Minute)},
					{Token: "b", ExpiresAt: now.Add(90 * time.Minute)},
					{Token: "c", ExpiresAt: now.Add(4 * time.Hour)},
					{Token: "d", ExpiresAt: now},
				},
			},
		},
		{
			name: "anchors, aliases and merge keys",
			src: `
accounts:
  - id: &seller "111122223333"
products:
  - &base {code: a, seller: *seller, type: saas, dimensions: &dims [users, gb]}
  - <<: *base
    code: b
  - <<: [{code: x, agreements: legacy}, *base]
    dimensions: *dims
`,
			want: metering.State{
				Accounts: []metering.Account{{ID: "111122223333"}},
				Products: []metering.Product{
					{Code: "a", Seller: "111122223333", Type: metering.ProductSaaS, Dimensions: []string{"users", "gb"}},
					{Code: "b", Seller: "111122223333", Type: metering.ProductSaaS, Dimensions: []string{"users", "gb"}},
					{Code: "x", Seller: "111122223333", Type: metering.ProductSaaS, Dimensions: []string{"users", "gb"}, Agreements: metering.AgreementsLegacy},
				},
			},
		},
		{
			name: "null lists and fields",
			src: `
region:
accounts:
  - id: "111122223333"
    name: ~
    access_keys:
products: null
`,
			want: metering.State{Accounts: []metering.Account{{ID: "111122223333"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.src)
			if !reflect.DeepEqual(f.State, tt.want) {
				t.Errorf("State =\n%+v\nwant\n%+v", f.State, tt.want)
			}
			if len(f.Warnings) != 0 {
				t.Errorf("Warnings = %v", f.Warnings)
			}
		})
	}
}

// problem is one expected line of an error: "t.yaml:LINE: PATH: ...MESSAGE...".
type problem struct {
	line int
	path string
	msg  string // a part of the message
}

func errorsOf(t *testing.T, err error) []*statefile.Error {
	t.Helper()
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	var out []*statefile.Error
	for _, e := range list {
		var se *statefile.Error
		if !errors.As(e, &se) {
			continue
		}
		out = append(out, se)
	}
	return out
}

func checkProblems(t *testing.T, err error, want []problem) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	got := errorsOf(t, err)
	lines := strings.Split(err.Error(), "\n")
	if len(got) != len(want) || len(lines) != len(want) {
		t.Fatalf("got %d problems:\n%v\nwant %d: %v", len(got), err, len(want), want)
	}
	for i, w := range want {
		g := got[i]
		prefix := fmt.Sprintf("t.yaml:%d: ", w.line)
		if w.path != "" {
			prefix += w.path + ": "
		}
		if g.Pos.File != "t.yaml" || g.Pos.Line != w.line || g.Path != w.path || !strings.Contains(g.Message, w.msg) ||
			!strings.HasPrefix(lines[i], prefix) || lines[i] != g.Error() {
			t.Errorf("problem %d = %q, want %q...%q", i, lines[i], prefix, w.msg)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []problem
	}{
		{"top level list", "- a\n- b\n", []problem{{1, "", "the state file must be a mapping"}}},
		{"top level string", "hello\n", []problem{{1, "", "got a string"}}},
		{"syntax error", "accounts:\n  - id: a\n   name: b\n", []problem{{3, "", "yaml: "}}},
		{"unclosed flow", "region: x\nproducts: [{code: a}\n", []problem{{2, "", "yaml: did not find expected ',' or ']'"}}},
		{"unclosed quote", "region: x\naccounts:\n  - id: \"1\"\n    name: \"a\n    type: b\n", []problem{{4, "", "yaml: found unexpected end of stream"}}},
		{"mapping in a plain scalar", "region: x\naccounts:\n  - id: a: b\n", []problem{{3, "", "yaml: mapping values are not allowed in this context"}}},
		{"tab indentation", "region: x\naccounts:\n\t- id: a\n", []problem{{3, "", "yaml: found character that cannot start any token"}}},
		{"unknown anchor", "region: x\naccounts:\n  - id: *nope\n", []problem{{3, "", "yaml: an alias (*name) names no anchor"}}},
		{"two documents", "region: a\n---\nregion: b\n", []problem{{2, "", "one YAML document"}}},
		{"region list", "region: [us-east-1]\n", []problem{{1, "region", "expected a string, got a list"}}},
		{"accounts mapping", "accounts:\n  id: \"111122223333\"\n", []problem{{2, "accounts", "expected a list, got a mapping"}}},
		{"account string", "accounts:\n  - \"111122223333\"\n", []problem{{2, "accounts[0]", "expected a mapping, got a string"}}},
		{"account list", "accounts:\n  - [a, b]\n", []problem{{2, "accounts[0]", "expected a mapping, got a list"}}},
		{"account null", "accounts:\n  -\n  - id: \"1\"\n", []problem{{2, "accounts[0]", "expected a mapping, got null"}}},
		{"name mapping", "accounts:\n  - id: \"111122223333\"\n    name:\n      first: a\n", []problem{{4, "accounts[0].name", "expected a string, got a mapping"}}},
		{"access key string", "accounts:\n  - id: \"111122223333\"\n    access_keys: [AKIA1]\n", []problem{{3, "accounts[0].access_keys[0]", "expected a mapping, got a string"}}},
		{"access key item string", "accounts:\n  - id: \"111122223333\"\n    access_keys:\n      - AKIA1\n", []problem{{4, "accounts[0].access_keys[0]", "expected a mapping, got a string"}}},
		{"platform list", "accounts:\n  - access_keys:\n      - id: K\n        platform: [ec2]\n", []problem{{4, "accounts[0].access_keys[0].platform", "expected a string, got a list"}}},
		{"dimensions scalar", "products:\n  - code: p\n    dimensions: users\n", []problem{{3, "products[0].dimensions", "expected a list, got a string"}}},
		{"dimension mapping", "products:\n  - code: p\n    dimensions:\n      - users\n      - {name: gb}\n", []problem{{5, "products[0].dimensions[1]", "expected a string, got a mapping"}}},
		{"public key versions", "products:\n  - code: p\n    public_key_versions: [1, \"2\", 1.5, v3, 99999999999999999999]\n", []problem{
			{3, "products[0].public_key_versions[1]", "must be an integer, got a string"},
			{3, "products[0].public_key_versions[2]", "must be an integer, got a number"},
			{3, "products[0].public_key_versions[3]", "must be an integer, got a string"},
			{3, "products[0].public_key_versions[4]", "must be an integer"},
		}},
		{"public key versions scalar", "products:\n  - public_key_versions: 1\n", []problem{{2, "products[0].public_key_versions", "expected a list, got an integer"}}},
		{"ttl banana", "registration_tokens:\n  - token: t\n    ttl: banana\n", []problem{{3, "registration_tokens[0].ttl", `"banana" is not a duration`}}},
		{"ttl without unit", "registration_tokens:\n  - token: t\n    ttl: 4\n", []problem{{3, "registration_tokens[0].ttl", `"4" is not a duration`}}},
		{"ttl mapping", "registration_tokens:\n  - token: t\n    ttl: {hours: 4}\n", []problem{{3, "registration_tokens[0].ttl", "got a mapping"}}},
		{"token list", "registration_tokens:\n  - token: [t]\n", []problem{{2, "registration_tokens[0].token", "expected a string, got a list"}}},
		{"expires bad", "customers:\n  - entitlements:\n      - dimension: d\n        value: {integer: 1}\n        expires: next tuesday\n", []problem{
			{5, "customers[0].entitlements[0].expires", `"next tuesday" is not a time`},
		}},
		{"expires bad date", "customers:\n  - entitlements:\n      - {dimension: d, value: {integer: 1}, expires: 2027-02-30}\n", []problem{
			{3, "customers[0].entitlements[0].expires", `"2027-02-30" is not a time`},
		}},
		{"expires list", "customers:\n  - entitlements:\n      - {dimension: d, value: {integer: 1}, expires: [2027]}\n", []problem{
			{3, "customers[0].entitlements[0].expires", "got a list"},
		}},
		{"value two members", "customers:\n  - entitlements:\n      - dimension: d\n        value: {integer: 1, string: x}\n", []problem{
			{4, "customers[0].entitlements[0].value", "got integer and string"},
		}},
		{"value no member", "customers:\n  - entitlements:\n      - dimension: d\n        value: {}\n", []problem{
			{4, "customers[0].entitlements[0].value", "got none"},
		}},
		{"value missing", "customers:\n  - entitlements:\n      - dimension: d\n", nil},
		{"value scalar", "customers:\n  - entitlements:\n      - dimension: d\n        value: 100\n", []problem{
			{4, "customers[0].entitlements[0].value", "expected a mapping with exactly one of integer, double, boolean, string"},
		}},
		{"value null", "customers:\n  - entitlements:\n      - dimension: d\n        value:\n", []problem{
			{4, "customers[0].entitlements[0].value", "got null"},
		}},
		{"value wrong members", "customers:\n  - entitlements:\n      - {dimension: a, value: {integer: 1.5}}\n      - {dimension: b, value: {integer: \"1\"}}\n      - {dimension: c, value: {double: .nan}}\n      - {dimension: d, value: {boolean: yes}}\n      - {dimension: e, value: {string: [x]}}\n      - {dimension: f, value: {integer: 9223372036854775808}}\n      - {dimension: g, value: {string: ~}}\n", []problem{
			{3, "customers[0].entitlements[0].value.integer", "must be an integer, got a number"},
			{4, "customers[0].entitlements[1].value.integer", "must be an integer, got a string"},
			{5, "customers[0].entitlements[2].value.double", "finite number"},
			{6, "customers[0].entitlements[3].value.boolean", "expected true or false, got a string"},
			{7, "customers[0].entitlements[4].value.string", "expected a string, got a list"},
			{8, "customers[0].entitlements[5].value.integer", "must be an integer between"},
			{9, "customers[0].entitlements[6].value.string", "expected a string, got null"},
		}},
		{"entitlements mapping", "customers:\n  - entitlements:\n      users: 100\n", []problem{{3, "customers[0].entitlements", "expected a list, got a mapping"}}},
		{"customers list of lists", "customers:\n  - [a]\n", []problem{{2, "customers[0]", "expected a mapping, got a list"}}},
		{"duplicate key", "accounts:\n  - id: \"111122223333\"\n    name: a\n    name: b\n", []problem{{4, "accounts[0].name", "key given twice (first on line 3)"}}},
		{"complex key", "accounts:\n  - ? [a]\n    : b\n", []problem{{2, "accounts[0]", "a key must be a plain name, got a list"}}},
		{"merge scalar", "accounts:\n  - <<: x\n    id: \"111122223333\"\n", []problem{{2, "accounts[0]", "a merge key (<<) takes a mapping"}}},
		{
			name: "every problem at once",
			src: `region: us-east-1
accounts:
  - id: "111122223333"
    name: [x]
    access_keys:
      - id: K
        secret: {s: 1}
products:
  - code: p
    dimensions: d
customers:
  - product: p
    entitlements:
      - dimension: d
        value: {boolean: 1}
registration_tokens:
  - token: t
    ttl: soon
`,
			want: []problem{
				{4, "accounts[0].name", "expected a string"},
				{7, "accounts[0].access_keys[0].secret", "expected a string"},
				{10, "products[0].dimensions", "expected a list"},
				{15, "customers[0].entitlements[0].value.boolean", "expected true or false"},
				{18, "registration_tokens[0].ttl", "not a duration"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := statefile.Parse("t.yaml", []byte(tt.src), now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if f != nil {
				t.Errorf("Parse returned a File with its error")
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestParseJSONErrors(t *testing.T) {
	src := `{
  "accounts": [
    {"id": 111122223333, "name": "a"},
    {"id": "444455556666", "access_keys": {"id": "K"}}
  ],
  "registration_tokens": [{"token": "t", "ttl": 4}]
}`
	_, err := statefile.Parse("t.yaml", []byte(src), now)
	checkProblems(t, err, []problem{
		{4, "accounts[1].access_keys", "expected a list, got a mapping"},
		{6, "registration_tokens[0].ttl", "not a duration"},
	})
}

func TestParseWarnings(t *testing.T) {
	src := `region: us-east-1
acounts: []
accounts:
  - id: "111122223333"
    nmae: seller
    access_keys:
      - id: K
        secret: s
        platfrom: ecs
        color: blue
products:
  - code: p
    dimensions: [d]
    owner: {a: [1, 2]}
customers:
  - product: p
    entitlements:
      - dimension: d
        value: {integer: 1, unit: users}
registration_tokens:
  - token: t
    expires: 4h
"1": x
"odd key\n": y
`
	f := mustParse(t, src)
	want := []string{
		"t.yaml:2: acounts: unknown key, ignored (did you mean accounts?)",
		"t.yaml:5: accounts[0].nmae: unknown key, ignored (did you mean name?)",
		"t.yaml:9: accounts[0].access_keys[0].platfrom: unknown key, ignored (did you mean platform?)",
		"t.yaml:10: accounts[0].access_keys[0].color: unknown key, ignored",
		"t.yaml:14: products[0].owner: unknown key, ignored",
		"t.yaml:19: customers[0].entitlements[0].value.unit: unknown key, ignored",
		"t.yaml:22: registration_tokens[0].expires: unknown key, ignored",
		"t.yaml:23: 1: unknown key, ignored",
		`t.yaml:24: "odd key\n": unknown key, ignored`,
	}
	var got []string
	for _, w := range f.Warnings {
		got = append(got, w.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The known keys are still read.
	if f.State.Accounts[0].AccessKeys[0].Platform != "" || f.State.Accounts[0].ID != "111122223333" ||
		*f.State.Customers[0].Entitlements[0].Value.Integer != 1 {
		t.Errorf("State = %+v", f.State)
	}
}

// checked runs what ApplyState runs on an empty database.
func checked(f *statefile.File) error {
	st := f.State
	metering.Normalize(&st)
	return metering.Check(st, nil)
}

func TestExplain(t *testing.T) {
	src := `region: us-east-1
accounts:
  - id: "111122223333"
    access_keys:
      - id: AKIAK1
        secret: s
        platform: vm
products:
  - code: p
    seller: "111122223333"
    type: saas
    dimensions: [d]
customers:
  - product: p
    account_id: "111122223333"
  - product: nope
    account_id: "444455556666"
    entitlements:
      - dimension: d
registration_tokens:
  - token: t
    product: p
    account_id: "999999999999"
  - product: p
`
	f := mustParse(t, src)
	err := f.Explain(checked(f))
	want := []string{
		`t.yaml:7: accounts[0].access_keys[0].platform: platform "vm" is not one of ec2, ecs, eks, fargate, agentcore`,
		`t.yaml:16: customers[1].product: product "nope" is not defined`,
		`t.yaml:19: customers[1].entitlements[0].value: a value needs exactly one of integer, double, boolean, string`,
		`t.yaml:23: registration_tokens[0].account_id: no customer entry for account "999999999999" on product p`,
		`t.yaml:24: registration_tokens[1].token: a registration token must not be empty`,
		`t.yaml:24: registration_tokens[1].account_id: no customer entry for account "" on product p`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("Explain =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var se *metering.StateError
	if !errors.As(err, &se) || len(se.Problems) != len(want) {
		t.Errorf("Explain's error does not unwrap to the StateError")
	}
	var fe *statefile.Error
	if !errors.As(err, &fe) || fe.Pos.Line != 7 || fe.Path != "accounts[0].access_keys[0].platform" {
		t.Errorf("Explain's error does not unwrap to an *Error: %+v", fe)
	}

	// A wrapped StateError is explained too; other errors and nil pass through.
	if got := f.Explain(fmt.Errorf("apply: %w", checked(f))); got == nil || !strings.HasPrefix(got.Error(), want[0]) {
		t.Errorf("wrapped: %v", got)
	}
	other := errors.New("disk full")
	if got := f.Explain(other); got != other {
		t.Errorf("Explain(other) = %v", got)
	}
	if got := f.Explain(nil); got != nil {
		t.Errorf("Explain(nil) = %v", got)
	}
	var nilFile *statefile.File
	if got := nilFile.Explain(other); got != other {
		t.Errorf("nil File: %v", got)
	}
}

func TestExplainJSON(t *testing.T) {
	data, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(data), `"product": "acme-container-01"`, `"product": "acme-container-02"`, 1)
	f, err := statefile.Parse("state.json", []byte(src), now)
	if err != nil {
		t.Fatal(err)
	}
	want := `state.json:56: customers[1].product: product "acme-container-02" is not defined`
	if got := f.Explain(checked(f)); got == nil || got.Error() != want {
		t.Errorf("Explain = %v, want %s", got, want)
	}
}

func TestSecretsNeverInMessages(t *testing.T) {
	const secret = "s3cr3t-Do-Not-Print"
	srcs := []string{
		"accounts:\n  - id: \"111122223333\"\n    access_keys:\n      - id: K\n        secret: [" + secret + "]\n",
		"accounts:\n  - id: \"111122223333\"\n    access_keys:\n      - id: K\n        secret: {" + secret + ": 1}\n",
		"accounts:\n  - id: \"111122223333\"\n    access_keys:\n      - \"K:" + secret + "\"\n",
		"accounts:\n  - id: \"111122223333\"\n    access_keys: " + secret + "\n",
		"accounts:\n  - id: \"111122223333\"\n    access_keys:\n      - id: K\n        secret: \"" + secret + "\n",
		"accounts:\n  - id: \"111122223333\"\n    access_keys:\n      - id: K\n        secret: " + secret + "\n        secret: " + secret + "\n",
		"accounts:\n  - id: \"111122223333\"\n    access_keys:\n      - id: K\n        secret: !!binary " + secret + "\n        platform: [x]\n",
		"accounts:\n  - id: \"111122223333\"\n    access_keys:\n      - id: K\n        secret: " + secret + "\n    name: [x]\n",
		"accounts:\n  - id: \"111122223333\"\n    access_keys:\n      - id: K\n        secert: " + secret + "\n",
		"accounts:\n  - id: \"111122223333\"\n    access_keys:\n      - id: \"\"\n        secret: " + secret + "\n      - id: \"\"\n        secret: " + secret + "\n",
		"accounts:\n  - id: \"1\"\n    access_keys:\n      - id: K\n        secret: " + secret + "\n        platform: nope\n",
		"accounts:\n  - id: \"1\"\n    access_keys:\n      - id: K\n        secret: *" + secret + "\n",
		"accounts:\n  - id: \"1\"\n    access_keys:\n      - id: K\n        secret: " + secret + "\n      - id: K\n        secret: \"x\n",
	}
	for i, src := range srcs {
		var msgs []string
		f, err := statefile.Parse("t.yaml", []byte(src), now)
		if err != nil {
			msgs = append(msgs, err.Error())
		} else {
			for _, w := range f.Warnings {
				msgs = append(msgs, w.String())
			}
			if err := f.Explain(checked(f)); err != nil {
				msgs = append(msgs, err.Error())
			}
		}
		if len(msgs) == 0 {
			t.Errorf("case %d: no message at all", i)
		}
		for _, m := range msgs {
			if strings.Contains(m, secret) {
				t.Errorf("case %d: message shows the secret: %s", i, m)
			}
		}
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := statefile.Load(filepath.Join(t.TempDir(), "nope.yaml"), now)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load = %v, want ErrNotExist", err)
	}
}

// TestParseAliasBomb checks that a small file whose aliases expand to
// millions of entries is refused rather than walked.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-keys: &keys\n")
	for range 2000 {
		b.WriteString("  - {id: k, secret: s}\n")
	}
	b.WriteString("x-account: &account {id: \"111122223333\", access_keys: *keys}\naccounts:\n")
	for range 2000 {
		b.WriteString("  - *account\n")
	}
	start := time.Now()
	_, err := statefile.Parse("t.yaml", []byte(b.String()), now)
	if err == nil || !strings.Contains(err.Error(), "too large once its aliases are expanded") {
		t.Errorf("Parse = %v, want a too-large error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Parse took %v", d)
	}
}

// TestParseLargeFile checks that a large file without aliases is not taken
// for an alias bomb: 200,000 customers are more nodes than the fixed
// budget a small file gets.
func TestParseLargeFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("accounts:\n  - id: \"111122223333\"\n    access_keys: [{id: AKIAEXAMPLE0000001, secret: s}]\n" +
		"products:\n  - {code: prod1, seller: \"111122223333\", type: saas, dimensions: [users]}\ncustomers:\n")
	const n = 200000
	for i := range n {
		fmt.Fprintf(&b, "  - {product: prod1, customer_identifier: cust-%d, account_id: \"%012d\"}\n", i, 200000000000+i)
	}
	f, err := statefile.Parse("t.yaml", []byte(b.String()), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.State.Customers) != n {
		t.Errorf("%d customers, want %d", len(f.State.Customers), n)
	}
}
