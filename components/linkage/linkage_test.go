package linkage

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/linkage-platform/linkage/components/componenttest"
	"github.com/linkage-platform/linkage/components/container"
	"github.com/linkage-platform/linkage/internal/manifests"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

const (
	testImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage@sha256:" +
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	roleArn = "arn:aws:iam::123456789012:role/linkage-app"
	albHost = "k8s-linkage-0123456789-1234567890.us-east-1.elb.amazonaws.com"
)

func res(cpu, mem string) container.Resources {
	return container.Resources{CPURequest: cpu, CPULimit: cpu, MemoryRequest: mem, MemoryLimit: mem}
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
	return m, componenttest.Await(t, url)
}

// deployment finds and decodes a Deployment.
func deployment(t *testing.T, m *pulumimock.Mocks, name string) *appsv1.Deployment {
	t.Helper()
	return componenttest.Decode[appsv1.Deployment](t, componenttest.Find(t, m, "kubernetes:apps/v1:Deployment", name))
}

func ingress(t *testing.T, m *pulumimock.Mocks) (pulumimock.Resource, *networkingv1.Ingress) {
	t.Helper()
	r := componenttest.Find(t, m, "kubernetes:networking.k8s.io/v1:Ingress", "linkage-api")
	return r, componenttest.Decode[networkingv1.Ingress](t, r)
}

// onlyContainer is the one container of a pod template.
func onlyContainer(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	require.Len(t, spec.Containers, 1)
	return spec.Containers[0]
}

func envByName(c corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		out[e.Name] = e
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
	sa := componenttest.Decode[corev1.ServiceAccount](t, componenttest.Find(t, m, "kubernetes:core/v1:ServiceAccount", "linkage-sa"))
	require.Equal(t, ServiceAccountName, sa.Name)
	require.Equal(t, map[string]string{"eks.amazonaws.com/role-arn": roleArn}, sa.Annotations)
	require.NotNil(t, sa.AutomountServiceAccountToken)
	require.False(t, *sa.AutomountServiceAccountToken)

	// The Jobs run without the app's S3 role.
	for job, account := range map[string]string{"linkage-migrate": "linkage-migrate", "linkage-smoke": "linkage-smoke"} {
		require.Equal(t, account, componenttest.Find(t, m, "kubernetes:batch/v1:Job", job).Input("spec.template.spec.serviceAccountName"), job)
		own := componenttest.Find(t, m, "kubernetes:core/v1:ServiceAccount", account+"-sa")
		require.Equal(t, account, own.Input("metadata.name"))
		require.Empty(t, own.Input("metadata.annotations"), "%s has no IAM role", account)
		require.Equal(t, false, own.Input("automountServiceAccountToken"))
	}

	m, _ = deploy(t, localArgs())
	sa = componenttest.Decode[corev1.ServiceAccount](t, componenttest.Find(t, m, "kubernetes:core/v1:ServiceAccount", "linkage-sa"))
	require.Empty(t, sa.Annotations, "no IRSA without a role")
}

