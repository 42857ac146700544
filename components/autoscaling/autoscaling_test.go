package autoscaling_test

import (
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/components/autoscaling"
	"github.com/linkage-platform/linkage/components/componenttest"
	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/components/irsa"
)

func TestAutoscalerResizesOnlyThisClustersGroupsThroughIRSA(t *testing.T) {
	const issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
	const providerArn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		_, err = autoscaling.NewAutoscaling(ctx, "as", &autoscaling.AutoscalingArgs{
			ClusterName: "linkage-prod", Region: "us-east-1",
			OIDC:                   irsa.OIDC{ProviderArn: pulumi.String(providerArn).ToStringOutput(), IssuerURL: pulumi.String(issuer).ToStringOutput()},
			AutoscalerChartVersion: "9.59.0", AutoscalerImageTag: "v1.35.0", MetricsServerChartVersion: "3.13.0",
			NodeSelector: map[string]string{"role": "system"}, Provider: k8s,
		})
		return err
	})
	role := componenttest.Find(t, m, "aws:iam/role:Role", "as-cluster-autoscaler")
	componenttest.RequireIRSATrust(t, role, providerArn, issuer, "kube-system", "cluster-autoscaler")
	doc := componenttest.Policy(t, componenttest.Find(t, m, "aws:iam/rolePolicy:RolePolicy", "as-cluster-autoscaler"), "policy")
	for _, st := range doc.Statement {
		for _, a := range st.Action {
			if a == "autoscaling:SetDesiredCapacity" || a == "autoscaling:TerminateInstanceInAutoScalingGroup" {
				require.Equal(t, map[string]map[string]iampolicy.Strings{
					"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/linkage-prod": {"owned"}},
				}, st.Condition, "%s only on this cluster's groups", a)
			}
		}
	}
	require.Contains(t, doc.Statement[0].Action, "eks:DescribeNodegroup", "labels and taints of an empty managed group")

	ca := componenttest.Find(t, m, "kubernetes:helm.sh/v3:Release", "as-cluster-autoscaler")
	require.Equal(t, "cluster-autoscaler", ca.Input("chart"))
	require.Equal(t, "9.59.0", ca.Input("version"))
	require.Equal(t, "https://kubernetes.github.io/autoscaler", ca.Input("repositoryOpts.repo"))
	require.Equal(t, "linkage-prod", ca.Input("values.autoDiscovery.clusterName"))
	require.Equal(t, "v1.35.0", ca.Input("values.image.tag"))
	require.Equal(t, map[string]string{"eks.amazonaws.com/role-arn": role.Outputs["arn"].StringValue()},
		componenttest.StringMap(t, ca.Input("values.rbac.serviceAccount.annotations")))
	require.Equal(t, "cluster-autoscaler", ca.Input("values.rbac.serviceAccount.name"))
	require.Equal(t, map[string]any{"role": "system"}, ca.Input("values.nodeSelector"))

	ms := componenttest.Find(t, m, "kubernetes:helm.sh/v3:Release", "as-metrics-server")
	require.Equal(t, "metrics-server", ms.Input("chart"))
	require.Equal(t, "3.13.0", ms.Input("version"))
	require.Equal(t, 2.0, ms.Input("values.replicas"))
}
