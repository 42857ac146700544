package componenttest

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/components/irsa"
	"github.com/linkage-platform/linkage/internal/manifests"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

const (
	testIssuer   = "https://oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
	testProvider = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
)

var testTags = map[string]string{"project": "linkage", "stack": "test"}

// run runs a program declaring components under mocks in us-east-1.
func run(t *testing.T, body pulumi.RunFunc) *pulumimock.Mocks {
	t.Helper()
	return pulumimock.Run(t, "linkage", "test", map[string]string{"aws:region": "us-east-1"}, body)
}

// runErr runs a program expected to fail and returns its error.
func runErr(body pulumi.RunFunc) (*pulumimock.Mocks, error) {
	return pulumimock.RunProgram("linkage", "test", pulumimock.Config{Values: map[string]string{"aws:region": "us-east-1"}}, body)
}

func testOIDC() irsa.OIDC {
	return irsa.OIDC{
		ProviderArn: pulumi.String(testProvider).ToStringOutput(),
		IssuerURL:   pulumi.String(testIssuer).ToStringOutput(),
	}
}

// find returns the one resource of the type and name or fails.
func find(t *testing.T, m *pulumimock.Mocks, typ, name string) pulumimock.Resource {
	t.Helper()
	r, ok := m.Find(typ, name)
	require.True(t, ok, "no %s named %s; have %v", typ, name, names(m, typ))
	return r
}

func names(m *pulumimock.Mocks, typ string) []string {
	var out []string
	for _, r := range m.ByType(typ) {
		out = append(out, r.Name)
	}
	return out
}

// policy parses a policy document input.
func policy(t *testing.T, r pulumimock.Resource, input string) iampolicy.Document {
	t.Helper()
	raw, ok := r.Input(input).(string)
	require.Truef(t, ok, "%s of %s is not a string: %v", input, r.Name, r.Input(input))
	doc, err := iampolicy.Parse(raw)
	require.NoError(t, err)
	return doc
}

// requireIRSATrust checks a role is assumable only by the service account, through the OIDC provider:
// the document AWS documents for IRSA, spelled out here rather than rebuilt by the code under test.
func requireIRSATrust(t *testing.T, role pulumimock.Resource, providerArn, issuer, namespace, sa string) {
	t.Helper()
	host := strings.TrimPrefix(issuer, "https://")
	require.JSONEq(t, `{"Version": "2012-10-17", "Statement": [{
		"Effect": "Allow",
		"Principal": {"Federated": ["`+providerArn+`"]},
		"Action": ["sts:AssumeRoleWithWebIdentity"],
		"Condition": {"StringEquals": {
			"`+host+`:sub": ["system:serviceaccount:`+namespace+`:`+sa+`"],
			"`+host+`:aud": ["sts.amazonaws.com"]}}}]}`,
		policy(t, role, "assumeRolePolicy").JSON())
}

// decode reads a declared Kubernetes object into its k8s.io/api type, strictly.
func decode[T any](t *testing.T, r pulumimock.Resource) *T {
	t.Helper()
	var v T
	require.NoError(t, r.Decode(&v))
	return &v
}

// stringMap reads a plain input that must be a map of strings (tags, labels, annotations).
func stringMap(t *testing.T, v any) map[string]string {
	t.Helper()
	var m map[string]string
	require.NoError(t, manifests.Decode(v, &m))
	return m
}

func ptr[T any](v T) *T { return &v }

func dependsOn(r pulumimock.Resource, on pulumimock.Resource) bool {
	return slices.Contains(r.DependsOn, on.URN)
}
