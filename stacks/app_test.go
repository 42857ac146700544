package stacks_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/linkage-platform/linkage/internal/manifests"
	"github.com/linkage-platform/linkage/internal/plan"
	"github.com/linkage-platform/linkage/internal/pulumimock"
	"github.com/linkage-platform/linkage/stacks"
)

// Every Kubernetes object of every stack file decodes strictly into its k8s.io/api type.
func TestEveryStackManifestDecodesStrictly(t *testing.T) {
	names, err := plan.Stacks("..")
	require.NoError(t, err)
	require.Subset(t, names, []string{"dev", "prod", "local"})
	for _, stack := range names {
		t.Run(stack, func(t *testing.T) {
			p, err := plan.Build("..", stack, stacks.Run)
			require.NoError(t, err)
			objects := p.Manifests(false)
			require.NoError(t, manifests.CheckAll(objects))
			var names []string
			for _, o := range objects {
				var obj metav1.PartialObjectMetadata
				require.NoError(t, json.Unmarshal(mustJSON(t, o.Manifest), &obj))
				names = append(names, obj.Kind+"/"+strings.TrimRight(obj.Name, "0123456789abcdef"))
			}
			require.Subset(t, names, []string{
				"Deployment/linkage-api", "Deployment/linkage-worker", "Job/linkage-migrate-", "Job/linkage-smoke-",
			})
		})
	}
}

func appPlan(t *testing.T, stack string) *plan.Plan {
	t.Helper()
	p, err := plan.Build("..", stack, stacks.Run)
	require.NoError(t, err)
	return p
}

