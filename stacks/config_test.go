package stacks_test

import (
	"errors"
	"maps"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/internal/pulumimock"
	"github.com/linkage-platform/linkage/stacks"
)

// load runs LoadConfig under mocks with the configuration.
func load(t *testing.T, values map[string]string) (*stacks.Config, error) {
	t.Helper()
	var cfg *stacks.Config
	_, err := pulumimock.RunProgram("linkage", "test", pulumimock.Config{Values: values}, func(ctx *pulumi.Context) error {
		var err error
		cfg, err = stacks.LoadConfig(ctx)
		return err
	})
	return cfg, err
}

func problems(t *testing.T, err error) []stacks.Problem {
	t.Helper()
	var ce *stacks.ConfigError
	require.True(t, errors.As(err, &ce), "want a *ConfigError, got %v", err)
	return ce.Problems
}

func TestDefaults(t *testing.T) {
	cfg, err := load(t, map[string]string{"aws:region": "us-east-1"})
	require.NoError(t, err)
	p := cfg.Platform
	require.Equal(t, stacks.PlatformEKS, p.Kind)
	require.Equal(t, "linkage-test", p.ClusterName)
	require.Equal(t, stacks.NetworkConfig{VpcCidr: "10.0.0.0/16", AzCount: 3, NatGatewayPerAz: true, FlowLogs: true, FlowLogRetentionDays: 30}, p.Network)
	require.Equal(t, stacks.WorkerInstanceTypes, p.WorkerNodes.InstanceTypes)
	require.Equal(t, "r3.4xlarge", p.WorkerNodes.InstanceTypes[0])
	require.Empty(t, p.Cluster.PublicAccessCidrs, "private endpoint only unless CIDRs are given")
	require.False(t, p.HighMemNodes.Enabled)
	require.Equal(t, map[string]string{"project": "linkage", "stack": "test"}, cfg.Tags)
}

func TestStructuredValuesKeepDefaultsForAbsentFields(t *testing.T) {
	cfg, err := load(t, map[string]string{
		"aws:region":          "us-west-2",
		"linkage:workerNodes": `{"maxSize": 30}`,
		"linkage:tags":        `{"team": "linkage", "stack": "custom"}`,
	})
	require.NoError(t, err)
	require.Equal(t, 30, cfg.Platform.WorkerNodes.MaxSize)
	require.Equal(t, stacks.WorkerInstanceTypes, cfg.Platform.WorkerNodes.InstanceTypes)
	require.Equal(t, map[string]string{"team": "linkage", "stack": "custom", "project": "linkage"}, cfg.Tags)
}

