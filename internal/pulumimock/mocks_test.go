package pulumimock_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// The tests register resources by type token so that they don't need (and link) any provider SDK.

type custom struct {
	pulumi.CustomResourceState
	Arn pulumi.StringOutput `pulumi:"arn"`
}

type remote struct {
	pulumi.ResourceState
	KubeconfigJson pulumi.StringOutput `pulumi:"kubeconfigJson"`
}

type component struct{ pulumi.ResourceState }

func TestRecordsResourcesWithParentsOptionsAndURNs(t *testing.T) {
	var vpcURN, roleArn string
	m := pulumimock.Run(t, "proj", "dev", nil, func(ctx *pulumi.Context) error {
		parent := &component{}
		if err := ctx.RegisterComponentResource("linkage:components:Network", "net", parent); err != nil {
			return err
		}
		vpc := &custom{}
		err := ctx.RegisterResource("aws:ec2/vpc:Vpc", "main", pulumi.Map{
			"cidrBlock": pulumi.String("10.0.0.0/16"),
			"tags":      pulumi.StringMap{"Name": pulumi.String("main")},
		}, vpc, pulumi.Parent(parent), pulumi.IgnoreChanges([]string{"tags"}), pulumi.Protect(true))
		if err != nil {
			return err
		}
		vpc.URN().ApplyT(func(u pulumi.URN) string { vpcURN = string(u); return "" })
		role := &custom{}
		if err := ctx.RegisterResource("aws:iam/role:Role", "app", pulumi.Map{}, role, pulumi.DependsOn([]pulumi.Resource{vpc})); err != nil {
			return err
		}
		role.Arn.ApplyT(func(a string) string { roleArn = a; return "" })
		return nil
	})

	vpc, ok := m.Find("aws:ec2/vpc:Vpc", "main")
	require.True(t, ok)
	require.Equal(t, vpcURN, vpc.URN, "the recorded URN is the one the SDK gave the resource")
	require.Equal(t, "10.0.0.0/16", vpc.Input("cidrBlock"))
	require.Equal(t, "main", vpc.Input("tags.Name"))
	require.True(t, strings.HasPrefix(vpc.ID, "vpc-"), vpc.ID)
	require.Equal(t, []string{"tags"}, vpc.IgnoreChanges)
	require.True(t, vpc.Protect)
	require.True(t, vpc.Custom)

	parent, ok := m.Find("linkage:components:Network", "net")
	require.True(t, ok)
	require.Equal(t, parent.URN, vpc.Parent)
	require.False(t, parent.Custom)
	require.Empty(t, parent.ID)
	require.Equal(t, []pulumimock.Resource{vpc}, m.Children(parent.URN))
	require.Equal(t, []pulumimock.Resource{vpc}, m.Descendants(parent.URN))

	role, ok := m.Find("aws:iam/role:Role", "app")
	require.True(t, ok)
	require.Equal(t, []string{vpc.URN}, role.DependsOn)
	require.Equal(t, "arn:aws:iam::123456789012:role/app", roleArn)

	all := m.Resources()
	require.Len(t, all, 3)
	for i := 1; i < len(all); i++ {
		require.Less(t, all[i-1].URN, all[i].URN, "sorted by URN")
	}
}

func TestEKSClusterAndCallsGetRealisticAnswers(t *testing.T) {
	var kubeconfig string
	var az struct {
		Names []string `pulumi:"names"`
	}
	var cl struct {
		Identities []struct {
			Oidcs []struct {
				Issuer string `pulumi:"issuer"`
			} `pulumi:"oidcs"`
		} `pulumi:"identities"`
	}
	m := pulumimock.Run(t, "proj", "prod", map[string]string{"aws:region": "eu-west-1"}, func(ctx *pulumi.Context) error {
		c := &remote{}
		if err := ctx.RegisterRemoteComponentResource("eks:index:Cluster", "eks", pulumi.Map{"name": pulumi.String("linkage-prod")}, c); err != nil {
			return err
		}
		c.KubeconfigJson.ApplyT(func(k string) string { kubeconfig = k; return "" })

		if err := ctx.Invoke("aws:index/getAvailabilityZones:getAvailabilityZones", map[string]any{}, &az); err != nil {
			return err
		}
		return ctx.Invoke("aws:eks/getCluster:getCluster", map[string]any{"name": "linkage-prod"}, &cl)
	})

	var kc struct {
		Clusters []struct {
			Cluster struct {
				Server string `json:"server"`
			} `json:"cluster"`
		} `json:"clusters"`
	}
	require.NoError(t, json.Unmarshal([]byte(kubeconfig), &kc))
	require.Len(t, kc.Clusters, 1)
	server := kc.Clusters[0].Cluster.Server
	require.Len(t, cl.Identities, 1)
	require.Len(t, cl.Identities[0].Oidcs, 1)
	issuer := cl.Identities[0].Oidcs[0].Issuer
	zones := az.Names
	require.NotEmpty(t, zones)
	require.Regexp(t, `^https://[0-9A-F]{32}\.gr7\.eu-west-1\.eks\.amazonaws\.com$`, server)
	require.Regexp(t, `^https://oidc\.eks\.eu-west-1\.amazonaws\.com/id/[0-9A-F]{32}$`, issuer)
	require.Equal(t, server[len("https://"):len("https://")+32], issuer[len(issuer)-32:], "endpoint and issuer share the cluster id")
	require.Equal(t, "eu-west-1a", zones[0])

	cluster, ok := m.Find("eks:index:Cluster", "eks")
	require.True(t, ok)
	require.True(t, cluster.Remote)
	require.True(t, cluster.Outputs["kubeconfigJson"].IsSecret())

	var tokens []string
	for _, c := range m.Calls() {
		tokens = append(tokens, c.Token)
	}
	require.Equal(t, []string{"aws:eks/getCluster:getCluster", "aws:index/getAvailabilityZones:getAvailabilityZones"}, tokens)
}

