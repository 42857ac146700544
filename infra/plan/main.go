// Command plan prints what a stack would declare, offline: the whole program runs under mocks with the
// stack's Pulumi.<stack>.yaml. Usage: go run ./infra/plan -stack dev [-format tree|json] [-dir .]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/internal/plan"
	"github.com/linkage-platform/linkage/stacks"
)

func main() {
	stack := flag.String("stack", "dev", "stack whose Pulumi.<stack>.yaml to use")
	format := flag.String("format", "tree", "tree, json or yaml (the Kubernetes manifests, strictly checked)")
	dir := flag.String("dir", ".", "directory holding Pulumi.yaml")
	flag.Parse()
	if err := run(*dir, *stack, *format); err != nil {
		fmt.Fprintln(os.Stderr, "plan:", err)
		os.Exit(1)
	}
}

func run(dir, stack, format string) error {
	if format != "tree" && format != "json" && format != "yaml" {
		return fmt.Errorf("unknown format %q (want tree, json or yaml)", format)
	}
	warn := func(_ *pulumi.Context, w stacks.Problem) { fmt.Fprintf(os.Stderr, "warning: %s\n", w) }
	p, err := plan.Build(dir, stack, stacks.Program(warn))
	if err != nil {
		return err
	}
	switch format {
	case "json":
		return p.WriteJSON(os.Stdout)
	case "yaml":
		return p.WriteManifests(os.Stdout)
	}
	return p.WriteTree(os.Stdout)
}
