package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/meterd/meterd/internal/metering"
)

// The constraint tables below are generated at test time from the botocore
// model in ../shared/aws-models: every min, max, pattern and required member
// reachable from an operation's input is violated once, and its bounds are
// met once. The server must answer each violation with AWS's error code
// (ValidationException; InvalidTagException for tags, the error AWS
// documents for them) and accept each bound.

type shape struct {
	Type     string   `json:"type"`
	Min      *float64 `json:"min"`
	Max      *float64 `json:"max"`
	Pattern  string   `json:"pattern"`
	Required []string `json:"required"`
	Members  map[string]struct {
		Shape string `json:"shape"`
	} `json:"members"`
	Member struct {
		Shape string `json:"shape"`
	} `json:"member"`
}

type model struct {
	Operations map[string]struct {
		Input struct {
			Shape string `json:"shape"`
		} `json:"input"`
	} `json:"operations"`
	Shapes map[string]shape `json:"shapes"`
}

type constraintCase struct {
	name  string
	path  []any // keys (string) and list indexes (int) into the base body
	value any   // the value to set; deleteMember removes it
	want  string
}

var deleteMember = struct{}{}

// tagShapes are answered with InvalidTagException.
var tagShapes = map[string]bool{"TagKey": true, "TagValue": true, "TagList": true, "Tag": true}

