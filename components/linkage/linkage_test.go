package linkage

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/internal/manifests"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

const (
	testImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage@sha256:" +
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	roleArn = "arn:aws:iam::123456789012:role/linkage-app"
	albHost = "k8s-linkage-0123456789-1234567890.us-east-1.elb.amazonaws.com"
)

func res(cpu, mem string) Resources {
	return Resources{CPURequest: cpu, CPULimit: cpu, MemoryRequest: mem, MemoryLimit: mem}
}

// eksArgs are what the prod stack passes: ingress with a domain in a hosted zone, IRSA, two pools.
func eksArgs() *Args {
	return &Args{
		Namespace: pulumi.String("linkage"),
		Image:     pulumi.String(testImage),
		Data: DataArgs{
			PostgresSecret:    pulumi.String("linkage-postgres"),
			RedisSecret:       pulumi.String("linkage-redis"),
			ObjectStoreSecret: pulumi.String("linkage-objectstore"),
			S3RoleArn:         pulumi.String(roleArn),
		},
		Settings: map[string]string{"LINKAGE_LOG_LEVEL": "info"},
		API: APIArgs{
			Replicas: 2, MaxReplicas: 6, TargetCPUPercent: 70, Resources: res("1", "1Gi"),
			NodeSelector: map[string]string{"role": "system"}, ServiceType: "ClusterIP",
			PreStopSeconds: 15, TerminationGracePeriodSeconds: 60,
		},
		Workers: []WorkerPoolArgs{
			{
				Name: "worker", MinReplicas: 1, MaxReplicas: 10, TargetCPUPercent: 80, Resources: res("14", "96Gi"),
				NodeSelector:                  map[string]string{"role": "linkage-worker"},
				Tolerations:                   []Toleration{{Key: "linkage/worker", Value: "true", Effect: "NoSchedule"}},
				TerminationGracePeriodSeconds: 110,
			},
			{
				Name: "worker-highmem", MinReplicas: 1, MaxReplicas: 2, TargetCPUPercent: 80, Resources: res("30", "220Gi"),
				NodeSelector:                  map[string]string{"role": "linkage-worker-highmem"},
				Tolerations:                   []Toleration{{Key: "linkage/worker", Value: "highmem", Effect: "NoSchedule"}},
				TerminationGracePeriodSeconds: 110,
			},
		},
		Ingress: &IngressArgs{
			ClassName: "alb", GroupName: "linkage", Scheme: "internet-facing", IdleTimeoutSeconds: 600,
			Domain: "linkage.example.org", HostedZoneID: "Z0123456789ABCDEFGHIJ",
		},
		SmokeTest:          &SmokeTestArgs{Resources: res("100m", "64Mi"), TimeoutSeconds: 600},
		MigrationResources: res("100m", "128Mi"),
	}
}

// localArgs are what the kubeconfig stack passes: a NodePort Service, MinIO (no IRSA), one pool.
func localArgs() *Args {
	a := eksArgs()
	a.Data.S3RoleArn = pulumi.String("")
	a.API.NodeSelector, a.API.ServiceType, a.API.NodePort, a.API.Replicas = nil, "NodePort", 30851, 1
	a.Workers = []WorkerPoolArgs{{
		Name: "worker", MinReplicas: 1, MaxReplicas: 2, TargetCPUPercent: 80, Resources: res("2", "1Gi"),
		TerminationGracePeriodSeconds: 60,
	}}
	a.Ingress = nil
	return a
}

