package componenttest

import (
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/components/ingress"
	"github.com/linkage-platform/linkage/components/irsa"
	"github.com/linkage-platform/linkage/components/storage"
)

const scType = "kubernetes:storage.k8s.io/v1:StorageClass"

func TestStorage(t *testing.T) {
	m := run(t, func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "k8s", nil)
		if err != nil {
			return err
		}
		_, err = storage.NewStorage(ctx, "st", &storage.StorageArgs{
			ClusterName: "linkage-dev", OIDC: testOIDC(), EbsCsiDriverVersion: "v1.45.0-eksbuild.2", Provider: k8s,
		})
		return err
	})

	role := find(t, m, "aws:iam/role:Role", "st-ebs-csi")
	requireIRSATrust(t, role, testProvider, testIssuer, "kube-system", "ebs-csi-controller-sa")
	require.Equal(t, "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
		find(t, m, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "st-ebs-csi-managed-0").Input("policyArn"))
	addon := find(t, m, "aws:eks/addon:Addon", "st-aws-ebs-csi-driver")
	require.Equal(t, "aws-ebs-csi-driver", addon.Input("addonName"))
	require.Equal(t, "v1.45.0-eksbuild.2", addon.Input("addonVersion"))
	require.Equal(t, role.Outputs["arn"].StringValue(), addon.Input("serviceAccountRoleArn"))

	gp2 := find(t, m, "kubernetes:storage.k8s.io/v1:StorageClassPatch", "st-gp2")
	gp2Class := decode[storagev1.StorageClass](t, gp2)
	require.Equal(t, "gp2", gp2Class.Name)
	require.Equal(t, "false", gp2Class.Annotations[storage.DefaultClassKey])

	for _, c := range []struct{ name, reclaim, isDefault string }{
		{"gp3", "Delete", "true"},
		{"gp3-retain", "Retain", "false"},
	} {
		sc := find(t, m, scType, "st-"+c.name)
		class := decode[storagev1.StorageClass](t, sc)
		require.Equal(t, c.name, class.Name)
		require.Equal(t, c.isDefault, class.Annotations[storage.DefaultClassKey], c.name)
		require.Equal(t, "ebs.csi.aws.com", class.Provisioner)
		require.Equal(t, map[string]string{"type": "gp3", "encrypted": "true", "fsType": "ext4"}, class.Parameters)
		require.Equal(t, ptr(corev1.PersistentVolumeReclaimPolicy(c.reclaim)), class.ReclaimPolicy)
		require.Equal(t, ptr(storagev1.VolumeBindingWaitForFirstConsumer), class.VolumeBindingMode)
		require.Equal(t, ptr(true), class.AllowVolumeExpansion)
		require.True(t, dependsOn(sc, addon), "%s needs the CSI driver", c.name)
		require.Contains(t, sc.Provider, "pulumi:providers:kubernetes::k8s", "%s goes to the cluster's provider", c.name)
	}
	require.True(t, dependsOn(find(t, m, scType, "st-gp3"), gp2), "gp2 is demoted before gp3 becomes default")
}

func TestIngressController(t *testing.T) {
	m := run(t, func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "k8s", nil)
		if err != nil {
			return err
		}
		_, err = ingress.NewIngress(ctx, "in", &ingress.IngressArgs{
			ClusterName: "linkage-prod", Region: "us-east-1", VpcId: pulumi.String("vpc-1"), OIDC: testOIDC(),
			ChartVersion: "1.13.3", NodeSelector: map[string]string{"role": "system"}, Provider: k8s,
		})
		return err
	})

	pol := find(t, m, "aws:iam/policy:Policy", "in-lb-controller")
	doc := policy(t, pol, "policy")
	var actions []string
	for _, st := range doc.Statement {
		actions = append(actions, st.Action...)
	}
	require.Contains(t, actions, "elasticloadbalancing:CreateLoadBalancer")
	require.Contains(t, actions, "ec2:DescribeSubnets")
	require.NotContains(t, actions, "*")

	role := find(t, m, "aws:iam/role:Role", "in-lb-controller")
	requireIRSATrust(t, role, testProvider, testIssuer, "kube-system", "aws-load-balancer-controller")
	attach := find(t, m, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "in-lb-controller")
	require.Equal(t, pol.Outputs["arn"].StringValue(), attach.Input("policyArn"))

	release := find(t, m, "kubernetes:helm.sh/v3:Release", "in-lb-controller")
	require.Equal(t, "aws-load-balancer-controller", release.Input("chart"))
	require.Equal(t, "1.13.3", release.Input("version"))
	require.Equal(t, "https://aws.github.io/eks-charts", release.Input("repositoryOpts.repo"))
	require.Equal(t, "kube-system", release.Input("namespace"))
	require.Equal(t, "linkage-prod", release.Input("values.clusterName"))
	require.Equal(t, "us-east-1", release.Input("values.region"))
	require.Equal(t, "vpc-1", release.Input("values.vpcId"))
	require.Equal(t, map[string]string{"role": "system"}, stringMap(t, release.Input("values.nodeSelector")))
	require.Equal(t, false, release.Input("values.createIngressClassResource"))
	require.Equal(t, true, release.Input("values.serviceAccount.create"))
	require.Equal(t, "aws-load-balancer-controller", release.Input("values.serviceAccount.name"))
	require.Equal(t, map[string]string{"eks.amazonaws.com/role-arn": role.Outputs["arn"].StringValue()},
		stringMap(t, release.Input("values.serviceAccount.annotations")))
	require.True(t, dependsOn(release, attach), "the controller starts with its permissions in place")

	class := find(t, m, "kubernetes:networking.k8s.io/v1:IngressClass", "in-alb")
	alb := decode[networkingv1.IngressClass](t, class)
	require.Equal(t, "alb", alb.Name)
	require.Equal(t, map[string]string{"ingressclass.kubernetes.io/is-default-class": "true"}, alb.Annotations)
	require.Equal(t, "ingress.k8s.aws/alb", alb.Spec.Controller)
	require.True(t, dependsOn(class, release))
}

func TestIRSARole(t *testing.T) {
	m := run(t, func(ctx *pulumi.Context) error {
		_, err := irsa.NewRole(ctx, "app", &irsa.RoleArgs{
			OIDC: testOIDC(), Namespace: "linkage", ServiceAccount: "linkage-api",
			Policy: pulumi.String(iampolicy.New(iampolicy.Allow("Blobs", []string{"s3:GetObject"}, "arn:aws:s3:::b/*")).JSON()),
		})
		return err
	})
	role := find(t, m, "aws:iam/role:Role", "app")
	requireIRSATrust(t, role, testProvider, testIssuer, "linkage", "linkage-api")
	inline := find(t, m, "aws:iam/rolePolicy:RolePolicy", "app")
	require.Equal(t, role.Outputs["name"].StringValue(), inline.Input("role"))
	require.Equal(t, iampolicy.Strings{"s3:GetObject"}, policy(t, inline, "policy").Statement[0].Action)
	require.Empty(t, m.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment"))

	_, err := runErr(func(ctx *pulumi.Context) error {
		_, err := irsa.NewRole(ctx, "bad", &irsa.RoleArgs{OIDC: testOIDC(), Namespace: "linkage"})
		return err
	})
	require.ErrorContains(t, err, "namespace and service account are required")
}
