package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// flags is a flag set whose every flag can also be set by an environment variable
// LINKAGE_<FLAG> (upper case, '-' → '_'); a flag on the command line wins over the variable.
type flags struct {
	fs *flag.FlagSet
}

func newFlags(name, usage string, stderr io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &flags{fs: fs}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: linkage %s [flags]\n%s\n\nflags (each also read from the environment variable shown):\n", name, usage)
		fs.PrintDefaults()
	}
	return f
}

// envName is the variable of a flag: --data-dir → LINKAGE_DATA_DIR.
func envName(flagName string) string {
	return "LINKAGE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *flags) usage(name, usage string) string { return usage + " [$" + envName(name) + "]" }

func (f *flags) String(name, def, usage string) *string {
	return f.fs.String(name, def, f.usage(name, usage))
}

func (f *flags) Int(name string, def int, usage string) *int {
	return f.fs.Int(name, def, f.usage(name, usage))
}

func (f *flags) Int64(name string, def int64, usage string) *int64 {
	return f.fs.Int64(name, def, f.usage(name, usage))
}

func (f *flags) Float64(name string, def float64, usage string) *float64 {
	return f.fs.Float64(name, def, f.usage(name, usage))
}

func (f *flags) Bool(name string, def bool, usage string) *bool {
	return f.fs.Bool(name, def, f.usage(name, usage))
}

func (f *flags) Duration(name string, def time.Duration, usage string) *time.Duration {
	return f.fs.Duration(name, def, f.usage(name, usage))
}

// parse applies the environment, then the command line. Errors name the flag or variable.
func (f *flags) parse(args []string) error {
	var err error
	f.fs.VisitAll(func(fl *flag.Flag) {
		if err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(fl.Name)); ok {
			if e := fl.Value.Set(v); e != nil {
				err = fmt.Errorf("environment variable %s=%q: %w", envName(fl.Name), v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", f.fs.Args())
	}
	return nil
}
