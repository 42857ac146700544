// Package linkage deploys the linkage service on a Kubernetes cluster: its namespace, ServiceAccount,
// settings, the migration Job every rollout waits for, the API (Deployment, Service, Ingress on an ALB,
// HPA, PDB), the worker pools on the spot nodes, and a smoke test through the public API. The image it
// runs comes from components/image.
package linkage

import (
	"fmt"
	"slices"
	"strings"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/container"
	"github.com/linkage-platform/linkage/components/data"
)

// ServiceAccountName is the ServiceAccount of the API and the workers: the S3 IRSA role must trust
// system:serviceaccount:<namespace>:linkage.
const ServiceAccountName = "linkage"

// Object names, fixed so operators can find them (`kubectl -n linkage get deploy linkage-api`).
const (
	configMapName = "linkage-config"
	apiName       = "linkage-api"
)

// Linkage is the app on the cluster.
type Linkage struct {
	pulumi.ResourceState

	// APIURL is where clients reach the API: https://<domain>, http://<ALB host name>, or the
	// in-cluster Service URL when there is no Ingress.
	APIURL pulumi.StringOutput `pulumi:"apiUrl"`
	// ServiceName is the API's Service (port-forward target on local clusters).
	ServiceName pulumi.StringOutput `pulumi:"serviceName"`
	// LoadBalancer is the ALB's host name ("" without an Ingress).
	LoadBalancer pulumi.StringOutput `pulumi:"loadBalancer"`
}

// ReadinessGateLabel makes the AWS Load Balancer Controller inject a readiness gate into the pods
// of a namespace: with target-type ip a pod counts as ready only once the ALB's target group has it
// healthy, so a rollout or a spot drain never removes the last registered target (5xx otherwise).
const ReadinessGateLabel = "elbv2.k8s.aws/pod-readiness-gate-inject"

// NewNamespace declares the app's namespace. It is separate from NewLinkage because the data
// component puts its Secrets (and in-cluster services) in it before the app is declared. Every pod
// in it, the app's and the in-cluster databases', meets the restricted Pod Security Standard, which
// is enforced (make test-kube checks each against a real API server). readinessGates labels it for
// ALB targets.
func NewNamespace(ctx *pulumi.Context, name, namespace string, readinessGates bool, opts ...pulumi.ResourceOption) (*corev1.Namespace, error) {
	labels := pulumi.StringMap{
		"app.kubernetes.io/part-of":          pulumi.String("linkage"),
		"pod-security.kubernetes.io/enforce": pulumi.String("restricted"),
		"pod-security.kubernetes.io/audit":   pulumi.String("restricted"),
		"pod-security.kubernetes.io/warn":    pulumi.String("restricted"),
	}
	if readinessGates {
		labels[ReadinessGateLabel] = pulumi.String("enabled")
	}
	ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(namespace), Labels: labels},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", namespace, err)
	}
	return ns, nil
}

// NewLinkage declares the app. Kubernetes (and, with an Ingress, AWS) providers come from opts.
func NewLinkage(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Linkage, error) {
	app := &Linkage{}
	if err := ctx.RegisterComponentResource("linkage:components:Linkage", name, app, opts...); err != nil {
		return nil, err
	}
	d := &deployer{ctx: ctx, name: name, args: args, parent: pulumi.Parent(app)}
	if err := d.declare(); err != nil {
		return nil, fmt.Errorf("linkage %s: %w", name, err)
	}
	app.APIURL = d.apiURL
	app.ServiceName = d.service.Metadata.Name().Elem()
	app.LoadBalancer = d.loadBalancer
	if err := ctx.RegisterResourceOutputs(app, pulumi.Map{
		"apiUrl":       app.APIURL,
		"serviceName":  app.ServiceName,
		"loadBalancer": app.LoadBalancer,
	}); err != nil {
		return nil, err
	}
	return app, nil
}

// deployer holds what the parts of the app share while they are declared.
type deployer struct {
	ctx    *pulumi.Context
	name   string
	args   *Args
	parent pulumi.ResourceOrInvokeOption

	settingsHash string
	basics       []pulumi.Resource // ServiceAccount and ConfigMap: every pod needs them
	migration    *batchv1.Job
	service      *corev1.Service
	workloads    []pulumi.Resource // what the smoke test waits for
	apiURL       pulumi.StringOutput
	loadBalancer pulumi.StringOutput
}

func (d *deployer) opts(more ...pulumi.ResourceOption) []pulumi.ResourceOption {
	return append([]pulumi.ResourceOption{d.parent}, more...)
}

func (d *deployer) declare() error {
	if err := d.serviceAccount(); err != nil {
		return err
	}
	if err := d.settings(); err != nil {
		return err
	}
	if err := d.migrate(); err != nil {
		return err
	}
	if err := d.api(); err != nil {
		return err
	}
	for _, pool := range d.args.Workers {
		if err := d.workerPool(pool); err != nil {
			return err
		}
	}
	if err := d.publish(); err != nil {
		return err
	}
	if d.args.SmokeTest != nil {
		return d.smokeTest(*d.args.SmokeTest)
	}
	return nil
}

