package pulumimock

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Config is a stack's configuration as the engine hands it to a program: fully qualified keys
// ("aws:region", "linkage:azCount") to string values (objects and lists as JSON), plus the keys
// whose values are secret.
type Config struct {
	Values  map[string]string
	Secrets []string
}

// RunProgram runs body under mocks for project/stack with the configuration and returns what it
// declared. The error is the program's own (e.g. a configuration problem or a failed Apply).
func RunProgram(project, stack string, cfg Config, body pulumi.RunFunc) (*Mocks, error) {
	m := New(project, stack)
	m.Region = cfg.Values["aws:region"]
	err := RunWith(m, cfg, body)
	return m, err
}

// RunWith runs body under the given mocks (e.g. with OnResource or OnCall hooks set).
func RunWith(m *Mocks, cfg Config, body pulumi.RunFunc) error {
	withConfig := func(info *pulumi.RunInfo) {
		// Set on RunInfo rather than through PULUMI_CONFIG so that parallel tests don't share it.
		info.Config = cfg.Values
		info.ConfigSecretKeys = cfg.Secrets
	}
	// RunErr wraps the program's error in a multierror; report the program's own error as it is.
	var programErr error
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		programErr = body(ctx)
		return programErr
	}, pulumi.WithMocks(m.Project, m.Stack, m), withConfig)
	if err != nil && programErr != nil {
		return programErr
	}
	return err
}

// Run runs body under mocks with plain configuration values and fails the test if the program fails.
func Run(t testing.TB, project, stack string, config map[string]string, body pulumi.RunFunc) *Mocks {
	t.Helper()
	m, err := RunProgram(project, stack, Config{Values: config}, body)
	if err != nil {
		t.Fatalf("program %s/%s failed: %v", project, stack, err)
	}
	return m
}
