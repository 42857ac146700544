// Package irsa is an IAM role that exactly one Kubernetes service account assumes through the cluster's
// OIDC provider (IAM Roles for Service Accounts): the way pods get AWS permissions without static keys.
package irsa

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/iampolicy"
)

// OIDC identifies a cluster's OIDC identity provider in IAM.
type OIDC struct {
	ProviderArn pulumi.StringOutput
	IssuerURL   pulumi.StringOutput // https://oidc.eks.<region>.amazonaws.com/id/<ID>
}

// RoleArgs configures a Role.
type RoleArgs struct {
	OIDC           OIDC
	Namespace      string
	ServiceAccount string
	// ManagedPolicyArns are attached as they are (e.g. AWS managed policies).
	ManagedPolicyArns []string
	// Policy, if set, is an inline policy document (JSON) scoped to what the service account needs.
	Policy pulumi.StringInput
}

// Role is the IAM role and its policy attachments.
type Role struct {
	pulumi.ResourceState

	Arn  pulumi.StringOutput
	Name pulumi.StringOutput
}

// Trust lets exactly one Kubernetes service account assume a role through the cluster's OIDC
// provider. The conditions use StringEquals on both sub and aud: never a wildcard.
func Trust(providerArn, issuerURL, namespace, serviceAccount string) iampolicy.Document {
	host := strings.TrimPrefix(issuerURL, "https://") // IAM condition keys name the issuer without its scheme
	return iampolicy.New(iampolicy.Statement{
		Effect:    "Allow",
		Principal: iampolicy.Principal{"Federated": {providerArn}},
		Action:    iampolicy.Strings{"sts:AssumeRoleWithWebIdentity"},
		Condition: map[string]map[string]iampolicy.Strings{"StringEquals": {
			host + ":sub": {"system:serviceaccount:" + namespace + ":" + serviceAccount},
			host + ":aud": {"sts.amazonaws.com"},
		}},
	})
}

// NewRole declares the role, trusted only by system:serviceaccount:<Namespace>:<ServiceAccount> with
// audience sts.amazonaws.com.
func NewRole(ctx *pulumi.Context, name string, args *RoleArgs, opts ...pulumi.ResourceOption) (*Role, error) {
	if args.Namespace == "" || args.ServiceAccount == "" {
		return nil, fmt.Errorf("irsa role %s: namespace and service account are required", name)
	}
	r := &Role{}
	if err := ctx.RegisterComponentResource("linkage:components:IrsaRole", name, r, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(r)

	trust := pulumi.All(args.OIDC.ProviderArn, args.OIDC.IssuerURL).ApplyT(func(v []any) string {
		return Trust(v[0].(string), v[1].(string), args.Namespace, args.ServiceAccount).JSON()
	}).(pulumi.StringOutput)
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.Sprintf("IRSA role of %s/%s", args.Namespace, args.ServiceAccount),
		AssumeRolePolicy: trust,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("irsa role %s: %w", name, err)
	}
	for i, arn := range args.ManagedPolicyArns {
		if _, err := iam.NewRolePolicyAttachment(ctx, fmt.Sprintf("%s-managed-%d", name, i), &iam.RolePolicyAttachmentArgs{
			Role:      role.Name,
			PolicyArn: pulumi.String(arn),
		}, parent); err != nil {
			return nil, fmt.Errorf("irsa role %s: attach %s: %w", name, arn, err)
		}
	}
	if args.Policy != nil {
		if _, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
			Role:   role.Name,
			Policy: args.Policy,
		}, parent); err != nil {
			return nil, fmt.Errorf("irsa role %s: inline policy: %w", name, err)
		}
	}

	r.Arn, r.Name = role.Arn, role.Name
	if err := ctx.RegisterResourceOutputs(r, pulumi.Map{"arn": r.Arn, "name": r.Name}); err != nil {
		return nil, err
	}
	return r, nil
}
