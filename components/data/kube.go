package data

import (
	"fmt"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// labels identify one data service's Kubernetes objects.
func labels(name, component string) pulumi.StringMap {
	return pulumi.StringMap{
		"app.kubernetes.io/name":       pulumi.String(component),
		"app.kubernetes.io/instance":   pulumi.String(name),
		"app.kubernetes.io/component":  pulumi.String("data"),
		"app.kubernetes.io/part-of":    pulumi.String("linkage"),
		"app.kubernetes.io/managed-by": pulumi.String("pulumi"),
	}
}

func objectMeta(name, component string, namespace pulumi.StringInput) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{
		Name:      pulumi.String(name),
		Namespace: namespace,
		Labels:    labels(name, component),
	}
}

// newSecret keeps credentials in an Opaque Secret; pulumi-kubernetes marks
// its data secret in state.
func newSecret(ctx *pulumi.Context, name string, namespace pulumi.StringInput, component string, data pulumi.StringMap, opts ...pulumi.ResourceOption) (*corev1.Secret, error) {
	s, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata:   objectMeta(name, component, namespace),
		Type:       pulumi.String("Opaque"),
		StringData: data,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return s, nil
}

// secretEnv is an environment variable read from one key of a Secret.
func secretEnv(env string, secretName pulumi.StringInput, key string) corev1.EnvVarArgs {
	return corev1.EnvVarArgs{
		Name: pulumi.String(env),
		ValueFrom: corev1.EnvVarSourceArgs{
			SecretKeyRef: corev1.SecretKeySelectorArgs{Name: secretName, Key: pulumi.String(key)},
		},
	}
}

// serviceHost is the in-cluster DNS name of a Service.
func serviceHost(name string, namespace pulumi.StringInput) pulumi.StringOutput {
	return pulumi.Sprintf("%s.%s.svc", name, namespace)
}

func execProbe(command ...string) corev1.ProbeArgs {
	return corev1.ProbeArgs{Exec: corev1.ExecActionArgs{Command: pulumi.ToStringArray(command)}}
}

func httpProbe(path string, port int) corev1.ProbeArgs {
	return corev1.ProbeArgs{HttpGet: corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.Int(port)}}
}

func timed(p corev1.ProbeArgs, period, failures int) corev1.ProbeArgs {
	p.PeriodSeconds = pulumi.Int(period)
	p.TimeoutSeconds = pulumi.Int(5)
	p.FailureThreshold = pulumi.Int(failures)
	return p
}

// restrictedContainer is the Pod Security "restricted" profile for a
// container running as uid.
func restrictedContainer(uid int) corev1.SecurityContextArgs {
	return corev1.SecurityContextArgs{
		RunAsNonRoot:             pulumi.Bool(true),
		RunAsUser:                pulumi.Int(uid),
		RunAsGroup:               pulumi.Int(uid),
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		Capabilities:             corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
	}
}

func restrictedPod(uid int) corev1.PodSecurityContextArgs {
	return corev1.PodSecurityContextArgs{
		RunAsNonRoot:        pulumi.Bool(true),
		RunAsUser:           pulumi.Int(uid),
		RunAsGroup:          pulumi.Int(uid),
		FsGroup:             pulumi.Int(uid),
		FsGroupChangePolicy: pulumi.String("OnRootMismatch"),
		SeccompProfile:      corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

// scratchVolumes are emptyDirs for the paths a read-only root filesystem
// still has to write to.
func scratchVolumes(paths []string) (corev1.VolumeArray, corev1.VolumeMountArray) {
	var vols corev1.VolumeArray
	var mounts corev1.VolumeMountArray
	for i, p := range paths {
		n := "scratch-" + strconv.Itoa(i)
		vols = append(vols, corev1.VolumeArgs{Name: pulumi.String(n), EmptyDir: corev1.EmptyDirVolumeSourceArgs{}})
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String(n), MountPath: pulumi.String(p)})
	}
	return vols, mounts
}

// statefulService describes a one-replica StatefulSet with a persistent
// volume and the headless Service that names it.
type statefulService struct {
	name, component string
	namespace       pulumi.StringInput
	selector        map[string]string
	spec            InClusterArgs
	uid             int
	port            int
	command, args   []string
	env             corev1.EnvVarArray
	dataPath        string
	scratch         []string
	// readiness gates traffic; liveness restarts a wedged server. A startup
	// probe with the readiness check gives first start-up (initdb) time.
	readiness, liveness corev1.ProbeArgs
}

