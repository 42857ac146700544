package manifests

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func deployment() map[string]any {
	return map[string]any{
		"metadata": map[string]any{"name": "api", "namespace": "linkage"},
		"spec": map[string]any{
			"replicas": 2,
			"selector": map[string]any{"matchLabels": map[string]any{"app": "api"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "api"}},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "api", "image": "linkage:1",
					"resources": map[string]any{"limits": map[string]any{"cpu": "2", "memory": "1Gi"}},
					"ports":     []any{map[string]any{"name": "http", "containerPort": 8851}},
				}}},
			},
		},
	}
}

func TestGVK(t *testing.T) {
	for token, want := range map[string]schema.GroupVersionKind{
		"kubernetes:apps/v1:Deployment":                     {Group: "apps", Version: "v1", Kind: "Deployment"},
		"kubernetes:core/v1:Secret":                         {Version: "v1", Kind: "Secret"},
		"kubernetes:networking.k8s.io/v1:Ingress":           {Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
		"kubernetes:storage.k8s.io/v1:StorageClassPatch":    {Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"},
		"kubernetes:autoscaling/v2:HorizontalPodAutoscaler": {Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"},
	} {
		got, _, ok := GVK(token)
		require.True(t, ok, token)
		require.Equal(t, want, got, token)
	}
	for _, token := range []string{
		"kubernetes:helm.sh/v3:Release", "pulumi:providers:kubernetes", "kubernetes:yaml/v2:ConfigGroup",
		"kubernetes:core/v1:ConfigMapList", "aws:ecr/repository:Repository", "linkage:components:Linkage",
	} {
		_, _, ok := GVK(token)
		require.False(t, ok, token)
	}
	_, patch, _ := GVK("kubernetes:storage.k8s.io/v1:StorageClassPatch")
	require.True(t, patch)
}

func check(t *testing.T, m map[string]any) error {
	t.Helper()
	o, ok := New("urn:test", "kubernetes:apps/v1:Deployment", m)
	require.True(t, ok)
	return Check(o)
}

func TestCheckAcceptsAValidDeployment(t *testing.T) {
	require.NoError(t, check(t, deployment()))
}

func TestCheckRejectsUnknownFields(t *testing.T) {
	m := deployment()
	m["spec"].(map[string]any)["replica"] = 2
	require.ErrorContains(t, check(t, m), `unknown field "spec.replica"`)
}

func TestCheckRejectsNestedUnknownFields(t *testing.T) {
	m := deployment()
	c := m["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	c["readinessprobe"] = map[string]any{}
	require.ErrorContains(t, check(t, m), "readinessprobe")
}

func TestCheckRejectsWrongTypes(t *testing.T) {
	m := deployment()
	m["spec"].(map[string]any)["replicas"] = "two"
	require.Error(t, check(t, m))

	m = deployment()
	c := m["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	c["resources"].(map[string]any)["limits"].(map[string]any)["memory"] = "lots"
	require.ErrorContains(t, check(t, m), "quantities must match")
}

func TestCheckRejectsFieldsInTheWrongCase(t *testing.T) {
	m := deployment()
	spec := m["spec"].(map[string]any)
	spec["Replicas"] = spec["replicas"]
	delete(spec, "replicas")
	require.Error(t, check(t, m))
}

func TestCheckNeedsANameExceptForPatches(t *testing.T) {
	m := deployment()
	delete(m["metadata"].(map[string]any), "name")
	require.ErrorContains(t, check(t, m), "no metadata.name")

	patch, ok := New("urn:patch", "kubernetes:apps/v1:DeploymentPatch", m)
	require.True(t, ok)
	require.NoError(t, Check(patch))
}

func TestCheckRejectsKindsItDoesNotKnow(t *testing.T) {
	o, ok := New("urn:crd", "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", map[string]any{"metadata": map[string]any{"name": "x"}})
	require.True(t, ok)
	require.ErrorContains(t, Check(o), "no Kubernetes type")
}

func TestCheckAllReportsEveryProblem(t *testing.T) {
	bad1, bad2 := deployment(), deployment()
	bad1["spec"].(map[string]any)["foo"] = 1
	bad2["spec"].(map[string]any)["bar"] = 1
	o1, _ := New("urn:one", "kubernetes:apps/v1:Deployment", bad1)
	o2, _ := New("urn:two", "kubernetes:apps/v1:Deployment", bad2)
	err := CheckAll([]Object{o1, o2})
	require.ErrorContains(t, err, "urn:one")
	require.ErrorContains(t, err, "urn:two")
}

func TestWriteYAMLIsSortedAndStable(t *testing.T) {
	ns, _ := New("urn:ns", "kubernetes:core/v1:Namespace", map[string]any{"metadata": map[string]any{"name": "linkage"}})
	dep, _ := New("urn:dep", "kubernetes:apps/v1:Deployment", deployment())
	var a, b bytes.Buffer
	require.NoError(t, WriteYAML(&a, []Object{dep, ns}))
	require.NoError(t, WriteYAML(&b, []Object{ns, dep}))
	require.Equal(t, a.String(), b.String())
	require.Contains(t, a.String(), "# urn:ns\napiVersion: v1\nkind: Namespace\n")
	require.Contains(t, a.String(), "---\n# urn:dep\napiVersion: apps/v1\nkind: Deployment\n")
}
