package stacks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/container"
	"github.com/linkage-platform/linkage/components/data"
	"github.com/linkage-platform/linkage/components/image"
	"github.com/linkage-platform/linkage/components/linkage"
	"github.com/linkage-platform/linkage/components/nodegroups"
)

// App is the linkage service on the cluster.
type App struct {
	Image   *image.Image
	Linkage *linkage.Linkage
}

// deployNamespace declares the app's namespace first: the data services put their Secrets in it.
func deployNamespace(ctx *pulumi.Context, cfg *Config, p *Platform) (*corev1.Namespace, error) {
	return linkage.NewNamespace(ctx, cfg.Project, cfg.App.Namespace, p.IngressClass != "", pulumi.Provider(p.Kubernetes))
}

// deployApp declares the image and the app, wired to the data services' Secrets.
func deployApp(ctx *pulumi.Context, cfg *Config, p *Platform, ns *corev1.Namespace, d *data.Data) (*App, error) {
	a := cfg.App
	root, err := projectRoot(ctx)
	if err != nil {
		return nil, err
	}
	img, err := image.NewImage(ctx, cfg.Project, &image.ImageArgs{
		Ref:            a.Image,
		Context:        root,
		Push:           p.Kind == PlatformEKS,
		RepositoryName: a.ImageRepository,
		KeepImages:     a.ImageKeep,
		Tag:            a.ImageTag,
		Platform:       "linux/amd64",
	}, p.providers())
	if err != nil {
		return nil, err
	}

	args := &linkage.Args{
		Namespace: ns.Metadata.Name().Elem(),
		Image:     img.Ref,
		Data: linkage.DataArgs{
			PostgresSecret:    d.Postgres.SecretName,
			RedisSecret:       d.Redis.SecretName,
			ObjectStoreSecret: d.ObjectStore.SecretName,
			S3RoleArn:         d.ObjectStore.AppRoleArn,
		},
		Settings: a.Settings,
		API: linkage.APIArgs{
			Replicas:                      a.API.Replicas,
			MaxReplicas:                   a.API.MaxReplicas,
			TargetCPUPercent:              a.API.TargetCPUPercent,
			Resources:                     a.API.Resources,
			ServiceType:                   "ClusterIP",
			PreStopSeconds:                a.API.PreStopSeconds,
			TerminationGracePeriodSeconds: a.API.TerminationGracePeriodSeconds,
		},
		Workers:            []linkage.WorkerPoolArgs{workerPool("worker", a.Workers, p, nodegroups.WorkerRole, nodegroups.WorkerTaintValue)},
		MigrationResources: a.Migration,
		DependsOn:          append([]pulumi.Resource{d}, p.Ready...),
	}
	if a.HighMemWorkers.Enabled {
		args.Workers = append(args.Workers, workerPool("worker-highmem", a.HighMemWorkers, p, nodegroups.HighMemRole, nodegroups.HighMemTaintValue))
	}
	if a.SmokeTest {
		args.SmokeTest = &linkage.SmokeTestArgs{
			Resources:      container.Resources{CPURequest: "50m", CPULimit: "500m", MemoryRequest: "64Mi", MemoryLimit: "256Mi"},
			TimeoutSeconds: a.SmokeTestTimeout,
		}
	}
	opts := []pulumi.ResourceOption{p.providers()}
	if p.Kind == PlatformEKS {
		args.API.NodeSelector = map[string]string{nodegroups.RoleLabel: nodegroups.SystemRole}
		args.Ingress = &linkage.IngressArgs{
			ClassName:          p.IngressClass,
			GroupName:          a.Ingress.GroupName,
			Scheme:             a.Ingress.Scheme,
			IdleTimeoutSeconds: a.Ingress.IdleTimeoutSeconds,
			InboundCIDRs:       a.Ingress.InboundCidrs,
			Domain:             a.Domain,
			CertificateArn:     a.CertificateArn,
			HostedZoneID:       a.HostedZoneID,
		}
	} else {
		args.API.ServiceType = "NodePort"
		args.API.NodePort = a.API.NodePort
	}
	app, err := linkage.NewLinkage(ctx, cfg.Project, args, opts...)
	if err != nil {
		return nil, err
	}
	return &App{Image: img, Linkage: app}, nil
}

// projectRoot is the directory of Pulumi.yaml, which is also the image's build context (go.mod, app/).
// The engine says where it is; under mocks (tests, the offline plan) it is found from the working
// directory upwards.
func projectRoot(ctx *pulumi.Context) (string, error) {
	if root := ctx.RootDirectory(); root != "" {
		return root, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("project root: %w", err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return filepath.Rel(wd, dir) // relative, so that plans read the same in every clone
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("project root: no Pulumi.yaml in the working directory or above it")
		}
		dir = parent
	}
}

// workerPool places a pool on its node group (label role=<role>, taint linkage/worker=<taint>) on
// EKS; a kubeconfig cluster has neither, so the pool runs anywhere.
func workerPool(name string, w WorkerConfig, p *Platform, role, taint string) linkage.WorkerPoolArgs {
	pool := linkage.WorkerPoolArgs{
		Name:                          name,
		MinReplicas:                   w.MinReplicas,
		MaxReplicas:                   w.MaxReplicas,
		TargetCPUPercent:              w.TargetCPUPercent,
		Resources:                     w.Resources,
		TerminationGracePeriodSeconds: w.TerminationGracePeriodSeconds,
	}
	if p.Kind == PlatformEKS {
		pool.NodesOnDemand = true
		pool.NodeSelector = map[string]string{nodegroups.RoleLabel: role}
		pool.Tolerations = []linkage.Toleration{{Key: nodegroups.WorkerTaintKey, Value: taint, Effect: "NoSchedule"}}
	}
	return pool
}

// exportApp publishes where the API is, what runs and where.
func exportApp(ctx *pulumi.Context, cfg *Config, a *App) {
	ctx.Export("apiUrl", a.Linkage.APIURL)
	ctx.Export("namespace", pulumi.String(cfg.App.Namespace))
	ctx.Export("imageRef", a.Image.Ref)
	ctx.Export("imageRepositoryUrl", a.Image.RepositoryURL)
	ctx.Export("apiServiceName", a.Linkage.ServiceName)
	ctx.Export("loadBalancer", a.Linkage.LoadBalancer)
}
