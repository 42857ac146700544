package policy

import (
	"net/netip"
	"slices"
	"strings"
)

// Resource types the platform rules read.
const (
	eksCluster        = "eks:index:Cluster"
	nodeGroup         = "aws:eks/nodeGroup:NodeGroup"
	launchTemplate    = "aws:ec2/launchTemplate:LaunchTemplate"
	ec2Instance       = "aws:ec2/instance:Instance"
	subnet            = "aws:ec2/subnet:Subnet"
	storageClass      = "kubernetes:storage.k8s.io/v1:StorageClass"
	storageClassPatch = "kubernetes:storage.k8s.io/v1:StorageClassPatch"
	helmRelease       = "kubernetes:helm.sh/v3:Release"
	defaultClassKey   = "storageclass.kubernetes.io/is-default-class"
)

// IMDSv2Required: launch templates and instances require session tokens for the instance metadata
// service, and every managed node group uses a launch template (the EKS default one doesn't enforce it).
func IMDSv2Required(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(launchTemplate, ec2Instance) {
		if tokens := str(r.Input("metadataOptions.httpTokens")); tokens != "required" {
			out = append(out, finding(r, "metadataOptions.httpTokens is %q, want required", tokens))
		}
	}
	for _, r := range rs.ByType(nodeGroup) {
		if r.Input("launchTemplate") == nil {
			out = append(out, finding(r, "no launch template: IMDSv2 is not enforced"))
		}
	}
	return out
}

// EncryptionAtRest: node volumes, Kubernetes secrets (envelope encryption with a rotating KMS key),
// EBS storage classes and the managed data stores are encrypted.
func EncryptionAtRest(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(launchTemplate) {
		for i, bdm := range list(r.Input("blockDeviceMappings")) {
			if ebs := obj(obj(bdm)["ebs"]); ebs != nil && str(ebs["encrypted"]) != "true" {
				out = append(out, finding(r, "blockDeviceMappings[%d] is not encrypted", i))
			}
		}
	}
	for _, r := range rs.ByType(eksCluster) {
		if str(r.Input("encryptionConfigKeyArn")) == "" {
			out = append(out, finding(r, "Kubernetes secrets are not envelope-encrypted (encryptionConfigKeyArn)"))
		}
	}
	for _, r := range rs.ByType("aws:kms/key:Key") {
		if r.Input("enableKeyRotation") != true {
			out = append(out, finding(r, "key rotation is off"))
		}
	}
	for _, r := range rs.ByType(storageClass) {
		if str(r.Input("provisioner")) == "ebs.csi.aws.com" && str(r.Input("parameters.encrypted")) != "true" {
			out = append(out, finding(r, "EBS volumes of this class are not encrypted"))
		}
	}
	for _, r := range rs.ByType("aws:rds/instance:Instance", "aws:rds/cluster:Cluster") {
		if r.Input("storageEncrypted") != true {
			out = append(out, finding(r, "storageEncrypted is off"))
		}
	}
	for _, r := range rs.ByType("aws:elasticache/replicationGroup:ReplicationGroup") {
		if r.Input("atRestEncryptionEnabled") != true || r.Input("transitEncryptionEnabled") != true {
			out = append(out, finding(r, "at-rest and in-transit encryption must both be on"))
		}
	}
	for _, r := range rs.ByType("aws:ebs/volume:Volume") {
		if r.Input("encrypted") != true {
			out = append(out, finding(r, "volume is not encrypted"))
		}
	}
	return out
}

// NoOpenIngress: no security group admits the whole internet, except on 80 and 443 (load balancers).
func NoOpenIngress(rs Resources) []Finding {
	var out []Finding
	check := func(r Resources, i int, cidrs []string, from, to any) {
		f, _ := num(from)
		t, _ := num(to)
		for _, c := range cidrs {
			if (c == "0.0.0.0/0" || c == "::/0") && !(f == t && (f == 80 || f == 443)) {
				out = append(out, finding(r[i], "ingress from %s on ports %d-%d", c, f, t))
			}
		}
	}
	sgs := rs.ByType("aws:ec2/securityGroup:SecurityGroup")
	for i, r := range sgs {
		for _, rule := range list(r.Input("ingress")) {
			m := obj(rule)
			check(sgs, i, append(strs(m["cidrBlocks"]), strs(m["ipv6CidrBlocks"])...), m["fromPort"], m["toPort"])
		}
	}
	rules := rs.ByType("aws:ec2/securityGroupRule:SecurityGroupRule")
	for i, r := range rules {
		if str(r.Input("type")) == "ingress" {
			check(rules, i, append(strs(r.Input("cidrBlocks")), strs(r.Input("ipv6CidrBlocks"))...), r.Input("fromPort"), r.Input("toPort"))
		}
	}
	ingress := rs.ByType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
	for i, r := range ingress {
		check(ingress, i, []string{str(r.Input("cidrIpv4")), str(r.Input("cidrIpv6"))}, r.Input("fromPort"), r.Input("toPort"))
	}
	return out
}

