package stacks

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/linkage-platform/linkage/components/container"
)

// AppConfig is the app section: where its image comes from, how its API and workers are sized and
// scaled, and how the API is published. Keys: linkage:namespace, linkage:image, linkage:imageRepository,
// linkage:imageKeep, linkage:api, linkage:workers, linkage:highMemWorkers, linkage:migration,
// linkage:ingress, linkage:domain, linkage:hostedZoneId, linkage:certificateArn, linkage:smokeTest,
// linkage:settings.
type AppConfig struct {
	Namespace string // linkage:namespace
	// Image pins the deployed reference (linkage:image: a semver tag or a digest). Empty: the stack
	// builds app/Dockerfile and pushes it to ECR (eks) or into the local Docker engine (kubeconfig).
	Image           string
	ImageRepository string // linkage:imageRepository, the ECR repository
	ImageKeep       int    // linkage:imageKeep, images the ECR lifecycle policy keeps
	ImageTag        string // linkage:imageTag: the built image's tag (CI: the commit); empty: a hash of its sources
	// PromoteOnly says the stack never builds: it runs linkage:image, a digest another stack (dev)
	// built and tested (linkage:promoteOnly).
	PromoteOnly bool

	API            APIConfig           // linkage:api
	Workers        WorkerConfig        // linkage:workers
	HighMemWorkers WorkerConfig        // linkage:highMemWorkers (on the highMemNodes group)
	Migration      container.Resources // linkage:migration

	Ingress        IngressConfig // linkage:ingress (eks only)
	Domain         string        // linkage:domain: serve https://<domain>
	HostedZoneID   string        // linkage:hostedZoneId: Route 53 zone of the domain
	CertificateArn string        // linkage:certificateArn: existing ACM certificate for the domain
	// PlainHTTP accepts an API without TLS: only the kubeconfig platform (a laptop's NodePort) may.
	PlainHTTP bool // linkage:plainHttp

	SmokeTest        bool // linkage:smokeTest: run a linkage through the public API after each rollout
	SmokeTestTimeout int  // linkage:smokeTestTimeoutSeconds
	// Settings are extra LINKAGE_* settings for every process (limits, log level, chunk size, …).
	Settings map[string]string // linkage:settings
}

// APIConfig sizes `linkage serve`.
type APIConfig struct {
	Replicas                      int                 `json:"replicas"`
	MaxReplicas                   int                 `json:"maxReplicas"`
	TargetCPUPercent              int                 `json:"targetCpuPercent"`
	Resources                     container.Resources `json:"resources"`
	PreStopSeconds                int                 `json:"preStopSeconds"`
	TerminationGracePeriodSeconds int                 `json:"terminationGracePeriodSeconds"`
	// NodePort publishes the API on every node of a kubeconfig cluster.
	NodePort int `json:"nodePort"`
}

// WorkerConfig sizes one pool of `linkage worker`; its parallelism is its CPU limit.
type WorkerConfig struct {
	Enabled                       bool                `json:"enabled"` // only read for highMemWorkers
	MinReplicas                   int                 `json:"minReplicas"`
	MaxReplicas                   int                 `json:"maxReplicas"`
	TargetCPUPercent              int                 `json:"targetCpuPercent"`
	Resources                     container.Resources `json:"resources"`
	TerminationGracePeriodSeconds int                 `json:"terminationGracePeriodSeconds"`
}

// IngressConfig shapes the ALB.
type IngressConfig struct {
	Scheme             string   `json:"scheme"`
	GroupName          string   `json:"groupName"`
	IdleTimeoutSeconds int      `json:"idleTimeoutSeconds"`
	InboundCidrs       []string `json:"inboundCidrs"`
}

// spotNoticeSeconds is the warning EC2 gives before reclaiming a spot instance.
const spotNoticeSeconds = 120

// minScaleUpSeconds is what a node from an empty group needs: the autoscaler's scan, the spot request,
// boot, joining and pulling the image.
const minScaleUpSeconds = 300

