package statefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meterd/meterd/internal/controls"
	"github.com/meterd/meterd/internal/metering"
)

// Parse looks at no more nodes, aliases expanded, than maxVisits or
// visitsPerByte for each byte of the file, whichever is more, so that a
// small file with many aliases cannot make it run for long, while a large
// plain one (a million customers, ~100 MB) takes as many visits as it has
// nodes. A node takes at least two bytes of YAML.
const (
	maxVisits     = 1 << 20
	visitsPerByte = 2
)

// maxMergeDepth bounds nested YAML merge keys (<<), which can form a cycle.
const maxMergeDepth = 32

// parser walks a yaml.v3 node tree along the state file's schema.
type parser struct {
	name   string
	now    time.Time
	st     metering.State
	pos    map[string]Position
	errs   []error
	warns  []Warning
	seen   map[string]bool // messages already reported, so that merged keys do not repeat them
	visits int
	budget int                // visits allowed
	ctl    *controls.Settings // the controls key, nil when absent
}

func newParser(name string, now time.Time, size int) *parser {
	return &parser{name: name, now: now, pos: map[string]Position{}, seen: map[string]bool{},
		budget: max(maxVisits, visitsPerByte*size)}
}

func (p *parser) at(n *yaml.Node) Position {
	return Position{File: p.name, Line: n.Line, Column: n.Column}
}

// errorf records a problem with the value at path, written at n. Messages
// must never include a secret: callers quote only values of fields that are
// not secrets.
func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{Pos: p.at(n), Path: path, Message: fmt.Sprintf(format, args...)}
	if k := "e" + e.Error(); !p.seen[k] {
		p.seen[k] = true
		p.errs = append(p.errs, e)
	}
}

func (p *parser) warnf(n *yaml.Node, path, format string, args ...any) {
	w := Warning{Pos: p.at(n), Message: path + ": " + fmt.Sprintf(format, args...)}
	if k := "w" + w.String(); !p.seen[k] {
		p.seen[k] = true
		p.warns = append(p.warns, w)
	}
}

// reYAMLLine finds the line in yaml.v3's error messages ("yaml: line 3: ...").
var reYAMLLine = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// splitYAMLError splits yaml.v3's "yaml: line N: problem" into N (0 when
// absent) and "yaml: problem".
func splitYAMLError(err error) (int, string) {
	msg := err.Error()
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, "yaml: " + m[2]
	}
	return 0, msg
}

