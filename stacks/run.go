package stacks

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Run is the Pulumi program: configuration first (nothing is declared if it is invalid), then each
// concern in dependency order, each exporting its outputs.
func Run(ctx *pulumi.Context) error {
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return err
	}
	_, err = Deploy(ctx, cfg)
	return err
}

// Deployment is everything a stack declared, for tests and for the concerns that build on each other.
type Deployment struct {
	Platform *Platform
}

// Deploy declares the stack's resources from a validated configuration and exports the outputs.
func Deploy(ctx *pulumi.Context, cfg *Config) (*Deployment, error) {
	d := &Deployment{}
	var err error
	if d.Platform, err = deployPlatform(ctx, cfg); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	exportPlatform(ctx, d.Platform)
	return d, nil
}