// deploy runs NewLinkage under mocks; the Ingress gets the host name the ALB controller would set.
func deploy(t *testing.T, args *Args) (*pulumimock.Mocks, string) {
	t.Helper()
	m := pulumimock.New("linkage", "test")
	m.OnResource = func(a pulumi.MockResourceArgs) (resource.PropertyMap, error) {
		switch a.TypeToken {
		case "kubernetes:networking.k8s.io/v1:Ingress":
			return resource.NewPropertyMapFromMap(map[string]any{"status": map[string]any{
				"loadBalancer": map[string]any{"ingress": []any{map[string]any{"hostname": albHost}}},
			}}), nil
		case "aws:acm/certificate:Certificate":
			return resource.NewPropertyMapFromMap(map[string]any{"domainValidationOptions": []any{map[string]any{
				"domainName":          "linkage.example.org",
				"resourceRecordName":  "_0123abcd.linkage.example.org.",
				"resourceRecordType":  "CNAME",
				"resourceRecordValue": "_4567ef01.acm-validations.aws.",
			}}}), nil
		}
		return nil, nil
	}
	m.OnCall = func(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
		if a.Token == "aws:lb/getHostedZoneId:getHostedZoneId" {
			return resource.NewPropertyMapFromMap(map[string]any{"id": "Z35SXDOTRQ7X7K"}), nil
		}
		return nil, nil
	}
	url := make(chan string, 1)
	err := pulumimock.RunWith(m, pulumimock.Config{}, func(ctx *pulumi.Context) error {
		app, err := NewLinkage(ctx, "linkage", args)
		if err != nil {
			return err
		}
		app.APIURL.ApplyT(func(u string) string { url <- u; return u })
		return nil
	})
	require.NoError(t, err)
	return m, await(t, url)
}

// await reads an output captured by an Apply, which may finish after the program returns.
func await(t *testing.T, c chan string) string {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("output never resolved")
		return ""
	}
}

func find(t *testing.T, m *pulumimock.Mocks, typ, name string) pulumimock.Resource {
	t.Helper()
	r, ok := m.Find(typ, name)
	require.True(t, ok, "no %s %s", typ, name)
	return r
}

// container returns the first container of a Deployment's or Job's pod template.
func container(t *testing.T, r pulumimock.Resource) map[string]any {
	t.Helper()
	cs, ok := r.Input("spec.template.spec.containers").([]any)
	require.True(t, ok && len(cs) == 1, "one container in %s", r.Name)
	return cs[0].(map[string]any)
}

func envNames(c map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, e := range c["env"].([]any) {
		e := e.(map[string]any)
		out[e["name"].(string)] = e
	}
	return out
}

func TestEveryObjectDecodesStrictly(t *testing.T) {
	for name, args := range map[string]*Args{"eks": eksArgs(), "local": localArgs()} {
		m, _ := deploy(t, args)
		var objects []manifests.Object
		for _, r := range m.Resources() {
			if o, ok := manifests.New(r.URN, r.Type, pulumimock.Plain(r.Inputs, false)); ok {
				objects = append(objects, o)
			}
		}
		require.NotEmpty(t, objects, name)
		require.NoError(t, manifests.CheckAll(objects), name)
	}
}

func TestServiceAccountCarriesTheIRSARole(t *testing.T) {
	m, _ := deploy(t, eksArgs())
	sa := find(t, m, "kubernetes:core/v1:ServiceAccount", "linkage-sa")
	require.Equal(t, ServiceAccountName, sa.Input("metadata.name"))
	require.Equal(t, roleArn, sa.Input("metadata.annotations").(map[string]any)["eks.amazonaws.com/role-arn"])
	require.Equal(t, false, sa.Input("automountServiceAccountToken"))

	// The Jobs run without the app's S3 role.
	for job, account := range map[string]string{"linkage-migrate": "linkage-migrate", "linkage-smoke": "linkage-smoke"} {
		require.Equal(t, account, find(t, m, "kubernetes:batch/v1:Job", job).Input("spec.template.spec.serviceAccountName"), job)
		own := find(t, m, "kubernetes:core/v1:ServiceAccount", account+"-sa")
		require.Equal(t, account, own.Input("metadata.name"))
		require.Empty(t, own.Input("metadata.annotations"), "%s has no IAM role", account)
		require.Equal(t, false, own.Input("automountServiceAccountToken"))
	}

	m, _ = deploy(t, localArgs())
	sa = find(t, m, "kubernetes:core/v1:ServiceAccount", "linkage-sa")
	require.Empty(t, sa.Input("metadata.annotations"), "no IRSA without a role")
}

func TestMigrationRunsBeforeEveryDeployment(t *testing.T) {
	m, _ := deploy(t, eksArgs())
	job := find(t, m, "kubernetes:batch/v1:Job", "linkage-migrate")
	require.Equal(t, "linkage-migrate-"+shortHash(testImage), job.Input("metadata.name"))
	require.Equal(t, []any{"/linkage", "migrate"}, container(t, job)["command"])
	require.Equal(t, "Never", job.Input("spec.template.spec.restartPolicy"))
	require.True(t, job.DeleteBeforeReplace)
	deployments := m.ByType("kubernetes:apps/v1:Deployment")
	require.Len(t, deployments, 3)
	for _, d := range deployments {
		require.Contains(t, d.DependsOn, job.URN, d.Name)
		require.Equal(t, []string{"spec.replicas"}, d.IgnoreChanges, "the HPA owns the replica count")
	}
}