func newStatefulService(ctx *pulumi.Context, s statefulService, opts ...pulumi.ResourceOption) (*appsv1.StatefulSet, error) {
	lbl := labels(s.name, s.component)
	selector := pulumi.StringMap{
		"app.kubernetes.io/name":     pulumi.String(s.component),
		"app.kubernetes.io/instance": pulumi.String(s.name),
	}
	ports := corev1.ServicePortArray{corev1.ServicePortArgs{
		Name: pulumi.String(s.component), Port: pulumi.Int(s.port), TargetPort: pulumi.Int(s.port),
	}}
	svc, err := corev1.NewService(ctx, s.name, &corev1.ServiceArgs{
		Metadata: objectMeta(s.name, s.component, s.namespace),
		Spec: corev1.ServiceSpecArgs{
			// Headless: the StatefulSet's governing Service, resolving to its one pod.
			ClusterIP: pulumi.String("None"),
			Selector:  selector,
			Ports:     ports,
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", s.name, err)
	}
	vols, mounts := scratchVolumes(s.scratch)
	mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(s.dataPath)})
	var storageClass pulumi.StringPtrInput
	if s.spec.StorageClass != "" {
		storageClass = pulumi.String(s.spec.StorageClass)
	}
	container := corev1.ContainerArgs{
		Name:            pulumi.String(s.component),
		Image:           pulumi.String(s.spec.Image),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Command:         optionalStrings(s.command),
		Args:            optionalStrings(s.args),
		Env:             s.env,
		Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{
			Name: pulumi.String(s.component), ContainerPort: pulumi.Int(s.port),
		}},
		Resources:       s.spec.Resources.Args(),
		SecurityContext: restrictedContainer(s.uid),
		VolumeMounts:    mounts,
		StartupProbe:    timed(s.readiness, 5, 60),
		ReadinessProbe:  timed(s.readiness, 10, 3),
		LivenessProbe:   timed(s.liveness, 15, 6),
	}
	sts, err := appsv1.NewStatefulSet(ctx, s.name, &appsv1.StatefulSetArgs{
		Metadata: objectMeta(s.name, s.component, s.namespace),
		Spec: appsv1.StatefulSetSpecArgs{
			Replicas:    pulumi.Int(1),
			ServiceName: pulumi.String(s.name),
			Selector:    metav1.LabelSelectorArgs{MatchLabels: selector},
			Template: corev1.PodTemplateSpecArgs{
				Metadata: metav1.ObjectMetaArgs{Labels: lbl},
				Spec: corev1.PodSpecArgs{
					AutomountServiceAccountToken:  pulumi.Bool(false),
					EnableServiceLinks:            pulumi.Bool(false),
					NodeSelector:                  optionalStringMap(s.selector),
					SecurityContext:               restrictedPod(s.uid),
					TerminationGracePeriodSeconds: pulumi.Int(60),
					Containers:                    corev1.ContainerArray{container},
					Volumes:                       vols,
				},
			},
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{corev1.PersistentVolumeClaimTypeArgs{
				Metadata: metav1.ObjectMetaArgs{Name: pulumi.String("data"), Labels: lbl},
				Spec: corev1.PersistentVolumeClaimSpecArgs{
					AccessModes:      pulumi.StringArray{pulumi.String("ReadWriteOnce")},
					StorageClassName: storageClass,
					Resources: corev1.VolumeResourceRequirementsArgs{
						Requests: pulumi.StringMap{"storage": pulumi.String(s.spec.StorageSize)},
					},
				},
			}},
			// Deleting or scaling the StatefulSet never deletes the data.
			PersistentVolumeClaimRetentionPolicy: appsv1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs{
				WhenDeleted: pulumi.String("Retain"),
				WhenScaled:  pulumi.String("Retain"),
			},
		},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{svc}))...)
	if err != nil {
		return nil, fmt.Errorf("statefulset %s: %w", s.name, err)
	}
	return sts, nil
}

// optionalStrings leaves an empty list out of the manifest.
func optionalStrings(xs []string) pulumi.StringArrayInput {
	if len(xs) == 0 {
		return nil
	}
	return pulumi.ToStringArray(xs)
}

func optionalStringMap(m map[string]string) pulumi.StringMapInput {
	if len(m) == 0 {
		return nil
	}
	return pulumi.ToStringMap(m)
}
