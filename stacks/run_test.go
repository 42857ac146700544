package stacks_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/internal/plan"
	"github.com/linkage-platform/linkage/internal/pulumimock"
	"github.com/linkage-platform/linkage/stacks"
)

// count returns how many resources of each type a plan has.
func count(p *plan.Plan) map[string]int {
	out := map[string]int{}
	for _, r := range p.Resources {
		out[r.Type]++
	}
	return out
}

func TestDevAndProdStackFiles(t *testing.T) {
	dev, err := plan.Build("..", "dev", stacks.Run)
	require.NoError(t, err)
	prod, err := plan.Build("..", "prod", stacks.Run)
	require.NoError(t, err)

	d, p := count(dev), count(prod)
	require.Equal(t, 4, d["aws:ec2/subnet:Subnet"], "dev: 2 AZs")
	require.Equal(t, 6, p["aws:ec2/subnet:Subnet"], "prod: 3 AZs")
	require.Equal(t, 1, d["aws:ec2/natGateway:NatGateway"], "dev: one shared NAT gateway")
	require.Equal(t, 3, p["aws:ec2/natGateway:NatGateway"], "prod: one NAT gateway per AZ")
	require.Zero(t, d["aws:ec2/flowLog:FlowLog"])
	require.Equal(t, 1, p["aws:ec2/flowLog:FlowLog"])
	require.Equal(t, 2, d["aws:eks/nodeGroup:NodeGroup"])
	require.Equal(t, 3, p["aws:eks/nodeGroup:NodeGroup"], "prod adds the high-memory group")
	for _, c := range []map[string]int{d, p} {
		require.Equal(t, 1, c["eks:index:Cluster"])
		require.Equal(t, 1, c["aws:iam/openIdConnectProvider:OpenIdConnectProvider"])
		require.Equal(t, 4, c["aws:eks/addon:Addon"], "vpc-cni, kube-proxy, coredns, aws-ebs-csi-driver")
		require.Equal(t, 2, c["kubernetes:storage.k8s.io/v1:StorageClass"])
		require.Equal(t, 3, c["kubernetes:helm.sh/v3:Release"], "load balancer controller, cluster autoscaler, metrics-server")
		require.Equal(t, 1, c["aws:ec2/vpcEndpoint:VpcEndpoint"], "the S3 gateway endpoint")
		require.Equal(t, 1, c["kubernetes:networking.k8s.io/v1:IngressClass"])
	}

	sys, ok := dev.Mocks.Find("aws:eks/nodeGroup:NodeGroup", "linkage-system")
	require.True(t, ok)
	require.Equal(t, []any{"t3.large"}, sys.Input("instanceTypes"))
	require.Equal(t, map[string]any{"minSize": 2.0, "maxSize": 3.0, "desiredSize": 2.0}, sys.Input("scalingConfig"))
	cluster, ok := prod.Mocks.Find("eks:index:Cluster", "linkage")
	require.True(t, ok)
	require.Equal(t, "linkage-prod", cluster.Input("name"))

	// Every Kubernetes object goes to the cluster's provider, never to the ambient kubeconfig.
	for _, r := range prod.Resources {
		if strings.HasPrefix(r.Type, "kubernetes:") {
			require.Contains(t, r.Provider, "pulumi:providers:kubernetes::linkage", r.URN)
		}
	}
}

// Every AWS resource of the eks stacks is managed through the stack's AWS provider, whose default tags
// are linkage:tags plus project and stack, so each one is tagged without a component threading tags.
func TestEveryAWSResourceGetsTheStackTags(t *testing.T) {
	for stack, environment := range map[string]string{"dev": "dev", "prod": "prod"} {
		p, err := plan.Build("..", stack, stacks.Run)
		require.NoError(t, err)
		providers := p.Mocks.ByType("pulumi:providers:aws")
		require.Len(t, providers, 1, stack)
		provider := providers[0]
		require.Equal(t, map[string]any{"project": "linkage", "stack": stack, "environment": environment},
			provider.Input("defaultTags.tags"), stack)
		ref := provider.URN + "::" + provider.ID
		var aws int
		for _, r := range p.Resources {
			switch {
			case r.Custom && strings.HasPrefix(r.Type, "aws:"):
				aws++
				require.Equal(t, ref, r.Provider, "%s: %s", stack, r.URN)
			case r.Remote:
				require.Equal(t, ref, r.Providers["aws"], "%s: %s creates AWS resources too", stack, r.URN)
			}
		}
		require.Greaterf(t, aws, 30, "%s: the check saw the AWS resources", stack)
	}
}

func TestPlansAreDeterministic(t *testing.T) {
	render := func() []byte {
		p, err := plan.Build("..", "prod", stacks.Run)
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, p.WriteJSON(&b))
		require.NoError(t, p.WriteTree(&b))
		return b.Bytes()
	}
	require.Equal(t, string(render()), string(render()))
}

func TestPlatformOutputs(t *testing.T) {
	values := map[string]string{"aws:region": "eu-west-1", "linkage:azCount": "2", "linkage:highMemNodes": `{"enabled": true}`}
	got := map[string]any{}
	pulumimock.Run(t, "linkage", "qa", values, func(ctx *pulumi.Context) error {
		cfg, err := stacks.LoadConfig(ctx)
		if err != nil {
			return err
		}
		d, err := stacks.Deploy(ctx, cfg)
		if err != nil {
			return err
		}
		p := d.Platform
		got["storage"] = []string{p.StorageClass, p.RetainedStorageClass}
		got["ingress"] = p.IngressClass
		got["cluster"] = p.Cluster.Name
		require.NotNil(t, p.Kubernetes)
		require.NotEmpty(t, p.Ready)
		pulumi.All(p.Network.VpcId, p.Network.PrivateSubnetIds, p.NodeGroups.Names, p.Cluster.OIDC.ProviderArn).ApplyT(func(v []any) int {
			got["vpc"], got["private"], got["nodeGroups"], got["oidc"] = v[0], v[1], v[2], v[3]
			return 0
		})
		return nil
	})
	require.Equal(t, []string{"gp3", "gp3-retain"}, got["storage"])
	require.Equal(t, "alb", got["ingress"])
	require.Equal(t, "linkage-qa", got["cluster"])
	require.Regexp(t, `^vpc-`, got["vpc"])
	require.Len(t, got["private"], 2)
	require.Equal(t, []string{"linkage-system", "linkage-worker", "linkage-highmem"}, got["nodeGroups"])
	require.Regexp(t, `^arn:aws:iam::123456789012:oidc-provider/oidc\.eks\.eu-west-1\.amazonaws\.com/id/`, got["oidc"])
}

func TestKubeconfigPlatformDeclaresOnlyAProvider(t *testing.T) {
	values := map[string]string{"linkage:platform": "kubeconfig", "linkage:kubeContext": "kind-linkage", "linkage:plainHttp": "true"}
	m := pulumimock.Run(t, "linkage", "local", values, stacks.Run)
	var providers []pulumimock.Resource
	for _, r := range m.Resources() {
		require.False(t, strings.HasPrefix(r.Type, "aws:") || strings.HasPrefix(r.Type, "eks:"), "no AWS on a kubeconfig cluster: %s", r.URN)
		if strings.HasPrefix(r.Type, "pulumi:providers:") {
			providers = append(providers, r)
		}
	}
	// Of the platform, only the provider: the data services and the app (no AWS either) go onto it.
	require.Len(t, providers, 1)
	require.Equal(t, "pulumi:providers:kubernetes", providers[0].Type)
	require.Equal(t, "kind-linkage", providers[0].Input("context"))
}
