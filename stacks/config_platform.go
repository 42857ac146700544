package stacks

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/linkage-platform/linkage/components/network"
)

// PlatformKind says where the stack deploys to.
type PlatformKind string

const (
	// PlatformEKS provisions a VPC and an EKS cluster on AWS (dev, prod).
	PlatformEKS PlatformKind = "eks"
	// PlatformKubeconfig deploys to an existing cluster from the current kubeconfig (minikube, kind):
	// no AWS at all.
	PlatformKubeconfig PlatformKind = "kubeconfig"
)

// PlatformConfig is the platform section: keys linkage:platform, aws:region and the network, cluster,
// node group, add-on and ingress keys below. On the kubeconfig platform only linkage:kubeContext is read.
type PlatformConfig struct {
	Kind        PlatformKind // linkage:platform
	KubeContext string       // linkage:kubeContext; empty means the kubeconfig's current context

	Region      string // aws:region
	ClusterName string // linkage:clusterName

	Network NetworkConfig
	Cluster ClusterConfig

	SystemNodes  NodeGroupConfig // linkage:systemNodes (on-demand)
	WorkerNodes  NodeGroupConfig // linkage:workerNodes (spot)
	HighMemNodes NodeGroupConfig // linkage:highMemNodes (spot, optional)

	Addons AddonVersions // linkage:addons

	LBControllerChartVersion string // linkage:lbControllerChartVersion

	Autoscaling AutoscalingConfig // linkage:autoscaling
}

// AutoscalingConfig pins the cluster autoscaler and metrics-server.
type AutoscalingConfig struct {
	AutoscalerChartVersion string `json:"autoscalerChartVersion"`
	// AutoscalerImageTag defaults to v<kubernetesVersion>.0: the autoscaler's minor version must be the
	// cluster's.
	AutoscalerImageTag        string `json:"autoscalerImageTag"`
	MetricsServerChartVersion string `json:"metricsServerChartVersion"`
}

// NetworkConfig shapes the VPC.
type NetworkConfig struct {
	VpcCidr              string // linkage:vpcCidr
	AzCount              int    // linkage:azCount
	NatGatewayPerAz      bool   // linkage:natGatewayPerAz (false: one shared NAT gateway)
	FlowLogs             bool   // linkage:flowLogs
	FlowLogRetentionDays int    // linkage:flowLogRetentionDays
}

// ClusterConfig shapes the EKS control plane.
type ClusterConfig struct {
	KubernetesVersion string // linkage:kubernetesVersion: the control plane's minor
	NodeVersion       string // linkage:nodeKubernetesVersion: the node groups' minor (default: kubernetesVersion)
	ServiceCidr       string // linkage:serviceCidr
	// EndpointAccess says how clients (people, CI) reach the API server: EndpointPrivate (from the VPC
	// and the networks in PrivateAccessCidrs, e.g. a CI runner's VPC routed to it) or EndpointPublic
	// (the public endpoint, only for PublicAccessCidrs).
	EndpointAccess     string   // linkage:endpointAccess
	PublicAccessCidrs  []string // linkage:endpointPublicAccessCidrs
	PrivateAccessCidrs []string // linkage:endpointPrivateAccessCidrs
	LogTypes           []string // linkage:clusterLogTypes
	AdminArns          []string // linkage:clusterAdmins: IAM roles/users granted cluster admin
	CI                 CIConfig // linkage:ci
}

// Endpoint access modes.
const (
	EndpointPrivate = "private"
	EndpointPublic  = "public"
)

// CIConfig names the roles the workflows assume through GitHub's OIDC provider: the deploy role runs
// `pulumi up` (cluster admin), the preview role `pulumi preview` on pull requests (read-only view).
type CIConfig struct {
	DeployRoleArn  string `json:"deployRoleArn"`
	PreviewRoleArn string `json:"previewRoleArn"`
}

// NodeGroupConfig is one managed node group.
type NodeGroupConfig struct {
	Enabled       bool     `json:"enabled"` // only read for highMemNodes
	InstanceTypes []string `json:"instanceTypes"`
	MinSize       int      `json:"minSize"`
	MaxSize       int      `json:"maxSize"`
	DesiredSize   int      `json:"desiredSize"`
	DiskSizeGiB   int      `json:"diskSizeGiB"`
}

// AddonVersions pins the EKS add-ons.
type AddonVersions struct {
	VpcCni       string `json:"vpcCni"`
	CoreDNS      string `json:"coreDns"`
	KubeProxy    string `json:"kubeProxy"`
	EbsCsiDriver string `json:"ebsCsiDriver"`
}

