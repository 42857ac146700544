package stacks

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/data"
)

// Run is the Pulumi program: configuration first (nothing is declared if it is invalid), then each
// concern in dependency order, each exporting its outputs. Configuration warnings go to the engine's
// log, which pulumi preview and up show.
func Run(ctx *pulumi.Context) error {
	return Program(func(ctx *pulumi.Context, w Problem) { _ = ctx.Log.Warn(w.String(), nil) })(ctx)
}

// Program is Run handing each configuration warning to warn: under mocks (make plan) the engine's log
// goes nowhere, so the plan prints them itself.
func Program(warn func(*pulumi.Context, Problem)) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := LoadConfig(ctx)
		if err != nil {
			return err
		}
		for _, w := range cfg.Warnings {
			warn(ctx, w)
		}
		_, err = Deploy(ctx, cfg)
		return err
	}
}

// Deployment is everything a stack declared, for tests and for the concerns that build on each other.
type Deployment struct {
	Platform *Platform
	// Namespace is the app's: the data services' Secrets (and in-cluster servers) live there too.
	Namespace *corev1.Namespace
	Data      *data.Data
	App       *App
}

// Deploy declares the stack's resources from a validated configuration and exports the outputs.
func Deploy(ctx *pulumi.Context, cfg *Config) (*Deployment, error) {
	d := &Deployment{}
	var err error
	if d.Platform, err = deployPlatform(ctx, cfg); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	exportPlatform(ctx, d.Platform)
	if d.Namespace, err = deployNamespace(ctx, cfg, d.Platform); err != nil {
		return nil, fmt.Errorf("namespace: %w", err)
	}
	if d.Data, err = deployData(ctx, cfg, d.Platform, d.Namespace, cfg.App.Namespace); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	exportData(ctx, d.Data)
	if d.App, err = deployApp(ctx, cfg, d.Platform, d.Namespace, d.Data); err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	exportApp(ctx, cfg, d.App)
	return d, nil
}
