package statefile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/statefile"
)

// FuzzParse checks that no input makes Parse (or explaining the checks of
// what it parsed) panic, and that Parse returns a File or an error.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"example.yaml", "example.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(statefile.DemoYAML)
	for _, s := range []string{
		"",
		"---\n---\n",
		"a: &a [*a]\naccounts: *a\n",
		"accounts: &a [{access_keys: *a}]\n",
		"products:\n  - &p {<<: *p}\n",
		"products:\n  - &p {code: a}\n  - <<: [*p, *p]\n    <<: *p\n",
		"customers: [{entitlements: [{value: {integer: 1, double: 2, boolean: true, string: s}, expires: 2027-01-01}]}]",
		"registration_tokens: [{ttl: -1h}, {ttl: 9999999h}]",
		"? [a, b]\n: c\n",
		"accounts:\n  - id: 0x1F\n    access_keys: [{id: ~, secret: !!binary aGVsbG8=}]\n",
		"{\"accounts\": [{\"id\": 111122223333}]}",
		"\t{}",
		"%YAML 1.2\n---\nregion: x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := statefile.Parse("fuzz.yaml", data, now)
		if (file == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v: want exactly one of a File and an error", file, err)
		}
		if err != nil {
			return
		}
		st := file.State
		metering.Normalize(&st)
		_ = file.Explain(metering.Check(st, nil))
		for _, w := range file.Warnings {
			_ = w.String()
		}
	})
}
