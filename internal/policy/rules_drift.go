package policy

import (
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/linkage-platform/linkage/components/network"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// Resource types the drift and safety rules read.
const (
	eksAddon      = "aws:eks/addon:Addon"
	vpcEndpoint   = "aws:ec2/vpcEndpoint:VpcEndpoint"
	routeTable    = "aws:ec2/routeTable:RouteTable"
	randomID      = "random:index/randomId:RandomId"
	k8sNamespace  = "kubernetes:core/v1:Namespace"
	k8sIngress    = "kubernetes:networking.k8s.io/v1:Ingress"
	k8sSA         = "kubernetes:core/v1:ServiceAccount"
	irsaRoleKey   = "eks.amazonaws.com/role-arn"
	readinessGate = "elbv2.k8s.aws/pod-readiness-gate-inject"
	targetTypeKey = "alb.ingress.kubernetes.io/target-type"
)

var majorVersionRe = regexp.MustCompile(`^\d+$`)

// RDSMajorVersionAutoMinor: a database names only its major version and lets RDS apply minor
// versions. A pinned minor with automatic upgrades makes the next update after a maintenance window
// try a downgrade; a pinned minor without them leaves security fixes unapplied.
func RDSMajorVersionAutoMinor(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(rdsInstance) {
		if v := str(r.Input("engineVersion")); !majorVersionRe.MatchString(v) {
			out = append(out, finding(r, "engineVersion %q is not a major version: it would fight the automatic minor upgrades", v))
		}
		if r.Input("autoMinorVersionUpgrade") != true {
			out = append(out, finding(r, "autoMinorVersionUpgrade is off: minor versions (security fixes) are never applied"))
		}
	}
	return out
}

// RDSFinalSnapshotUnique: a database that keeps a final snapshot names it with a random suffix of
// this stack, so that deleting a replacement does not fail on the snapshot its predecessor left.
func RDSFinalSnapshotUnique(rs Resources) []Finding {
	var suffixes []string
	for _, id := range rs.ByType(randomID) {
		if hex := str(pulumimock.Plain(id.Outputs, false)["hex"]); hex != "" {
			suffixes = append(suffixes, hex)
		}
	}
	var out []Finding
	for _, r := range rs.ByType(rdsInstance) {
		if r.Input("skipFinalSnapshot") == true {
			continue
		}
		name := str(r.Input("finalSnapshotIdentifier"))
		switch {
		case name == "":
			out = append(out, finding(r, "keeps a final snapshot but names none"))
		case !slices.ContainsFunc(suffixes, func(s string) bool { return strings.HasSuffix(name, s) }):
			out = append(out, finding(r, "finalSnapshotIdentifier %q has no random suffix: a replacement's final snapshot collides with its predecessor's", name))
		}
	}
	return out
}

// SubnetsInEKSZones: subnets are placed by zone id (names differ between accounts) and never in a
// zone where EKS refuses control-plane subnets.
func SubnetsInEKSZones(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(subnet) {
		id := str(r.Input("availabilityZoneId"))
		switch {
		case id == "":
			out = append(out, finding(r, "placed by zone name %q, not by zone id: names map to different zones in each account", str(r.Input("availabilityZone"))))
		case slices.Contains(network.EKSUnsupportedZoneIDs, id):
			out = append(out, finding(r, "zone %s does not support EKS", id))
		}
	}
	return out
}

// NodeGroupsAfterVpcCni: node groups wait for the vpc-cni add-on (and so its IRSA role): a node that
// boots first runs a CNI without permissions and never becomes Ready.
func NodeGroupsAfterVpcCni(rs Resources) []Finding {
	var cni []string
	for _, a := range rs.ByType(eksAddon) {
		if str(a.Input("addonName")) == "vpc-cni" {
			cni = append(cni, a.URN)
		}
	}
	var out []Finding
	for _, r := range rs.ByType(nodeGroup) {
		if !slices.ContainsFunc(cni, func(urn string) bool { return slices.Contains(r.DependsOn, urn) }) {
			out = append(out, finding(r, "does not depend on the vpc-cni add-on"))
		}
	}
	return out
}

// PodReadinessGates: the namespace of every Ingress with target-type ip has the load balancer
// controller inject readiness gates, so pods leave rotation only once the ALB has their successors.
func PodReadinessGates(rs Resources) []Finding {
	labelled := map[string]bool{}
	for _, ns := range rs.ByType(k8sNamespace) {
		labelled[str(ns.Input("metadata.name"))] = str(obj(ns.Input("metadata.labels"))[readinessGate]) == "enabled"
	}
	var out []Finding
	for _, r := range rs.ByType(k8sIngress) {
		if str(obj(r.Input("metadata.annotations"))[targetTypeKey]) != "ip" {
			continue
		}
		if ns := str(r.Input("metadata.namespace")); !labelled[ns] {
			out = append(out, finding(r, "target-type ip in namespace %q without %s=enabled: rollouts and spot drains answer 5xx", ns, readinessGate))
		}
	}
	return out
}

// JobsWithoutAppRole: no Job runs under a ServiceAccount that carries an IAM role (the app's S3
// access): Jobs get their own identities with only what they need.
func JobsWithoutAppRole(rs Resources) []Finding {
	withRole := map[string]bool{}
	for _, sa := range rs.ByType(k8sSA) {
		if str(obj(sa.Input("metadata.annotations"))[irsaRoleKey]) != "" {
			withRole[str(sa.Input("metadata.namespace"))+"/"+str(sa.Input("metadata.name"))] = true
		}
	}
	var out []Finding
	for _, r := range rs.ByType(k8sJob) {
		sa := str(r.Input("spec.template.spec.serviceAccountName"))
		if sa == "" {
			sa = "default"
		}
		if withRole[str(r.Input("metadata.namespace"))+"/"+sa] {
			out = append(out, finding(r, "runs as ServiceAccount %s, which has an IAM role", sa))
		}
	}
	return out
}

// natRouteTables are the route tables whose default route goes through a NAT gateway, with its id.
func natRouteTables(rs Resources) (tables Resources, nats []string) {
	for _, r := range rs.ByType(routeTable) {
		for _, route := range list(r.Input("routes")) {
			if id := str(obj(route)["natGatewayId"]); id != "" {
				tables, nats = append(tables, r), append(nats, id)
				break
			}
		}
	}
	return tables, nats
}

// S3GatewayEndpoint: every route table that egresses through NAT also routes S3 to a gateway
// endpoint, so bulk CLK and result traffic is not billed per GB through the NAT gateways.
func S3GatewayEndpoint(rs Resources) []Finding {
	routed := map[string]bool{}
	for _, e := range rs.ByType(vpcEndpoint) {
		if str(e.Input("vpcEndpointType")) == "Gateway" && strings.HasSuffix(str(e.Input("serviceName")), ".s3") {
			for _, id := range strs(e.Input("routeTableIds")) {
				routed[id] = true
			}
		}
	}
	tables, _ := natRouteTables(rs)
	var out []Finding
	for _, r := range tables {
		if !routed[r.ID] {
			out = append(out, finding(r, "S3 traffic from this route table goes through NAT: no S3 gateway endpoint"))
		}
	}
	return out
}

// ProdNatPerAZ: each private route table egresses through its own NAT gateway, so one AZ's outage
// does not cut the others off and image pulls spread over one address per AZ.
func ProdNatPerAZ(rs Resources) []Finding {
	tables, nats := natRouteTables(rs)
	var out []Finding
	for i, r := range tables {
		if j := slices.Index(nats, nats[i]); j != i {
			out = append(out, finding(r, "shares NAT gateway %s with %s", nats[i], tables[j].Name))
		}
	}
	return out
}

// ProdImagePromoted: production builds nothing; it runs, by digest, the image another stack built and
// tested, so what passed dev's smoke test is byte for byte what serves production.
func ProdImagePromoted(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType("docker:index/image:Image") {
		out = append(out, finding(r, "production builds an image: promote the digest dev tested instead"))
	}
	for _, r := range rs.ByType(k8sDeployment, k8sJob) {
		for _, c := range list(r.Input("spec.template.spec.containers")) {
			if image := str(obj(c)["image"]); strings.Contains(image, ".dkr.ecr.") && !strings.Contains(image, "@sha256:") {
				out = append(out, finding(r, "image %s is not a digest", image))
			}
		}
	}
	return out
}

// minioRelease matches a MinIO server image's release tag (minio/minio, alpine/minio, quay.io/...).
var minioRelease = regexp.MustCompile(`(^|/)minio:RELEASE\.(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)`)

// minioFixed is the release that fixes CVE-2025-62506 (privilege escalation through session
// policies); MinIO published no image of it.
const minioFixed = "2025-10-15T17-29-55Z"

// MinioPatched: no MinIO server runs a release older than the CVE-2025-62506 fix.
func MinioPatched(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(k8sDeployment, k8sStatefulSet, k8sDaemonSet, k8sJob) {
		for _, c := range list(r.Input("spec.template.spec.containers")) {
			image := str(obj(c)["image"])
			if m := minioRelease.FindStringSubmatch(image); m != nil && m[2] < minioFixed {
				out = append(out, finding(r, "image %s predates RELEASE.%s (CVE-2025-62506)", image, minioFixed))
			}
		}
	}
	return out
}

// RDSVerifyFull: the app verifies the database server: with an RDS instance in the stack, every
// DATABASE_URL handed to the app uses sslmode=verify-full with a CA bundle that its Secret carries.
func RDSVerifyFull(rs Resources) []Finding {
	if len(rs.ByType(rdsInstance)) == 0 {
		return nil
	}
	var out []Finding
	for _, r := range rs.ByType(k8sSecret) {
		data := obj(r.Input("stringData"))
		raw := str(data["DATABASE_URL"])
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			out = append(out, finding(r, "DATABASE_URL does not parse"))
			continue
		}
		q := u.Query()
		if mode := q.Get("sslmode"); mode != "verify-full" {
			out = append(out, finding(r, "DATABASE_URL has sslmode=%s: the server's certificate is not verified (want verify-full)", mode))
		}
		if root := q.Get("sslrootcert"); root == "" || str(data[path.Base(root)]) == "" {
			out = append(out, finding(r, "DATABASE_URL names no CA bundle the Secret carries (sslrootcert %q)", root))
		}
	}
	return out
}
