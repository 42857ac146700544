package cluster_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/components/cluster"
	"github.com/linkage-platform/linkage/components/componenttest"
)

func clusterArgs() *cluster.ClusterArgs {
	return &cluster.ClusterArgs{
		Name:              "linkage-prod",
		KubernetesVersion: "1.33",
		VpcId:             pulumi.String("vpc-1"),
		PublicSubnetIds:   pulumi.ToStringArray([]string{"subnet-pub-a", "subnet-pub-b"}),
		PrivateSubnetIds:  pulumi.ToStringArray([]string{"subnet-priv-a", "subnet-priv-b"}),
		ServiceCidr:       "172.20.0.0/16",
		PublicAccessCidrs: []string{"198.51.100.0/24"},
		LogTypes:          []string{"api", "audit", "authenticator"},
		AdminArns:         []string{"arn:aws:iam::123456789012:role/platform-admins"},
		VpcCniVersion:     "v1.19.6-eksbuild.1",
		KubeProxyVersion:  "v1.33.0-eksbuild.2",
	}
}

func TestClusterControlPlane(t *testing.T) {
	var c *cluster.Cluster
	var issuer, providerArn, sg, kubeconfig string
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		var err error
		if c, err = cluster.NewCluster(ctx, "eks", clusterArgs()); err != nil {
			return err
		}
		c.OIDC.IssuerURL.ApplyT(func(v string) string { issuer = v; return v })
		c.OIDC.ProviderArn.ApplyT(func(v string) string { providerArn = v; return v })
		c.SecurityGroupId.ApplyT(func(v string) string { sg = v; return v })
		c.Kubeconfig.ApplyT(func(v string) string { kubeconfig = v; return v })
		return nil
	})

	eks := componenttest.Find(t, m, "eks:index:Cluster", "eks")
	require.Equal(t, "linkage-prod", eks.Input("name"))
	require.Equal(t, "1.33", eks.Input("version"))
	require.Equal(t, true, eks.Input("skipDefaultNodeGroup"), "the default node group uses launch configurations and AL2")
	require.Equal(t, "API", eks.Input("authenticationMode"))
	require.Equal(t, true, eks.Input("endpointPrivateAccess"))
	require.Equal(t, true, eks.Input("endpointPublicAccess"))
	require.Equal(t, []any{"198.51.100.0/24"}, eks.Input("publicAccessCidrs"))
	require.Equal(t, []any{"api", "audit", "authenticator"}, eks.Input("enabledClusterLogTypes"))
	require.Equal(t, "172.20.0.0/16", eks.Input("kubernetesServiceIpAddressRange"))
	require.Equal(t, false, eks.Input("createOidcProvider"))
	require.Equal(t, []any{"subnet-priv-a", "subnet-priv-b"}, eks.Input("privateSubnetIds"))

	key := componenttest.Find(t, m, "aws:kms/key:Key", "eks-secrets")
	require.Equal(t, true, key.Input("enableKeyRotation"))
	require.Equal(t, key.Outputs["arn"].StringValue(), eks.Input("encryptionConfigKeyArn"), "secrets are envelope-encrypted with our key")
	require.Equal(t, "alias/linkage-prod-secrets", componenttest.Find(t, m, "aws:kms/alias:Alias", "eks-secrets").Input("name"))

	require.Equal(t, "arn:aws:iam::123456789012:role/platform-admins", eks.Input("accessEntries.admin-0.principalArn"))
	require.Equal(t, cluster.ClusterAdminPolicy, eks.Input("accessEntries.admin-0.accessPolicies.admin.policyArn"))

	// The OIDC provider is made from the issuer EKS reports for the cluster.
	oidc := componenttest.Find(t, m, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "eks")
	require.Regexp(t, `^https://oidc\.eks\.us-east-1\.amazonaws\.com/id/[0-9A-F]{32}$`, oidc.Input("url"))
	require.Equal(t, []any{"sts.amazonaws.com"}, oidc.Input("clientIdLists"))
	require.Equal(t, oidc.Input("url"), issuer)
	require.Equal(t, "arn:aws:iam::123456789012:oidc-provider/"+strings.TrimPrefix(issuer, "https://"), providerArn)
	require.True(t, strings.HasPrefix(sg, "sg-"), sg)
	require.Contains(t, kubeconfig, "linkage-prod")

	// vpc-cni gets the CNI policy through IRSA, not through the node role.
	cni := componenttest.Find(t, m, "aws:eks/addon:Addon", "eks-vpc-cni")
	require.Equal(t, "linkage-prod", cni.Input("clusterName"))
	require.Equal(t, "v1.19.6-eksbuild.1", cni.Input("addonVersion"))
	cniRole := componenttest.Find(t, m, "aws:iam/role:Role", "eks-vpc-cni")
	require.Equal(t, cniRole.Outputs["arn"].StringValue(), cni.Input("serviceAccountRoleArn"))
	componenttest.RequireIRSATrust(t, cniRole, providerArn, issuer, "kube-system", "aws-node")
	require.Equal(t, "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
		componenttest.Find(t, m, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "eks-vpc-cni-managed-0").Input("policyArn"))

	proxy := componenttest.Find(t, m, "aws:eks/addon:Addon", "eks-kube-proxy")
	require.Equal(t, "v1.33.0-eksbuild.2", proxy.Input("addonVersion"))
	require.True(t, componenttest.DependsOn(proxy, eks) && componenttest.DependsOn(cni, eks), "add-ons wait for the control plane")
	require.True(t, componenttest.DependsOn(cni, componenttest.Find(t, m, "linkage:components:IrsaRole", "eks-vpc-cni")) ||
		componenttest.DependsOn(cni, componenttest.Find(t, m, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "eks-vpc-cni-managed-0")),
		"vpc-cni starts with its role's policy attached: %v", cni.DependsOn)

	provider := componenttest.Find(t, m, "pulumi:providers:kubernetes", "eks")
	require.True(t, provider.Inputs["kubeconfig"].ContainsSecrets(), "the kubeconfig stays secret")
}

