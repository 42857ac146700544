package stacks_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

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
				name, _ := o.Manifest["metadata"].(map[string]any)["name"].(string)
				names = append(names, o.Manifest["kind"].(string)+"/"+strings.TrimRight(name, "0123456789abcdef"))
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

func podSpec(t *testing.T, p *plan.Plan, deployment string) map[string]any {
	t.Helper()
	return resourceOf(t, p, "kubernetes:apps/v1:Deployment", deployment).Input("spec.template.spec").(map[string]any)
}

// secretRefs maps each environment variable read from a Secret to "<secret>/<key>".
func secretRefs(spec map[string]any) map[string]string {
	out := map[string]string{}
	c := spec["containers"].([]any)[0].(map[string]any)
	for _, e := range c["env"].([]any) {
		e := e.(map[string]any)
		if from, ok := e["valueFrom"].(map[string]any); ok {
			if ref, ok := from["secretKeyRef"].(map[string]any); ok {
				out[e["name"].(string)] = ref["name"].(string) + "/" + ref["key"].(string)
			}
		}
	}
	return out
}

func TestProdRunsTheWholeAppOnTheClusterWiredToManagedData(t *testing.T) {
	p := appPlan(t, "prod")

	// Prod builds nothing: it runs the digest dev built and tested (linkage:promoteOnly).
	require.Empty(t, p.Mocks.ByType("aws:ecr/repository:Repository"))
	require.Empty(t, p.Mocks.ByType("docker:index/image:Image"))
	api := podSpec(t, p, "linkage-api")
	require.Equal(t, map[string]any{"role": "system"}, api["nodeSelector"])
	image := api["containers"].([]any)[0].(map[string]any)["image"].(string)
	require.Regexp(t, `^123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com/linkage-dev@sha256:[0-9a-f]{64}$`, image, "dev's digest")
	require.EqualValues(t, 3, resourceOf(t, p, "kubernetes:apps/v1:Deployment", "linkage-api").Input("spec.replicas"))

	postgres := resourceOf(t, p, "linkage:components:Postgres", "linkage-postgres")
	require.NotEmpty(t, p.Mocks.Children(postgres.URN))
	refs := secretRefs(api)
	require.Equal(t, "linkage-postgres/DATABASE_URL", refs["LINKAGE_DATABASE_URL"])
	require.Equal(t, "linkage-redis/REDIS_URL", refs["LINKAGE_REDIS_URL"])
	require.Equal(t, "linkage-objectstore/BLOB_URL", refs["LINKAGE_BLOB_URL"])
	require.NotEmpty(t, p.Mocks.ByType("aws:rds/instance:Instance"), "managed Postgres")

	sa := resourceOf(t, p, "kubernetes:core/v1:ServiceAccount", "linkage-sa")
	role := resourceOf(t, p, "aws:iam/role:Role", "linkage-objectstore-app")
	require.Equal(t, role.Outputs["arn"].StringValue(), sa.Input("metadata.annotations").(map[string]any)["eks.amazonaws.com/role-arn"])

	for _, pool := range []string{"linkage-worker", "linkage-worker-highmem"} {
		spec := podSpec(t, p, pool)
		require.Equal(t, "linkage/worker", spec["tolerations"].([]any)[0].(map[string]any)["key"], pool)
		require.NotNil(t, spec["affinity"], pool)
	}
	require.EqualValues(t, 20, resourceOf(t, p, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "linkage-worker").Input("spec.maxReplicas"))

	ing := resourceOf(t, p, "kubernetes:networking.k8s.io/v1:Ingress", "linkage-api")
	require.Equal(t, "alb", ing.Input("spec.ingressClassName"))
	require.Contains(t, ing.Input("metadata.annotations").(map[string]any)["alb.ingress.kubernetes.io/load-balancer-attributes"], "idle_timeout.timeout_seconds=900")
	controller := resourceOf(t, p, "kubernetes:helm.sh/v3:Release", "linkage-lb-controller")
	require.Contains(t, ing.DependsOn, controller.URN, "destroyed before the controller, so the ALB goes too")

	smoke := resourceOf(t, p, "kubernetes:batch/v1:Job", "linkage-smoke")
	args := smoke.Input("spec.template.spec.containers").([]any)[0].(map[string]any)["args"].([]any)
	require.Equal(t, "https://linkage.example.org", args[2], "through the public ALB, over HTTPS")
	require.Equal(t, "linkage-smoke", smoke.Input("spec.template.spec.serviceAccountName"), "not the app's S3 role")
}

func TestLocalStackUsesANodePortAndInClusterData(t *testing.T) {
	p := appPlan(t, "local")
	svc := resourceOf(t, p, "kubernetes:core/v1:Service", "linkage-api")
	require.Equal(t, "NodePort", svc.Input("spec.type"))
	require.EqualValues(t, 30851, svc.Input("spec.ports").([]any)[0].(map[string]any)["nodePort"])
	require.Empty(t, p.Mocks.ByType("kubernetes:networking.k8s.io/v1:Ingress"))
	require.Empty(t, p.Mocks.ByType("aws:ecr/repository:Repository"))
	img := resourceOf(t, p, "docker:index/image:Image", "linkage")
	require.Equal(t, true, img.Input("skipPush"), "built into the local Docker engine")
	require.NotEmpty(t, p.Mocks.ByType("kubernetes:apps/v1:StatefulSet"), "in-cluster Postgres, Redis and MinIO")
	require.Empty(t, podSpec(t, p, "linkage-worker")["tolerations"])
}

func TestPinnedImageIsDeployedExactly(t *testing.T) {
	ref := "123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage-prod:1.4.2"
	m := pulumimock.Run(t, "linkage", "qa", map[string]string{"aws:region": "us-east-1", "linkage:image": ref}, stacks.Run)
	require.Empty(t, m.ByType("aws:ecr/repository:Repository"))
	require.Empty(t, m.ByType("docker:index/image:Image"))
	for _, d := range m.ByType("kubernetes:apps/v1:Deployment") {
		c := d.Input("spec.template.spec.containers").([]any)[0].(map[string]any)
		if strings.HasPrefix(d.Name, "linkage-api") || strings.HasPrefix(d.Name, "linkage-worker") {
			require.Equal(t, ref, c["image"], d.Name)
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
		{map[string]string{"linkage:api": `{"resources": {"memoryLimit": "lots"}}`}, "linkage:api.resources.memoryLimit", "not a Kubernetes quantity"},
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
