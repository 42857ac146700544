package linkage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/linkage-platform/linkage/components/container"
	"github.com/linkage-platform/linkage/components/data"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The image runs as distroless's nonroot user.
const (
	uid    = 65532
	binary = "/linkage"
)

// Ports and settings of the linkage binary (`linkage <command> --help`: each flag --x-y is also read
// from LINKAGE_X_Y).
const (
	apiPort     = 8851 // serve: --addr
	metricsPort = 9090 // worker: --metrics-addr (/metrics, /healthz)

	envAddr            = "LINKAGE_ADDR"
	envDatabaseURL     = "LINKAGE_DATABASE_URL"
	envRedisURL        = "LINKAGE_REDIS_URL"
	envBlobURL         = "LINKAGE_BLOB_URL"
	envShutdownTimeout = "LINKAGE_SHUTDOWN_TIMEOUT"         // serve: in-flight requests at shutdown
	envShutdownGrace   = "LINKAGE_SHUTDOWN_GRACE"           // worker: finish tasks, then hand them back
	envForwardedFor    = "LINKAGE_RATE_LIMIT_FORWARDED_FOR" // serve: client address from the ALB's header
	envGoMaxProcs      = "GOMAXPROCS"
	envGoMemLimit      = "GOMEMLIMIT"
	handBackSeconds    = 20 // kept out of a worker's grace period to hand its chunk back
	minShutdownSeconds = 5
)

// labels are the recommended app.kubernetes.io labels of one part of the app; they also select its pods.
func labels(component string) pulumi.StringMap {
	return pulumi.StringMap{
		"app.kubernetes.io/name":       pulumi.String("linkage"),
		"app.kubernetes.io/component":  pulumi.String(component),
		"app.kubernetes.io/part-of":    pulumi.String("linkage"),
		"app.kubernetes.io/managed-by": pulumi.String("pulumi"),
	}
}

func selector(component string) *metav1.LabelSelectorArgs {
	return &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{
		"app.kubernetes.io/name":      pulumi.String("linkage"),
		"app.kubernetes.io/component": pulumi.String(component),
	}}
}

func podSecurity() *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsNonRoot:   pulumi.Bool(true),
		RunAsUser:      pulumi.Int(uid),
		RunAsGroup:     pulumi.Int(uid),
		FsGroup:        pulumi.Int(uid),
		SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

func containerSecurity() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		RunAsNonRoot:             pulumi.Bool(true),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
	}
}

// tmpVolume is the only writable path: the root file system is read-only.
func tmpVolume(size string) (corev1.VolumeArray, corev1.VolumeMountArray) {
	return corev1.VolumeArray{corev1.VolumeArgs{
			Name:     pulumi.String("tmp"),
			EmptyDir: &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(size)},
		}}, corev1.VolumeMountArray{corev1.VolumeMountArgs{
			Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp"),
		}}
}

// withPostgresCA mounts the CA bundle of the Postgres Secret (managed mode: RDS's roots) where
// DATABASE_URL's sslrootcert points. Other modes have no such key: the volume is optional, the
// directory stays empty and their URLs don't name it.
func withPostgresCA(c *corev1.ContainerArgs, volumes corev1.VolumeArray, secret pulumi.StringInput) corev1.VolumeArray {
	c.VolumeMounts = append(c.VolumeMounts.(corev1.VolumeMountArray), corev1.VolumeMountArgs{
		Name: pulumi.String("postgres-ca"), MountPath: pulumi.String(data.PostgresCADir), ReadOnly: pulumi.Bool(true),
	})
	return append(volumes, corev1.VolumeArgs{
		Name: pulumi.String("postgres-ca"),
		Secret: &corev1.SecretVolumeSourceArgs{
			SecretName: secret,
			Optional:   pulumi.Bool(true),
			Items:      corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(data.KeyPostgresCA), Path: pulumi.String(data.KeyPostgresCA)}},
		},
	})
}

