package storage_test

import (
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/linkage-platform/linkage/components/componenttest"
	"github.com/linkage-platform/linkage/components/storage"
)

const scType = "kubernetes:storage.k8s.io/v1:StorageClass"

func TestStorage(t *testing.T) {
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "k8s", nil)
		if err != nil {
			return err
		}
		_, err = storage.NewStorage(ctx, "st", &storage.StorageArgs{
			ClusterName: "linkage-dev", OIDC: componenttest.OIDC(), EbsCsiDriverVersion: "v1.45.0-eksbuild.2", Provider: k8s,
		})
		return err
	})

	role := componenttest.Find(t, m, "aws:iam/role:Role", "st-ebs-csi")
	componenttest.RequireIRSATrust(t, role, componenttest.ProviderArn, componenttest.Issuer, "kube-system", "ebs-csi-controller-sa")
	require.Equal(t, "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
		componenttest.Find(t, m, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "st-ebs-csi-managed-0").Input("policyArn"))
	addon := componenttest.Find(t, m, "aws:eks/addon:Addon", "st-aws-ebs-csi-driver")
	require.Equal(t, "aws-ebs-csi-driver", addon.Input("addonName"))
	require.Equal(t, "v1.45.0-eksbuild.2", addon.Input("addonVersion"))
	require.Equal(t, role.Outputs["arn"].StringValue(), addon.Input("serviceAccountRoleArn"))

	gp2 := componenttest.Find(t, m, "kubernetes:storage.k8s.io/v1:StorageClassPatch", "st-gp2")
	gp2Class := componenttest.Decode[storagev1.StorageClass](t, gp2)
	require.Equal(t, "gp2", gp2Class.Name)
	require.Equal(t, "false", gp2Class.Annotations[storage.DefaultClassKey])

	for _, c := range []struct{ name, reclaim, isDefault string }{
		{"gp3", "Delete", "true"},
		{"gp3-retain", "Retain", "false"},
	} {
		sc := componenttest.Find(t, m, scType, "st-"+c.name)
		class := componenttest.Decode[storagev1.StorageClass](t, sc)
		require.Equal(t, c.name, class.Name)
		require.Equal(t, c.isDefault, class.Annotations[storage.DefaultClassKey], c.name)
		require.Equal(t, "ebs.csi.aws.com", class.Provisioner)
		require.Equal(t, map[string]string{"type": "gp3", "encrypted": "true", "fsType": "ext4"}, class.Parameters)
		require.Equal(t, componenttest.Ptr(corev1.PersistentVolumeReclaimPolicy(c.reclaim)), class.ReclaimPolicy)
		require.Equal(t, componenttest.Ptr(storagev1.VolumeBindingWaitForFirstConsumer), class.VolumeBindingMode)
		require.Equal(t, componenttest.Ptr(true), class.AllowVolumeExpansion)
		require.True(t, componenttest.DependsOn(sc, addon), "%s needs the CSI driver", c.name)
		require.Contains(t, sc.Provider, "pulumi:providers:kubernetes::k8s", "%s goes to the cluster's provider", c.name)
	}
	require.True(t, componenttest.DependsOn(componenttest.Find(t, m, scType, "st-gp3"), gp2), "gp2 is demoted before gp3 becomes default")
}