func defaultApp(p PlatformConfig, stack string) AppConfig {
	a := AppConfig{
		Namespace:       "linkage",
		ImageRepository: "linkage-" + stack,
		ImageKeep:       30,
		API: APIConfig{
			Replicas: 2, MaxReplicas: 6, TargetCPUPercent: 70,
			Resources:      container.Resources{CPURequest: "250m", CPULimit: "2", MemoryRequest: "512Mi", MemoryLimit: "2Gi"},
			PreStopSeconds: 15, TerminationGracePeriodSeconds: 60,
		},
		// One worker fills one r3.4xlarge (16 vCPU, 122 GiB) less what the node's daemons need.
		Workers: WorkerConfig{
			MinReplicas: 1, MaxReplicas: p.WorkerNodes.MaxSize, TargetCPUPercent: 80,
			Resources:                     container.Resources{CPURequest: "14", CPULimit: "14", MemoryRequest: "96Gi", MemoryLimit: "96Gi"},
			TerminationGracePeriodSeconds: 110,
		},
		// One per r5.8xlarge-class node (32 vCPU, 256 GiB).
		HighMemWorkers: WorkerConfig{
			Enabled: p.HighMemNodes.Enabled, MinReplicas: 1, MaxReplicas: max(p.HighMemNodes.MaxSize, 1), TargetCPUPercent: 80,
			Resources:                     container.Resources{CPURequest: "30", CPULimit: "30", MemoryRequest: "220Gi", MemoryLimit: "220Gi"},
			TerminationGracePeriodSeconds: 110,
		},
		Migration: container.Resources{CPURequest: "100m", CPULimit: "1", MemoryRequest: "128Mi", MemoryLimit: "512Mi"},
		// Internal unless a stack publishes the API with a domain (and so HTTPS).
		Ingress: IngressConfig{
			Scheme: "internal", GroupName: "linkage", IdleTimeoutSeconds: 600,
		},
		SmokeTest:        true,
		SmokeTestTimeout: 600,
	}
	if p.Kind == PlatformKubeconfig {
		// A laptop: one small API, one small worker, a fixed node port.
		a.API.Replicas, a.API.MaxReplicas, a.API.NodePort = 1, 2, 30851
		a.API.Resources = container.Resources{CPURequest: "100m", CPULimit: "1", MemoryRequest: "128Mi", MemoryLimit: "512Mi"}
		a.Workers.MaxReplicas = 2
		a.Workers.Resources = container.Resources{CPURequest: "500m", CPULimit: "2", MemoryRequest: "256Mi", MemoryLimit: "1Gi"}
		a.HighMemWorkers.Enabled = false
	}
	return a
}

func loadApp(r *reader, p PlatformConfig, stack string) AppConfig {
	a := defaultApp(p, stack)
	a.Namespace = r.String("namespace", a.Namespace)
	a.Image = r.String("image", a.Image)
	a.ImageRepository = r.String("imageRepository", a.ImageRepository)
	a.ImageKeep = r.Int("imageKeep", a.ImageKeep)
	a.ImageTag = r.String("imageTag", a.ImageTag)
	a.PromoteOnly = r.Bool("promoteOnly", a.PromoteOnly)
	r.Object("api", &a.API)
	r.Object("workers", &a.Workers)
	a.Workers.Enabled = true
	r.Object("highMemWorkers", &a.HighMemWorkers)
	r.Object("migration", &a.Migration)
	r.Object("ingress", &a.Ingress)
	a.Domain = r.String("domain", a.Domain)
	a.HostedZoneID = r.String("hostedZoneId", a.HostedZoneID)
	a.CertificateArn = r.String("certificateArn", a.CertificateArn)
	a.PlainHTTP = r.Bool("plainHttp", a.PlainHTTP)
	a.SmokeTest = r.Bool("smokeTest", a.SmokeTest)
	a.SmokeTestTimeout = r.Int("smokeTestTimeoutSeconds", a.SmokeTestTimeout)
	a.Settings = r.StringMap("settings", nil)
	validateApp(r, p, &a)
	return a
}