func TestMigrationRunsBeforeEveryDeployment(t *testing.T) {
	m, _ := deploy(t, eksArgs())
	job := componenttest.Find(t, m, "kubernetes:batch/v1:Job", "linkage-migrate")
	migrate := componenttest.Decode[batchv1.Job](t, job)
	require.Equal(t, "linkage-migrate-"+shortHash(testImage), migrate.Name)
	require.Equal(t, []string{"/linkage", "migrate"}, onlyContainer(t, migrate.Spec.Template.Spec).Command)
	require.Equal(t, corev1.RestartPolicyNever, migrate.Spec.Template.Spec.RestartPolicy)
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
	api := deployment(t, m, "linkage-api")
	require.Equal(t, componenttest.Ptr(int32(2)), api.Spec.Replicas)
	pod := api.Spec.Template.Spec
	require.Equal(t, map[string]string{"role": "system"}, pod.NodeSelector)
	require.Equal(t, componenttest.Ptr(int64(60)), pod.TerminationGracePeriodSeconds)
	require.Len(t, pod.TopologySpreadConstraints, 2)
	require.Equal(t, "topology.kubernetes.io/zone", pod.TopologySpreadConstraints[0].TopologyKey)

	c := onlyContainer(t, pod)
	require.Equal(t, []string{"/linkage", "serve"}, c.Command)
	require.NotNil(t, c.ReadinessProbe)
	require.NotNil(t, c.ReadinessProbe.HTTPGet)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.LivenessProbe.HTTPGet)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.NotNil(t, c.Lifecycle)
	require.NotNil(t, c.Lifecycle.PreStop)
	require.Equal(t, &corev1.SleepAction{Seconds: 15}, c.Lifecycle.PreStop.Sleep)
	require.NotNil(t, c.SecurityContext)
	require.Equal(t, componenttest.Ptr(true), c.SecurityContext.ReadOnlyRootFilesystem)
	require.Equal(t, componenttest.Ptr(false), c.SecurityContext.AllowPrivilegeEscalation)
	require.Equal(t, componenttest.Ptr(true), c.SecurityContext.RunAsNonRoot)
	require.Equal(t, "1", c.Resources.Limits.Cpu().String())
	require.Equal(t, "1Gi", c.Resources.Limits.Memory().String())

	env := envByName(c)
	require.Equal(t, &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "linkage-postgres"}, Key: "DATABASE_URL", Optional: componenttest.Ptr(false),
	}}, env["LINKAGE_DATABASE_URL"].ValueFrom)
	require.NotNil(t, env["LINKAGE_BLOB_URL"].ValueFrom)
	require.NotNil(t, env["LINKAGE_BLOB_URL"].ValueFrom.SecretKeyRef)
	require.Equal(t, "linkage-objectstore", env["LINKAGE_BLOB_URL"].ValueFrom.SecretKeyRef.Name)
	require.Equal(t, "966367638", env["GOMEMLIMIT"].Value, "90 % of 1Gi (1073741824), rounded down")
	require.Equal(t, ":8851", env["LINKAGE_ADDR"].Value)
	require.Equal(t, "40s", env["LINKAGE_SHUTDOWN_TIMEOUT"].Value, "grace 60 s less the 15 s preStop pause and a margin")
	require.Equal(t, "true", env["LINKAGE_RATE_LIMIT_FORWARDED_FOR"].Value, "behind the ALB")

	hpa := componenttest.Decode[autoscalingv2.HorizontalPodAutoscaler](t, componenttest.Find(t, m, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "linkage-api"))
	require.Equal(t, componenttest.Ptr(int32(2)), hpa.Spec.MinReplicas)
	require.Equal(t, int32(6), hpa.Spec.MaxReplicas)
	pdb := componenttest.Decode[policyv1.PodDisruptionBudget](t, componenttest.Find(t, m, "kubernetes:policy/v1:PodDisruptionBudget", "linkage-api"))
	require.Equal(t, componenttest.Ptr(intstr.FromInt32(1)), pdb.Spec.MaxUnavailable)
}