func TestAPIDeployment(t *testing.T) {
	m, _ := deploy(t, eksArgs())
	api := find(t, m, "kubernetes:apps/v1:Deployment", "linkage-api")
	require.EqualValues(t, 2, api.Input("spec.replicas"))
	require.Equal(t, map[string]any{"role": "system"}, api.Input("spec.template.spec.nodeSelector"))
	require.EqualValues(t, 60, api.Input("spec.template.spec.terminationGracePeriodSeconds"))
	spread := api.Input("spec.template.spec.topologySpreadConstraints").([]any)
	require.Len(t, spread, 2)
	require.Equal(t, "topology.kubernetes.io/zone", spread[0].(map[string]any)["topologyKey"])

	c := container(t, api)
	require.Equal(t, []any{"/linkage", "serve"}, c["command"])
	require.Equal(t, "/readyz", c["readinessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"])
	require.Equal(t, "/healthz", c["livenessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"])
	require.EqualValues(t, 15, c["lifecycle"].(map[string]any)["preStop"].(map[string]any)["sleep"].(map[string]any)["seconds"])
	sc := c["securityContext"].(map[string]any)
	require.Equal(t, true, sc["readOnlyRootFilesystem"])
	require.Equal(t, false, sc["allowPrivilegeEscalation"])
	require.Equal(t, true, sc["runAsNonRoot"])
	require.Equal(t, map[string]any{"cpu": "1", "memory": "1Gi"}, c["resources"].(map[string]any)["limits"])

	env := envNames(c)
	ref := env["LINKAGE_DATABASE_URL"]["valueFrom"].(map[string]any)["secretKeyRef"].(map[string]any)
	require.Equal(t, map[string]any{"name": "linkage-postgres", "key": "DATABASE_URL", "optional": false}, ref)
	require.Equal(t, "linkage-objectstore", env["LINKAGE_BLOB_URL"]["valueFrom"].(map[string]any)["secretKeyRef"].(map[string]any)["name"])
	require.EqualValues(t, 966367638, mustAtoi(t, env["GOMEMLIMIT"]["value"].(string)), "90 % of 1Gi, rounded down")
	require.Equal(t, ":8851", env["LINKAGE_ADDR"]["value"])
	require.Equal(t, "40s", env["LINKAGE_SHUTDOWN_TIMEOUT"]["value"], "grace 60 s less the 15 s preStop pause and a margin")
	require.Equal(t, "true", env["LINKAGE_RATE_LIMIT_FORWARDED_FOR"]["value"], "behind the ALB")

	hpa := find(t, m, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "linkage-api")
	require.EqualValues(t, 2, hpa.Input("spec.minReplicas"))
	require.EqualValues(t, 6, hpa.Input("spec.maxReplicas"))
	pdb := find(t, m, "kubernetes:policy/v1:PodDisruptionBudget", "linkage-api")
	require.EqualValues(t, 1, pdb.Input("spec.maxUnavailable"))
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	require.NoError(t, json.Unmarshal([]byte(s), &n))
	return n
}

