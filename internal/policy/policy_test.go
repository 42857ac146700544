package policy_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/internal/plan"
	"github.com/linkage-platform/linkage/internal/policy"
	"github.com/linkage-platform/linkage/internal/pulumimock"
	"github.com/linkage-platform/linkage/stacks"
)

// root holds Pulumi.yaml and the stack files.
const root = "../.."

// TestEveryStackPassesEveryRule covers every Pulumi.<stack>.yaml present, including stacks added later.
func TestEveryStackPassesEveryRule(t *testing.T) {
	names, err := plan.Stacks(root)
	require.NoError(t, err)
	require.Contains(t, names, "dev")
	require.Contains(t, names, "prod")
	for _, stack := range names {
		t.Run(stack, func(t *testing.T) {
			p, err := plan.Build(root, stack, stacks.Run)
			require.NoError(t, err)
			require.NotEmpty(t, p.Resources)
			for _, v := range policy.Evaluate(p.Resources) {
				t.Error(v)
			}
		})
	}
}

var (
	prodOnce sync.Once
	prodPlan *plan.Plan
	prodErr  error
)

// prod is the prod stack's plan: the rules are shown to catch bad inputs by breaking it one value at
// a time.
func prod(t *testing.T) policy.Resources {
	prodOnce.Do(func() { prodPlan, prodErr = plan.Build(root, "prod", stacks.Run) })
	require.NoError(t, prodErr)
	return slices.Clone(policy.Resources(prodPlan.Resources))
}

// mutate returns rs with the named resource changed by f, which gets its plain inputs.
func mutate(t *testing.T, rs policy.Resources, typ, name string, f func(r *pulumimock.Resource, in map[string]any)) policy.Resources {
	t.Helper()
	// An edit that meets inputs of another shape than it expects fails the case instead of the run.
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("editing %s %s: the inputs are not shaped as the case expects: %v", typ, name, r)
		}
	}()
	for i := range rs {
		if rs[i].Type == typ && rs[i].Name == name {
			in := pulumimock.Plain(rs[i].Inputs, false)
			f(&rs[i], in)
			rs[i].Inputs = resource.NewPropertyMapFromMap(in)
			return rs
		}
	}
	t.Fatalf("no %s named %s in the prod plan", typ, name)
	return nil
}

// editPolicy rewrites a policy document input.
func editPolicy(key string, f func(d *iampolicy.Document)) func(*pulumimock.Resource, map[string]any) {
	return func(_ *pulumimock.Resource, in map[string]any) {
		d, err := iampolicy.Parse(in[key].(string))
		if err != nil {
			panic(err)
		}
		f(&d)
		in[key] = d.JSON()
	}
}

func editTrust(f func(st *iampolicy.Statement, host string)) func(*pulumimock.Resource, map[string]any) {
	return editPolicy("assumeRolePolicy", func(d *iampolicy.Document) {
		st := &d.Statement[0]
		for k := range st.Condition["StringEquals"] {
			host := k[:len(k)-4]
			f(st, host)
			return
		}
	})
}