// reUnknownAnchor matches the one yaml.v3 parse error that quotes the file:
// an alias to an undefined anchor. A secret written unquoted with a leading
// "*" reads as such an alias, so the name is dropped.
var reUnknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '.*' referenced$`)

func redactYAMLError(msg string) string {
	if reUnknownAnchor.MatchString(msg) {
		return "yaml: an alias (*name) names no anchor (&name) defined before it; quote a value that starts with *"
	}
	return msg
}

// decodeDocs reads the first YAML document of data and tries a second one.
// first is nil for a file without documents; second is non-nil when there
// is one. yaml.v3 reports problems as errors; the recover is a last line of
// defence so that no input can crash meterd at start-up.
func decodeDocs(data []byte) (first, second *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The panic value is not shown: it might quote the file.
			first, second, err = nil, nil, errors.New("yaml: cannot parse the file")
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var a, b yaml.Node
	if err := dec.Decode(&a); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	switch err := dec.Decode(&b); {
	case err == nil:
		return &a, &b, nil
	case !errors.Is(err, io.EOF):
		return nil, nil, err
	}
	return &a, nil, nil
}

// syntaxLine finds the line of a YAML syntax error. yaml.v3 reports the
// line of the enclosing block (and for some errors counts from 0), so the
// line is found again as the first line at which the file's beginning fails
// with the same problem. It returns 0 when that does not work out.
func syntaxLine(data []byte, msg string) int {
	var ends []int // ends[k-1]: the offset just after line k
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	fails := func(k int) bool {
		_, _, err := decodeDocs(data[:ends[k-1]])
		if err == nil {
			return false
		}
		_, m := splitYAMLError(err)
		return m == msg
	}
	if !fails(len(ends)) {
		return 0
	}
	return 1 + sort.Search(len(ends), func(i int) bool { return fails(i + 1) })
}

// decode reads the one YAML document in data. It returns nil for a file
// without any, and after recording a syntax error.
func (p *parser) decode(data []byte) *yaml.Node {
	first, second, err := decodeDocs(data)
	if err != nil {
		line, msg := splitYAMLError(err)
		if l := syntaxLine(data, msg); l > 0 {
			line = l
		}
		p.errs = append(p.errs, &Error{Pos: Position{File: p.name, Line: line}, Message: redactYAMLError(msg)})
		return nil
	}
	if second != nil {
		p.errs = append(p.errs, &Error{Pos: p.at(second), Message: "a state file holds one YAML document; remove the second one (---)"})
		return nil
	}
	return first
}

func (p *parser) parse(data []byte) {
	doc := p.decode(data)
	if doc == nil {
		return
	}
	root := doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return
		}
		root = doc.Content[0]
	}
	p.object("", root, true, fields{
		"region":              func(k string, v *yaml.Node) { p.st.Region = p.str(k, v) },
		"accounts":            func(k string, v *yaml.Node) { p.list(k, v, p.account) },
		"products":            func(k string, v *yaml.Node) { p.list(k, v, p.product) },
		"customers":           func(k string, v *yaml.Node) { p.list(k, v, p.customer) },
		"registration_tokens": func(k string, v *yaml.Node) { p.list(k, v, p.token) },
		"controls":            p.controls, // controls.go
	})
}

func (p *parser) account(path string, n *yaml.Node) {
	var a metering.Account
	if p.object(path, n, false, fields{
		"id":   func(k string, v *yaml.Node) { a.ID = p.str(k, v) },
		"name": func(k string, v *yaml.Node) { a.Name = p.str(k, v) },
		"access_keys": func(k string, v *yaml.Node) {
			p.list(k, v, func(path string, n *yaml.Node) {
				var key metering.AccessKey
				if p.object(path, n, false, fields{
					"id":       func(k string, v *yaml.Node) { key.ID = p.str(k, v) },
					"secret":   func(k string, v *yaml.Node) { key.Secret = p.str(k, v) },
					"resource": func(k string, v *yaml.Node) { key.Resource = p.str(k, v) },
					"platform": func(k string, v *yaml.Node) { key.Platform = metering.Platform(p.str(k, v)) },
				}) {
					a.AccessKeys = append(a.AccessKeys, key)
				}
			})
		},
	}) {
		p.st.Accounts = append(p.st.Accounts, a)
	}
}

func (p *parser) product(path string, n *yaml.Node) {
	var pr metering.Product
	if p.object(path, n, false, fields{
		"code":   func(k string, v *yaml.Node) { pr.Code = p.str(k, v) },
		"seller": func(k string, v *yaml.Node) { pr.Seller = p.str(k, v) },
		"type":   func(k string, v *yaml.Node) { pr.Type = metering.ProductType(p.str(k, v)) },
		"dimensions": func(k string, v *yaml.Node) {
			p.list(k, v, func(path string, n *yaml.Node) { pr.Dimensions = append(pr.Dimensions, p.str(path, n)) })
		},
		"agreements":      func(k string, v *yaml.Node) { pr.Agreements = metering.AgreementMode(p.str(k, v)) },
		"fulfillment_url": func(k string, v *yaml.Node) { pr.FulfillmentURL = p.str(k, v) },
		"webhooks": func(k string, v *yaml.Node) {
			p.list(k, v, func(path string, n *yaml.Node) { pr.Webhooks = append(pr.Webhooks, p.str(path, n)) })
		},
		"public_key_versions": func(k string, v *yaml.Node) {
			p.list(k, v, func(path string, n *yaml.Node) {
				if x, ok := p.integer(path, n, "a public key version"); ok {
					if x < math.MinInt || x > math.MaxInt {
						p.errorf(n, path, "a public key version must be a small integer")
						return
					}
					pr.PublicKeyVersions = append(pr.PublicKeyVersions, int(x))
				}
			})
		},
	}) {
		p.st.Products = append(p.st.Products, pr)
	}
}

func (p *parser) customer(path string, n *yaml.Node) {
	var c metering.Customer
	if p.object(path, n, false, fields{
		"product":             func(k string, v *yaml.Node) { c.Product = p.str(k, v) },
		"account_id":          func(k string, v *yaml.Node) { c.AccountID = p.str(k, v) },
		"customer_identifier": func(k string, v *yaml.Node) { c.CustomerIdentifier = p.str(k, v) },
		"license_arn":         func(k string, v *yaml.Node) { c.LicenseArn = p.str(k, v) },
		"status":              func(k string, v *yaml.Node) { c.Status = metering.SubscriptionStatus(p.str(k, v)) },
		"offer_id":            func(k string, v *yaml.Node) { c.OfferID = p.str(k, v) },
		"free_trial": func(k string, v *yaml.Node) {
			if b, ok := p.boolean(k, v); ok {
				c.FreeTrial = b
			}
		},
		"pending_until": func(k string, v *yaml.Node) { c.PendingUntil = p.time(k, v) },
		"entitlements": func(k string, v *yaml.Node) {
			p.list(k, v, func(path string, n *yaml.Node) {
				if e, ok := p.entitlement(path, n); ok {
					c.Entitlements = append(c.Entitlements, e)
				}
			})
		},
	}) {
		p.st.Customers = append(p.st.Customers, c)
	}
}

func (p *parser) entitlement(path string, n *yaml.Node) (metering.Entitlement, bool) {
	var e metering.Entitlement
	ok := p.object(path, n, false, fields{
		"dimension": func(k string, v *yaml.Node) { e.Dimension = p.str(k, v) },
		"value":     func(k string, v *yaml.Node) { e.Value = p.value(k, v) },
		"expires":   func(k string, v *yaml.Node) { e.Expires = p.time(k, v) },
	})
	return e, ok
}

// valueMembers names an entitlement value's members, in the order messages
// list them.
var valueMembers = []string{"integer", "double", "boolean", "string"}

func (p *parser) value(path string, n *yaml.Node) metering.EntitlementValue {
	var val metering.EntitlementValue
	var given []string
	n = p.resolve(n)
	if n == nil {
		return val
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "expected a mapping with exactly one of integer, double, boolean, string (as in {integer: 100}), got %s", kind(n))
		return val
	}
	p.object(path, n, false, fields{
		"integer": func(k string, v *yaml.Node) {
			given = append(given, "integer")
			if x, ok := p.integer(k, v, "an integer"); ok {
				val.Integer = &x
			}
		},
		"double": func(k string, v *yaml.Node) {
			given = append(given, "double")
			if x, ok := p.double(k, v); ok {
				val.Double = &x
			}
		},
		"boolean": func(k string, v *yaml.Node) {
			given = append(given, "boolean")
			if x, ok := p.boolean(k, v); ok {
				val.Boolean = &x
			}
		},
		"string": func(k string, v *yaml.Node) {
			given = append(given, "string")
			v = p.resolve(v)
			if v == nil {
				return
			}
			if isNull(v) {
				p.errorf(v, k, "expected a string, got null")
				return
			}
			x := p.str(k, v)
			val.String = &x
		},
	})
	switch len(given) {
	case 1:
	case 0:
		p.errorf(n, path, "a value needs exactly one of integer, double, boolean, string, got none")
	default:
		p.errorf(n, path, "a value needs exactly one of integer, double, boolean, string, got %s", strings.Join(given, " and "))
	}
	return val
}

func (p *parser) token(path string, n *yaml.Node) {
	t := metering.RegistrationToken{ExpiresAt: p.now.Add(DefaultTTL)}
	if p.object(path, n, false, fields{
		"token":      func(k string, v *yaml.Node) { t.Token = p.str(k, v) },
		"product":    func(k string, v *yaml.Node) { t.Product = p.str(k, v) },
		"account_id": func(k string, v *yaml.Node) { t.AccountID = p.str(k, v) },
		"ttl": func(k string, v *yaml.Node) {
			if d, ok := p.duration(k, v); ok {
				t.ExpiresAt = p.now.Add(d)
			}
		},
	}) {
		p.st.RegistrationTokens = append(p.st.RegistrationTokens, t)
	}
}

// fields maps the keys of a mapping to what decodes their values; each
// function gets the key's full path.
type fields map[string]func(path string, v *yaml.Node)

// pair is one key and value of a mapping, merges resolved.
type pair struct {
	key   string
	keyAt *yaml.Node // where the key is written
	val   *yaml.Node
}

// object decodes the mapping n at path with fs, records where each key is
// written, and warns about unknown keys. A null is an empty mapping when
// nullOK, an error otherwise. It reports whether n was a mapping (or an
// allowed null).
func (p *parser) object(path string, n *yaml.Node, nullOK bool, fs fields) bool {
	n = p.resolve(n)
	if n == nil {
		return false
	}
	if n.Kind != yaml.MappingNode {
		if nullOK && isNull(n) {
			return true
		}
		if path == "" {
			p.errorf(n, "", "the state file must be a mapping of region, accounts, products, customers and registration_tokens, got %s", kind(n))
		} else {
			p.errorf(n, path, "expected a mapping, got %s", kind(n))
		}
		return false
	}
	for _, kv := range p.pairs(path, n, 0) {
		kp := joinPath(path, kv.key)
		p.pos[kp] = p.at(kv.keyAt)
		fn, ok := fs[kv.key]
		if !ok {
			p.warnf(kv.keyAt, kp, "unknown key, ignored%s", suggest(kv.key, fs))
			continue
		}
		fn(kp, kv.val)
	}
	return true
}

// pairs lists the keys and values of the mapping n, with the keys that YAML
// merge keys (<<: *anchor) bring in where n does not set them itself.
func (p *parser) pairs(path string, n *yaml.Node, depth int) []pair {
	var out []pair
	var merges []*yaml.Node
	have := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyAt := n.Content[i]
		k := p.resolve(keyAt)
		if k == nil {
			return out
		}
		if k.Kind != yaml.ScalarNode {
			p.errorf(keyAt, path, "a key must be a plain name, got %s", kind(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		if prev, dup := have[k.Value]; dup {
			p.errorf(keyAt, joinPath(path, k.Value), "key given twice (first on line %d)", prev.Line)
			continue
		}
		have[k.Value] = keyAt
		out = append(out, pair{key: k.Value, keyAt: keyAt, val: n.Content[i+1]})
	}
	if len(merges) == 0 {
		return out
	}
	if depth >= maxMergeDepth {
		p.errorf(n, path, "merge keys (<<) nest too deeply")
		return out
	}
	for _, m := range merges {
		for _, src := range p.mergeSources(path, m) {
			for _, kv := range p.pairs(path, src, depth+1) {
				if _, ok := have[kv.key]; !ok {
					have[kv.key] = kv.keyAt
					out = append(out, kv)
				}
			}
		}
	}
	return out
}

// mergeSources returns the mappings a merge key's value names: one mapping
// or a list of them, earlier ones first.
func (p *parser) mergeSources(path string, m *yaml.Node) []*yaml.Node {
	m = p.resolve(m)
	if m == nil {
		return nil
	}
	switch m.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{m}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range m.Content {
			c = p.resolve(c)
			if c == nil {
				return out
			}
			if c.Kind != yaml.MappingNode {
				p.errorf(c, path, "a merge key (<<) takes a mapping or a list of mappings, got %s in the list", kind(c))
				continue
			}
			out = append(out, c)
		}
		return out
	}
	p.errorf(m, path, "a merge key (<<) takes a mapping or a list of mappings, got %s", kind(m))
	return nil
}

// list decodes the list n at path, calling item for each entry with its
// path ("accounts[0]"). A null is an empty list.
func (p *parser) list(path string, n *yaml.Node, item func(path string, n *yaml.Node)) {
	n = p.resolve(n)
	if n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "expected a list, got %s", kind(n))
		return
	}
	for i, c := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		p.pos[ip] = p.at(c)
		item(ip, c)
	}
}

// str returns a scalar as written, so that an unquoted account id keeps its
// digits (and leading zeros). A null is the empty string. Never quote the
// value in a message: it may be a secret.
func (p *parser) str(path string, n *yaml.Node) string {
	n = p.resolve(n)
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, path, "expected a string, got %s", kind(n))
		return ""
	}
	if isNull(n) {
		return ""
	}
	return n.Value
}

func (p *parser) integer(path string, n *yaml.Node, what string) (int64, bool) {
	n = p.resolve(n)
	if n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, path, "%s must be an integer, got %s", what, kind(n))
		return 0, false
	}
	var x int64
	if err := n.Decode(&x); err != nil {
		p.errorf(n, path, "%s must be an integer between %d and %d", what, math.MinInt64, math.MaxInt64)
		return 0, false
	}
	return x, true
}

func (p *parser) double(path string, n *yaml.Node) (float64, bool) {
	n = p.resolve(n)
	if n == nil {
		return 0, false
	}
	if tag := n.ShortTag(); n.Kind != yaml.ScalarNode || (tag != "!!float" && tag != "!!int") {
		p.errorf(n, path, "expected a number, got %s", kind(n))
		return 0, false
	}
	var x float64
	if err := n.Decode(&x); err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		p.errorf(n, path, "expected a finite number")
		return 0, false
	}
	return x, true
}

func (p *parser) boolean(path string, n *yaml.Node) (bool, bool) {
	n = p.resolve(n)
	if n == nil {
		return false, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, path, "expected true or false, got %s", kind(n))
		return false, false
	}
	var x bool
	if err := n.Decode(&x); err != nil {
		p.errorf(n, path, "expected true or false")
		return false, false
	}
	return x, true
}

func (p *parser) duration(path string, n *yaml.Node) (time.Duration, bool) {
	n = p.resolve(n)
	if n == nil || isNull(n) {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, path, "expected a duration like 4h or 90m, got %s", kind(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.errorf(n, path, "%s is not a duration like 4h or 90m", strconv.Quote(n.Value))
		return 0, false
	}
	return d, true
}

// time parses RFC 3339 (2027-12-31T00:00:00Z) or a plain date (2027-12-31,
// midnight UTC). A null is no time.
func (p *parser) time(path string, n *yaml.Node) time.Time {
	n = p.resolve(n)
	if n == nil || isNull(n) {
		return time.Time{}
	}
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, path, "expected a time like 2027-12-31T00:00:00Z or 2027-12-31, got %s", kind(n))
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
		return t.UTC()
	}
	if t, err := time.Parse(time.DateOnly, n.Value); err == nil {
		return t
	}
	p.errorf(n, path, "%s is not a time like 2027-12-31T00:00:00Z or 2027-12-31", strconv.Quote(n.Value))
	return time.Time{}
}

// resolve follows an alias to its anchored node and counts the visit. It
// returns nil once the file has taken too many visits.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil
		}
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	p.visits++
	if p.visits > p.budget {
		if p.visits == p.budget+1 {
			p.errorf(n, "", "the file is too large once its aliases are expanded")
		}
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// kind describes a node for a message without quoting its value.
func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch tag := n.ShortTag(); tag {
		case "!!null":
			return "null"
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!timestamp":
			return "a timestamp"
		case "!!binary":
			return "binary data"
		default:
			return "a value tagged " + tag
		}
	}
	return "nothing"
}

// reSimpleKey matches the keys a path shows as they are; others are quoted,
// so that an odd key cannot break a message.
var reSimpleKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinPath appends key to a key path: "accounts[0]" + "name".
func joinPath(path, key string) string {
	if !reSimpleKey.MatchString(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns " (did you mean x?)" for the known key closest to key, if
// it is close enough to be a typo.
func suggest(key string, fs fields) string {
	names := make([]string, 0, len(fs))
	for k := range fs {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, k := range names {
		if d := distance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// distance is the Levenshtein distance between a and b, in bytes, capped for
// long keys.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