func TestWorkersRunOnTheSpotGroupWithParallelismFromTheirCPULimit(t *testing.T) {
	m, _ := deploy(t, eksArgs())
	for name, role := range map[string]string{"worker": "linkage-worker", "worker-highmem": "linkage-worker-highmem"} {
		w := find(t, m, "kubernetes:apps/v1:Deployment", "linkage-"+name)
		spec := w.Input("spec.template.spec").(map[string]any)
		tol := spec["tolerations"].([]any)[0].(map[string]any)
		require.Equal(t, "linkage/worker", tol["key"])
		require.Equal(t, "NoSchedule", tol["effect"])
		term := spec["affinity"].(map[string]any)["nodeAffinity"].(map[string]any)["requiredDuringSchedulingIgnoredDuringExecution"].(map[string]any)["nodeSelectorTerms"].([]any)[0]
		expr := term.(map[string]any)["matchExpressions"].([]any)[0].(map[string]any)
		require.Equal(t, map[string]any{"key": "role", "operator": "In", "values": []any{role}}, expr)
		require.EqualValues(t, 110, spec["terminationGracePeriodSeconds"])

		c := container(t, w)
		require.Equal(t, []any{"/linkage", "worker"}, c["command"])
		env := envNames(c)
		gomaxprocs := env["GOMAXPROCS"]["valueFrom"].(map[string]any)["resourceFieldRef"].(map[string]any)
		require.Equal(t, "limits.cpu", gomaxprocs["resource"])
		require.Equal(t, "90s", env["LINKAGE_SHUTDOWN_GRACE"]["value"], "hands its chunk back before the kill")
		require.Equal(t, map[string]any{"path": "/healthz", "port": "metrics"}, c["livenessProbe"].(map[string]any)["httpGet"])
		require.EqualValues(t, 9090, c["ports"].([]any)[0].(map[string]any)["containerPort"])

		hpa := find(t, m, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "linkage-"+name)
		metric := hpa.Input("spec.metrics").([]any)[0].(map[string]any)["resource"].(map[string]any)
		require.Equal(t, "cpu", metric["name"])
		find(t, m, "kubernetes:policy/v1:PodDisruptionBudget", "linkage-"+name)
	}
}

func TestIngressServesHTTPSOnTheALB(t *testing.T) {
	m, url := deploy(t, eksArgs())
	require.Equal(t, "https://linkage.example.org", url)
	ing := find(t, m, "kubernetes:networking.k8s.io/v1:Ingress", "linkage-api")
	require.Equal(t, "alb", ing.Input("spec.ingressClassName"))
	require.Equal(t, "linkage.example.org", ing.Input("spec.rules").([]any)[0].(map[string]any)["host"])
	ann := ing.Input("metadata.annotations").(map[string]any)
	require.Equal(t, "ip", ann["alb.ingress.kubernetes.io/target-type"])
	require.Equal(t, "linkage", ann["alb.ingress.kubernetes.io/group.name"])
	require.Equal(t, "443", ann["alb.ingress.kubernetes.io/ssl-redirect"])
	require.JSONEq(t, `[{"HTTP":80},{"HTTPS":443}]`, ann["alb.ingress.kubernetes.io/listen-ports"].(string))
	require.Contains(t, ann["alb.ingress.kubernetes.io/load-balancer-attributes"], "idle_timeout.timeout_seconds=600")
	require.Equal(t, "/readyz", ann["alb.ingress.kubernetes.io/healthcheck-path"])

	cert := find(t, m, "aws:acm/certificate:Certificate", "linkage-api")
	require.Equal(t, "DNS", cert.Input("validationMethod"))
	validation := find(t, m, "aws:acm/certificateValidation:CertificateValidation", "linkage-api")
	require.Contains(t, ing.DependsOn, validation.URN, "the ALB gets an issued certificate")
	require.True(t, strings.HasPrefix(ann["alb.ingress.kubernetes.io/certificate-arn"].(string), "arn:aws:acm:"))
	vr := find(t, m, "aws:route53/record:Record", "linkage-api-cert-validation")
	require.Equal(t, "_0123abcd.linkage.example.org.", vr.Input("name"))
	require.Equal(t, []any{"_4567ef01.acm-validations.aws."}, vr.Input("records"))
	alias := find(t, m, "aws:route53/record:Record", "linkage-api")
	require.Equal(t, albHost, alias.Input("aliases").([]any)[0].(map[string]any)["name"])
}

func TestIngressWithoutADomainIsPlainHTTP(t *testing.T) {
	args := eksArgs()
	args.Ingress.Domain, args.Ingress.HostedZoneID = "", ""
	m, url := deploy(t, args)
	require.Equal(t, "http://"+albHost, url)
	ann := find(t, m, "kubernetes:networking.k8s.io/v1:Ingress", "linkage-api").Input("metadata.annotations").(map[string]any)
	require.JSONEq(t, `[{"HTTP":80}]`, ann["alb.ingress.kubernetes.io/listen-ports"].(string))
	require.NotContains(t, ann, "alb.ingress.kubernetes.io/certificate-arn")
	require.Empty(t, m.ByType("aws:acm/certificate:Certificate"))
}

