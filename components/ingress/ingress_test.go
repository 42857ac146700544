package ingress_test

import (
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/linkage-platform/linkage/components/componenttest"
	"github.com/linkage-platform/linkage/components/ingress"
)

func TestIngressController(t *testing.T) {
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "k8s", nil)
		if err != nil {
			return err
		}
		_, err = ingress.NewIngress(ctx, "in", &ingress.IngressArgs{
			ClusterName: "linkage-prod", Region: "us-east-1", VpcId: pulumi.String("vpc-1"), OIDC: componenttest.OIDC(),
			ChartVersion: "1.13.3", NodeSelector: map[string]string{"role": "system"}, Provider: k8s,
		})
		return err
	})

	pol := componenttest.Find(t, m, "aws:iam/policy:Policy", "in-lb-controller")
	doc := componenttest.Policy(t, pol, "policy")
	var actions []string
	for _, st := range doc.Statement {
		actions = append(actions, st.Action...)
	}
	require.Contains(t, actions, "elasticloadbalancing:CreateLoadBalancer")
	require.Contains(t, actions, "ec2:DescribeSubnets")
	require.NotContains(t, actions, "*")

	role := componenttest.Find(t, m, "aws:iam/role:Role", "in-lb-controller")
	componenttest.RequireIRSATrust(t, role, componenttest.ProviderArn, componenttest.Issuer, "kube-system", "aws-load-balancer-controller")
	attach := componenttest.Find(t, m, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "in-lb-controller")
	require.Equal(t, pol.Outputs["arn"].StringValue(), attach.Input("policyArn"))

	release := componenttest.Find(t, m, "kubernetes:helm.sh/v3:Release", "in-lb-controller")
	require.Equal(t, "aws-load-balancer-controller", release.Input("chart"))
	require.Equal(t, "1.13.3", release.Input("version"))
	require.Equal(t, "https://aws.github.io/eks-charts", release.Input("repositoryOpts.repo"))
	require.Equal(t, "kube-system", release.Input("namespace"))
	require.Equal(t, "linkage-prod", release.Input("values.clusterName"))
	require.Equal(t, "us-east-1", release.Input("values.region"))
	require.Equal(t, "vpc-1", release.Input("values.vpcId"))
	require.Equal(t, map[string]string{"role": "system"}, componenttest.StringMap(t, release.Input("values.nodeSelector")))
	require.Equal(t, false, release.Input("values.createIngressClassResource"))
	require.Equal(t, true, release.Input("values.serviceAccount.create"))
	require.Equal(t, "aws-load-balancer-controller", release.Input("values.serviceAccount.name"))
	require.Equal(t, map[string]string{"eks.amazonaws.com/role-arn": role.Outputs["arn"].StringValue()},
		componenttest.StringMap(t, release.Input("values.serviceAccount.annotations")))
	require.True(t, componenttest.DependsOn(release, attach), "the controller starts with its permissions in place")

	class := componenttest.Find(t, m, "kubernetes:networking.k8s.io/v1:IngressClass", "in-alb")
	alb := componenttest.Decode[networkingv1.IngressClass](t, class)
	require.Equal(t, "alb", alb.Name)
	require.Equal(t, map[string]string{"ingressclass.kubernetes.io/is-default-class": "true"}, alb.Annotations)
	require.Equal(t, "ingress.k8s.aws/alb", alb.Spec.Controller)
	require.True(t, componenttest.DependsOn(class, release))
}
