package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Problem is one invalid configuration value.
type Problem struct {
	Key    string // fully qualified, e.g. "linkage:workerNodes.maxSize"
	Reason string
}

// ConfigError lists every problem found in a stack's configuration.
type ConfigError struct {
	Problems []Problem
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Key, p.Reason)
	}
	return b.String()
}

func (p Problem) String() string { return p.Key + ": " + p.Reason }

// reader reads typed values from the project's config namespace (and others such as "aws"), falling
// back to defaults and collecting problems instead of stopping at the first one.
type reader struct {
	ctx      *pulumi.Context
	project  string
	now      time.Time // date-dependent rules (EKS version support) judge against it
	problems []Problem
	warnings []Problem
}

func newReader(ctx *pulumi.Context, now time.Time) *reader {
	return &reader{ctx: ctx, project: ctx.Project(), now: now}
}

// qualify turns "azCount" into "linkage:azCount"; keys with a namespace ("aws:region") stay as they are.
func (r *reader) qualify(key string) string {
	if strings.Contains(key, ":") {
		return key
	}
	return r.project + ":" + key
}

// Problem records an invalid value; key is relative to the project namespace unless qualified.
func (r *reader) Problem(key, format string, args ...any) {
	r.problems = append(r.problems, Problem{Key: r.qualify(key), Reason: fmt.Sprintf(format, args...)})
}

// Warn records a value that is valid today but needs attention soon.
func (r *reader) Warn(key, format string, args ...any) {
	r.warnings = append(r.warnings, Problem{Key: r.qualify(key), Reason: fmt.Sprintf(format, args...)})
}

// Err returns the collected problems as a *ConfigError, sorted by key, or nil.
func (r *reader) Err() error {
	if len(r.problems) == 0 {
		return nil
	}
	sort.SliceStable(r.problems, func(i, j int) bool { return r.problems[i].Key < r.problems[j].Key })
	return &ConfigError{Problems: r.problems}
}

func (r *reader) raw(key string) (string, bool) {
	return r.ctx.GetConfig(r.qualify(key))
}

// IsSecret reports whether the stack file stores the key as a secret.
func (r *reader) IsSecret(key string) bool {
	return r.ctx.IsConfigSecret(r.qualify(key))
}

// String returns the value or def when unset.
func (r *reader) String(key, def string) string {
	if v, ok := r.raw(key); ok {
		return v
	}
	return def
}

// Enum returns the value (or def) and records a problem if it is not one of allowed.
func (r *reader) Enum(key, def string, allowed ...string) string {
	v := r.String(key, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.Problem(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

// Int returns the value or def; a non-integer is a problem.
func (r *reader) Int(key string, def int) int {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		r.Problem(key, "%q is not an integer", v)
		return def
	}
	return n
}

// Bool returns the value or def; anything but true/false is a problem.
func (r *reader) Bool(key string, def bool) bool {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		r.Problem(key, "%q is not true or false", v)
		return def
	}
	return b
}

// Object decodes a structured value into out, which holds the defaults on entry: fields absent from the
// config keep them. Unknown fields are problems, so that a typo doesn't silently fall back to a default.
func (r *reader) Object(key string, out any) {
	v, ok := r.raw(key)
	if !ok {
		return
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		r.Problem(key, "cannot decode %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// StringList returns a list value (a YAML list in the stack file) or def.
func (r *reader) StringList(key string, def []string) []string {
	out := def
	if _, ok := r.raw(key); ok {
		out = nil
		r.Object(key, &out)
	}
	return out
}

// StringMap returns a map value or a copy of def; never nil.
func (r *reader) StringMap(key string, def map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range def {
		out[k] = v
	}
	if _, ok := r.raw(key); ok {
		r.Object(key, &out)
	}
	return out
}

// Secret returns a secret value as a secret output, or ok=false when unset.
func (r *reader) Secret(key string) (pulumi.StringOutput, bool) {
	if _, ok := r.raw(key); !ok {
		return pulumi.StringOutput{}, false
	}
	ns, k, _ := strings.Cut(r.qualify(key), ":")
	return config.New(r.ctx, ns).RequireSecret(k), true
}