// PrivateClusterEndpoint: the API server has its private endpoint on, authenticates with access entries,
// and a public endpoint, if any, is limited to listed CIDRs (EKS opens it to 0.0.0.0/0 when none are).
func PrivateClusterEndpoint(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(eksCluster) {
		if r.Input("endpointPrivateAccess") != true {
			out = append(out, finding(r, "private endpoint access is off"))
		}
		if mode := str(r.Input("authenticationMode")); mode != "API" {
			out = append(out, finding(r, "authenticationMode is %q, want API (access entries)", mode))
		}
		if r.Input("endpointPublicAccess") == false {
			continue
		}
		cidrs := strs(r.Input("publicAccessCidrs"))
		if len(cidrs) == 0 {
			out = append(out, finding(r, "public endpoint without publicAccessCidrs is open to the internet"))
		}
		for _, c := range cidrs {
			if p, err := netip.ParsePrefix(c); err != nil || p.Bits() == 0 {
				out = append(out, finding(r, "public endpoint open to %s", c))
			}
		}
	}
	return out
}

// ControlPlaneLogging: the API server, audit and authenticator logs go to CloudWatch.
func ControlPlaneLogging(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(eksCluster) {
		got := strs(r.Input("enabledClusterLogTypes"))
		for _, want := range []string{"api", "audit", "authenticator"} {
			if !slices.Contains(got, want) {
				out = append(out, finding(r, "control-plane log %q is not enabled", want))
			}
		}
	}
	return out
}

// workerShapes are the instance types of the r3.4xlarge shape (16 vCPU, 122-128 GiB, x86_64).
var workerShapes = []string{"r3.4xlarge", "r4.4xlarge", "r5.4xlarge", "r5a.4xlarge", "r5b.4xlarge", "r5n.4xlarge", "r6i.4xlarge", "r6a.4xlarge", "r7i.4xlarge", "r7a.4xlarge"}

// WorkerGroupSpotR3First: an EKS stack has a spot worker group labelled role=linkage-worker, tainted
// linkage/worker=true:NoSchedule, with r3.4xlarge first and only same-shape fallbacks.
func WorkerGroupSpotR3First(rs Resources) []Finding {
	clusters := rs.ByType(eksCluster)
	if len(clusters) == 0 {
		return nil
	}
	var workers Resources
	for _, r := range rs.ByType(nodeGroup) {
		if str(r.Input("labels.role")) == "linkage-worker" {
			workers = append(workers, r)
		}
	}
	if len(workers) != 1 {
		return []Finding{finding(clusters[0], "%d node groups labelled role=linkage-worker, want 1", len(workers))}
	}
	var out []Finding
	w := workers[0]
	if c := str(w.Input("capacityType")); c != "SPOT" {
		out = append(out, finding(w, "capacityType is %q, want SPOT", c))
	}
	types := strs(w.Input("instanceTypes"))
	if len(types) == 0 || types[0] != "r3.4xlarge" {
		out = append(out, finding(w, "instance types %v: want r3.4xlarge first", types))
	}
	if len(types) < 2 {
		out = append(out, finding(w, "no fallback instance types: spot capacity of one type runs out"))
	}
	for _, t := range types {
		if !slices.Contains(workerShapes, t) {
			out = append(out, finding(w, "fallback %s is not of the r3.4xlarge shape", t))
		}
	}
	tainted := false
	for _, t := range list(w.Input("taints")) {
		m := obj(t)
		tainted = tainted || (str(m["key"]) == "linkage/worker" && str(m["value"]) == "true" && str(m["effect"]) == "NO_SCHEDULE")
	}
	if !tainted {
		out = append(out, finding(w, "missing taint linkage/worker=true:NoSchedule"))
	}
	return out
}

// NodeGroupsManagedAL2023: node groups run AL2023 AMIs (AL2 is no longer published) and leave the
// desired size to the autoscaler after creation.
func NodeGroupsManagedAL2023(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(nodeGroup) {
		if ami := str(r.Input("amiType")); !strings.HasPrefix(ami, "AL2023_") {
			out = append(out, finding(r, "amiType %q is not AL2023", ami))
		}
		if !slices.Contains(r.IgnoreChanges, "scalingConfig.desiredSize") {
			out = append(out, finding(r, "scalingConfig.desiredSize is not ignored: every update would undo the autoscaler"))
		}
	}
	for _, r := range rs.ByType(eksCluster) {
		if r.Input("skipDefaultNodeGroup") != true {
			out = append(out, finding(r, "the pulumi-eks default node group (launch configuration, AL2) is not skipped"))
		}
	}
	return out
}