// WorkerInstanceTypes is the default spot worker pool: r3.4xlarge first, then the same shape
// (16 vCPU, 122–128 GiB) from newer families so that spot capacity can be found.
var WorkerInstanceTypes = []string{"r3.4xlarge", "r4.4xlarge", "r5.4xlarge", "r5a.4xlarge", "r6i.4xlarge"}

func defaultPlatform(stack string) PlatformConfig {
	return PlatformConfig{
		Kind:        PlatformEKS,
		ClusterName: "linkage-" + stack,
		Network: NetworkConfig{
			VpcCidr: "10.0.0.0/16", AzCount: 3, NatGatewayPerAz: true, FlowLogs: true, FlowLogRetentionDays: 30,
		},
		Cluster: ClusterConfig{
			KubernetesVersion: newestKubernetesMinor(),
			ServiceCidr:       "172.20.0.0/16",
			EndpointAccess:    EndpointPrivate,
			LogTypes:          []string{"api", "audit", "authenticator"},
		},
		SystemNodes: NodeGroupConfig{
			Enabled: true, InstanceTypes: []string{"m6i.large"}, MinSize: 2, MaxSize: 4, DesiredSize: 2, DiskSizeGiB: 50,
		},
		WorkerNodes: NodeGroupConfig{
			Enabled: true, InstanceTypes: WorkerInstanceTypes, MinSize: 0, MaxSize: 10, DesiredSize: 1, DiskSizeGiB: 100,
		},
		HighMemNodes: NodeGroupConfig{
			InstanceTypes: []string{"r5.8xlarge", "r5a.8xlarge", "r6i.8xlarge"}, MinSize: 0, MaxSize: 2, DiskSizeGiB: 100,
		},
		Addons: AddonVersions{
			// Published for 1.36 (README: Kubernetes version, where each was checked).
			VpcCni:       "v1.22.4-eksbuild.3",
			CoreDNS:      "v1.14.3-eksbuild.23",
			KubeProxy:    "v1.36.0-eksbuild.25",
			EbsCsiDriver: "v1.66.0-eksbuild.1",
		},
		LBControllerChartVersion: "1.13.3",
		// Chart 9.59.0 ships cluster-autoscaler 1.35.0 and runs the image of any supported minor;
		// metrics-server chart 3.13.0 is metrics-server 0.8.0.
		Autoscaling: AutoscalingConfig{AutoscalerChartVersion: "9.59.0", MetricsServerChartVersion: "3.13.0"},
	}
}

func loadPlatform(r *reader, stack string) PlatformConfig {
	p := defaultPlatform(stack)
	p.Kind = PlatformKind(r.Enum("platform", string(p.Kind), string(PlatformEKS), string(PlatformKubeconfig)))
	if p.Kind == PlatformKubeconfig {
		p.KubeContext = r.String("kubeContext", "")
		return p
	}

	p.Region = r.String("aws:region", "")
	p.ClusterName = r.String("clusterName", p.ClusterName)

	n := &p.Network
	n.VpcCidr = r.String("vpcCidr", n.VpcCidr)
	n.AzCount = r.Int("azCount", n.AzCount)
	n.NatGatewayPerAz = r.Bool("natGatewayPerAz", n.NatGatewayPerAz)
	n.FlowLogs = r.Bool("flowLogs", n.FlowLogs)
	n.FlowLogRetentionDays = r.Int("flowLogRetentionDays", n.FlowLogRetentionDays)

	c := &p.Cluster
	c.KubernetesVersion = r.String("kubernetesVersion", c.KubernetesVersion)
	c.NodeVersion = r.String("nodeKubernetesVersion", c.KubernetesVersion)
	c.ServiceCidr = r.String("serviceCidr", c.ServiceCidr)
	c.EndpointAccess = r.Enum("endpointAccess", c.EndpointAccess, EndpointPrivate, EndpointPublic)
	c.PublicAccessCidrs = r.StringList("endpointPublicAccessCidrs", c.PublicAccessCidrs)
	c.PrivateAccessCidrs = r.StringList("endpointPrivateAccessCidrs", c.PrivateAccessCidrs)
	r.Object("ci", &c.CI)
	c.LogTypes = r.StringList("clusterLogTypes", c.LogTypes)
	c.AdminArns = r.StringList("clusterAdmins", c.AdminArns)

	r.Object("systemNodes", &p.SystemNodes)
	r.Object("workerNodes", &p.WorkerNodes)
	r.Object("highMemNodes", &p.HighMemNodes)
	p.SystemNodes.Enabled, p.WorkerNodes.Enabled = true, true
	r.Object("addons", &p.Addons)
	p.LBControllerChartVersion = r.String("lbControllerChartVersion", p.LBControllerChartVersion)
	r.Object("autoscaling", &p.Autoscaling)
	if p.Autoscaling.AutoscalerImageTag == "" {
		p.Autoscaling.AutoscalerImageTag = "v" + p.Cluster.KubernetesVersion + ".0"
	}

	validatePlatform(r, &p)
	return p
}