// invalid are single bad values with the key and the reason they must be reported with.
var invalid = []struct {
	name   string
	values map[string]string
	key    string
	reason string
}{
	{"no region", map[string]string{"aws:region": ""}, "aws:region", "is required on the eks platform"},
	{"bad region", map[string]string{"aws:region": "Virginia"}, "aws:region", `"Virginia" is not an AWS region name`},
	{"platform", map[string]string{"linkage:platform": "gke"}, "linkage:platform", `"gke" is not one of eks, kubeconfig`},
	{"r3 not offered", map[string]string{"aws:region": "eu-west-2"}, "linkage:workerNodes.instanceTypes[0]", `"r3.4xlarge" is not offered in eu-west-2`},
	{"max below min", map[string]string{"linkage:workerNodes": `{"minSize": 3, "maxSize": 2, "desiredSize": 3}`}, "linkage:workerNodes.maxSize", "2 is less than minSize 3"},
	{"desired outside", map[string]string{"linkage:systemNodes": `{"desiredSize": 9}`}, "linkage:systemNodes.desiredSize", "9 is outside minSize..maxSize (2..4)"},
	{"no system node", map[string]string{"linkage:systemNodes": `{"minSize": 0, "desiredSize": 0}`}, "linkage:systemNodes.minSize", "must be at least 1"},
	{"graviton", map[string]string{"linkage:systemNodes": `{"instanceTypes": ["m7g.large"]}`}, "linkage:systemNodes.instanceTypes[0]", "ARM (Graviton)"},
	{"bad instance type", map[string]string{"linkage:systemNodes": `{"instanceTypes": ["large"]}`}, "linkage:systemNodes.instanceTypes[0]", "not an EC2 instance type"},
	{"unknown field", map[string]string{"linkage:workerNodes": `{"maxNodes": 3}`}, "linkage:workerNodes", `unknown field "maxNodes"`},
	{"one AZ", map[string]string{"linkage:azCount": "1"}, "linkage:azCount", "at least 2 availability zones"},
	{"autoscaler of another minor", map[string]string{"linkage:autoscaling": `{"autoscalerImageTag": "v1.20.3"}`}, "linkage:autoscaling.autoscalerImageTag", "the autoscaler's minor version must be the cluster's"},
	{"autoscaler chart range", map[string]string{"linkage:autoscaling": `{"autoscalerChartVersion": "9.x"}`}, "linkage:autoscaling.autoscalerChartVersion", "not a chart version"},
	{"AZ count not a number", map[string]string{"linkage:azCount": "three"}, "linkage:azCount", `"three" is not an integer`},
	{"bool", map[string]string{"linkage:natGatewayPerAz": "yes"}, "linkage:natGatewayPerAz", `"yes" is not true or false`},
	{"public VPC range", map[string]string{"linkage:vpcCidr": "8.8.0.0/16"}, "linkage:vpcCidr", "not in a private (RFC 1918) range"},
	{"host bits", map[string]string{"linkage:vpcCidr": "10.0.0.1/16"}, "linkage:vpcCidr", "did you mean 10.0.0.0/16"},
	{"VPC too large", map[string]string{"linkage:vpcCidr": "10.0.0.0/8"}, "linkage:vpcCidr", "between /16 and /20"},
	{"CIDR overlap", map[string]string{"linkage:vpcCidr": "172.20.0.0/16"}, "linkage:serviceCidr", "172.20.0.0/16 overlaps vpcCidr 172.20.0.0/16"},
	{"old Kubernetes", map[string]string{"linkage:kubernetesVersion": "1.25"}, "linkage:kubernetesVersion", "1.25 is out of EKS standard support"},
	{"kube-proxy skew", map[string]string{"linkage:addons": `{"kubeProxy": "v1.32.0-eksbuild.1"}`}, "linkage:addons.kubeProxy", "does not match kubernetesVersion 1.36"},
	{"add-on version", map[string]string{"linkage:addons": `{"coreDns": "latest"}`}, "linkage:addons.coreDns", "not an EKS add-on version"},
	{"public CIDR", map[string]string{"linkage:endpointAccess": "public", "linkage:endpointPublicAccessCidrs": `["office"]`}, "linkage:endpointPublicAccessCidrs[0]", "not a CIDR block"},
	{"documentation range", map[string]string{"linkage:endpointAccess": "public", "linkage:endpointPublicAccessCidrs": `["203.0.113.0/24"]`}, "linkage:endpointPublicAccessCidrs[0]", "is a documentation range"},
	{"public without CIDRs", map[string]string{"linkage:endpointAccess": "public"}, "linkage:endpointPublicAccessCidrs", "is required with endpointAccess public"},
	{"public CIDRs on a private endpoint", map[string]string{"linkage:endpointPublicAccessCidrs": `["10.1.0.0/16"]`}, "linkage:endpointPublicAccessCidrs", "only used with endpointAccess public"},
	{"runner documentation range", map[string]string{"linkage:endpointPrivateAccessCidrs": `["192.0.2.0/25"]`}, "linkage:endpointPrivateAccessCidrs[0]", "is a documentation range"},
	{"endpoint access mode", map[string]string{"linkage:endpointAccess": "vpn"}, "linkage:endpointAccess", `"vpn" is not one of private, public`},
	{"preview role is the deploy role", map[string]string{"linkage:ci": `{"deployRoleArn": "arn:aws:iam::123456789012:role/ci", "previewRoleArn": "arn:aws:iam::123456789012:role/ci"}`}, "linkage:ci.previewRoleArn", "read-only role"},
	{"deploy role ARN", map[string]string{"linkage:ci": `{"deployRoleArn": "ci-deploy"}`}, "linkage:ci.deployRoleArn", "not an IAM role or user ARN"},
	{"log type", map[string]string{"linkage:clusterLogTypes": `["api", "kubelet"]`}, "linkage:clusterLogTypes[1]", `"kubelet" is not one of`},
	{"admin ARN", map[string]string{"linkage:clusterAdmins": `["alice"]`}, "linkage:clusterAdmins[0]", "not an IAM role or user ARN"},
	{"cluster name", map[string]string{"linkage:clusterName": "linkage_prod!"}, "linkage:clusterName", "must start with a letter"},
	{"chart version", map[string]string{"linkage:lbControllerChartVersion": "latest"}, "linkage:lbControllerChartVersion", "not a chart version"},
	{"high-memory group checked when enabled", map[string]string{"linkage:highMemNodes": `{"enabled": true, "maxSize": 0}`}, "linkage:highMemNodes.maxSize", "must be at least 1"},
}

