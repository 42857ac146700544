// Package stacks turns a stack's configuration into the deployed platform: it reads and validates the
// typed Config, composes the components and exports the stack outputs. Components never read config.
package stacks

import (
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Config is the whole typed stack configuration. Every section (config_platform.go, config_data.go,
// config_app.go) goes one way:
//
//   - decode: defaults first, then the stack's keys over them (reader). A structured value's keys are
//     declared by json tags on the type that holds it, never inferred from Go field names; unknown
//     keys are problems.
//   - validate: here in stacks, every problem naming its key and reason; components only refuse what
//     they cannot work without.
//   - map: deploying builds each component's Args from its section plus what the deployment supplies
//     (namespaces, providers, the platform's outputs). A section holds a component's own value type
//     where that type is nothing but settings in the configuration's shape (container.Resources, each
//     data service's mode and per-mode settings), so the map is the identity there; it never
//     overwrites a decoded field, which is why such types carry no deployment-supplied fields.
//
// A new concern adds a field here and a line in LoadConfig.
type Config struct {
	Project string
	Stack   string
	// Tags are applied to every AWS resource: linkage:tags plus project and stack.
	Tags map[string]string

	Platform PlatformConfig
	Data     DataConfig
	App      AppConfig

	// Warnings are valid values that need attention soon (a Kubernetes version near the end of its EKS
	// standard support); Run logs them, make plan prints them.
	Warnings []Problem
}

// LoadConfig reads every section and validates it before any resource is declared. All problems are
// reported together in one *ConfigError, each naming its key and the reason.
func LoadConfig(ctx *pulumi.Context) (*Config, error) {
	return loadConfig(ctx, time.Now())
}

// loadConfig is LoadConfig with date-dependent rules judged at now.
func loadConfig(ctx *pulumi.Context, now time.Time) (*Config, error) {
	r := newReader(ctx, now)
	cfg := &Config{Project: ctx.Project(), Stack: ctx.Stack()}
	cfg.Tags = r.StringMap("tags", nil)
	for k, v := range map[string]string{"project": cfg.Project, "stack": cfg.Stack} {
		if _, ok := cfg.Tags[k]; !ok {
			cfg.Tags[k] = v
		}
	}
	cfg.Platform = loadPlatform(r, cfg.Stack)
	cfg.Data = loadData(r, cfg.Platform)
	cfg.App = loadApp(r, cfg.Platform, cfg.Stack)
	if err := r.Err(); err != nil {
		return nil, err
	}
	cfg.Warnings = r.warnings
	return cfg, nil
}