var (
	regionRe       = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$`)
	clusterNameRe  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,31}$`)
	k8sVersionRe   = regexp.MustCompile(`^1\.(\d+)$`)
	instanceTypeRe = regexp.MustCompile(`^([a-z]+)(\d+)([a-z-]*)\.([0-9a-z]+)$`)
	addonVersionRe = regexp.MustCompile(`^v(\d+)\.(\d+)\.\d+-eksbuild\.\d+$`)
	semverRe       = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	autoscalerTag  = regexp.MustCompile(`^v1\.(\d+)\.\d+$`)
	principalRe    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$`)
)

// r3Regions are the regions that still offer the previous-generation r3 family; regions opened since
// late 2016 (eu-west-2/3, eu-north-1, ca-central-1, ap-east-1, ...) never had it.
var r3Regions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1",
	"ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ap-south-1", "sa-east-1",
}

var logTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}

func validatePlatform(r *reader, p *PlatformConfig) {
	switch {
	case p.Region == "":
		r.Problem("aws:region", "is required on the eks platform (e.g. us-east-1)")
	case !regionRe.MatchString(p.Region):
		r.Problem("aws:region", "%q is not an AWS region name", p.Region)
	}
	if !clusterNameRe.MatchString(p.ClusterName) {
		r.Problem("clusterName", "%q must start with a letter and have at most 32 letters, digits and dashes (it prefixes IAM role names)", p.ClusterName)
	}

	n := p.Network
	vpc, vpcErr := privatePrefix(n.VpcCidr)
	switch {
	case vpcErr != nil:
		r.Problem("vpcCidr", "%v", vpcErr)
	case vpc.Bits() < 16 || vpc.Bits() > 20:
		r.Problem("vpcCidr", "%s: the prefix length must be between /16 and /20 (AWS allows /16 at most; smaller than /20 leaves too few pod IPs)", n.VpcCidr)
	}
	if n.AzCount < 2 {
		r.Problem("azCount", "%d: EKS needs subnets in at least 2 availability zones", n.AzCount)
	} else if n.AzCount > 6 {
		r.Problem("azCount", "%d: at most 6 availability zones are supported", n.AzCount)
	}
	if n.FlowLogs && n.FlowLogRetentionDays < 1 {
		r.Problem("flowLogRetentionDays", "%d: must be at least 1 day", n.FlowLogRetentionDays)
	}

	c := p.Cluster
	if m := k8sVersionRe.FindStringSubmatch(c.KubernetesVersion); m == nil {
		r.Problem("kubernetesVersion", "%q is not a Kubernetes minor version such as %s", c.KubernetesVersion, newestKubernetesMinor())
	} else {
		minor, _ := strconv.Atoi(m[1])
		problem, warning := checkKubernetesSupport(c.KubernetesVersion, minor, r.now)
		switch {
		case problem != "":
			r.Problem("kubernetesVersion", "%s", problem)
		case warning != "":
			r.Warn("kubernetesVersion", "%s", warning)
			fallthrough
		default:
			validateUpgradeSkew(r, p, minor)
		}
	}
	svc, svcErr := privatePrefix(c.ServiceCidr)
	switch {
	case svcErr != nil:
		r.Problem("serviceCidr", "%v", svcErr)
	case svc.Bits() < 12 || svc.Bits() > 24:
		r.Problem("serviceCidr", "%s: EKS requires a prefix length between /12 and /24", c.ServiceCidr)
	case vpcErr == nil && vpc.Overlaps(svc):
		r.Problem("serviceCidr", "%s overlaps vpcCidr %s: Service IPs would shadow node and pod IPs", c.ServiceCidr, n.VpcCidr)
	}
	switch {
	case c.EndpointAccess == EndpointPublic && len(c.PublicAccessCidrs) == 0:
		r.Problem("endpointPublicAccessCidrs", "is required with endpointAccess public: list the office, VPN and CI runner ranges (EKS would open an endpoint without them to the whole internet)")
	case c.EndpointAccess == EndpointPrivate && len(c.PublicAccessCidrs) > 0:
		r.Problem("endpointPublicAccessCidrs", "is only used with endpointAccess public; the endpoint is private (reach it from the VPC or endpointPrivateAccessCidrs)")
	}
	for i, cidr := range c.PublicAccessCidrs {
		validateSourceCidr(r, fmt.Sprintf("endpointPublicAccessCidrs[%d]", i), cidr)
	}
	for i, cidr := range c.PrivateAccessCidrs {
		validateSourceCidr(r, fmt.Sprintf("endpointPrivateAccessCidrs[%d]", i), cidr)
	}
	for key, arn := range map[string]string{"ci.deployRoleArn": c.CI.DeployRoleArn, "ci.previewRoleArn": c.CI.PreviewRoleArn} {
		if arn != "" && !principalRe.MatchString(arn) {
			r.Problem(key, "%q is not an IAM role or user ARN", arn)
		}
	}
	if c.CI.PreviewRoleArn != "" && c.CI.PreviewRoleArn == c.CI.DeployRoleArn {
		r.Problem("ci.previewRoleArn", "is the deploy role: pull-request previews must run with a read-only role")
	}
	for i, lt := range c.LogTypes {
		if !slices.Contains(logTypes, lt) {
			r.Problem(fmt.Sprintf("clusterLogTypes[%d]", i), "%q is not one of %s", lt, strings.Join(logTypes, ", "))
		}
	}
	for i, arn := range c.AdminArns {
		if !principalRe.MatchString(arn) {
			r.Problem(fmt.Sprintf("clusterAdmins[%d]", i), "%q is not an IAM role or user ARN", arn)
		}
	}

	validateNodeGroup(r, "systemNodes", p.SystemNodes, p.Region, 1)
	validateNodeGroup(r, "workerNodes", p.WorkerNodes, p.Region, 0)
	if p.HighMemNodes.Enabled {
		validateNodeGroup(r, "highMemNodes", p.HighMemNodes, p.Region, 0)
	}

	for key, v := range map[string]string{
		"addons.vpcCni": p.Addons.VpcCni, "addons.coreDns": p.Addons.CoreDNS,
		"addons.kubeProxy": p.Addons.KubeProxy, "addons.ebsCsiDriver": p.Addons.EbsCsiDriver,
	} {
		if !addonVersionRe.MatchString(v) {
			r.Problem(key, "%q is not an EKS add-on version such as v1.19.6-eksbuild.1", v)
		}
	}
	if !semverRe.MatchString(p.LBControllerChartVersion) {
		r.Problem("lbControllerChartVersion", "%q is not a chart version such as 1.13.3", p.LBControllerChartVersion)
	}
	as := p.Autoscaling
	for key, v := range map[string]string{
		"autoscaling.autoscalerChartVersion": as.AutoscalerChartVersion, "autoscaling.metricsServerChartVersion": as.MetricsServerChartVersion,
	} {
		if !semverRe.MatchString(v) {
			r.Problem(key, "%q is not a chart version such as 9.59.0", v)
		}
	}
	if m := autoscalerTag.FindStringSubmatch(as.AutoscalerImageTag); m == nil {
		r.Problem("autoscaling.autoscalerImageTag", "%q is not a cluster-autoscaler release such as v1.35.0", as.AutoscalerImageTag)
	} else if k := k8sVersionRe.FindStringSubmatch(c.KubernetesVersion); k != nil && k[1] != m[1] {
		r.Problem("autoscaling.autoscalerImageTag", "%s does not match kubernetesVersion %s (the autoscaler's minor version must be the cluster's)", as.AutoscalerImageTag, c.KubernetesVersion)
	}
}

// validateUpgradeSkew lets the node groups and kube-proxy trail the control plane by one minor, the
// states between the steps of an upgrade (README: Upgrading Kubernetes), with a warning to finish it;
// anything else is a problem: kubelet and kube-proxy never run ahead of the API server, and one minor
// at a time keeps every step within the Kubernetes version skew policy.
func validateUpgradeSkew(r *reader, p *PlatformConfig, minor int) {
	c := p.Cluster
	if m := k8sVersionRe.FindStringSubmatch(c.NodeVersion); m == nil {
		r.Problem("nodeKubernetesVersion", "%q is not a Kubernetes minor version such as %s", c.NodeVersion, c.KubernetesVersion)
	} else if nodes, _ := strconv.Atoi(m[1]); nodes != minor && nodes != minor-1 {
		r.Problem("nodeKubernetesVersion", "%s: the node groups must run kubernetesVersion %s or, while it is being upgraded, the minor before", c.NodeVersion, c.KubernetesVersion)
	} else if nodes != minor {
		r.Warn("nodeKubernetesVersion", "the node groups run %s under a %s control plane: finish the upgrade by removing this key", c.NodeVersion, c.KubernetesVersion)
	}
	if am := addonVersionRe.FindStringSubmatch(p.Addons.KubeProxy); am != nil {
		switch proxy, _ := strconv.Atoi(am[2]); {
		case am[1] != "1" || (proxy != minor && proxy != minor-1):
			r.Problem("addons.kubeProxy", "%s does not match kubernetesVersion %s (kube-proxy must be the cluster's minor version, or the minor before while upgrading)", p.Addons.KubeProxy, c.KubernetesVersion)
		case proxy != minor:
			r.Warn("addons.kubeProxy", "%s is for the %s control plane's previous minor: set a v%s build of kube-proxy", p.Addons.KubeProxy, c.KubernetesVersion, c.KubernetesVersion)
		}
	}
}

// validateNodeGroup checks one group's sizes and instance types; minMin is the smallest allowed minSize.
func validateNodeGroup(r *reader, key string, g NodeGroupConfig, region string, minMin int) {
	if len(g.InstanceTypes) == 0 {
		r.Problem(key+".instanceTypes", "at least one instance type is required")
	}
	seen := map[string]bool{}
	for i, t := range g.InstanceTypes {
		k := fmt.Sprintf("%s.instanceTypes[%d]", key, i)
		m := instanceTypeRe.FindStringSubmatch(t)
		switch {
		case m == nil:
			r.Problem(k, "%q is not an EC2 instance type such as r5.4xlarge", t)
		case seen[t]:
			r.Problem(k, "%q is listed twice", t)
		case strings.Contains(m[3], "g"):
			r.Problem(k, "%q is an ARM (Graviton) type; the node groups run AL2023 x86_64 AMIs", t)
		case m[1] == "r" && m[2] == "3" && region != "" && !slices.Contains(r3Regions, region):
			r.Problem(k, "%q is not offered in %s (previous generation); use r5.4xlarge or r6i.4xlarge there, or a region that has r3", t, region)
		}
		seen[t] = true
	}
	if g.MinSize < minMin {
		r.Problem(key+".minSize", "%d: must be at least %d", g.MinSize, minMin)
	}
	if g.MaxSize < 1 {
		r.Problem(key+".maxSize", "%d: must be at least 1", g.MaxSize)
	}
	if g.MaxSize < g.MinSize {
		r.Problem(key+".maxSize", "%d is less than minSize %d", g.MaxSize, g.MinSize)
	}
	if g.DesiredSize < g.MinSize || g.DesiredSize > g.MaxSize {
		r.Problem(key+".desiredSize", "%d is outside minSize..maxSize (%d..%d)", g.DesiredSize, g.MinSize, g.MaxSize)
	}
	if g.DiskSizeGiB < 20 {
		r.Problem(key+".diskSizeGiB", "%d: the AL2023 root volume needs at least 20 GiB", g.DiskSizeGiB)
	}
}

// validateSourceCidr checks a block that clients come from: a CIDR, not the whole internet (leave the
// list empty for that where it is allowed) and not a documentation range.
func validateSourceCidr(r *reader, key, cidr string) {
	p, err := netip.ParsePrefix(cidr)
	switch {
	case err != nil:
		r.Problem(key, "%q is not a CIDR block", cidr)
	case p.Bits() == 0:
		r.Problem(key, "%s is the whole internet", cidr)
	case network.IsDocumentationRange(p):
		r.Problem(key, "%s is a documentation range (RFC 5737/3849), not a real network: list your office, VPN or CI runner addresses", cidr)
	}
}

// privatePrefix parses an IPv4 CIDR block inside the RFC 1918 ranges.
func privatePrefix(cidr string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 CIDR block", cidr)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", cidr, p.Masked())
	}
	if !p.Addr().IsPrivate() {
		return netip.Prefix{}, fmt.Errorf("%q is not in a private (RFC 1918) range", cidr)
	}
	return p, nil
}