func TestWorkersRunOnTheSpotGroupWithParallelismFromTheirCPULimit(t *testing.T) {
	m, _ := deploy(t, eksArgs())
	for name, role := range map[string]string{"worker": "linkage-worker", "worker-highmem": "linkage-worker-highmem"} {
		spec := deployment(t, m, "linkage-"+name).Spec.Template.Spec
		require.Len(t, spec.Tolerations, 1)
		require.Equal(t, "linkage/worker", spec.Tolerations[0].Key)
		require.Equal(t, corev1.TaintEffectNoSchedule, spec.Tolerations[0].Effect)
		require.Equal(t, &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "role", Operator: corev1.NodeSelectorOpIn, Values: []string{role}}},
			}}},
		}}, spec.Affinity)
		require.Equal(t, componenttest.Ptr(int64(110)), spec.TerminationGracePeriodSeconds)

		c := onlyContainer(t, spec)
		require.Equal(t, []string{"/linkage", "worker"}, c.Command)
		env := envByName(c)
		require.NotNil(t, env["GOMAXPROCS"].ValueFrom)
		require.NotNil(t, env["GOMAXPROCS"].ValueFrom.ResourceFieldRef)
		require.Equal(t, "limits.cpu", env["GOMAXPROCS"].ValueFrom.ResourceFieldRef.Resource)
		require.Equal(t, "90s", env["LINKAGE_SHUTDOWN_GRACE"].Value, "hands its chunk back before the kill")
		require.NotNil(t, c.LivenessProbe)
		require.Equal(t, &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("metrics")}, c.LivenessProbe.HTTPGet)
		require.Len(t, c.Ports, 1)
		require.Equal(t, int32(9090), c.Ports[0].ContainerPort)

		hpa := componenttest.Decode[autoscalingv2.HorizontalPodAutoscaler](t, componenttest.Find(t, m, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "linkage-"+name))
		require.Len(t, hpa.Spec.Metrics, 1)
		require.NotNil(t, hpa.Spec.Metrics[0].Resource)
		require.Equal(t, corev1.ResourceCPU, hpa.Spec.Metrics[0].Resource.Name)
		componenttest.Find(t, m, "kubernetes:policy/v1:PodDisruptionBudget", "linkage-"+name)
	}
}

func TestIngressServesHTTPSOnTheALB(t *testing.T) {
	m, url := deploy(t, eksArgs())
	require.Equal(t, "https://linkage.example.org", url)
	ing, in := ingress(t, m)
	require.Equal(t, componenttest.Ptr("alb"), in.Spec.IngressClassName)
	require.Len(t, in.Spec.Rules, 1)
	require.Equal(t, "linkage.example.org", in.Spec.Rules[0].Host)
	ann := in.Annotations
	require.Equal(t, "ip", ann["alb.ingress.kubernetes.io/target-type"])
	require.Equal(t, "linkage", ann["alb.ingress.kubernetes.io/group.name"])
	require.Equal(t, "443", ann["alb.ingress.kubernetes.io/ssl-redirect"])
	require.JSONEq(t, `[{"HTTP":80},{"HTTPS":443}]`, ann["alb.ingress.kubernetes.io/listen-ports"])
	require.Contains(t, ann["alb.ingress.kubernetes.io/load-balancer-attributes"], "idle_timeout.timeout_seconds=600")
	require.Equal(t, "/readyz", ann["alb.ingress.kubernetes.io/healthcheck-path"])

	cert := componenttest.Find(t, m, "aws:acm/certificate:Certificate", "linkage-api")
	require.Equal(t, "DNS", cert.Input("validationMethod"))
	validation := componenttest.Find(t, m, "aws:acm/certificateValidation:CertificateValidation", "linkage-api")
	require.Contains(t, ing.DependsOn, validation.URN, "the ALB gets an issued certificate")
	require.True(t, strings.HasPrefix(ann["alb.ingress.kubernetes.io/certificate-arn"], "arn:aws:acm:"))
	vr := componenttest.Find(t, m, "aws:route53/record:Record", "linkage-api-cert-validation")
	require.Equal(t, "_0123abcd.linkage.example.org.", vr.Input("name"))
	require.Equal(t, []any{"_4567ef01.acm-validations.aws."}, vr.Input("records"))
	alias := componenttest.Find(t, m, "aws:route53/record:Record", "linkage-api")
	require.Equal(t, albHost, alias.Input("aliases[0].name"))
}

