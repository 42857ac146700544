package linkage

import (
	"fmt"
	"maps"
	"slices"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// probes makes port the container's one port and checks it: ready on readyPath, alive on /healthz.
func probes(c *corev1.ContainerArgs, port string, number int, readyPath string) {
	c.Ports = corev1.ContainerPortArray{corev1.ContainerPortArgs{
		Name: pulumi.String(port), ContainerPort: pulumi.Int(number), Protocol: pulumi.String("TCP"),
	}}
	get := func(path string) *corev1.HTTPGetActionArgs {
		return &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String(port)}
	}
	c.ReadinessProbe = &corev1.ProbeArgs{
		HttpGet: get(readyPath), PeriodSeconds: pulumi.Int(5), TimeoutSeconds: pulumi.Int(2), FailureThreshold: pulumi.Int(3),
	}
	c.LivenessProbe = &corev1.ProbeArgs{
		HttpGet: get("/healthz"), PeriodSeconds: pulumi.Int(10), TimeoutSeconds: pulumi.Int(2), FailureThreshold: pulumi.Int(6),
	}
	// A start-up slower than the liveness budget (a slow database, a cold node) is not a crash.
	c.StartupProbe = &corev1.ProbeArgs{
		HttpGet: get("/healthz"), PeriodSeconds: pulumi.Int(2), FailureThreshold: pulumi.Int(60),
	}
}

// podTemplate is the pod every Deployment of the app shares; the settings checksum rolls it when the
// ConfigMap changes (a mounted ConfigMap would update in place; environment variables do not).
func (d *deployer) podTemplate(component string, c corev1.ContainerArgs, volumes corev1.VolumeArray, spec corev1.PodSpecArgs) *corev1.PodTemplateSpecArgs {
	spec.ServiceAccountName = pulumi.String(ServiceAccountName)
	spec.AutomountServiceAccountToken = pulumi.Bool(false)
	spec.SecurityContext = podSecurity()
	spec.Containers = corev1.ContainerArray{c}
	spec.Volumes = volumes
	return &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Labels:      labels(component),
			Annotations: pulumi.StringMap{"linkage.dev/settings-checksum": pulumi.String(d.settingsHash)},
		},
		Spec: spec,
	}
}

// deployment declares a Deployment scaled by an HPA: replicas is only the initial size and later
// changes to it are ignored, so `pulumi up` never undoes the autoscaler's decisions.
// skipAwait tells Pulumi not to wait for a Deployment's pods to become ready.
const skipAwait = "pulumi.com/skipAwait"

func (d *deployer) deployment(component string, replicas int, tmpl *corev1.PodTemplateSpecArgs, strategy *appsv1.DeploymentStrategyArgs, noWait bool) (*appsv1.Deployment, error) {
	var annotations pulumi.StringMapInput
	if noWait {
		annotations = pulumi.StringMap{skipAwait: pulumi.String("true")}
	}
	dep, err := appsv1.NewDeployment(d.ctx, d.name+"-"+component, &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String("linkage-" + component), Namespace: d.args.Namespace, Labels: labels(component),
			Annotations: annotations,
		},
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas:             pulumi.Int(replicas),
			RevisionHistoryLimit: pulumi.Int(10),
			Selector:             selector(component),
			Strategy:             strategy,
			Template:             tmpl,
		},
	}, d.opts(pulumi.DependsOn([]pulumi.Resource{d.migration}), pulumi.IgnoreChanges([]string{"spec.replicas"}))...)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w", component, err)
	}
	d.workloads = append(d.workloads, dep)
	return dep, nil
}

// autoscale adds the CPU-based HPA and a PDB that lets node drains evict one pod at a time.
func (d *deployer) autoscale(component string, dep *appsv1.Deployment, minReplicas, maxReplicas, cpuPercent int) error {
	_, err := autoscalingv2.NewHorizontalPodAutoscaler(d.ctx, d.name+"-"+component, &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String("linkage-" + component), Namespace: d.args.Namespace, Labels: labels(component),
		},
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"), Kind: pulumi.String("Deployment"), Name: dep.Metadata.Name().Elem(),
			},
			MinReplicas: pulumi.Int(minReplicas),
			MaxReplicas: pulumi.Int(maxReplicas),
			Metrics: autoscalingv2.MetricSpecArray{autoscalingv2.MetricSpecArgs{
				Type: pulumi.String("Resource"),
				Resource: &autoscalingv2.ResourceMetricSourceArgs{
					Name: pulumi.String("cpu"),
					Target: &autoscalingv2.MetricTargetArgs{
						Type: pulumi.String("Utilization"), AverageUtilization: pulumi.Int(cpuPercent),
					},
				},
			}},
		},
	}, d.opts()...)
	if err != nil {
		return fmt.Errorf("autoscaler %s: %w", component, err)
	}
	_, err = policyv1.NewPodDisruptionBudget(d.ctx, d.name+"-"+component, &policyv1.PodDisruptionBudgetArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String("linkage-" + component), Namespace: d.args.Namespace, Labels: labels(component),
		},
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       selector(component),
		},
	}, d.opts()...)
	if err != nil {
		return fmt.Errorf("disruption budget %s: %w", component, err)
	}
	return nil
}