func TestExistingCertificateIsUsedAsIs(t *testing.T) {
	args := eksArgs()
	args.Ingress.CertificateArn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
	m, _ := deploy(t, args)
	require.Empty(t, m.ByType("aws:acm/certificate:Certificate"))
	ann := find(t, m, "kubernetes:networking.k8s.io/v1:Ingress", "linkage-api").Input("metadata.annotations").(map[string]any)
	require.Equal(t, args.Ingress.CertificateArn, ann["alb.ingress.kubernetes.io/certificate-arn"])
}

func TestSmokeTestRunsThroughThePublicURLAfterTheRollout(t *testing.T) {
	m, _ := deploy(t, eksArgs())
	job := find(t, m, "kubernetes:batch/v1:Job", "linkage-smoke")
	c := container(t, job)
	require.Equal(t, []any{"smoke", "--api-url", "https://linkage.example.org", "--timeout", "600s"}, c["args"])
	for _, name := range []string{"linkage-api", "linkage-worker", "linkage-worker-highmem"} {
		require.Contains(t, job.DependsOn, find(t, m, "kubernetes:apps/v1:Deployment", name).URN)
	}
	require.Contains(t, job.DependsOn, find(t, m, "kubernetes:networking.k8s.io/v1:Ingress", "linkage-api").URN)
}

func TestLocalClusterGetsANodePortServiceAndNoAWS(t *testing.T) {
	m, url := deploy(t, localArgs())
	require.Equal(t, "http://linkage-api.linkage.svc.cluster.local", url)
	svc := find(t, m, "kubernetes:core/v1:Service", "linkage-api")
	require.Equal(t, "NodePort", svc.Input("spec.type"))
	require.EqualValues(t, 30851, svc.Input("spec.ports").([]any)[0].(map[string]any)["nodePort"])
	require.Empty(t, m.ByType("kubernetes:networking.k8s.io/v1:Ingress"))
	for _, r := range m.Resources() {
		require.False(t, strings.HasPrefix(r.Type, "aws:"), r.Type)
	}
	w := find(t, m, "kubernetes:apps/v1:Deployment", "linkage-worker")
	require.Nil(t, w.Input("spec.template.spec.affinity"))
	api := container(t, find(t, m, "kubernetes:apps/v1:Deployment", "linkage-api"))
	require.NotContains(t, envNames(api), "LINKAGE_RATE_LIMIT_FORWARDED_FOR", "clients connect directly")
}

func TestSettingsChangeRollsThePods(t *testing.T) {
	m1, _ := deploy(t, eksArgs())
	args := eksArgs()
	args.Settings["LINKAGE_LOG_LEVEL"] = "debug"
	m2, _ := deploy(t, args)
	key := "spec.template.metadata.annotations"
	a1 := find(t, m1, "kubernetes:apps/v1:Deployment", "linkage-worker").Input(key)
	a2 := find(t, m2, "kubernetes:apps/v1:Deployment", "linkage-worker").Input(key)
	require.NotEqual(t, a1, a2)
	cm := find(t, m2, "kubernetes:core/v1:ConfigMap", "linkage-config")
	require.Equal(t, map[string]any{"LINKAGE_LOG_LEVEL": "debug"}, cm.Input("data"))
}

func TestRuntimeEnvRejectsABadMemoryLimit(t *testing.T) {
	_, err := runtimeEnv(Resources{MemoryLimit: "lots"})
	require.ErrorContains(t, err, `memory limit "lots"`)
}

func TestContentTagFollowsTheImageSources(t *testing.T) {
	root := t.TempDir()
	write := func(path, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, path)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, path), []byte(content), 0o644))
	}
	write("go.mod", "module x\n")
	write("go.sum", "")
	write("app/main.go", "package main\n")
	tag, err := contentTag(root)
	require.NoError(t, err)
	require.Regexp(t, `^src-[0-9a-f]{16}$`, tag)

	write("app/main_test.go", "package main\n")
	write("app/testdata/big.json", "{}")
	write("README.md", "docs")
	same, err := contentTag(root)
	require.NoError(t, err)
	require.Equal(t, tag, same, "tests, test data and files outside the image don't change it")

	write("app/main.go", "package main // changed\n")
	changed, err := contentTag(root)
	require.NoError(t, err)
	require.NotEqual(t, tag, changed)

	_, err = contentTag(filepath.Join(root, "missing"))
	require.ErrorContains(t, err, "image sources")
}