// runtimeEnv sizes the Go runtime to the container: GOMAXPROCS = CPU limit (so worker parallelism,
// which defaults to GOMAXPROCS, is the CPU limit, as Celery's concurrency is in the anchor chart) and
// a soft memory limit at 90 % of the hard one, so the GC works harder before the OOM killer strikes.
func runtimeEnv(r container.Resources) (corev1.EnvVarArray, error) {
	mem, err := resource.ParseQuantity(r.MemoryLimit)
	if err != nil {
		return nil, fmt.Errorf("memory limit %q: %w", r.MemoryLimit, err)
	}
	return corev1.EnvVarArray{
		corev1.EnvVarArgs{
			Name: pulumi.String(envGoMaxProcs),
			ValueFrom: &corev1.EnvVarSourceArgs{ResourceFieldRef: &corev1.ResourceFieldSelectorArgs{
				Resource: pulumi.String("limits.cpu"), Divisor: pulumi.String("1"),
			}},
		},
		corev1.EnvVarArgs{
			Name:  pulumi.String(envGoMemLimit),
			Value: pulumi.String(strconv.FormatInt(mem.Value()/10*9, 10)),
		},
	}, nil
}

// secretEnv reads one key of a data Secret into an environment variable.
func secretEnv(env string, secret pulumi.StringInput, key string, optional bool) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{
		Name: pulumi.String(env),
		ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
			Name: secret, Key: pulumi.String(key), Optional: pulumi.Bool(optional),
		}},
	}
}

// dataEnv wires a serving or working process to the data services. The URLs are complete (the blob
// URL carries region, endpoint and upload role) and required, so a missing one stops the pod at start
// rather than at the first request; MinIO's keys exist only in-cluster (on AWS, IRSA provides
// credentials) and the region is a fallback for the AWS SDK.
func dataEnv(d DataArgs) corev1.EnvVarArray {
	return corev1.EnvVarArray{
		secretEnv(envDatabaseURL, d.PostgresSecret, data.KeyDatabaseURL, false),
		secretEnv(envRedisURL, d.RedisSecret, data.KeyRedisURL, false),
		secretEnv(envBlobURL, d.ObjectStoreSecret, data.KeyBlobURL, false),
		secretEnv(data.KeyRegion, d.ObjectStoreSecret, data.KeyRegion, true),
		secretEnv(data.KeyAccessKeyID, d.ObjectStoreSecret, data.KeyAccessKeyID, true),
		secretEnv(data.KeySecretAccessKey, d.ObjectStoreSecret, data.KeySecretAccessKey, true),
	}
}

// plainEnv is a fixed environment variable.
func plainEnv(name, value string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{Name: pulumi.String(name), Value: pulumi.String(value)}
}

// seconds is a duration flag value, never below minShutdownSeconds.
func seconds(n int) string {
	return strconv.Itoa(max(n, minShutdownSeconds)) + "s"
}

// checksum is a stable digest of settings: put on the pod template so a settings change rolls the pods.
func checksum(settings map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		fmt.Fprintf(h, "%s=%s\n", k, settings[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// shortHash names per-image Jobs: a new image gets a new migration and smoke-test Job.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:10]
}

// job declares the Job named jobName (the resource: <component name>-<component>) running one
// container c as component: retried backoff times, stopped after deadline seconds, replaced (not
// patched) when it changes, since a Job's pod template is immutable.
func (d *deployer) job(component, serviceAccount string, jobName pulumi.StringOutput, backoff, deadline int, c corev1.ContainerArgs, volumes corev1.VolumeArray, opts ...pulumi.ResourceOption) (*batchv1.Job, error) {
	return batchv1.NewJob(d.ctx, d.name+"-"+component, &batchv1.JobArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: jobName, Namespace: d.args.Namespace, Labels: labels(component)},
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit:          pulumi.Int(backoff),
			ActiveDeadlineSeconds: pulumi.Int(deadline),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels(component)},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:           pulumi.String(serviceAccount),
					AutomountServiceAccountToken: pulumi.Bool(false),
					RestartPolicy:                pulumi.String("Never"),
					SecurityContext:              podSecurity(),
					NodeSelector:                 pulumi.ToStringMap(d.args.API.NodeSelector),
					Containers:                   corev1.ContainerArray{c},
					Volumes:                      volumes,
				},
			},
		},
	}, d.opts(append(opts, pulumi.DeleteBeforeReplace(true))...)...)
}