func resourceOf(t *testing.T, p *plan.Plan, typ, name string) pulumimock.Resource {
	t.Helper()
	r, ok := p.Mocks.Find(typ, name)
	require.True(t, ok, "%s has no %s %s", p.Stack, typ, name)
	return r
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// decode reads a declared Kubernetes object into its k8s.io/api type, strictly.
func decode[T any](t *testing.T, r pulumimock.Resource) *T {
	t.Helper()
	var v T
	require.NoError(t, r.Decode(&v))
	return &v
}

func deployment(t *testing.T, p *plan.Plan, name string) *appsv1.Deployment {
	t.Helper()
	return decode[appsv1.Deployment](t, resourceOf(t, p, "kubernetes:apps/v1:Deployment", name))
}

// firstContainer is the pod's first container.
func firstContainer(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	require.NotEmpty(t, spec.Containers)
	return spec.Containers[0]
}

// secretRefs maps each environment variable read from a Secret to "<secret>/<key>".
func secretRefs(c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			out[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	return out
}

func TestProdRunsTheWholeAppOnTheClusterWiredToManagedData(t *testing.T) {
	p := appPlan(t, "prod")

	// Prod builds nothing: it runs the digest dev built and tested (linkage:promoteOnly).
	require.Empty(t, p.Mocks.ByType("aws:ecr/repository:Repository"))
	require.Empty(t, p.Mocks.ByType("docker:index/image:Image"))
	apiDeployment := deployment(t, p, "linkage-api")
	api := apiDeployment.Spec.Template.Spec
	require.Equal(t, map[string]string{"role": "system"}, api.NodeSelector)
	require.Regexp(t, `^123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com/linkage-dev@sha256:[0-9a-f]{64}$`, firstContainer(t, api).Image, "dev's digest")
	require.NotNil(t, apiDeployment.Spec.Replicas)
	require.Equal(t, int32(3), *apiDeployment.Spec.Replicas)

	postgres := resourceOf(t, p, "linkage:components:Postgres", "linkage-postgres")
	require.NotEmpty(t, p.Mocks.Children(postgres.URN))
	refs := secretRefs(firstContainer(t, api))
	require.Equal(t, "linkage-postgres/DATABASE_URL", refs["LINKAGE_DATABASE_URL"])
	require.Equal(t, "linkage-redis/REDIS_URL", refs["LINKAGE_REDIS_URL"])
	require.Equal(t, "linkage-objectstore/BLOB_URL", refs["LINKAGE_BLOB_URL"])
	require.NotEmpty(t, p.Mocks.ByType("aws:rds/instance:Instance"), "managed Postgres")

	sa := decode[corev1.ServiceAccount](t, resourceOf(t, p, "kubernetes:core/v1:ServiceAccount", "linkage-sa"))
	role := resourceOf(t, p, "aws:iam/role:Role", "linkage-objectstore-app")
	require.Equal(t, role.Outputs["arn"].StringValue(), sa.Annotations["eks.amazonaws.com/role-arn"])

	for _, pool := range []string{"linkage-worker", "linkage-worker-highmem"} {
		spec := deployment(t, p, pool).Spec.Template.Spec
		require.Len(t, spec.Tolerations, 1, pool)
		require.Equal(t, "linkage/worker", spec.Tolerations[0].Key, pool)
		require.NotNil(t, spec.Affinity, pool)
	}
	hpa := decode[autoscalingv2.HorizontalPodAutoscaler](t, resourceOf(t, p, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "linkage-worker"))
	require.Equal(t, int32(20), hpa.Spec.MaxReplicas)

	ing := resourceOf(t, p, "kubernetes:networking.k8s.io/v1:Ingress", "linkage-api")
	in := decode[networkingv1.Ingress](t, ing)
	require.NotNil(t, in.Spec.IngressClassName)
	require.Equal(t, "alb", *in.Spec.IngressClassName)
	require.Contains(t, in.Annotations["alb.ingress.kubernetes.io/load-balancer-attributes"], "idle_timeout.timeout_seconds=900")
	controller := resourceOf(t, p, "kubernetes:helm.sh/v3:Release", "linkage-lb-controller")
	require.Contains(t, ing.DependsOn, controller.URN, "destroyed before the controller, so the ALB goes too")

	smoke := decode[batchv1.Job](t, resourceOf(t, p, "kubernetes:batch/v1:Job", "linkage-smoke"))
	args := firstContainer(t, smoke.Spec.Template.Spec).Args
	require.Len(t, args, 5)
	require.Equal(t, "--api-url", args[1])
	require.Equal(t, "https://linkage.example.org", args[2], "through the public ALB, over HTTPS")
	require.Equal(t, "linkage-smoke", smoke.Spec.Template.Spec.ServiceAccountName, "not the app's S3 role")
}

func TestLocalStackUsesANodePortAndInClusterData(t *testing.T) {
	p := appPlan(t, "local")
	svc := decode[corev1.Service](t, resourceOf(t, p, "kubernetes:core/v1:Service", "linkage-api"))
	require.Equal(t, corev1.ServiceTypeNodePort, svc.Spec.Type)
	require.Len(t, svc.Spec.Ports, 1)
	require.Equal(t, int32(30851), svc.Spec.Ports[0].NodePort)
	require.Empty(t, p.Mocks.ByType("kubernetes:networking.k8s.io/v1:Ingress"))
	require.Empty(t, p.Mocks.ByType("aws:ecr/repository:Repository"))
	img := resourceOf(t, p, "docker:index/image:Image", "linkage")
	require.Equal(t, true, img.Input("skipPush"), "built into the local Docker engine")
	require.NotEmpty(t, p.Mocks.ByType("kubernetes:apps/v1:StatefulSet"), "in-cluster Postgres, Redis and MinIO")
	require.Empty(t, deployment(t, p, "linkage-worker").Spec.Template.Spec.Tolerations)
}

func TestPinnedImageIsDeployedExactly(t *testing.T) {
	ref := "123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage-prod:1.4.2"
	m := pulumimock.Run(t, "linkage", "qa", map[string]string{"aws:region": "us-east-1", "linkage:image": ref}, stacks.Run)
	require.Empty(t, m.ByType("aws:ecr/repository:Repository"))
	require.Empty(t, m.ByType("docker:index/image:Image"))
	deployments := m.ByType("kubernetes:apps/v1:Deployment")
	require.NotEmpty(t, deployments)
	for _, d := range deployments {
		if strings.HasPrefix(d.Name, "linkage-api") || strings.HasPrefix(d.Name, "linkage-worker") {
			require.Equal(t, ref, firstContainer(t, decode[appsv1.Deployment](t, d).Spec.Template.Spec).Image, d.Name)
		}
	}
}

func TestAppDefaults(t *testing.T) {
	cfg, err := load(t, map[string]string{"aws:region": "us-east-1"})
	require.NoError(t, err)
	a := cfg.App
	require.Equal(t, "linkage", a.Namespace)
	require.Equal(t, "linkage-test", a.ImageRepository)
	require.Equal(t, 2, a.API.Replicas)
	require.Equal(t, "14", a.Workers.Resources.CPULimit, "one worker fills an r3.4xlarge")
	require.False(t, a.HighMemWorkers.Enabled, "follows linkage:highMemNodes")
	require.True(t, a.SmokeTest)

	cfg, err = load(t, map[string]string{"linkage:platform": "kubeconfig", "linkage:plainHttp": "true"})
	require.NoError(t, err)
	require.Equal(t, 1, cfg.App.API.Replicas)
	require.Equal(t, 30851, cfg.App.API.NodePort)
}

func TestEachInvalidAppValueIsReportedWithItsKeyAndReason(t *testing.T) {
	base := map[string]string{"aws:region": "us-east-1"}
	for _, c := range []struct {
		values     map[string]string
		key, words string
	}{
		{map[string]string{"linkage:image": "linkage"}, "linkage:image", "neither a tag nor a digest"},
		{map[string]string{"linkage:image": "ghcr.io/x/linkage:latest"}, "linkage:image", "latest moves"},
		{map[string]string{"linkage:image": "Not A Ref"}, "linkage:image", "not an image reference"},
		{map[string]string{"linkage:namespace": "Linkage_NS"}, "linkage:namespace", "not a Kubernetes namespace"},
		{map[string]string{"linkage:imageKeep": "1"}, "linkage:imageKeep", "rollback"},
		{map[string]string{"linkage:api": `{"replicas": 1}`}, "linkage:api.replicas", "at least 2"},
		{map[string]string{"linkage:api": `{"maxReplicas": 1}`}, "linkage:api.maxReplicas", "less than replicas"},
		{map[string]string{"linkage:api": `{"preStopSeconds": 90}`}, "linkage:api.terminationGracePeriodSeconds", "must exceed preStopSeconds"},
		{map[string]string{"linkage:api": `{"resources": {"cpuRequest": "4"}}`}, "linkage:api.resources.cpuRequest", "exceeds the limit"},
		{map[string]string{"linkage:api": `{"resources": {"memoryLimit": "lots"}}`}, "linkage:api.resources.memoryLimit", "not a positive Kubernetes quantity"},
		{map[string]string{"linkage:workers": `{"resources": {"cpuRequest": "1500m", "cpuLimit": "1500m"}}`}, "linkage:workers.resources.cpuLimit", "whole cores"},
		{map[string]string{"linkage:workers": `{"minReplicas": 0}`}, "linkage:workers.minReplicas", "at least 1"},
		{map[string]string{"linkage:workers": `{"terminationGracePeriodSeconds": 300}`}, "linkage:workers.terminationGracePeriodSeconds", "spot nodes are reclaimed"},
		{map[string]string{"linkage:workers": `{"targetCpuPercent": 0}`}, "linkage:workers.targetCpuPercent", "percentage"},
		{map[string]string{"linkage:highMemWorkers": `{"enabled": true}`}, "linkage:highMemWorkers.enabled", "needs highMemNodes.enabled"},
		{map[string]string{"linkage:ingress": `{"idleTimeoutSeconds": 60}`}, "linkage:ingress.idleTimeoutSeconds", "large uploads"},
		{map[string]string{"linkage:ingress": `{"scheme": "public"}`}, "linkage:ingress.scheme", "internet-facing or internal"},
		{map[string]string{"linkage:ingress": `{"inboundCidrs": ["10.0.0.0/33"]}`}, "linkage:ingress.inboundCidrs[0]", "not a CIDR"},
		{map[string]string{"linkage:domain": "linkage.example.org"}, "linkage:domain", "needs linkage:hostedZoneId"},
		{map[string]string{"linkage:domain": "Linkage..org", "linkage:hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "linkage:domain", "not a lower-case DNS name"},
		{map[string]string{"linkage:domain": "a.example.org", "linkage:hostedZoneId": "zone-1"}, "linkage:hostedZoneId", "not a Route 53 hosted zone id"},
		{map[string]string{"linkage:domain": "a.example.org", "linkage:certificateArn": "arn:aws:acm:cert"}, "linkage:certificateArn", "not an ACM certificate ARN"},
		{map[string]string{"linkage:hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "linkage:hostedZoneId", "only used with linkage:domain"},
		{map[string]string{"linkage:smokeTestTimeoutSeconds": "10"}, "linkage:smokeTestTimeoutSeconds", "at least 60"},
		{map[string]string{"linkage:promoteOnly": "true"}, "linkage:image", "never builds"},
		{map[string]string{"linkage:promoteOnly": "true", "linkage:image": "ghcr.io/x/linkage:1.4.2"}, "linkage:image", "never builds"},
		{map[string]string{"linkage:imageTag": "latest"}, "linkage:imageTag", "not a fixed image tag"},
		{map[string]string{"linkage:ingress": `{"scheme": "internet-facing"}`}, "linkage:domain", "must not cross the internet in clear text"},
		{map[string]string{"linkage:ingress": `{"inboundCidrs": ["198.51.100.0/24"]}`}, "linkage:ingress.inboundCidrs[0]", "documentation range"},
		{map[string]string{"linkage:ingress": `{"inboundCidrs": ["0.0.0.0/0"]}`}, "linkage:ingress.inboundCidrs[0]", "the whole internet"},
		{map[string]string{"linkage:plainHttp": "true"}, "linkage:plainHttp", "only the kubeconfig platform may serve plain HTTP"},
		{map[string]string{"linkage:smokeTestTimeoutSeconds": "120"}, "linkage:smokeTestTimeoutSeconds", "starts at zero nodes"},
		{map[string]string{"linkage:settings": `{"LOG_LEVEL": "debug"}`}, "linkage:settings.LOG_LEVEL", "not a LINKAGE_* setting"},
		{map[string]string{"linkage:settings": `{"LINKAGE_DATABASE_URL": "postgres://x"}`}, "linkage:settings.LINKAGE_DATABASE_URL", "set by the stack"},
		{map[string]string{"linkage:api": `{"replica": 3}`}, "linkage:api", "unknown field"},
	} {
		values := map[string]string{}
		for k, v := range base {
			values[k] = v
		}
		for k, v := range c.values {
			values[k] = v
		}
		_, err := load(t, values)
		require.Error(t, err, c.key)
		found := false
		for _, pr := range problems(t, err) {
			if pr.Key == c.key && strings.Contains(pr.Reason, c.words) {
				found = true
			}
		}
		require.True(t, found, "want %s: …%s…, got %v", c.key, c.words, err)
	}
}

func TestLocalServesPlainHTTPOnlyWhenItSaysSo(t *testing.T) {
	_, err := load(t, map[string]string{"linkage:platform": "kubeconfig"})
	require.ErrorContains(t, err, "linkage:plainHttp: the kubeconfig platform serves the API over plain HTTP")
}

func TestLocalRefusesTheALBKeys(t *testing.T) {
	_, err := load(t, map[string]string{"linkage:platform": "kubeconfig", "linkage:domain": "linkage.example.org"})
	require.ErrorContains(t, err, "linkage:domain: needs the eks platform")
}