func TestClusterWithoutPublicCIDRsIsPrivateOnly(t *testing.T) {
	var sg string
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		args := clusterArgs()
		args.PublicAccessCidrs, args.AdminArns = nil, nil
		args.PrivateAccessCidrs = []string{"10.100.0.0/24"}
		c, err := cluster.NewCluster(ctx, "eks", args)
		if err == nil {
			c.SecurityGroupId.ApplyT(func(v string) string { sg = v; return v })
		}
		return err
	})
	eks := componenttest.Find(t, m, "eks:index:Cluster", "eks")
	require.Equal(t, false, eks.Input("endpointPublicAccess"))
	require.Equal(t, true, eks.Input("endpointPrivateAccess"))
	require.Nil(t, eks.Input("accessEntries.admin-0"))

	// A CI runner's network reaches the private endpoint: HTTPS only, on the cluster security group.
	rule := componenttest.Find(t, m, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "eks-api-private-0")
	require.Equal(t, sg, rule.Input("securityGroupId"))
	require.Equal(t, "10.100.0.0/24", rule.Input("cidrIpv4"))
	require.Equal(t, 443.0, rule.Input("fromPort"))
	require.Equal(t, 443.0, rule.Input("toPort"))
}

func TestClusterGrantsTheDeployRoleAdminAndThePreviewRoleView(t *testing.T) {
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		args := clusterArgs()
		args.ViewerArns = []string{"arn:aws:iam::123456789012:role/ci-preview"}
		_, err := cluster.NewCluster(ctx, "eks", args)
		return err
	})
	eks := componenttest.Find(t, m, "eks:index:Cluster", "eks")
	require.Equal(t, "arn:aws:iam::123456789012:role/ci-preview", eks.Input("accessEntries.viewer-0.principalArn"))
	require.Len(t, eks.Input("accessEntries.viewer-0.accessPolicies"), 1, "the preview role holds nothing but view")
	require.Equal(t, "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy", eks.Input("accessEntries.viewer-0.accessPolicies.viewer.policyArn"))
	require.Equal(t, "cluster", eks.Input("accessEntries.viewer-0.accessPolicies.viewer.accessScope.type"))
}

func TestClusterRequiresAName(t *testing.T) {
	_, err := componenttest.RunErr(func(ctx *pulumi.Context) error {
		args := clusterArgs()
		args.Name = ""
		_, err := cluster.NewCluster(ctx, "eks", args)
		return err
	})
	require.ErrorContains(t, err, "a name is required")
}