func TestHooksOverrideAndUnknownCallsFail(t *testing.T) {
	m := pulumimock.New("proj", "dev")
	m.OnResource = func(args pulumi.MockResourceArgs) (resource.PropertyMap, error) {
		if args.TypeToken == "aws:rds/instance:Instance" {
			return resource.PropertyMap{"address": resource.NewProperty("db.internal")}, nil
		}
		return nil, nil
	}
	var address string
	err := pulumimock.RunWith(m, pulumimock.Config{}, func(ctx *pulumi.Context) error {
		db := &struct {
			pulumi.CustomResourceState
			Address pulumi.StringOutput `pulumi:"address"`
		}{}
		if err := ctx.RegisterResource("aws:rds/instance:Instance", "db", pulumi.Map{}, db); err != nil {
			return err
		}
		db.Address.ApplyT(func(a string) string { address = a; return "" })
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, "db.internal", address)

	_, err = pulumimock.RunProgram("proj", "dev", pulumimock.Config{}, func(ctx *pulumi.Context) error {
		var out map[string]any
		return ctx.Invoke("aws:unknown/thing:thing", map[string]any{}, &out)
	})
	require.ErrorContains(t, err, "no answer for call aws:unknown/thing:thing")
}

func TestConfigReachesTheProgramWithSecrets(t *testing.T) {
	cfg := pulumimock.Config{
		Values:  map[string]string{"proj:size": "3", "proj:password": "hunter2"},
		Secrets: []string{"proj:password"},
	}
	var size int
	var secret bool
	_, err := pulumimock.RunProgram("proj", "dev", cfg, func(ctx *pulumi.Context) error {
		size = config.RequireInt(ctx, "size")
		secret = ctx.IsConfigSecret("proj:password")
		if !secret {
			return errors.New("password should be secret")
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, size)
}

func TestPlainRedactsSecrets(t *testing.T) {
	pm := resource.PropertyMap{
		"name":     resource.NewProperty("db"),
		"password": resource.MakeSecret(resource.NewProperty("hunter2")),
		"nested": resource.NewProperty(resource.PropertyMap{
			"list": resource.NewProperty([]resource.PropertyValue{resource.NewProperty(1.0), resource.MakeComputed(resource.NewProperty(""))}),
		}),
	}
	require.Equal(t, map[string]any{
		"name": "db", "password": pulumimock.Redacted,
		"nested": map[string]any{"list": []any{1.0, pulumimock.Unknown}},
	}, pulumimock.Plain(pm, true))
	require.Equal(t, "hunter2", pulumimock.Plain(pm, false)["password"])
}

// A Kubernetes Secret's stringData is one secret map: redacted whole it would become a string, which
// the API server refuses ("stringData: expected map"); masked it stays a map of redacted values.
func TestMaskedRedactsSecretsLeafByLeaf(t *testing.T) {
	pm := resource.PropertyMap{
		"kind": resource.NewProperty("Secret"),
		"stringData": resource.MakeSecret(resource.NewProperty(resource.PropertyMap{
			"user": resource.NewProperty("linkage"), "password": resource.NewProperty("hunter2"),
		})),
		"list": resource.MakeSecret(resource.NewProperty([]resource.PropertyValue{resource.NewProperty("a"), resource.NewProperty(2.0)})),
	}
	require.Equal(t, map[string]any{
		"kind":       "Secret",
		"stringData": map[string]any{"user": pulumimock.Redacted, "password": pulumimock.Redacted},
		"list":       []any{pulumimock.Redacted, pulumimock.Redacted},
	}, pulumimock.Masked(pm))
	require.Equal(t, pulumimock.Redacted, pulumimock.Plain(pm, true)["stringData"], "Plain still redacts the whole value")
}