func loadModel(t *testing.T) model {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedDir(t), "aws-models", "botocore", "meteringmarketplace", "2016-01-14", "service-2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m model
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// violatingString finds a string of an allowed length that the pattern rejects.
func violatingString(pattern string, min, max int) (string, bool) {
	re := metering.CompilePattern(pattern)
	for _, c := range []string{"!", ">", "é", "?", "{", "\n", "not an arn", " "} {
		s := c
		for len([]rune(s)) < min {
			s += c
		}
		if (max == 0 || len([]rune(s)) <= max) && !re.MatchString(s) {
			return s, true
		}
	}
	return "", false
}

// validString returns a string of length n the pattern accepts, built from
// the base value.
func validString(base string, n int) string {
	if n == 0 {
		return ""
	}
	unit := base[len(base)-1:]
	if strings.HasPrefix(base, "arn:") {
		unit = "a"
	}
	s := base
	for len(s) < n {
		s += unit
	}
	return s[:n]
}

// generate walks shapeName at path, with base the value the base body has there.
func generate(m model, shapeName string, path []any, base any, inTag bool, out *[]constraintCase) {
	sh := m.Shapes[shapeName]
	tag := inTag || tagShapes[shapeName]
	want := "ValidationException"
	if tag {
		want = "InvalidTagException"
	}
	p := func(extra ...any) []any { return append(append([]any{}, path...), extra...) }
	name := fmt.Sprint(path...)
	switch sh.Type {
	case "structure":
		obj := base.(map[string]any)
		names := make([]string, 0, len(sh.Members))
		for n := range sh.Members {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			v, ok := obj[n]
			if !ok {
				continue
			}
			generate(m, sh.Members[n].Shape, p(n), v, tag, out)
		}
		for _, r := range sh.Required {
			want := want
			if tagShapes[m.Shapes[sh.Members[r].Shape].Type] || tag {
				want = "InvalidTagException"
			}
			*out = append(*out, constraintCase{fmt.Sprintf("%s.%s/required", name, r), p(r), deleteMember, want})
		}
	case "list":
		items := base.([]any)
		if sh.Min != nil && *sh.Min > 0 {
			*out = append(*out, constraintCase{name + "/min", path, []any{}, want})
		}
		if sh.Max != nil {
			long := make([]any, int(*sh.Max)+1)
			for i := range long {
				long[i] = items[0]
			}
			*out = append(*out, constraintCase{name + "/max", path, long, want})
		}
		generate(m, sh.Member.Shape, p(0), items[0], tag, out)
	case "string":
		s := base.(string)
		min, max := 0, 0
		if sh.Min != nil {
			min = int(*sh.Min)
		}
		if sh.Max != nil {
			max = int(*sh.Max)
			*out = append(*out, constraintCase{name + "/max", path, validString(s, max+1), want})
			*out = append(*out, constraintCase{name + "/max-ok", path, validString(s, max), ""})
		}
		if min > 0 {
			*out = append(*out, constraintCase{name + "/min", path, validString(s, min-1), want})
			*out = append(*out, constraintCase{name + "/min-ok", path, validString(s, min), ""})
		}
		if sh.Pattern != "" {
			if v, ok := violatingString(sh.Pattern, min, max); ok {
				*out = append(*out, constraintCase{name + "/pattern", path, v, want})
			}
		}
	case "integer":
		if sh.Min != nil {
			*out = append(*out, constraintCase{name + "/min", path, int64(*sh.Min) - 1, want})
			*out = append(*out, constraintCase{name + "/min-ok", path, int64(*sh.Min), ""})
		}
		if sh.Max != nil {
			*out = append(*out, constraintCase{name + "/max", path, int64(*sh.Max) + 1, want})
			*out = append(*out, constraintCase{name + "/max-ok", path, int64(*sh.Max), ""})
		}
	}
}

func setPath(doc any, path []any, v any) any {
	if len(path) == 0 {
		return v
	}
	switch node := doc.(type) {
	case map[string]any:
		k := path[0].(string)
		if len(path) == 1 && v == deleteMember {
			delete(node, k)
			return node
		}
		node[k] = setPath(node[k], path[1:], v)
		return node
	case []any:
		i := path[0].(int)
		node[i] = setPath(node[i], path[1:], v)
		return node
	}
	panic(fmt.Sprintf("bad path %v", path))
}

func TestModelConstraints(t *testing.T) {
	m := loadModel(t)
	s := start(t, serverOpts{})
	ts := s.clock.Now().Unix()
	alloc := fmt.Sprintf(`[{"AllocatedUsageQuantity":1,"Tags":[{"Key":"team","Value":"blue"}]}]`)
	bases := map[string]struct {
		creds aws.Credentials
		body  string
	}{
		// DryRun keeps every accepted variant from storing anything.
		"MeterUsage":      {buyerKey, fmt.Sprintf(`{"ProductCode":"ami-1","Timestamp":%d,"UsageDimension":"hours","UsageQuantity":1,"DryRun":true,"UsageAllocations":%s,"ClientToken":"token"}`, ts, alloc)},
		"BatchMeterUsage": {sellerKey, fmt.Sprintf(`{"ProductCode":"saas-both","UsageRecords":[{"Timestamp":%d,"CustomerIdentifier":"cust-1","Dimension":"users","Quantity":1,"UsageAllocations":%s,"CustomerAWSAccountId":"444455556666","LicenseArn":"arn:aws:license-manager::444455556666:license:l-1"}]}`, ts, alloc)},
	}
	total := 0
	for op, base := range bases {
		var cases []constraintCase
		var doc map[string]any
		if err := json.Unmarshal([]byte(base.body), &doc); err != nil {
			t.Fatal(err)
		}
		generate(m, m.Operations[op].Input.Shape, nil, doc, false, &cases)
		if len(cases) < 20 {
			t.Fatalf("%s: only %d generated cases", op, len(cases))
		}
		total += len(cases)
		for _, c := range cases {
			t.Run(op+"/"+c.name, func(t *testing.T) {
				var d any
				json.Unmarshal([]byte(base.body), &d)
				body, err := json.Marshal(setPath(d, c.path, c.value))
				if err != nil {
					t.Fatal(err)
				}
				r := s.post(t, base.creds, "AWSMPMeteringService."+op, body)
				if c.want == "" {
					if r.code == "ValidationException" || r.code == "InvalidTagException" || r.code == "SerializationException" {
						t.Fatalf("bound refused: %s", r.body)
					}
					return
				}
				r.want(t, 400, c.want)
				if c.want == "ValidationException" && !strings.Contains(r.msg, "validation error") {
					t.Fatalf("message not in AWS's form: %s", r.msg)
				}
			})
		}
	}
	t.Logf("%d constraint cases from the model", total)
	if n := s.records(t, metering.UsageFilter{}); n != 0 {
		t.Fatalf("constraint cases stored %d records", n)
	}
}
