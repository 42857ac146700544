package linkage

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/components/container"
)

// Args configure the app on the cluster. Every value comes from the caller (stack config); the
// component never reads config and never branches on the stack name.
type Args struct {
	// Namespace the app runs in (see NewNamespace); the data component's Secrets live there too.
	Namespace pulumi.StringInput
	// Image is the full reference to deploy (registry/repo:tag or registry/repo@sha256:…).
	Image pulumi.StringInput

	Data DataArgs
	// Settings are non-secret LINKAGE_* settings for every process (limits, log level, …), kept in
	// the app's ConfigMap.
	Settings map[string]string

	API     APIArgs
	Workers []WorkerPoolArgs
	// Ingress publishes the API through an ALB; nil keeps it behind its Service (local clusters).
	Ingress *IngressArgs
	// SmokeTest runs a tiny linkage through the public API after every rollout; the deployment
	// fails when it fails.
	SmokeTest *SmokeTestArgs
	// MigrationResources sizes the `linkage migrate` Job.
	MigrationResources container.Resources

	// DependsOn are resources that must exist before any workload starts (data services, the load
	// balancer controller: deleting the Ingress before it avoids orphaned ALBs blocking VPC deletion).
	DependsOn []pulumi.Resource
}

// DataArgs wire the app to the data services: the names of the Secrets the data component keeps in
// the app's namespace (keys as in components/data) and the IRSA role for S3.
type DataArgs struct {
	PostgresSecret    pulumi.StringInput
	RedisSecret       pulumi.StringInput
	ObjectStoreSecret pulumi.StringInput
	// S3RoleArn is the IRSA role the app's ServiceAccount is annotated with; nil or "" for MinIO.
	S3RoleArn pulumi.StringInput
}

// APIArgs shape the API Deployment (`linkage serve`).
type APIArgs struct {
	// Replicas is the HPA minimum (and the initial size); MaxReplicas its maximum.
	Replicas, MaxReplicas int
	// TargetCPUPercent is the HPA's average CPU utilisation target.
	TargetCPUPercent int
	Resources        container.Resources
	// NodeSelector keeps the API on the on-demand system nodes (role=system); empty on local clusters.
	NodeSelector map[string]string
	// ServiceType is ClusterIP behind an Ingress, NodePort on local clusters.
	ServiceType string
	// NodePort is the fixed node port when ServiceType is NodePort (0: Kubernetes picks one).
	NodePort int
	// PreStopSeconds keeps a terminating pod serving while the load balancer deregisters it.
	PreStopSeconds int
	// TerminationGracePeriodSeconds bounds the preStop delay plus draining in-flight requests.
	TerminationGracePeriodSeconds int
}

// WorkerPoolArgs shape one worker Deployment (`linkage worker`). Its parallelism is its CPU limit.
type WorkerPoolArgs struct {
	// Name suffixes the Deployment: linkage-<Name> (e.g. worker, worker-highmem).
	Name                     string
	MinReplicas, MaxReplicas int
	TargetCPUPercent         int
	// Resources: CPULimit must be whole cores; it is the number of comparisons run in parallel.
	Resources container.Resources
	// NodeSelector is required node affinity (role=linkage-worker); empty on local clusters.
	NodeSelector map[string]string
	// Tolerations let the pods onto the tainted worker nodes (linkage/worker=true:NoSchedule).
	Tolerations []Toleration
	// TerminationGracePeriodSeconds must cover finishing or handing back the current chunk; spot
	// nodes give two minutes' notice.
	TerminationGracePeriodSeconds int
	// NodesOnDemand says the pool's node group may be at zero nodes until the cluster autoscaler adds
	// one for its pods (minutes, and only as spot capacity allows): Pulumi does not wait for the pool
	// to become ready, so an update never fails on spot capacity; the smoke test, which needs a
	// worker, shows that a linkage runs.
	NodesOnDemand bool
}

// Toleration is a taint the pods accept.
type Toleration struct {
	Key, Value, Effect string
}

// IngressArgs publish the API through the AWS Load Balancer Controller.
type IngressArgs struct {
	ClassName string // alb
	// GroupName shares one ALB between Ingresses of the group.
	GroupName string
	Scheme    string // internet-facing or internal
	// IdleTimeoutSeconds must cover the slowest upload (≥ 600).
	IdleTimeoutSeconds int
	// InboundCIDRs restrict who reaches the ALB; empty means anyone.
	InboundCIDRs []string
	// Domain, when set, is the API's host name served over HTTPS with HTTP redirected to it.
	Domain string
	// CertificateArn is an existing ACM certificate for Domain; when empty one is requested with DNS
	// validation in HostedZoneID.
	CertificateArn string
	// HostedZoneID is the Route 53 zone of Domain: validation records and the API's record go there.
	HostedZoneID string
}

// SmokeTestArgs size the post-deploy smoke test.
type SmokeTestArgs struct {
	Resources container.Resources
	// TimeoutSeconds bounds the whole test, including waiting for the endpoint to answer.
	TimeoutSeconds int
}
