// Package cluster is the EKS control plane: a pulumi-eks cluster without its default node group, with
// envelope encryption of secrets under a KMS key, control-plane logging, access entries (authentication
// mode API), an IAM OIDC provider for IRSA, the vpc-cni and kube-proxy add-ons and a Kubernetes provider.
package cluster

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi-eks/sdk/v2/go/eks"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/irsa"
)

// EKS access policies: ClusterAdminPolicy for ClusterArgs.AdminArns, ViewPolicy (read-only, no
// Secrets) for ClusterArgs.ViewerArns.
const (
	ClusterAdminPolicy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
	ViewPolicy         = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
)

// ClusterArgs configures a Cluster.
type ClusterArgs struct {
	// Name is the EKS cluster's physical name. It is given explicitly so that everything depending on it
	// (subnet tags, node groups, add-ons, the LB controller) can use it before the cluster exists.
	Name              string
	KubernetesVersion string
	VpcId             pulumi.StringInput
	PublicSubnetIds   pulumi.StringArrayInput
	PrivateSubnetIds  pulumi.StringArrayInput
	ServiceCidr       string
	// PublicAccessCidrs may reach the public API endpoint; none means the endpoint is private only.
	PublicAccessCidrs []string
	// PrivateAccessCidrs may reach the private endpoint from outside the VPC's nodes (a CI runner's
	// network routed to the VPC): HTTPS on the cluster security group.
	PrivateAccessCidrs []string
	LogTypes           []string
	// AdminArns are IAM roles or users granted cluster admin through access entries (the deploy role);
	// ViewerArns get read-only view (the preview role).
	AdminArns  []string
	ViewerArns []string
	// VpcCniVersion and KubeProxyVersion pin the core add-ons (CoreDNS needs nodes: see nodegroups).
	VpcCniVersion    string
	KubeProxyVersion string
	// AWSProvider, when set, is handed to the eks remote component by name: a remote component does
	// not inherit its parent's providers, and the stack's provider carries the default tags.
	AWSProvider *aws.Provider
}

// Cluster is the control plane and what other components need from it.
type Cluster struct {
	pulumi.ResourceState

	Name       string
	Version    string
	Endpoint   pulumi.StringOutput
	Kubeconfig pulumi.StringOutput // secret
	OIDC       irsa.OIDC
	// SecurityGroupId is the security group EKS attaches to the control plane and to managed nodes (and
	// so to their pods): data services allow their ports from it.
	SecurityGroupId pulumi.StringOutput
	SecretsKeyArn   pulumi.StringOutput
	// Provider deploys Kubernetes objects into this cluster.
	Provider *kubernetes.Provider
	// Control is the pulumi-eks cluster, for dependencies.
	Control *eks.Cluster
	// VpcCni is the pod network add-on (with its IRSA role): nodes must not boot before it, or they
	// start with a CNI that has no permissions and never become Ready (terraform-aws-eks orders it the
	// same way with before_compute).
	VpcCni *awseks.Addon
}

