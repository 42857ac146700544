// Package componenttest holds what the components' tests share (each component tests beside its
// code, as package <name>_test): programs run under Pulumi mocks in us-east-1, lookups that fail the
// test instead of panicking, typed decoding, and IAM documents checked against spelled-out JSON.
package componenttest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/components/irsa"
	"github.com/linkage-platform/linkage/internal/manifests"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// The test cluster's OIDC issuer and its IAM identity provider.
const (
	Issuer      = "https://oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
	ProviderArn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
)

// Tags are the stack tags the tests hand to components that tag by hand (launch templates).
var Tags = map[string]string{"project": "linkage", "stack": "test"}

// Run runs a program declaring components under mocks in us-east-1.
func Run(t *testing.T, body pulumi.RunFunc) *pulumimock.Mocks {
	t.Helper()
	return pulumimock.Run(t, "linkage", "test", map[string]string{"aws:region": "us-east-1"}, body)
}

// RunErr runs a program expected to fail and returns its error.
func RunErr(body pulumi.RunFunc) (*pulumimock.Mocks, error) {
	return pulumimock.RunProgram("linkage", "test", pulumimock.Config{Values: map[string]string{"aws:region": "us-east-1"}}, body)
}

// OIDC is the test cluster's identity provider as components take it.
func OIDC() irsa.OIDC {
	return irsa.OIDC{
		ProviderArn: pulumi.String(ProviderArn).ToStringOutput(),
		IssuerURL:   pulumi.String(Issuer).ToStringOutput(),
	}
}

// Find returns the one resource of the type and name or fails.
func Find(t *testing.T, m *pulumimock.Mocks, typ, name string) pulumimock.Resource {
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

// Policy parses a policy document input.
func Policy(t *testing.T, r pulumimock.Resource, input string) iampolicy.Document {
	t.Helper()
	raw, ok := r.Input(input).(string)
	require.Truef(t, ok, "%s of %s is not a string: %v", input, r.Name, r.Input(input))
	doc, err := iampolicy.Parse(raw)
	require.NoError(t, err)
	return doc
}

// RequireIRSATrust checks a role is assumable only by the service account, through the OIDC provider:
// the document AWS documents for IRSA, spelled out here rather than rebuilt by the code under test.
func RequireIRSATrust(t *testing.T, role pulumimock.Resource, providerArn, issuer, namespace, sa string) {
	t.Helper()
	host := strings.TrimPrefix(issuer, "https://")
	require.JSONEq(t, `{"Version": "2012-10-17", "Statement": [{
		"Effect": "Allow",
		"Principal": {"Federated": ["`+providerArn+`"]},
		"Action": ["sts:AssumeRoleWithWebIdentity"],
		"Condition": {"StringEquals": {
			"`+host+`:sub": ["system:serviceaccount:`+namespace+`:`+sa+`"],
			"`+host+`:aud": ["sts.amazonaws.com"]}}}]}`,
		Policy(t, role, "assumeRolePolicy").JSON())
}

// Decode reads a declared Kubernetes object into its k8s.io/api type, strictly.
func Decode[T any](t *testing.T, r pulumimock.Resource) *T {
	t.Helper()
	var v T
	require.NoError(t, r.Decode(&v))
	return &v
}

// StringMap reads a plain input that must be a map of strings (tags, labels, annotations).
func StringMap(t *testing.T, v any) map[string]string {
	t.Helper()
	var m map[string]string
	require.NoError(t, manifests.Decode(v, &m))
	return m
}

// Ptr is a pointer to v (k8s.io/api optional fields).
func Ptr[T any](v T) *T { return &v }

// DependsOn reports whether r was declared depending on on.
func DependsOn(r pulumimock.Resource, on pulumimock.Resource) bool {
	return slices.Contains(r.DependsOn, on.URN)
}

// Await reads an output captured by an Apply, which may resolve after the program returns.
func Await(t *testing.T, c chan string) string {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("output never resolved")
		return ""
	}
}