// Identities of the Jobs: neither needs the app's S3 role. The migration reads only its database
// Secret and the smoke test talks only to the public API.
const (
	migrateServiceAccount = "linkage-migrate"
	smokeServiceAccount   = "linkage-smoke"
)

// serviceAccount is the identity of the API and the workers; with IRSA its role grants S3 access.
// The Jobs get their own accounts without a role. Nothing of the app talks to the Kubernetes API, so
// no token is mounted (the IRSA webhook projects its own).
func (d *deployer) serviceAccount() error {
	for _, name := range []string{migrateServiceAccount, smokeServiceAccount} {
		sa, err := corev1.NewServiceAccount(d.ctx, d.name+"-"+strings.TrimPrefix(name, "linkage-")+"-sa", &corev1.ServiceAccountArgs{
			Metadata:                     &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: d.args.Namespace, Labels: labels("app")},
			AutomountServiceAccountToken: pulumi.Bool(false),
		}, d.opts()...)
		if err != nil {
			return fmt.Errorf("service account %s: %w", name, err)
		}
		d.basics = append(d.basics, sa)
	}
	annotations := pulumi.StringMap{}.ToStringMapOutput()
	if d.args.Data.S3RoleArn != nil {
		annotations = d.args.Data.S3RoleArn.ToStringOutput().ApplyT(func(arn string) map[string]string {
			if arn == "" {
				return map[string]string{}
			}
			return map[string]string{"eks.amazonaws.com/role-arn": arn}
		}).(pulumi.StringMapOutput)
	}
	sa, err := corev1.NewServiceAccount(d.ctx, d.name+"-sa", &corev1.ServiceAccountArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(ServiceAccountName),
			Namespace:   d.args.Namespace,
			Labels:      labels("app"),
			Annotations: annotations,
		},
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, d.opts()...)
	if err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	d.basics = append(d.basics, sa)
	return nil
}

// settings keeps the non-secret settings of every process in one ConfigMap; the connection strings
// stay in the data component's Secrets.
func (d *deployer) settings() error {
	settings := d.args.Settings
	d.settingsHash = checksum(settings)
	cm, err := corev1.NewConfigMap(d.ctx, d.name+"-config", &corev1.ConfigMapArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(configMapName), Namespace: d.args.Namespace, Labels: labels("app"),
		},
		Data: pulumi.ToStringMap(settings),
	}, d.opts()...)
	if err != nil {
		return fmt.Errorf("config map: %w", err)
	}
	d.basics = append(d.basics, cm)
	return nil
}

// container is the part every linkage container shares: image, settings, security, /tmp.
func (d *deployer) container(name string, command []string, res container.Resources, env corev1.EnvVarArray) (corev1.ContainerArgs, corev1.VolumeArray, error) {
	runtime, err := runtimeEnv(res)
	if err != nil {
		return corev1.ContainerArgs{}, nil, fmt.Errorf("%s: %w", name, err)
	}
	volumes, mounts := tmpVolume("1Gi")
	return corev1.ContainerArgs{
		Name:  pulumi.String(name),
		Image: d.args.Image,
		// Digests and immutable tags never change under a name: a node's copy is always right.
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Command:         pulumi.ToStringArray(append([]string{binary}, command...)),
		EnvFrom: corev1.EnvFromSourceArray{corev1.EnvFromSourceArgs{
			ConfigMapRef: &corev1.ConfigMapEnvSourceArgs{Name: pulumi.String(configMapName)},
		}},
		Env:             append(runtime, env...),
		Resources:       res.Args(),
		SecurityContext: containerSecurity(),
		VolumeMounts:    mounts,
	}, volumes, nil
}

// migrate runs `linkage migrate` once per image before any Deployment rolls; Pulumi waits for the Job
// to complete and stops the update if it fails. Its name carries the image's hash, so a new image
// runs the migrations again (they are versioned and idempotent).
func (d *deployer) migrate() error {
	c, volumes, err := d.container("migrate", []string{"migrate"}, d.args.MigrationResources, corev1.EnvVarArray{
		secretEnv(envDatabaseURL, d.args.Data.PostgresSecret, data.KeyDatabaseURL, false),
	})
	if err != nil {
		return err
	}
	volumes = withPostgresCA(&c, volumes, d.args.Data.PostgresSecret)
	jobName := d.args.Image.ToStringOutput().ApplyT(func(image string) string {
		return "linkage-migrate-" + shortHash(image)
	}).(pulumi.StringOutput)
	d.migration, err = d.job("migrate", migrateServiceAccount, jobName, 3, 900, c, volumes,
		pulumi.DependsOn(slices.Concat(d.basics, d.args.DependsOn)))
	if err != nil {
		return fmt.Errorf("migration job: %w", err)
	}
	return nil
}