var (
	dnsLabelRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// imageRefRe is registry/repository with a tag, a digest or both.
	imageRefRe     = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$`)
	ecrRepoRe      = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
	domainRe       = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	hostedZoneRe   = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	certificateRe  = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$`)
	settingKeyRe   = regexp.MustCompile(`^LINKAGE_[A-Z0-9_]+$`)
	ecrTagRe       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	albGroupNameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$`)
)

// stackSettings are set by the stack itself: the data services' URLs come from their Secrets, the
// workers' parallelism from their CPU limit, the shutdown budgets from the grace periods.
var stackSettings = []string{
	"LINKAGE_ADDR", "LINKAGE_DATABASE_URL", "LINKAGE_REDIS_URL", "LINKAGE_BLOB_URL", "LINKAGE_DATA_DIR",
	"LINKAGE_CONCURRENCY", "LINKAGE_SHUTDOWN_GRACE", "LINKAGE_SHUTDOWN_TIMEOUT", "LINKAGE_METRICS_ADDR",
	"LINKAGE_RATE_LIMIT_FORWARDED_FOR",
}

func validateApp(r *reader, p PlatformConfig, a *AppConfig) {
	if !dnsLabelRe.MatchString(a.Namespace) {
		r.Problem("namespace", "%q is not a Kubernetes namespace name (lower-case letters, digits and dashes, at most 63)", a.Namespace)
	}
	switch {
	case a.PromoteOnly && !strings.Contains(a.Image, "@sha256:"):
		r.Problem("image", "%q: with linkage:promoteOnly the stack never builds; set the digest (repo@sha256:…) of the image another stack built and tested", a.Image)
	case a.PromoteOnly && a.ImageTag != "":
		r.Problem("imageTag", "names a build, but linkage:promoteOnly stacks never build")
	case a.ImageTag != "" && (!ecrTagRe.MatchString(a.ImageTag) || a.ImageTag == "latest"):
		r.Problem("imageTag", "%q is not a fixed image tag such as a commit SHA (letters, digits, _ . -; at most 128; not latest)", a.ImageTag)
	}
	if a.Image != "" {
		validateImageRef(r, a.Image)
	} else if p.Kind == PlatformEKS {
		if !ecrRepoRe.MatchString(a.ImageRepository) || len(a.ImageRepository) < 2 || len(a.ImageRepository) > 256 {
			r.Problem("imageRepository", "%q is not an ECR repository name", a.ImageRepository)
		}
		if a.ImageKeep < 2 {
			r.Problem("imageKeep", "%d: keep at least 2 images so that the previous one stays available for a rollback", a.ImageKeep)
		}
	}

	api := a.API
	validateResources(r, "api.resources", api.Resources)
	minReplicas := 1
	if p.Kind == PlatformEKS {
		minReplicas = 2 // losing one node or zone must not take the API down
	}
	if api.Replicas < minReplicas {
		r.Problem("api.replicas", "%d: must be at least %d on the %s platform", api.Replicas, minReplicas, p.Kind)
	}
	if api.MaxReplicas < api.Replicas {
		r.Problem("api.maxReplicas", "%d is less than replicas %d", api.MaxReplicas, api.Replicas)
	}
	validatePercent(r, "api.targetCpuPercent", api.TargetCPUPercent)
	if api.PreStopSeconds < 0 {
		r.Problem("api.preStopSeconds", "%d: must not be negative", api.PreStopSeconds)
	}
	if api.TerminationGracePeriodSeconds <= api.PreStopSeconds {
		r.Problem("api.terminationGracePeriodSeconds", "%d must exceed preStopSeconds %d, or pods are killed before they drain",
			api.TerminationGracePeriodSeconds, api.PreStopSeconds)
	}
	if api.NodePort != 0 && (api.NodePort < 30000 || api.NodePort > 32767) {
		r.Problem("api.nodePort", "%d is outside the node port range 30000-32767", api.NodePort)
	}

	validateWorkers(r, "workers", a.Workers)
	if a.HighMemWorkers.Enabled {
		validateWorkers(r, "highMemWorkers", a.HighMemWorkers)
		if p.Kind == PlatformEKS && !p.HighMemNodes.Enabled {
			r.Problem("highMemWorkers.enabled", "needs highMemNodes.enabled: there is no node group for them to run on")
		}
	}
	validateResources(r, "migration", a.Migration)

	if p.Kind == PlatformKubeconfig {
		for key, v := range map[string]string{"domain": a.Domain, "hostedZoneId": a.HostedZoneID, "certificateArn": a.CertificateArn} {
			if v != "" {
				r.Problem(key, "needs the eks platform (an ALB); on %s the API is a NodePort Service", p.Kind)
			}
		}
		if !a.PlainHTTP {
			r.Problem("plainHttp", "the %s platform serves the API over plain HTTP (a NodePort Service, no TLS): set linkage:plainHttp: true to accept that for this cluster", p.Kind)
		}
	} else {
		if a.PlainHTTP {
			r.Problem("plainHttp", "only the kubeconfig platform may serve plain HTTP; on eks the ALB serves HTTPS for linkage:domain")
		}
		validateIngress(r, a)
	}
	switch {
	case !a.SmokeTest:
	case a.SmokeTestTimeout < 60:
		r.Problem("smokeTestTimeoutSeconds", "%d: allow at least 60 s (a new load balancer takes a while to resolve)", a.SmokeTestTimeout)
	case p.Kind == PlatformEKS && p.WorkerNodes.MinSize == 0 && a.SmokeTestTimeout < minScaleUpSeconds:
		r.Problem("smokeTestTimeoutSeconds", "%d: the worker group starts at zero nodes and the test needs a worker: allow at least %d s for the autoscaler to add a spot node", a.SmokeTestTimeout, minScaleUpSeconds)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Settings)) {
		switch {
		case !settingKeyRe.MatchString(k):
			r.Problem("settings."+k, "is not a LINKAGE_* setting of the linkage binary")
		case slices.Contains(stackSettings, k):
			r.Problem("settings."+k, "is set by the stack (data service URLs, parallelism = CPU limit, shutdown budgets from the grace periods)")
		}
	}
}

// validateImageRef accepts references that pin what runs: a tag other than latest, or a digest.
func validateImageRef(r *reader, ref string) {
	name, digest, hasDigest := strings.Cut(ref, "@")
	lastSlash := strings.LastIndex(name, "/")
	tagSep := strings.LastIndex(name, ":")
	hasTag := tagSep > lastSlash
	switch {
	case !imageRefRe.MatchString(ref):
		r.Problem("image", "%q is not an image reference such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage:1.4.2", ref)
	case !hasTag && !hasDigest:
		r.Problem("image", "%q has neither a tag nor a digest: pin a version (e.g. :1.4.2 or @sha256:…) so that a rollback is one line", ref)
	case hasTag && name[tagSep+1:] == "latest" && !hasDigest:
		r.Problem("image", "%q: latest moves under you; pin a version or a digest", ref)
	case hasDigest && len(digest) != len("sha256:")+64:
		r.Problem("image", "%q: the digest must be sha256:<64 hex digits>", ref)
	}
}

func validateWorkers(r *reader, key string, w WorkerConfig) {
	validateResources(r, key+".resources", w.Resources)
	if cpu, err := resource.ParseQuantity(w.Resources.CPULimit); err == nil && (cpu.MilliValue()%1000 != 0 || cpu.MilliValue() < 1000) {
		r.Problem(key+".resources.cpuLimit", "%s: must be whole cores (at least 1): it is the worker's parallelism", w.Resources.CPULimit)
	}
	if w.MinReplicas < 1 {
		r.Problem(key+".minReplicas", "%d: must be at least 1 (the HPA cannot scale from zero)", w.MinReplicas)
	}
	if w.MaxReplicas < w.MinReplicas {
		r.Problem(key+".maxReplicas", "%d is less than minReplicas %d", w.MaxReplicas, w.MinReplicas)
	}
	validatePercent(r, key+".targetCpuPercent", w.TargetCPUPercent)
	switch g := w.TerminationGracePeriodSeconds; {
	case g < 30:
		r.Problem(key+".terminationGracePeriodSeconds", "%d: allow at least 30 s to finish or hand back a chunk", g)
	case g > spotNoticeSeconds:
		r.Problem(key+".terminationGracePeriodSeconds", "%d: spot nodes are reclaimed %d s after notice; a longer grace period is cut short", g, spotNoticeSeconds)
	}
}

func validatePercent(r *reader, key string, v int) {
	if v < 1 || v > 100 {
		r.Problem(key, "%d is not a percentage between 1 and 100", v)
	}
}

// validateResources checks that every quantity is a positive Kubernetes quantity and no request
// exceeds its limit; it is the one check of container sizes, for the app and the data services.
func validateResources(r *reader, key string, res container.Resources) {
	pairs := []struct{ name, request, limit string }{
		{"cpu", res.CPURequest, res.CPULimit}, {"memory", res.MemoryRequest, res.MemoryLimit},
	}
	quantity := func(key, v string) (resource.Quantity, bool) {
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			r.Problem(key, "%q is not a positive Kubernetes quantity", v)
			return q, false
		}
		return q, true
	}
	for _, p := range pairs {
		req, reqOK := quantity(key+"."+p.name+"Request", p.request)
		lim, limOK := quantity(key+"."+p.name+"Limit", p.limit)
		if reqOK && limOK && req.Cmp(lim) > 0 {
			r.Problem(key+"."+p.name+"Request", "%s exceeds the limit %s", p.request, p.limit)
		}
	}
}

func validateIngress(r *reader, a *AppConfig) {
	in := a.Ingress
	if in.Scheme != "internet-facing" && in.Scheme != "internal" {
		r.Problem("ingress.scheme", "%q is not internet-facing or internal", in.Scheme)
	}
	if !albGroupNameRe.MatchString(in.GroupName) {
		r.Problem("ingress.groupName", "%q is not an ALB group name (lower-case letters, digits, dashes and dots, at most 63)", in.GroupName)
	}
	if in.IdleTimeoutSeconds < 600 || in.IdleTimeoutSeconds > 4000 {
		r.Problem("ingress.idleTimeoutSeconds", "%d: must be between 600 (large uploads) and 4000 (the ALB maximum)", in.IdleTimeoutSeconds)
	}
	for i, cidr := range in.InboundCidrs {
		validateSourceCidr(r, fmt.Sprintf("ingress.inboundCidrs[%d]", i), cidr)
	}
	if in.Scheme == "internet-facing" && a.Domain == "" {
		r.Problem("domain", "is required with ingress.scheme internet-facing: tokens, CLK uploads and results must not cross the internet in clear text (set linkage:domain with linkage:hostedZoneId or linkage:certificateArn for HTTPS, or use ingress.scheme internal)")
	}
	if a.Domain == "" {
		for key, v := range map[string]string{"hostedZoneId": a.HostedZoneID, "certificateArn": a.CertificateArn} {
			if v != "" {
				r.Problem(key, "is only used with linkage:domain, which is not set")
			}
		}
		return
	}
	if !domainRe.MatchString(a.Domain) {
		r.Problem("domain", "%q is not a lower-case DNS name such as linkage.example.org", a.Domain)
	}
	if a.HostedZoneID != "" && !hostedZoneRe.MatchString(a.HostedZoneID) {
		r.Problem("hostedZoneId", "%q is not a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ", a.HostedZoneID)
	}
	if a.CertificateArn != "" && !certificateRe.MatchString(a.CertificateArn) {
		r.Problem("certificateArn", "%q is not an ACM certificate ARN", a.CertificateArn)
	}
	if a.HostedZoneID == "" && a.CertificateArn == "" {
		r.Problem("domain", "needs linkage:hostedZoneId (to validate a new ACM certificate through DNS) or linkage:certificateArn (an issued one)")
	}
}
