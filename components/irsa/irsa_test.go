package irsa_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/components/componenttest"
	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/components/irsa"
)

func TestIRSARole(t *testing.T) {
	m := componenttest.Run(t, func(ctx *pulumi.Context) error {
		_, err := irsa.NewRole(ctx, "app", &irsa.RoleArgs{
			OIDC: componenttest.OIDC(), Namespace: "linkage", ServiceAccount: "linkage-api",
			Policy: pulumi.String(iampolicy.New(iampolicy.Allow("Blobs", []string{"s3:GetObject"}, "arn:aws:s3:::b/*")).JSON()),
		})
		return err
	})
	role := componenttest.Find(t, m, "aws:iam/role:Role", "app")
	componenttest.RequireIRSATrust(t, role, componenttest.ProviderArn, componenttest.Issuer, "linkage", "linkage-api")
	inline := componenttest.Find(t, m, "aws:iam/rolePolicy:RolePolicy", "app")
	require.Equal(t, role.Outputs["name"].StringValue(), inline.Input("role"))
	require.Equal(t, iampolicy.Strings{"s3:GetObject"}, componenttest.Policy(t, inline, "policy").Statement[0].Action)
	require.Empty(t, m.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment"))

	_, err := componenttest.RunErr(func(ctx *pulumi.Context) error {
		_, err := irsa.NewRole(ctx, "bad", &irsa.RoleArgs{OIDC: componenttest.OIDC(), Namespace: "linkage"})
		return err
	})
	require.ErrorContains(t, err, "namespace and service account are required")
}