// DefaultStorageClassGp3Encrypted: an EKS stack has exactly one default StorageClass, and it is EBS gp3,
// encrypted, WaitForFirstConsumer, expandable.
func DefaultStorageClassGp3Encrypted(rs Resources) []Finding {
	clusters := rs.ByType(eksCluster)
	if len(clusters) == 0 {
		return nil
	}
	var defaults Resources
	for _, r := range rs.ByType(storageClass) {
		if str(obj(r.Input("metadata.annotations"))[defaultClassKey]) == "true" {
			defaults = append(defaults, r)
		}
	}
	if len(defaults) != 1 {
		return []Finding{finding(clusters[0], "%d default storage classes, want 1", len(defaults))}
	}
	var out []Finding
	d := defaults[0]
	if p := str(d.Input("provisioner")); p != "ebs.csi.aws.com" {
		out = append(out, finding(d, "provisioner %q, want ebs.csi.aws.com", p))
	}
	if t := str(d.Input("parameters.type")); t != "gp3" {
		out = append(out, finding(d, "volume type %q, want gp3", t))
	}
	if str(d.Input("parameters.encrypted")) != "true" {
		out = append(out, finding(d, "volumes are not encrypted"))
	}
	if m := str(d.Input("volumeBindingMode")); m != "WaitForFirstConsumer" {
		out = append(out, finding(d, "volumeBindingMode %q, want WaitForFirstConsumer (volumes in the pod's AZ)", m))
	}
	if d.Input("allowVolumeExpansion") != true {
		out = append(out, finding(d, "volume expansion is not allowed"))
	}
	return out
}

// Gp2NotDefault: on EKS, the gp2 class EKS pre-creates is explicitly demoted, and nothing declares gp2
// as the default.
func Gp2NotDefault(rs Resources) []Finding {
	clusters := rs.ByType(eksCluster)
	if len(clusters) == 0 {
		return nil
	}
	var out []Finding
	demoted := false
	for _, r := range rs.ByType(storageClass, storageClassPatch) {
		if str(r.Input("metadata.name")) != "gp2" {
			continue
		}
		def := str(obj(r.Input("metadata.annotations"))[defaultClassKey])
		if def == "true" {
			out = append(out, finding(r, "gp2 is marked default"))
		}
		demoted = demoted || def == "false"
	}
	if !demoted {
		out = append(out, finding(clusters[0], "the gp2 storage class is not demoted from default"))
	}
	return out
}

// SubnetTags: every subnet is tagged for the cluster (kubernetes.io/cluster/<name>=shared) and for the
// load balancer controller (kubernetes.io/role/elb or internal-elb = 1), with both kinds present.
func SubnetTags(rs Resources) []Finding {
	subnets := rs.ByType(subnet)
	if len(subnets) == 0 {
		return nil
	}
	var clusterTags []string
	for _, c := range rs.ByType(eksCluster) {
		clusterTags = append(clusterTags, "kubernetes.io/cluster/"+str(c.Input("name")))
	}
	var out []Finding
	var public, private int
	for _, r := range subnets {
		tags := obj(r.Input("tags"))
		for _, ct := range clusterTags {
			if str(tags[ct]) != "shared" && str(tags[ct]) != "owned" {
				out = append(out, finding(r, "missing tag %s=shared", ct))
			}
		}
		elb, internal := str(tags["kubernetes.io/role/elb"]) == "1", str(tags["kubernetes.io/role/internal-elb"]) == "1"
		switch {
		case elb && internal:
			out = append(out, finding(r, "tagged both public (elb) and private (internal-elb)"))
		case elb:
			public++
		case internal:
			private++
		default:
			out = append(out, finding(r, "missing kubernetes.io/role/elb or kubernetes.io/role/internal-elb tag"))
		}
	}
	if public == 0 || private == 0 {
		out = append(out, finding(subnets[0], "%d public and %d private subnets tagged, want both kinds", public, private))
	}
	return out
}

// HelmChartsPinned: every Helm release names an exact chart version from an HTTPS repository.
func HelmChartsPinned(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(helmRelease) {
		v := str(r.Input("version"))
		if v == "" || strings.ContainsAny(v, "*^~><= x") {
			out = append(out, finding(r, "chart version %q is not pinned", v))
		}
		if repo := str(r.Input("repositoryOpts.repo")); repo != "" && !strings.HasPrefix(repo, "https://") && !strings.HasPrefix(repo, "oci://") {
			out = append(out, finding(r, "chart repository %q is not HTTPS", repo))
		}
	}
	return out
}