func TestEachInvalidValueIsReportedWithItsKeyAndReason(t *testing.T) {
	for _, c := range invalid {
		t.Run(c.name, func(t *testing.T) {
			values := map[string]string{"aws:region": "us-east-1"}
			maps.Copy(values, c.values)
			_, err := load(t, values)
			var reasons []string
			for _, p := range problems(t, err) {
				if p.Key == c.key {
					reasons = append(reasons, p.Reason)
				}
			}
			require.Len(t, reasons, 1, "problems: %v", err)
			require.Contains(t, reasons[0], c.reason)
			require.Contains(t, err.Error(), c.key+": "+reasons[0])
		})
	}
}

func TestAllProblemsAreReportedAtOnceAndNothingIsDeclared(t *testing.T) {
	values := map[string]string{
		"aws:region":                        "eu-west-2",
		"linkage:azCount":                   "1",
		"linkage:vpcCidr":                   "172.20.0.0/16",
		"linkage:workerNodes":               `{"minSize": 3, "maxSize": 2, "desiredSize": 3}`,
		"linkage:kubernetesVersion":         "1.25",
		"linkage:endpointAccess":            "public",
		"linkage:endpointPublicAccessCidrs": `["office"]`,
	}
	m, err := pulumimock.RunProgram("linkage", "test", pulumimock.Config{Values: values}, stacks.Run)
	var keys []string
	for _, p := range problems(t, err) {
		keys = append(keys, p.Key)
	}
	require.Equal(t, []string{
		"linkage:azCount",
		"linkage:endpointPublicAccessCidrs[0]",
		"linkage:kubernetesVersion",
		"linkage:serviceCidr",
		"linkage:workerNodes.desiredSize",
		"linkage:workerNodes.instanceTypes[0]",
		"linkage:workerNodes.maxSize",
	}, keys)
	require.Contains(t, err.Error(), "invalid configuration (7 problems):\n  linkage:azCount: 1: EKS needs")
	require.Empty(t, m.Resources(), "no resource is declared from an invalid configuration")
}

func TestKubeconfigPlatformIgnoresTheAWSKeys(t *testing.T) {
	cfg, err := load(t, map[string]string{"linkage:platform": "kubeconfig", "linkage:kubeContext": "kind-linkage", "linkage:azCount": "1", "linkage:plainHttp": "true"})
	require.NoError(t, err)
	require.Equal(t, stacks.PlatformKubeconfig, cfg.Platform.Kind)
	require.Equal(t, "kind-linkage", cfg.Platform.KubeContext)
}
