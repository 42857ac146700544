package policy

import (
	"slices"
	"strings"

	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// Resource types the data rules read.
const (
	rdsInstance        = "aws:rds/instance:Instance"
	rdsParameterGroup  = "aws:rds/parameterGroup:ParameterGroup"
	replicationGroup   = "aws:elasticache/replicationGroup:ReplicationGroup"
	securityGroup      = "aws:ec2/securityGroup:SecurityGroup"
	bucket             = "aws:s3/bucketV2:BucketV2"
	bucketPAB          = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	bucketOwnership    = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
	bucketSSE          = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	bucketVersioning   = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	bucketLifecycle    = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"
	bucketPolicy       = "aws:s3/bucketPolicy:BucketPolicy"
	k8sSecret          = "kubernetes:core/v1:Secret"
	k8sConfigMap       = "kubernetes:core/v1:ConfigMap"
	k8sDeployment      = "kubernetes:apps/v1:Deployment"
	k8sStatefulSet     = "kubernetes:apps/v1:StatefulSet"
	k8sDaemonSet       = "kubernetes:apps/v1:DaemonSet"
	k8sJob             = "kubernetes:batch/v1:Job"
	k8sCronJob         = "kubernetes:batch/v1:CronJob"
	minBackupRetention = 7
)

// ProductionRules hold production stacks to more than every stack: data that survives an AZ outage
// and an accidental delete. The stack tests apply them to stacks that declare themselves production.
var ProductionRules = []Rule{
	{"prod-rds-protected", ProdRDSProtected},
	{"prod-redis-failover", ProdRedisFailover},
	{"prod-buckets-versioned", ProdBucketsVersioned},
	{"prod-nat-per-az", ProdNatPerAZ},
	{"prod-image-promoted", ProdImagePromoted},
}

// RDSPrivateTLS: databases are private, on gp3, and their parameter group forces TLS (rds.force_ssl=1).
func RDSPrivateTLS(rs Resources) []Finding {
	groups := map[string]pulumimock.Resource{}
	for _, g := range rs.ByType(rdsParameterGroup) {
		groups[str(pulumimock.Plain(g.Outputs, false)["name"])] = g
	}
	var out []Finding
	for _, r := range rs.ByType(rdsInstance) {
		if r.Input("publiclyAccessible") == true {
			out = append(out, finding(r, "publiclyAccessible is on"))
		}
		if t := str(r.Input("storageType")); t != "gp3" {
			out = append(out, finding(r, "storageType is %q, want gp3", t))
		}
		g, ok := groups[str(r.Input("parameterGroupName"))]
		if !ok {
			out = append(out, finding(r, "parameter group %q is not declared by this stack (TLS cannot be checked)", str(r.Input("parameterGroupName"))))
			continue
		}
		forced := false
		for _, p := range list(g.Input("parameters")) {
			if str(obj(p)["name"]) == "rds.force_ssl" && str(obj(p)["value"]) == "1" {
				forced = true
			}
		}
		if !forced {
			out = append(out, finding(r, "parameter group %s does not set rds.force_ssl=1", g.Name))
		}
	}
	return out
}

// DataStoresClientOnly: the security groups of databases and caches admit only other security groups
// (the cluster's nodes and pods), never address ranges.
func DataStoresClientOnly(rs Resources) []Finding {
	ids := map[string]pulumimock.Resource{}
	for _, sg := range rs.ByType(securityGroup) {
		ids[sg.ID] = sg
	}
	var out []Finding
	check := func(r pulumimock.Resource, sgIDs []string) {
		if len(sgIDs) == 0 {
			out = append(out, finding(r, "no security group: the VPC default group applies"))
		}
		for _, id := range sgIDs {
			sg, ok := ids[id]
			if !ok {
				out = append(out, finding(r, "security group %s is not declared by this stack", id))
				continue
			}
			for _, rule := range list(sg.Input("ingress")) {
				m := obj(rule)
				if len(strs(m["cidrBlocks"]))+len(strs(m["ipv6CidrBlocks"]))+len(strs(m["prefixListIds"])) > 0 || len(strs(m["securityGroups"])) == 0 {
					out = append(out, finding(r, "security group %s admits address ranges; want source security groups only", sg.Name))
				}
			}
		}
	}
	for _, r := range rs.ByType(rdsInstance) {
		check(r, strs(r.Input("vpcSecurityGroupIds")))
	}
	for _, r := range rs.ByType(replicationGroup) {
		check(r, strs(r.Input("securityGroupIds")))
	}
	return out
}

// bucketConfigs maps each bucket's id to the resources of a type that configure it.
func bucketConfigs(rs Resources, typ string) map[string][]pulumimock.Resource {
	out := map[string][]pulumimock.Resource{}
	for _, r := range rs.ByType(typ) {
		out[str(r.Input("bucket"))] = append(out[str(r.Input("bucket"))], r)
	}
	return out
}

// BucketsPrivate: every bucket blocks public access in all four ways, enforces bucket-owner object
// ownership (no ACLs), and no bucket policy allows anyone ("*").
func BucketsPrivate(rs Resources) []Finding {
	pabs, owners := bucketConfigs(rs, bucketPAB), bucketConfigs(rs, bucketOwnership)
	var out []Finding
	for _, b := range rs.ByType(bucket) {
		if len(pabs[b.ID]) == 0 {
			out = append(out, finding(b, "no public access block"))
		}
		for _, p := range pabs[b.ID] {
			for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
				if p.Input(k) != true {
					out = append(out, finding(b, "public access block: %s is off", k))
				}
			}
		}
		if len(owners[b.ID]) == 0 || str(owners[b.ID][0].Input("rule.objectOwnership")) != "BucketOwnerEnforced" {
			out = append(out, finding(b, "object ownership is not BucketOwnerEnforced (ACLs stay usable)"))
		}
		if str(b.Input("acl")) != "" && str(b.Input("acl")) != "private" {
			out = append(out, finding(b, "acl %q", str(b.Input("acl"))))
		}
	}
	for _, r := range rs.ByType(bucketPolicy) {
		doc, err := iampolicy.Parse(str(r.Input("policy")))
		if err != nil {
			out = append(out, finding(r, "%v", err))
			continue
		}
		for _, st := range doc.Statement {
			if st.Effect == "Allow" && (slices.Contains(st.Principal["AWS"], "*") || slices.Contains(st.Principal["*"], "*")) {
				out = append(out, finding(r, "statement %q allows any principal", st.Sid))
			}
		}
	}
	return out
}