func TestIngressWithoutADomainIsPlainHTTP(t *testing.T) {
	args := eksArgs()
	args.Ingress.Domain, args.Ingress.HostedZoneID = "", ""
	m, url := deploy(t, args)
	require.Equal(t, "http://"+albHost, url)
	_, in := ingress(t, m)
	ann := in.Annotations
	require.JSONEq(t, `[{"HTTP":80}]`, ann["alb.ingress.kubernetes.io/listen-ports"])
	require.NotContains(t, ann, "alb.ingress.kubernetes.io/certificate-arn")
	require.Empty(t, m.ByType("aws:acm/certificate:Certificate"))
}

func TestExistingCertificateIsUsedAsIs(t *testing.T) {
	args := eksArgs()
	args.Ingress.CertificateArn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
	m, _ := deploy(t, args)
	require.Empty(t, m.ByType("aws:acm/certificate:Certificate"))
	_, in := ingress(t, m)
	require.Equal(t, args.Ingress.CertificateArn, in.Annotations["alb.ingress.kubernetes.io/certificate-arn"])
}

func TestSmokeTestRunsThroughThePublicURLAfterTheRollout(t *testing.T) {
	m, _ := deploy(t, eksArgs())
	job := componenttest.Find(t, m, "kubernetes:batch/v1:Job", "linkage-smoke")
	c := onlyContainer(t, componenttest.Decode[batchv1.Job](t, job).Spec.Template.Spec)
	require.Equal(t, []string{"smoke", "--api-url", "https://linkage.example.org", "--timeout", "600s"}, c.Args)
	for _, name := range []string{"linkage-api", "linkage-worker", "linkage-worker-highmem"} {
		require.Contains(t, job.DependsOn, componenttest.Find(t, m, "kubernetes:apps/v1:Deployment", name).URN)
	}
	require.Contains(t, job.DependsOn, componenttest.Find(t, m, "kubernetes:networking.k8s.io/v1:Ingress", "linkage-api").URN)
}

func TestLocalClusterGetsANodePortServiceAndNoAWS(t *testing.T) {
	m, url := deploy(t, localArgs())
	require.Equal(t, "http://linkage-api.linkage.svc.cluster.local", url)
	svc := componenttest.Decode[corev1.Service](t, componenttest.Find(t, m, "kubernetes:core/v1:Service", "linkage-api"))
	require.Equal(t, corev1.ServiceTypeNodePort, svc.Spec.Type)
	require.Len(t, svc.Spec.Ports, 1)
	require.Equal(t, int32(30851), svc.Spec.Ports[0].NodePort)
	require.Empty(t, m.ByType("kubernetes:networking.k8s.io/v1:Ingress"))
	for _, r := range m.Resources() {
		require.False(t, strings.HasPrefix(r.Type, "aws:"), r.Type)
	}
	require.Nil(t, deployment(t, m, "linkage-worker").Spec.Template.Spec.Affinity)
	api := onlyContainer(t, deployment(t, m, "linkage-api").Spec.Template.Spec)
	require.NotContains(t, envByName(api), "LINKAGE_RATE_LIMIT_FORWARDED_FOR", "clients connect directly")
}

func TestSettingsChangeRollsThePods(t *testing.T) {
	m1, _ := deploy(t, eksArgs())
	args := eksArgs()
	args.Settings["LINKAGE_LOG_LEVEL"] = "debug"
	m2, _ := deploy(t, args)
	a1 := deployment(t, m1, "linkage-worker").Spec.Template.Annotations
	a2 := deployment(t, m2, "linkage-worker").Spec.Template.Annotations
	require.NotEmpty(t, a1)
	require.NotEqual(t, a1, a2)
	cm := componenttest.Decode[corev1.ConfigMap](t, componenttest.Find(t, m2, "kubernetes:core/v1:ConfigMap", "linkage-config"))
	require.Equal(t, map[string]string{"LINKAGE_LOG_LEVEL": "debug"}, cm.Data)
}

func TestRuntimeEnvRejectsABadMemoryLimit(t *testing.T) {
	_, err := runtimeEnv(container.Resources{MemoryLimit: "lots"})
	require.ErrorContains(t, err, `memory limit "lots"`)
}
