package app_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph keeps the layout of STYLE.md: the domain and the wire
// format import only the standard library, and only app picks a store.
// sigv4 is the documented exception: it imports aws-sdk-go-v2's signer so
// that meterd never hand-rolls SigV4.
func TestImportGraph(t *testing.T) {
	const mod = "github.com/meterd/meterd/"
	stdlibOnly := map[string][]string{
		"internal/metering":   nil,
		"internal/awsproto":   nil,
		"internal/jsonappend": nil,
		"internal/sigv4":      {"github.com/aws/aws-sdk-go-v2/", "github.com/aws/smithy-go"},
	}
	for pkg, allowed := range stdlibOnly {
		for _, dep := range deps(t, mod+pkg) {
			if strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") && !strings.HasPrefix(dep, mod) && !hasPrefix(dep, allowed) {
				t.Errorf("%s imports %s", pkg, dep)
			}
			if pkg == "internal/metering" && strings.HasPrefix(dep, mod) {
				t.Errorf("the domain imports %s", dep)
			}
		}
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if (imp == mod+"internal/sqlite" || imp == mod+"internal/postgres") && fields[0] != mod+"internal/app" {
				t.Errorf("%s imports %s: only internal/app picks a store", fields[0], imp)
			}
		}
	}
}

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatal(err)
	}
	var ds []string
	for _, d := range strings.Fields(string(out)) {
		if d != pkg {
			ds = append(ds, d)
		}
	}
	return ds
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