// api is `linkage serve` on the system nodes, spread over zones and hosts, with a preStop pause so
// the ALB stops routing to a pod before it stops serving.
func (d *deployer) api() error {
	a := d.args.API
	// In-flight requests get what is left of the grace period after the preStop pause.
	env := append(dataEnv(d.args.Data),
		plainEnv(envAddr, fmt.Sprintf(":%d", apiPort)),
		plainEnv(envShutdownTimeout, seconds(a.TerminationGracePeriodSeconds-a.PreStopSeconds-minShutdownSeconds)),
	)
	if d.args.Ingress != nil {
		// Behind the ALB every request comes from the load balancer: rate-limit the real client.
		env = append(env, plainEnv(envForwardedFor, "true"))
	}
	c, volumes, err := d.container("api", []string{"serve"}, a.Resources, env)
	if err != nil {
		return err
	}
	volumes = withPostgresCA(&c, volumes, d.args.Data.PostgresSecret)
	probes(&c, "http", apiPort, "/readyz")
	c.Lifecycle = &corev1.LifecycleArgs{PreStop: &corev1.LifecycleHandlerArgs{
		Sleep: &corev1.SleepActionArgs{Seconds: pulumi.Int(a.PreStopSeconds)},
	}}
	spread := func(key string) corev1.TopologySpreadConstraintArgs {
		return corev1.TopologySpreadConstraintArgs{
			MaxSkew:           pulumi.Int(1),
			TopologyKey:       pulumi.String(key),
			WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
			LabelSelector:     selector("api"),
		}
	}
	tmpl := d.podTemplate("api", c, volumes, corev1.PodSpecArgs{
		NodeSelector:                  pulumi.ToStringMap(a.NodeSelector),
		TerminationGracePeriodSeconds: pulumi.Int(a.TerminationGracePeriodSeconds),
		TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{
			spread("topology.kubernetes.io/zone"), spread("kubernetes.io/hostname"),
		},
	})
	// Surge before removing: the API never drops below its replica count during a rollout.
	strategy := &appsv1.DeploymentStrategyArgs{
		Type: pulumi.String("RollingUpdate"),
		RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
			MaxSurge: pulumi.Int(1), MaxUnavailable: pulumi.Int(0),
		},
	}
	dep, err := d.deployment("api", a.Replicas, tmpl, strategy, false)
	if err != nil {
		return err
	}
	if err := d.autoscale("api", dep, a.Replicas, a.MaxReplicas, a.TargetCPUPercent); err != nil {
		return err
	}
	port := corev1.ServicePortArgs{
		Name: pulumi.String("http"), Port: pulumi.Int(80), TargetPort: pulumi.String("http"), Protocol: pulumi.String("TCP"),
	}
	if a.NodePort != 0 {
		port.NodePort = pulumi.Int(a.NodePort)
	}
	d.service, err = corev1.NewService(d.ctx, d.name+"-api", &corev1.ServiceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(apiName), Namespace: d.args.Namespace, Labels: labels("api")},
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String(a.ServiceType),
			Selector: selector("api").MatchLabels,
			Ports:    corev1.ServicePortArray{port},
		},
	}, d.opts(pulumi.DependsOn([]pulumi.Resource{dep}))...)
	if err != nil {
		return fmt.Errorf("api service: %w", err)
	}
	return nil
}

// workerPool is `linkage worker` on its node group. Spot nodes give two minutes' notice: the grace
// period lets a worker finish or hand back its chunk.
func (d *deployer) workerPool(p WorkerPoolArgs) error {
	env := append(dataEnv(d.args.Data),
		plainEnv(envShutdownGrace, seconds(p.TerminationGracePeriodSeconds-handBackSeconds)))
	c, volumes, err := d.container("worker", []string{"worker"}, p.Resources, env)
	if err != nil {
		return err
	}
	volumes = withPostgresCA(&c, volumes, d.args.Data.PostgresSecret)
	// The worker has no /readyz: it is ready when it runs.
	probes(&c, "metrics", metricsPort, "/healthz")
	spec := corev1.PodSpecArgs{
		TerminationGracePeriodSeconds: pulumi.Int(p.TerminationGracePeriodSeconds),
	}
	if len(p.NodeSelector) > 0 {
		var terms corev1.NodeSelectorRequirementArray
		for _, k := range slices.Sorted(maps.Keys(p.NodeSelector)) {
			terms = append(terms, corev1.NodeSelectorRequirementArgs{
				Key: pulumi.String(k), Operator: pulumi.String("In"), Values: pulumi.ToStringArray([]string{p.NodeSelector[k]}),
			})
		}
		spec.Affinity = &corev1.AffinityArgs{NodeAffinity: &corev1.NodeAffinityArgs{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelectorArgs{
				NodeSelectorTerms: corev1.NodeSelectorTermArray{corev1.NodeSelectorTermArgs{MatchExpressions: terms}},
			},
		}}
	}
	var tolerations corev1.TolerationArray
	for _, t := range p.Tolerations {
		tolerations = append(tolerations, corev1.TolerationArgs{
			Key: pulumi.String(t.Key), Operator: pulumi.String("Equal"), Value: pulumi.String(t.Value), Effect: pulumi.String(t.Effect),
		})
	}
	spec.Tolerations = tolerations
	// One at a time and without surging: a full spot group has no room for an extra worker.
	strategy := &appsv1.DeploymentStrategyArgs{
		Type: pulumi.String("RollingUpdate"),
		RollingUpdate: &appsv1.RollingUpdateDeploymentArgs{
			MaxSurge: pulumi.Int(0), MaxUnavailable: pulumi.Int(1),
		},
	}
	dep, err := d.deployment(p.Name, p.MinReplicas, d.podTemplate(p.Name, c, volumes, spec), strategy, p.NodesOnDemand)
	if err != nil {
		return err
	}
	return d.autoscale(p.Name, dep, p.MinReplicas, p.MaxReplicas, p.TargetCPUPercent)
}
