// Package plan runs the Pulumi program offline, under mocks, with a stack's own configuration file and
// renders what it declares: a reviewable, deterministic stand-in for `pulumi preview` that needs neither
// the Pulumi CLI nor an AWS account.
package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// Plan is what one stack declares.
type Plan struct {
	Project, Stack string
	Resources      []pulumimock.Resource // sorted by URN
	Mocks          *pulumimock.Mocks
}

// Build runs program for the stack configured in dir/Pulumi.<stack>.yaml.
func Build(dir, stack string, program pulumi.RunFunc) (*Plan, error) {
	project, err := Project(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := LoadConfig(dir, stack)
	if err != nil {
		return nil, err
	}
	m, err := pulumimock.RunProgram(project, stack, cfg, program)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", stack, err)
	}
	return &Plan{Project: project, Stack: stack, Resources: m.Resources(), Mocks: m}, nil
}

// Entry is one resource in the JSON rendering.
type Entry struct {
	URN    string         `json:"urn"`
	Type   string         `json:"type"`
	Name   string         `json:"name"`
	Parent string         `json:"parent"`
	Inputs map[string]any `json:"inputs"`
}

// Entries are the resources with their inputs, secrets redacted.
func (p *Plan) Entries() []Entry {
	out := make([]Entry, 0, len(p.Resources))
	for _, r := range p.Resources {
		out = append(out, Entry{URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Inputs: pulumimock.Plain(r.Inputs, true)})
	}
	return out
}

// WriteJSON writes the entries as an indented JSON array.
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p.Entries())
}

// WriteTree writes the resources as a tree under the stack, children sorted by type then name.
func (p *Plan) WriteTree(w io.Writer) error {
	known := map[string]bool{}
	children := map[string][]pulumimock.Resource{}
	for _, r := range p.Resources {
		known[r.URN] = true
	}
	for _, r := range p.Resources {
		parent := r.Parent
		if !known[parent] {
			parent = "" // the stack itself is not a recorded resource
		}
		children[parent] = append(children[parent], r)
	}
	for _, c := range children {
		sort.Slice(c, func(i, j int) bool {
			if c[i].Type != c[j].Type {
				return c[i].Type < c[j].Type
			}
			return c[i].Name < c[j].Name
		})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "pulumi:pulumi:Stack %s-%s\n", p.Project, p.Stack)
	var walk func(parent, indent string)
	walk = func(parent, indent string) {
		kids := children[parent]
		for i, r := range kids {
			branch, next := "├─ ", "│  "
			if i == len(kids)-1 {
				branch, next = "└─ ", "   "
			}
			fmt.Fprintf(&b, "%s%s%s %s\n", indent, branch, r.Type, r.Name)
			walk(r.URN, indent+next)
		}
	}
	walk("", "")
	fmt.Fprintf(&b, "%d resources\n", len(p.Resources))
	_, err := io.WriteString(w, b.String())
	return err
}
