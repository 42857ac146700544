// Package policy holds the security and sanity rules a reviewer would check on a stack, as named
// functions over the resources the program declares (recorded under mocks): they run in `go test` on
// the plan of every stack file, so a change that breaks one fails CI before anyone runs `pulumi up`.
package policy

import (
	"fmt"
	"sort"

	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// Resources are the recorded resources of one stack.
type Resources []pulumimock.Resource

// ByType returns the resources of any of the type tokens.
func (rs Resources) ByType(types ...string) Resources {
	var out Resources
	for _, r := range rs {
		for _, t := range types {
			if r.Type == t {
				out = append(out, r)
			}
		}
	}
	return out
}

// Finding is one place where a rule is broken.
type Finding struct {
	URN    string
	Reason string
}

// Rule is a named check.
type Rule struct {
	Name  string
	Check func(Resources) []Finding
}

// Violation is a finding of a rule.
type Violation struct {
	Rule string
	Finding
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s: %s", v.Rule, v.URN, v.Reason)
}

// Rules are every rule the stacks must pass. Rules that concern resources a stack doesn't declare
// pass vacuously (the kubeconfig platform has no IAM, subnets or node groups).
var Rules = []Rule{
	{"irsa-trust-exact", IRSATrustExact},
	{"no-wildcard-iam-actions", NoWildcardActions},
	{"imdsv2-required", IMDSv2Required},
	{"encryption-at-rest", EncryptionAtRest},
	{"no-open-ingress", NoOpenIngress},
	{"private-cluster-endpoint", PrivateClusterEndpoint},
	{"control-plane-logging", ControlPlaneLogging},
	{"worker-group-spot-r3-first", WorkerGroupSpotR3First},
	{"node-groups-managed-al2023", NodeGroupsManagedAL2023},
	{"default-storage-class-gp3-encrypted", DefaultStorageClassGp3Encrypted},
	{"gp2-not-default", Gp2NotDefault},
	{"subnet-tags", SubnetTags},
	{"helm-charts-pinned", HelmChartsPinned},
	{"rds-private-tls", RDSPrivateTLS},
	{"data-stores-client-only", DataStoresClientOnly},
	{"buckets-private", BucketsPrivate},
	{"buckets-encrypted-and-tidy", BucketsEncryptedAndTidy},
	{"passwords-only-as-secrets", PasswordsOnlyAsSecrets},
	{"containers-limited-and-probed", ContainersLimitedAndProbed},
	{"pods-non-root", PodsNonRoot},
	{"rds-major-version-auto-minor", RDSMajorVersionAutoMinor},
	{"rds-final-snapshot-unique", RDSFinalSnapshotUnique},
	{"subnets-in-eks-zones", SubnetsInEKSZones},
	{"node-groups-after-vpc-cni", NodeGroupsAfterVpcCni},
	{"pod-readiness-gates", PodReadinessGates},
	{"jobs-without-app-role", JobsWithoutAppRole},
	{"s3-gateway-endpoint", S3GatewayEndpoint},
	{"node-autoscaler", NodeAutoscaler},
	{"metrics-server-for-hpa", MetricsServerForHPA},
	{"scale-from-zero-tags", ScaleFromZeroTags},
	{"internet-facing-tls", InternetFacingTLS},
	{"no-documentation-ranges", NoDocumentationRanges},
	{"ci-principals", CIPrincipals},
	{"minio-patched", MinioPatched},
	{"rds-verify-full", RDSVerifyFull},
	{"cluster-addons-after-nodes", ClusterAddonsAfterNodes},
}

// Evaluate runs every rule and returns the violations sorted by rule and URN.
func Evaluate(rs Resources) []Violation {
	var out []Violation
	for _, rule := range Rules {
		for _, f := range rule.Check(rs) {
			out = append(out, Violation{Rule: rule.Name, Finding: f})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Rule != out[j].Rule {
			return out[i].Rule < out[j].Rule
		}
		return out[i].URN < out[j].URN
	})
	return out
}

// Helpers reading plain input values.

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func num(v any) (int, bool) {
	f, ok := v.(float64)
	return int(f), ok
}

func strs(v any) []string {
	var out []string
	for _, e := range list(v) {
		out = append(out, str(e))
	}
	return out
}

func finding(r pulumimock.Resource, format string, args ...any) Finding {
	return Finding{URN: r.URN, Reason: fmt.Sprintf(format, args...)}
}