// BucketsEncryptedAndTidy: every bucket has default server-side encryption and a lifecycle rule that
// aborts abandoned multipart uploads (they are billed and invisible otherwise).
func BucketsEncryptedAndTidy(rs Resources) []Finding {
	sses, lifecycles := bucketConfigs(rs, bucketSSE), bucketConfigs(rs, bucketLifecycle)
	var out []Finding
	for _, b := range rs.ByType(bucket) {
		encrypted := false
		for _, c := range sses[b.ID] {
			for _, rule := range list(c.Input("rules")) {
				if str(obj(obj(rule)["applyServerSideEncryptionByDefault"])["sseAlgorithm"]) != "" {
					encrypted = true
				}
			}
		}
		if !encrypted {
			out = append(out, finding(b, "no default server-side encryption"))
		}
		aborts := false
		for _, c := range lifecycles[b.ID] {
			for _, rule := range list(c.Input("rules")) {
				days, _ := num(obj(obj(rule)["abortIncompleteMultipartUpload"])["daysAfterInitiation"])
				aborts = aborts || (str(obj(rule)["status"]) == "Enabled" && days > 0)
			}
		}
		if !aborts {
			out = append(out, finding(b, "no lifecycle rule aborts incomplete multipart uploads"))
		}
	}
	return out
}

// secretInputs are inputs that hold a credential, by resource type.
var secretInputs = []struct{ typ, input string }{
	{rdsInstance, "password"},
	{"aws:rds/cluster:Cluster", "masterPassword"},
	{replicationGroup, "authToken"},
	{"aws:elasticache/user:User", "passwords"},
}

// secretEnvWords mark environment variables that hold credentials.
var secretEnvWords = []string{"PASSWORD", "SECRET", "TOKEN", "ACCESS_KEY"}

// literalCredential reports whether an environment variable with a literal value carries a credential:
// its name says so, or it is a URL with user information in it.
func literalCredential(name, value string) bool {
	if value == "" {
		return false
	}
	for _, w := range secretEnvWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return strings.HasSuffix(name, "_URL") && strings.Contains(value, "@")
}

// PasswordsOnlyAsSecrets: credentials are Pulumi secrets wherever they are inputs (database passwords,
// AUTH tokens, every value of a Kubernetes Secret), no ConfigMap holds one, and containers read
// credential-looking variables from Secrets, never from a literal value in the pod spec.
func PasswordsOnlyAsSecrets(rs Resources) []Finding {
	var out []Finding
	for _, si := range secretInputs {
		for _, r := range rs.ByType(si.typ) {
			if v, ok := pulumimock.Plain(r.Inputs, true)[si.input]; ok && v != pulumimock.Redacted {
				out = append(out, finding(r, "%s is not a secret", si.input))
			}
		}
	}
	for _, r := range rs.ByType(k8sSecret) {
		redacted := pulumimock.Plain(r.Inputs, true)
		for _, field := range []string{"stringData", "data"} {
			if v, ok := redacted[field]; ok && v != pulumimock.Redacted {
				for k, val := range obj(v) {
					if val != pulumimock.Redacted {
						out = append(out, finding(r, "%s.%s is not a secret", field, k))
					}
				}
			}
		}
	}
	for _, r := range rs.ByType(k8sConfigMap) {
		for k, v := range obj(r.Input("data")) {
			if literalCredential(strings.ToUpper(k), str(v)) {
				out = append(out, finding(r, "data.%s looks like a credential; keep it in a Secret", k))
			}
		}
	}
	for _, w := range workloads(rs) {
		for _, c := range w.containers {
			for _, e := range list(c["env"]) {
				env := obj(e)
				if name := strings.ToUpper(str(env["name"])); literalCredential(name, str(env["value"])) {
					out = append(out, finding(w.r, "container %s: %s is a literal value; read it from a Secret", str(c["name"]), name))
				}
			}
		}
	}
	return out
}

