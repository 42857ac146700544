package plan_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/internal/plan"
)

type component struct{ pulumi.ResourceState }

type custom struct{ pulumi.CustomResourceState }

// program declares a component with two children; one input is a secret from config.
func program(ctx *pulumi.Context) error {
	c := &component{}
	if err := ctx.RegisterComponentResource("linkage:components:Thing", "thing", c); err != nil {
		return err
	}
	for _, name := range []string{"b", "a"} {
		if err := ctx.RegisterResource("aws:s3/bucket:Bucket", name, pulumi.Map{
			"bucket": pulumi.String(config.Require(ctx, "prefix") + name),
			"token":  config.RequireSecret(ctx, "token"),
			"size":   pulumi.Int(config.RequireInt(ctx, "size")),
		}, &custom{}, pulumi.Parent(c)); err != nil {
			return err
		}
	}
	return nil
}

func writeStack(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte("name: demo\nruntime: go\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.dev.yaml"), []byte(`config:
  demo:prefix: data-
  demo:size: 3
  demo:token:
    secure: AAABAJx1dW1teQ==
  demo:nodes:
    instanceTypes: [r3.4xlarge, r5.4xlarge]
    spot: true
`), 0o644))
	return dir
}

func TestLoadConfigFlattensValuesAndMarksSecrets(t *testing.T) {
	cfg, err := plan.LoadConfig(writeStack(t), "dev")
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"demo:prefix": "data-",
		"demo:size":   "3",
		"demo:token":  plan.SecretPlaceholder,
		"demo:nodes":  `{"instanceTypes":["r3.4xlarge","r5.4xlarge"],"spot":true}`,
	}, cfg.Values)
	require.Equal(t, []string{"demo:token"}, cfg.Secrets)

	stacks, err := plan.Stacks(writeStack(t))
	require.NoError(t, err)
	require.Equal(t, []string{"dev"}, stacks)

	_, err = plan.LoadConfig(t.TempDir(), "dev")
	require.Error(t, err)
}

func TestTreeAndJSONAreDeterministicAndRedactSecrets(t *testing.T) {
	dir := writeStack(t)
	render := func() (string, string) {
		p, err := plan.Build(dir, "dev", program)
		require.NoError(t, err)
		var tree, js bytes.Buffer
		require.NoError(t, p.WriteTree(&tree))
		require.NoError(t, p.WriteJSON(&js))
		return tree.String(), js.String()
	}
	tree, js := render()
	for range 3 {
		tree2, js2 := render()
		require.Equal(t, tree, tree2)
		require.Equal(t, js, js2)
	}

	require.Equal(t, `pulumi:pulumi:Stack demo-dev
└─ linkage:components:Thing thing
   ├─ aws:s3/bucket:Bucket a
   └─ aws:s3/bucket:Bucket b
3 resources
`, tree)

	var entries []plan.Entry
	require.NoError(t, json.Unmarshal([]byte(js), &entries))
	require.Len(t, entries, 3)
	a := entries[0]
	require.Equal(t, "urn:pulumi:dev::demo::linkage:components:Thing$aws:s3/bucket:Bucket::a", a.URN)
	require.Equal(t, "aws:s3/bucket:Bucket", a.Type)
	require.Equal(t, "urn:pulumi:dev::demo::linkage:components:Thing::thing", a.Parent)
	require.Equal(t, map[string]any{"bucket": "data-a", "token": "[secret]", "size": 3.0}, a.Inputs)
	require.NotContains(t, js, plan.SecretPlaceholder)
}

func TestBuildReportsProgramErrorsWithTheStack(t *testing.T) {
	dir := writeStack(t)
	_, err := plan.Build(dir, "dev", func(ctx *pulumi.Context) error {
		return errors.New("boom")
	})
	require.EqualError(t, err, "stack dev: boom")
}
