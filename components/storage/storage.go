// Package storage gives the cluster persistent volumes: the EBS CSI driver add-on with its IRSA role, an
// encrypted gp3 default StorageClass, a retained gp3 variant for databases, and the old gp2 class demoted
// from default.
package storage

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/cluster"
	"github.com/linkage-platform/linkage/components/irsa"
)

// Names of the classes and of the EBS CSI pieces.
const (
	DefaultClass         = "gp3"
	RetainedClass        = "gp3-retain"
	LegacyClass          = "gp2"
	Provisioner          = "ebs.csi.aws.com"
	DefaultClassKey      = "storageclass.kubernetes.io/is-default-class"
	csiAddon             = "aws-ebs-csi-driver"
	csiServiceAccount    = "ebs-csi-controller-sa"
	csiNamespace         = "kube-system"
	csiManagedPolicyArn  = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
	patchForceAnnotation = "pulumi.com/patchForce"
)

// StorageArgs configures Storage.
type StorageArgs struct {
	ClusterName         string
	OIDC                irsa.OIDC
	EbsCsiDriverVersion string
	// Provider is the cluster's Kubernetes provider.
	Provider *kubernetes.Provider
	// After must exist before the driver is installed: nodes to run it (a component's DependsOn does
	// not reach its children).
	After []pulumi.Resource
}

// Storage is the CSI driver and the storage classes.
type Storage struct {
	pulumi.ResourceState

	DefaultClass  string
	RetainedClass string
	// Ready are the resources PVC users should depend on.
	Ready []pulumi.Resource
}

// NewStorage declares the driver and the classes.
func NewStorage(ctx *pulumi.Context, name string, args *StorageArgs, opts ...pulumi.ResourceOption) (*Storage, error) {
	if args.Provider == nil || args.ClusterName == "" {
		return nil, errors.New("storage: a cluster name and a Kubernetes provider are required")
	}
	s := &Storage{DefaultClass: DefaultClass, RetainedClass: RetainedClass}
	if err := ctx.RegisterComponentResource("linkage:components:Storage", name, s, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(s)
	k8s := []pulumi.ResourceOption{parent, pulumi.Provider(args.Provider)}

	role, err := irsa.NewRole(ctx, name+"-ebs-csi", &irsa.RoleArgs{
		OIDC: args.OIDC, Namespace: csiNamespace, ServiceAccount: csiServiceAccount,
		ManagedPolicyArns: []string{csiManagedPolicyArn},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("storage %s: EBS CSI role: %w", name, err)
	}
	addon, err := cluster.NewAddon(ctx, name, args.ClusterName, csiAddon, args.EbsCsiDriverVersion, role.Arn,
		parent, pulumi.DependsOn(append([]pulumi.Resource{role}, args.After...)))
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", name, err)
	}

	class := func(className, reclaim string, isDefault bool, after ...pulumi.Resource) (*storagev1.StorageClass, error) {
		return storagev1.NewStorageClass(ctx, name+"-"+className, &storagev1.StorageClassArgs{
			Metadata: metav1.ObjectMetaArgs{
				Name:        pulumi.String(className),
				Annotations: pulumi.StringMap{DefaultClassKey: pulumi.String(fmt.Sprint(isDefault))},
			},
			Provisioner: pulumi.String(Provisioner),
			Parameters: pulumi.StringMap{
				"type":      pulumi.String("gp3"),
				"encrypted": pulumi.String("true"),
				"fsType":    pulumi.String("ext4"),
			},
			ReclaimPolicy:        pulumi.String(reclaim),
			VolumeBindingMode:    pulumi.String("WaitForFirstConsumer"), // the volume's AZ follows the pod's
			AllowVolumeExpansion: pulumi.Bool(true),
		}, append(k8s, pulumi.DependsOn(append([]pulumi.Resource{addon}, after...)))...)
	}
	// Demote gp2 first so that there is never a moment with two default classes.
	gp2, err := storagev1.NewStorageClassPatch(ctx, name+"-"+LegacyClass, &storagev1.StorageClassPatchArgs{
		Metadata: metav1.ObjectMetaPatchArgs{
			Name: pulumi.String(LegacyClass),
			Annotations: pulumi.StringMap{
				DefaultClassKey:      pulumi.String("false"),
				patchForceAnnotation: pulumi.String("true"),
			},
		},
	}, k8s...)
	if err != nil {
		return nil, fmt.Errorf("storage %s: demote gp2: %w", name, err)
	}
	def, err := class(DefaultClass, "Delete", true, gp2)
	if err != nil {
		return nil, fmt.Errorf("storage %s: default class: %w", name, err)
	}
	retained, err := class(RetainedClass, "Retain", false)
	if err != nil {
		return nil, fmt.Errorf("storage %s: retained class: %w", name, err)
	}
	s.Ready = []pulumi.Resource{addon, def, retained}
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{
		"defaultClass":  pulumi.String(s.DefaultClass),
		"retainedClass": pulumi.String(s.RetainedClass),
	}); err != nil {
		return nil, err
	}
	return s, nil
}
