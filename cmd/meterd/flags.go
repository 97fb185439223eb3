package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"
)

var errUsage = errors.New("usage")

// newFlags returns a flag set whose flags default to METERD_<NAME>
// environment variables, so containers can be configured without flags.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("meterd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// envDefault returns $METERD_<FLAG> or def.
func envDefault(flagName, def string) string {
	key := "METERD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	return nil
}