func sub(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

const (
	role  = "aws:iam/role:Role"
	ng    = "aws:eks/nodeGroup:NodeGroup"
	lt    = "aws:ec2/launchTemplate:LaunchTemplate"
	eks   = "eks:index:Cluster"
	sc    = "kubernetes:storage.k8s.io/v1:StorageClass"
	lbRol = "linkage-lb-controller"
	rds   = "aws:rds/instance:Instance"
)

// keepPassword edits the RDS instance's inputs and keeps its password a secret (mutate reveals
// secrets), so that only the rule under test fires.
func keepPassword(f func(in map[string]any)) func(*pulumimock.Resource, map[string]any) {
	return func(_ *pulumimock.Resource, in map[string]any) {
		f(in)
		in["password"] = resource.MakeSecret(resource.NewProperty(in["password"].(string)))
	}
}

func TestRulesCatchBadInputs(t *testing.T) {
	cases := []struct {
		rule, name string
		typ, res   string
		edit       func(r *pulumimock.Resource, in map[string]any)
		reason     string
	}{
		{"irsa-trust-exact", "StringLike", role, lbRol, editTrust(func(st *iampolicy.Statement, _ string) {
			st.Condition = map[string]map[string]iampolicy.Strings{"StringLike": st.Condition["StringEquals"]}
		}), "want StringEquals only"},
		{"irsa-trust-exact", "no audience", role, lbRol, editTrust(func(st *iampolicy.Statement, host string) {
			delete(st.Condition["StringEquals"], host+":aud")
		}), "want exactly"},
		{"irsa-trust-exact", "wildcard subject", role, lbRol, editTrust(func(st *iampolicy.Statement, host string) {
			st.Condition["StringEquals"][host+":sub"] = iampolicy.Strings{"system:serviceaccount:kube-system:*"}
		}), "is not exactly one service account"},
		{"irsa-trust-exact", "foreign provider", role, lbRol, editTrust(func(st *iampolicy.Statement, _ string) {
			st.Principal["Federated"] = iampolicy.Strings{"arn:aws:iam::999999999999:oidc-provider/example.com"}
		}), "is not exactly one OIDC provider of this stack"},
		{"irsa-trust-exact", "extra action", role, lbRol, editTrust(func(st *iampolicy.Statement, _ string) {
			st.Action = append(st.Action, "sts:AssumeRole")
		}), "want only sts:AssumeRoleWithWebIdentity"},
		{"no-wildcard-iam-actions", "star", "aws:iam/policy:Policy", lbRol, editPolicy("policy", func(d *iampolicy.Document) {
			d.Statement = append(d.Statement, iampolicy.Allow("Everything", []string{"*"}, "*"))
		}), "allows every action"},
		{"no-wildcard-iam-actions", "NotAction", "aws:iam/rolePolicy:RolePolicy", "linkage-flow-logs", editPolicy("policy", func(d *iampolicy.Document) {
			d.Statement[0].Action, d.Statement[0].NotAction = nil, iampolicy.Strings{"iam:*"}
		}), "NotAction"},
		{"imdsv2-required", "optional tokens", lt, "linkage-worker", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "metadataOptions")["httpTokens"] = "optional"
		}, `httpTokens is "optional"`},
		{"imdsv2-required", "no launch template", ng, "linkage-system", func(_ *pulumimock.Resource, in map[string]any) {
			delete(in, "launchTemplate")
		}, "no launch template"},
		{"encryption-at-rest", "root volume", lt, "linkage-system", func(_ *pulumimock.Resource, in map[string]any) {
			in["blockDeviceMappings"].([]any)[0].(map[string]any)["ebs"].(map[string]any)["encrypted"] = "false"
		}, "blockDeviceMappings[0] is not encrypted"},
		{"encryption-at-rest", "secrets", eks, "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			delete(in, "encryptionConfigKeyArn")
		}, "not envelope-encrypted"},
		{"encryption-at-rest", "key rotation", "aws:kms/key:Key", "linkage-secrets", func(_ *pulumimock.Resource, in map[string]any) {
			in["enableKeyRotation"] = false
		}, "key rotation is off"},
		{"encryption-at-rest", "storage class", sc, "linkage-gp3-retain", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "parameters")["encrypted"] = "false"
		}, "not encrypted"},
		{"private-cluster-endpoint", "no CIDRs", eks, "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			in["endpointPublicAccess"] = true
			delete(in, "publicAccessCidrs")
		}, "open to the internet"},
		{"private-cluster-endpoint", "whole internet", eks, "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			in["endpointPublicAccess"] = true
			in["publicAccessCidrs"] = []any{"0.0.0.0/0"}
		}, "public endpoint open to 0.0.0.0/0"},
		{"private-cluster-endpoint", "no private endpoint", eks, "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			in["endpointPrivateAccess"] = false
		}, "private endpoint access is off"},
		{"private-cluster-endpoint", "aws-auth", eks, "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			in["authenticationMode"] = "CONFIG_MAP"
		}, "want API"},
		{"control-plane-logging", "no audit", eks, "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			in["enabledClusterLogTypes"] = []any{"api", "authenticator"}
		}, `"audit" is not enabled`},
		{"worker-group-spot-r3-first", "on demand", ng, "linkage-worker", func(_ *pulumimock.Resource, in map[string]any) {
			in["capacityType"] = "ON_DEMAND"
		}, "want SPOT"},
		{"worker-group-spot-r3-first", "r3 not first", ng, "linkage-worker", func(_ *pulumimock.Resource, in map[string]any) {
			in["instanceTypes"] = []any{"r5.4xlarge", "r3.4xlarge"}
		}, "want r3.4xlarge first"},
		{"worker-group-spot-r3-first", "other shape", ng, "linkage-worker", func(_ *pulumimock.Resource, in map[string]any) {
			in["instanceTypes"] = []any{"r3.4xlarge", "m5.large"}
		}, "m5.large is not of the r3.4xlarge shape"},
		{"worker-group-spot-r3-first", "no fallback", ng, "linkage-worker", func(_ *pulumimock.Resource, in map[string]any) {
			in["instanceTypes"] = []any{"r3.4xlarge"}
		}, "no fallback instance types"},
		{"worker-group-spot-r3-first", "untainted", ng, "linkage-worker", func(_ *pulumimock.Resource, in map[string]any) {
			delete(in, "taints")
		}, "missing taint"},
		{"worker-group-spot-r3-first", "no worker group", ng, "linkage-worker", func(_ *pulumimock.Resource, in map[string]any) {
			in["labels"] = map[string]any{"role": "system"}
			sub(in, "scalingConfig")["minSize"] = 1.0 // not empty: its scale-from-zero tags no longer apply
		}, "0 node groups labelled role=linkage-worker"},
		{"node-groups-managed-al2023", "AL2", ng, "linkage-highmem", func(_ *pulumimock.Resource, in map[string]any) {
			in["amiType"] = "AL2_x86_64"
		}, "is not AL2023"},
		{"node-groups-managed-al2023", "desired size managed", ng, "linkage-system", func(r *pulumimock.Resource, _ map[string]any) {
			r.IgnoreChanges = nil
		}, "desiredSize is not ignored"},
		{"node-groups-managed-al2023", "default node group", eks, "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			in["skipDefaultNodeGroup"] = false
		}, "default node group"},
		{"default-storage-class-gp3-encrypted", "no default", sc, "linkage-gp3", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "metadata", "annotations")["storageclass.kubernetes.io/is-default-class"] = "false"
		}, "0 default storage classes"},
		{"default-storage-class-gp3-encrypted", "gp2 volumes", sc, "linkage-gp3", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "parameters")["type"] = "gp2"
		}, `volume type "gp2"`},
		{"default-storage-class-gp3-encrypted", "immediate binding", sc, "linkage-gp3", func(_ *pulumimock.Resource, in map[string]any) {
			in["volumeBindingMode"] = "Immediate"
		}, "want WaitForFirstConsumer"},
		{"gp2-not-default", "gp2 kept default", "kubernetes:storage.k8s.io/v1:StorageClassPatch", "linkage-gp2", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "metadata", "annotations")["storageclass.kubernetes.io/is-default-class"] = "true"
		}, "gp2 is marked default"},
		{"subnet-tags", "cluster tag", "aws:ec2/subnet:Subnet", "linkage-private-us-east-1b", func(_ *pulumimock.Resource, in map[string]any) {
			delete(sub(in, "tags"), "kubernetes.io/cluster/linkage-prod")
		}, "missing tag kubernetes.io/cluster/linkage-prod=shared"},
		{"subnet-tags", "role tag", "aws:ec2/subnet:Subnet", "linkage-public-us-east-1a", func(_ *pulumimock.Resource, in map[string]any) {
			delete(sub(in, "tags"), "kubernetes.io/role/elb")
		}, "missing kubernetes.io/role/elb or kubernetes.io/role/internal-elb tag"},
		{"helm-charts-pinned", "range", "kubernetes:helm.sh/v3:Release", lbRol, func(_ *pulumimock.Resource, in map[string]any) {
			in["version"] = "^1.13"
		}, "is not pinned"},
		{"helm-charts-pinned", "plain HTTP repo", "kubernetes:helm.sh/v3:Release", lbRol, func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "repositoryOpts")["repo"] = "http://charts.example.com"
		}, "is not HTTPS"},
		{"rds-private-tls", "TLS not forced", "aws:rds/parameterGroup:ParameterGroup", "linkage-postgres", func(_ *pulumimock.Resource, in map[string]any) {
			in["parameters"] = []any{}
		}, "does not set rds.force_ssl=1"},
		{"data-stores-client-only", "address range", "aws:ec2/securityGroup:SecurityGroup", "linkage-redis", func(_ *pulumimock.Resource, in map[string]any) {
			in["ingress"].([]any)[0].(map[string]any)["cidrBlocks"] = []any{"10.0.0.0/8"}
		}, "admits address ranges"},
		{"buckets-private", "public policy allowed", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "linkage-objectstore", func(_ *pulumimock.Resource, in map[string]any) {
			in["blockPublicPolicy"] = false
		}, "blockPublicPolicy is off"},
		{"buckets-private", "ACLs", "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "linkage-objectstore", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "rule")["objectOwnership"] = "ObjectWriter"
		}, "not BucketOwnerEnforced"},
		{"buckets-private", "public read", "aws:s3/bucketPolicy:BucketPolicy", "linkage-objectstore", editPolicy("policy", func(d *iampolicy.Document) {
			d.Statement = append(d.Statement, iampolicy.Statement{Effect: "Allow", Principal: map[string]iampolicy.Strings{"AWS": {"*"}},
				Action: iampolicy.Strings{"s3:GetObject"}, Resource: iampolicy.Strings{"arn:aws:s3:::x/*"}})
		}), "allows any principal"},
		{"buckets-encrypted-and-tidy", "no SSE", "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "linkage-objectstore", func(_ *pulumimock.Resource, in map[string]any) {
			in["rules"] = []any{}
		}, "no default server-side encryption"},
		{"buckets-encrypted-and-tidy", "multipart uploads kept", "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "linkage-objectstore", func(_ *pulumimock.Resource, in map[string]any) {
			in["rules"] = in["rules"].([]any)[1:]
		}, "aborts incomplete multipart uploads"},
		{"passwords-only-as-secrets", "plain password", "aws:rds/instance:Instance", "linkage-postgres", func(*pulumimock.Resource, map[string]any) {
			// mutate turns every input into a plain value: the password is no longer a secret.
		}, "password is not a secret"},
		{"passwords-only-as-secrets", "literal env", "kubernetes:apps/v1:Deployment", "linkage-api", func(_ *pulumimock.Resource, in map[string]any) {
			c := sub(in, "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
			c["env"] = append(c["env"].([]any), map[string]any{"name": "DATABASE_URL", "value": "postgres://u:p@db/x"})
		}, "DATABASE_URL is a literal value"},
		{"containers-limited-and-probed", "no readiness probe", "kubernetes:apps/v1:Deployment", "linkage-api", func(_ *pulumimock.Resource, in map[string]any) {
			delete(sub(in, "spec", "template", "spec")["containers"].([]any)[0].(map[string]any), "readinessProbe")
		}, "has no readinessProbe"},
		{"containers-limited-and-probed", "no memory limit", "kubernetes:batch/v1:Job", "linkage-migrate", func(_ *pulumimock.Resource, in map[string]any) {
			c := sub(in, "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
			delete(sub(c, "resources", "limits"), "memory")
		}, "has no memory limit"},
		{"pods-non-root", "privilege escalation", "kubernetes:apps/v1:Deployment", "linkage-worker", func(_ *pulumimock.Resource, in map[string]any) {
			c := sub(in, "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
			sub(c, "securityContext")["allowPrivilegeEscalation"] = true
		}, "allows privilege escalation"},
		{"rds-major-version-auto-minor", "minor pinned", rds, "linkage-postgres", keepPassword(func(in map[string]any) {
			in["engineVersion"] = "17.6"
		}), "would fight the automatic minor upgrades"},
		{"rds-major-version-auto-minor", "no minor upgrades", rds, "linkage-postgres", keepPassword(func(in map[string]any) {
			in["autoMinorVersionUpgrade"] = false
		}), "autoMinorVersionUpgrade is off"},
		{"rds-final-snapshot-unique", "fixed name", rds, "linkage-postgres", keepPassword(func(in map[string]any) {
			in["finalSnapshotIdentifier"] = "linkage-postgres-final"
		}), "has no random suffix"},
		{"rds-final-snapshot-unique", "no name", rds, "linkage-postgres", keepPassword(func(in map[string]any) {
			delete(in, "finalSnapshotIdentifier")
		}), "names none"},
		{"subnets-in-eks-zones", "unsupported zone", "aws:ec2/subnet:Subnet", "linkage-private-us-east-1b", func(_ *pulumimock.Resource, in map[string]any) {
			in["availabilityZoneId"] = "use1-az3"
		}, "zone use1-az3 does not support EKS"},
		{"subnets-in-eks-zones", "by name", "aws:ec2/subnet:Subnet", "linkage-public-us-east-1a", func(_ *pulumimock.Resource, in map[string]any) {
			delete(in, "availabilityZoneId")
			in["availabilityZone"] = "us-east-1a"
		}, "not by zone id"},
		{"node-groups-after-vpc-cni", "races the CNI", ng, "linkage-worker", func(r *pulumimock.Resource, _ map[string]any) {
			r.DependsOn = slices.DeleteFunc(slices.Clone(r.DependsOn), func(urn string) bool { return strings.HasSuffix(urn, "::linkage-vpc-cni") })
		}, "does not depend on the vpc-cni add-on"},
		{"pod-readiness-gates", "no label", "kubernetes:core/v1:Namespace", "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			delete(sub(in, "metadata", "labels"), "elbv2.k8s.aws/pod-readiness-gate-inject")
		}, "without elbv2.k8s.aws/pod-readiness-gate-inject=enabled"},
		{"jobs-without-app-role", "smoke test as the app", "kubernetes:batch/v1:Job", "linkage-smoke", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "spec", "template", "spec")["serviceAccountName"] = "linkage"
		}, "runs as ServiceAccount linkage, which has an IAM role"},
		{"node-autoscaler", "no autoscaler", "kubernetes:helm.sh/v3:Release", "linkage-cluster-autoscaler", func(_ *pulumimock.Resource, in map[string]any) {
			in["chart"] = "something-else"
		}, "0 cluster-autoscaler releases"},
		{"node-autoscaler", "other minor", "kubernetes:helm.sh/v3:Release", "linkage-cluster-autoscaler", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "values", "image")["tag"] = "v1.20.0"
		}, "is not of the cluster's minor version"},
		{"node-autoscaler", "node role", "kubernetes:helm.sh/v3:Release", "linkage-cluster-autoscaler", func(_ *pulumimock.Resource, in map[string]any) {
			delete(sub(in, "values", "rbac", "serviceAccount"), "annotations")
		}, "has no IRSA role"},
		{"node-autoscaler", "any group", "aws:iam/rolePolicy:RolePolicy", "linkage-cluster-autoscaler", editPolicy("policy", func(d *iampolicy.Document) {
			d.Statement[1].Condition = nil
		}), "without a condition on the cluster's owned tag"},
		{"metrics-server-for-hpa", "no metrics", "kubernetes:helm.sh/v3:Release", "linkage-metrics-server", func(_ *pulumimock.Resource, in map[string]any) {
			in["chart"] = "something-else"
		}, "HorizontalPodAutoscalers never scale"},
		{"scale-from-zero-tags", "taint unknown", "aws:autoscaling/tag:Tag", "linkage-highmem-taint", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "tag")["value"] = "true:NoSchedule"
		}, "lacks tag k8s.io/cluster-autoscaler/node-template/taint/linkage/worker=highmem:NoSchedule"},
		{"internet-facing-tls", "no certificate", "kubernetes:networking.k8s.io/v1:Ingress", "linkage-api", func(_ *pulumimock.Resource, in map[string]any) {
			a := sub(in, "metadata", "annotations")
			delete(a, "alb.ingress.kubernetes.io/certificate-arn")
			delete(a, "alb.ingress.kubernetes.io/ssl-redirect")
			a["alb.ingress.kubernetes.io/listen-ports"] = `[{"HTTP":80}]`
		}, "internet-facing without a certificate"},
		{"internet-facing-tls", "no redirect", "kubernetes:networking.k8s.io/v1:Ingress", "linkage-api", func(_ *pulumimock.Resource, in map[string]any) {
			delete(sub(in, "metadata", "annotations"), "alb.ingress.kubernetes.io/ssl-redirect")
		}, "HTTP is not redirected to HTTPS"},
		{"no-documentation-ranges", "public endpoint", eks, "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			in["endpointPublicAccess"] = true
			in["publicAccessCidrs"] = []any{"198.51.100.0/24"}
		}, "publicAccessCidrs 198.51.100.0/24 is a documentation range"},
		{"no-documentation-ranges", "runner network", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "linkage-api-private-0", func(_ *pulumimock.Resource, in map[string]any) {
			in["cidrIpv4"] = "203.0.113.0/24"
		}, "cidrIpv4 203.0.113.0/24 is a documentation range"},
		{"ci-principals", "preview is admin", eks, "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "accessEntries", "viewer-0", "accessPolicies", "viewer")["policyArn"] = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
		}, "viewer access entry viewer-0"},
		{"ci-principals", "no preview role", eks, "linkage", func(_ *pulumimock.Resource, in map[string]any) {
			delete(sub(in, "accessEntries"), "viewer-0")
		}, "no read-only principal"},
		{"minio-patched", "last published image", "kubernetes:apps/v1:Deployment", "linkage-api", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)["image"] = "minio/minio:RELEASE.2025-09-07T16-13-09Z"
		}, "predates RELEASE.2025-10-15T17-29-55Z (CVE-2025-62506)"},
		{"rds-verify-full", "require only", "kubernetes:core/v1:Secret", "linkage-postgres", func(_ *pulumimock.Resource, in map[string]any) {
			d := sub(in, "stringData")
			d["DATABASE_URL"] = resource.MakeSecret(resource.NewProperty(strings.Replace(d["DATABASE_URL"].(string), "sslmode=verify-full", "sslmode=require", 1)))
			d["ca.pem"] = resource.MakeSecret(resource.NewProperty(d["ca.pem"].(string)))
		}, "sslmode=require"},
		{"cluster-addons-after-nodes", "controller before nodes", "kubernetes:helm.sh/v3:Release", lbRol, func(r *pulumimock.Resource, _ map[string]any) {
			r.DependsOn = slices.DeleteFunc(slices.Clone(r.DependsOn), func(urn string) bool { return strings.Contains(urn, "aws:eks/nodeGroup:NodeGroup") })
		}, "does not wait for a node group"},
		{"s3-gateway-endpoint", "one AZ left out", "aws:ec2/vpcEndpoint:VpcEndpoint", "linkage-s3", func(_ *pulumimock.Resource, in map[string]any) {
			in["routeTableIds"] = in["routeTableIds"].([]any)[1:]
		}, "no S3 gateway endpoint"},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		t.Run(c.rule+"/"+c.name, func(t *testing.T) {
			bad := mutate(t, prod(t), c.typ, c.res, c.edit)
			var reasons []string
			for _, v := range policy.Evaluate(bad) {
				require.Equal(t, c.rule, v.Rule, "only the broken rule fires: %s", v)
				reasons = append(reasons, v.Reason)
			}
			require.NotEmpty(t, reasons, "rule %s missed the bad input", c.rule)
			require.True(t, slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, c.reason) }),
				"no finding says %q: %v", c.reason, reasons)
		})
		covered[c.rule] = true
	}
	for _, r := range policy.Rules {
		if r.Name != "no-open-ingress" {
			require.True(t, covered[r.Name], "rule %s has no bad-input case", r.Name)
		}
	}
}