// NewCluster declares the control plane.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if args.Name == "" {
		return nil, errors.New("cluster: a name is required")
	}
	c := &Cluster{Name: args.Name, Version: args.KubernetesVersion}
	if err := ctx.RegisterComponentResource("linkage:components:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)

	key, err := kms.NewKey(ctx, name+"-secrets", &kms.KeyArgs{
		Description:          pulumi.Sprintf("Envelope encryption of Kubernetes secrets in EKS cluster %s", args.Name),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(30),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: secrets key: %w", name, err)
	}
	if _, err := kms.NewAlias(ctx, name+"-secrets", &kms.AliasArgs{
		Name:        pulumi.Sprintf("alias/%s-secrets", args.Name),
		TargetKeyId: key.KeyId,
	}, parent); err != nil {
		return nil, fmt.Errorf("cluster %s: secrets key alias: %w", name, err)
	}

	access := map[string]eks.AccessEntryArgs{}
	grant := func(kind, policy string, arns []string) {
		for i, arn := range arns {
			access[fmt.Sprintf("%s-%d", kind, i)] = eks.AccessEntryArgs{
				PrincipalArn: pulumi.String(arn),
				AccessPolicies: map[string]eks.AccessPolicyAssociationInput{
					kind: eks.AccessPolicyAssociationArgs{
						PolicyArn:   pulumi.String(policy),
						AccessScope: awseks.AccessPolicyAssociationAccessScopeArgs{Type: pulumi.String("cluster")},
					},
				},
			}
		}
	}
	grant("admin", ClusterAdminPolicy, args.AdminArns)
	grant("viewer", ViewPolicy, args.ViewerArns)
	mode := eks.AuthenticationModeApi
	eksOpts := []pulumi.ResourceOption{parent}
	if args.AWSProvider != nil {
		eksOpts = append(eksOpts, pulumi.Providers(args.AWSProvider))
	}
	control, err := eks.NewCluster(ctx, name, &eks.ClusterArgs{
		Name:                 pulumi.String(args.Name),
		Version:              pulumi.String(args.KubernetesVersion),
		VpcId:                args.VpcId,
		PublicSubnetIds:      args.PublicSubnetIds,
		PrivateSubnetIds:     args.PrivateSubnetIds,
		SkipDefaultNodeGroup: pulumi.BoolRef(true),
		// The add-ons below replace pulumi-eks's own vpc-cni manifests.
		UseDefaultVpcCni:                pulumi.BoolRef(true),
		AuthenticationMode:              &mode,
		AccessEntries:                   access,
		EndpointPrivateAccess:           pulumi.Bool(true),
		EndpointPublicAccess:            pulumi.Bool(len(args.PublicAccessCidrs) > 0),
		PublicAccessCidrs:               pulumi.ToStringArray(args.PublicAccessCidrs),
		EnabledClusterLogTypes:          pulumi.ToStringArray(args.LogTypes),
		EncryptionConfigKeyArn:          key.Arn,
		KubernetesServiceIpAddressRange: pulumi.String(args.ServiceCidr),
		// Created below from the cluster's issuer so that its ARN is ours to pass to IRSA roles.
		CreateOidcProvider:           pulumi.Bool(false),
		NodeAssociatePublicIpAddress: pulumi.BoolRef(false),
	}, eksOpts...)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: eks: %w", name, err)
	}

	// pulumi-eks's nested outputs are resource references; read what we need back from the EKS API once
	// the cluster exists (the endpoint dependency orders the lookup after creation).
	created := control.Core.Endpoint().ApplyT(func(string) string { return args.Name }).(pulumi.StringOutput)
	info := awseks.LookupClusterOutput(ctx, awseks.LookupClusterOutputArgs{Name: created}, parent)
	issuer := info.ApplyT(func(r awseks.LookupClusterResult) (string, error) {
		if len(r.Identities) == 0 || len(r.Identities[0].Oidcs) == 0 || r.Identities[0].Oidcs[0].Issuer == "" {
			return "", fmt.Errorf("cluster %s has no OIDC issuer", r.Name)
		}
		return r.Identities[0].Oidcs[0].Issuer, nil
	}).(pulumi.StringOutput)
	c.SecurityGroupId = info.ApplyT(func(r awseks.LookupClusterResult) (string, error) {
		if r.VpcConfig.ClusterSecurityGroupId == "" {
			return "", fmt.Errorf("cluster %s has no cluster security group", r.Name)
		}
		return r.VpcConfig.ClusterSecurityGroupId, nil
	}).(pulumi.StringOutput)

	for i, cidr := range args.PrivateAccessCidrs {
		if _, err := vpc.NewSecurityGroupIngressRule(ctx, fmt.Sprintf("%s-api-private-%d", name, i), &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: c.SecurityGroupId,
			Description:     pulumi.String("Kubernetes API (private endpoint) from a client network"),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(443),
			ToPort:          pulumi.Int(443),
			CidrIpv4:        pulumi.String(cidr),
		}, parent); err != nil {
			return nil, fmt.Errorf("cluster %s: private endpoint access from %s: %w", name, cidr, err)
		}
	}

	oidc, err := iam.NewOpenIdConnectProvider(ctx, name, &iam.OpenIdConnectProviderArgs{
		Url:           issuer,
		ClientIdLists: pulumi.StringArray{pulumi.String("sts.amazonaws.com")},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: OIDC provider: %w", name, err)
	}
	c.OIDC = irsa.OIDC{ProviderArn: oidc.Arn, IssuerURL: oidc.Url}

	cniRole, err := irsa.NewRole(ctx, name+"-vpc-cni", &irsa.RoleArgs{
		OIDC: c.OIDC, Namespace: "kube-system", ServiceAccount: "aws-node",
		ManagedPolicyArns: []string{"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: vpc-cni role: %w", name, err)
	}
	// The role component stands for its policy attachment too: the add-on starts with its permissions.
	c.VpcCni, err = NewAddon(ctx, name, args.Name, "vpc-cni", args.VpcCniVersion, cniRole.Arn,
		parent, pulumi.DependsOn([]pulumi.Resource{control, cniRole}))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	if _, err := NewAddon(ctx, name, args.Name, "kube-proxy", args.KubeProxyVersion, nil,
		parent, pulumi.DependsOn([]pulumi.Resource{control})); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}

	c.Control = control
	c.Endpoint = control.Core.Endpoint()
	c.Kubeconfig = pulumi.ToSecret(control.KubeconfigJson).(pulumi.StringOutput)
	c.SecretsKeyArn = key.Arn
	c.Provider, err = kubernetes.NewProvider(ctx, name, &kubernetes.ProviderArgs{
		Kubeconfig: c.Kubeconfig,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: kubernetes provider: %w", name, err)
	}

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name":            pulumi.String(c.Name),
		"endpoint":        c.Endpoint,
		"kubeconfig":      c.Kubeconfig,
		"oidcProviderArn": c.OIDC.ProviderArn,
		"oidcIssuerUrl":   c.OIDC.IssuerURL,
		"securityGroupId": c.SecurityGroupId,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// NewAddon declares an EKS add-on at a pinned version. Conflicts are resolved in favour of the add-on:
// EKS pre-installs unmanaged copies of the core add-ons that it must take over.
func NewAddon(ctx *pulumi.Context, prefix, clusterName, addon, version string, role pulumi.StringPtrInput,
	opts ...pulumi.ResourceOption) (*awseks.Addon, error) {
	a, err := awseks.NewAddon(ctx, prefix+"-"+addon, &awseks.AddonArgs{
		ClusterName:              pulumi.String(clusterName),
		AddonName:                pulumi.String(addon),
		AddonVersion:             pulumi.String(version),
		ServiceAccountRoleArn:    role,
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"),
		ResolveConflictsOnUpdate: pulumi.String("OVERWRITE"),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("add-on %s: %w", addon, err)
	}
	return a, nil
}