// workload is a Kubernetes object with a pod template.
type workload struct {
	r          pulumimock.Resource
	longLived  bool
	containers []map[string]any
}

func workloads(rs Resources) []workload {
	var out []workload
	for _, r := range rs.ByType(k8sDeployment, k8sStatefulSet, k8sDaemonSet, k8sJob, k8sCronJob) {
		spec := obj(r.Input("spec.template.spec"))
		if r.Type == k8sCronJob {
			spec = obj(r.Input("spec.jobTemplate.spec.template.spec"))
		}
		w := workload{r: r, longLived: r.Type != k8sJob && r.Type != k8sCronJob}
		for _, c := range append(list(spec["initContainers"]), list(spec["containers"])...) {
			w.containers = append(w.containers, obj(c))
		}
		out = append(out, w)
	}
	return out
}

// ContainersLimitedAndProbed: every container has CPU and memory requests and limits, and every
// container of a long-running workload has readiness and liveness probes.
func ContainersLimitedAndProbed(rs Resources) []Finding {
	var out []Finding
	for _, w := range workloads(rs) {
		for _, c := range w.containers {
			res := obj(c["resources"])
			for _, kind := range []string{"requests", "limits"} {
				for _, k := range []string{"cpu", "memory"} {
					if str(obj(res[kind])[k]) == "" {
						out = append(out, finding(w.r, "container %s has no %s %s", str(c["name"]), k, strings.TrimSuffix(kind, "s")))
					}
				}
			}
		}
		if !w.longLived {
			continue
		}
		for _, c := range list(obj(w.r.Input("spec.template.spec"))["containers"]) {
			c := obj(c)
			for _, probe := range []string{"readinessProbe", "livenessProbe"} {
				if c[probe] == nil {
					out = append(out, finding(w.r, "container %s has no %s", str(c["name"]), probe))
				}
			}
		}
	}
	return out
}

// PodsNonRoot: every pod runs as a non-root user without privilege escalation.
func PodsNonRoot(rs Resources) []Finding {
	var out []Finding
	for _, w := range workloads(rs) {
		spec := obj(w.r.Input("spec.template.spec"))
		if w.r.Type == k8sCronJob {
			spec = obj(w.r.Input("spec.jobTemplate.spec.template.spec"))
		}
		podNonRoot := obj(spec["securityContext"])["runAsNonRoot"] == true
		for _, c := range w.containers {
			sc := obj(c["securityContext"])
			if !podNonRoot && sc["runAsNonRoot"] != true {
				out = append(out, finding(w.r, "container %s may run as root (runAsNonRoot)", str(c["name"])))
			}
			if sc["allowPrivilegeEscalation"] != false {
				out = append(out, finding(w.r, "container %s allows privilege escalation", str(c["name"])))
			}
		}
	}
	return out
}

// ProdRDSProtected: production databases are Multi-AZ, deletion-protected, keep backups at least
// a week and have Performance Insights.
func ProdRDSProtected(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(rdsInstance) {
		for _, k := range []string{"multiAz", "deletionProtection", "performanceInsightsEnabled"} {
			if r.Input(k) != true {
				out = append(out, finding(r, "%s is off", k))
			}
		}
		if days, _ := num(r.Input("backupRetentionPeriod")); days < minBackupRetention {
			out = append(out, finding(r, "backupRetentionPeriod %d < %d days", days, minBackupRetention))
		}
		if r.Input("skipFinalSnapshot") == true {
			out = append(out, finding(r, "skipFinalSnapshot is on"))
		}
	}
	return out
}

// ProdRedisFailover: production Redis fails over automatically to a replica in another AZ.
func ProdRedisFailover(rs Resources) []Finding {
	var out []Finding
	for _, r := range rs.ByType(replicationGroup) {
		for _, k := range []string{"automaticFailoverEnabled", "multiAzEnabled"} {
			if r.Input(k) != true {
				out = append(out, finding(r, "%s is off", k))
			}
		}
	}
	return out
}

// ProdBucketsVersioned: production buckets keep overwritten and deleted objects.
func ProdBucketsVersioned(rs Resources) []Finding {
	versioning := bucketConfigs(rs, bucketVersioning)
	var out []Finding
	for _, b := range rs.ByType(bucket) {
		enabled := false
		for _, v := range versioning[b.ID] {
			enabled = enabled || str(v.Input("versioningConfiguration.status")) == "Enabled"
		}
		if !enabled {
			out = append(out, finding(b, "versioning is not enabled"))
		}
	}
	return out
}