func TestNoOpenIngressAllowsOnlyWebPortsFromTheInternet(t *testing.T) {
	group := func(name string, port float64, cidr string) pulumimock.Resource {
		return pulumimock.Resource{URN: "urn:" + name, Type: "aws:ec2/securityGroup:SecurityGroup", Name: name,
			Inputs: resource.NewPropertyMapFromMap(map[string]any{"ingress": []any{map[string]any{
				"fromPort": port, "toPort": port, "protocol": "tcp", "cidrBlocks": []any{cidr},
			}}})}
	}
	rule := func(name string, port float64, cidr string) pulumimock.Resource {
		return pulumimock.Resource{URN: "urn:" + name, Type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", Name: name,
			Inputs: resource.NewPropertyMapFromMap(map[string]any{"fromPort": port, "toPort": port, "cidrIpv4": cidr})}
	}
	rs := append(prod(t),
		group("alb", 443, "0.0.0.0/0"), group("alb-http", 80, "0.0.0.0/0"), group("internal", 5432, "10.20.0.0/16"),
		group("ssh", 22, "0.0.0.0/0"), rule("postgres", 5432, "0.0.0.0/0"))
	var urns []string
	for _, v := range policy.Evaluate(rs) {
		require.Equal(t, "no-open-ingress", v.Rule)
		urns = append(urns, v.URN)
	}
	require.Equal(t, []string{"urn:postgres", "urn:ssh"}, urns)
}
