// Package statefile loads meterd's state file (docs/state-file.md) into a
// metering.State, remembering where every key came from so that problems
// found later can name the file, line and key.
//
// Loading is split the way the rules are: Parse checks only types and shapes
// (a list where a list belongs, a duration that parses, an entitlement value
// with exactly one member) and reports every such problem at once. Whether
// the references hold (a customer's product exists, a token names a customer)
// depends on what the database already holds, so the caller applies the
// State with metering.Service.ApplyState and passes any error through
// File.Explain, which turns the key paths of a *metering.StateError back into
// file positions.
//
// Defaults (platform, agreements, status, region) are left empty in the
// parsed State; metering.Normalize and the service fill them. Secrets are
// never quoted in an error or a warning.
package statefile

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/controls"
	"github.com/meterd/meterd/internal/metering"
)

// DefaultTTL is how long a registration token lives when the file gives no ttl.
const DefaultTTL = 4 * time.Hour

// Position is a place in a state file. Line and Column are 1-based; zero
// means unknown.
type Position struct {
	File   string
	Line   int
	Column int
}

// String returns "file:line", or "file" when the line is unknown.
func (p Position) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Warning is a problem that does not stop the file from loading, such as an
// unknown key.
type Warning struct {
	Pos     Position
	Message string
}

// String returns "file:line: message".
func (w Warning) String() string { return w.Pos.String() + ": " + w.Message }

// Error is one problem in a state file, at a key path written with the
// file's keys (for example "customers[2].product"). Parse and Explain return
// one or more of them, joined.
type Error struct {
	Pos     Position
	Path    string // empty for a problem with the file as a whole (a syntax error)
	Message string
}

// Error returns "file:line: path: message".
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Pos.String() + ": " + e.Message
	}
	return e.Pos.String() + ": " + e.Path + ": " + e.Message
}

// File is a parsed state file.
type File struct {
	// Name is the file name used in positions.
	Name string
	// State is what the file says, defaults not yet filled.
	State metering.State
	// Warnings are the problems that did not stop the file from loading.
	Warnings []Warning
	// Controls are the file's test controls; nil when it has no controls key.
	Controls *controls.Settings

	pos map[string]Position // key path -> where it is written
}

// Load reads and parses the state file at path. Registration tokens expire
// their ttl after now.
func Load(path string, now time.Time) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	return Parse(path, data, now)
}

// Parse parses a state file (YAML, or JSON, which is YAML) named name in
// positions. It reports every type and shape problem, each as an *Error,
// joined; on error the File is nil. Registration tokens expire their ttl
// (default 4h) after now.
func Parse(name string, data []byte, now time.Time) (*File, error) {
	p := newParser(name, now, len(data))
	p.parse(data)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return &File{Name: name, State: p.st, Warnings: p.warns, Controls: p.ctl, pos: p.pos}, nil
}

// PositionOf returns where the key path (as in "customers[2].product") is
// written, or, when the file does not write it (a missing key), where its
// nearest enclosing entry is. Without any, it returns a Position naming the
// file only.
func (f *File) PositionOf(path string) Position {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := f.pos[p]; ok {
			return pos
		}
	}
	return Position{File: f.Name}
}

// parentPath strips the last element of a key path: "a[1].b" -> "a[1]" -> "a".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
		return ""
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// Explain rewrites a *metering.StateError (from metering.Check or
// Service.ApplyState), also a wrapped one, into an error with one line per
// problem naming file, line and key:
//
//	state.yaml:23: customers[2].product: product "x" is not defined
//
// The result unwraps to an *Error per problem and to the original error.
// Other errors, and nil, pass through unchanged.
func (f *File) Explain(err error) error {
	var se *metering.StateError
	if f == nil || !errors.As(err, &se) || len(se.Problems) == 0 {
		return err
	}
	x := &explained{orig: err}
	for _, pr := range se.Problems {
		x.problems = append(x.problems, &Error{Pos: f.PositionOf(pr.Path), Path: pr.Path, Message: pr.Message})
	}
	return x
}

type explained struct {
	problems []*Error
	orig     error
}

func (x *explained) Error() string {
	lines := make([]string, len(x.problems))
	for i, e := range x.problems {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (x *explained) Unwrap() []error {
	errs := make([]error, 0, len(x.problems)+1)
	for _, e := range x.problems {
		errs = append(errs, e)
	}
	return append(errs, x.orig)
}

// DemoYAML is the built-in demo state: what meterd serves when started with
// no --state on an empty database.
//
//go:embed demo.yaml
var DemoYAML []byte

// Demo parses DemoYAML. It panics if the embedded file does not parse, which
// the package's tests rule out.
func Demo(now time.Time) *File {
	f, err := Parse("demo.yaml", DemoYAML, now)
	if err != nil {
		panic("statefile: the built-in demo state does not parse: " + err.Error())
	}
	return f
}
