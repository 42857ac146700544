package policy_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/internal/plan"
	"github.com/linkage-platform/linkage/internal/policy"
	"github.com/linkage-platform/linkage/internal/pulumimock"
	"github.com/linkage-platform/linkage/stacks"
)

// evaluate runs the production rules only.
func evaluateProduction(rs policy.Resources) []policy.Violation {
	var out []policy.Violation
	for _, rule := range policy.ProductionRules {
		for _, f := range rule.Check(rs) {
			out = append(out, policy.Violation{Rule: rule.Name, Finding: f})
		}
	}
	return out
}

// The production stack's data is highly available and protected; dev's in-cluster data is not held
// to that (its rules pass vacuously there, having no managed data stores).
func TestProductionStackPassesProductionRules(t *testing.T) {
	require.Empty(t, evaluateProduction(prod(t)))

	dev, err := plan.Build(root, "dev", stacks.Run)
	require.NoError(t, err)
	require.Empty(t, policy.Resources(dev.Resources).ByType("aws:rds/instance:Instance"), "dev runs Postgres in the cluster")
}

// natOf is the NAT gateway a route table of the prod plan egresses through.
func natOf(t *testing.T, table string) string {
	for _, r := range prod(t).ByType("aws:ec2/routeTable:RouteTable") {
		if r.Name == table {
			return r.Input("routes").([]any)[0].(map[string]any)["natGatewayId"].(string)
		}
	}
	t.Fatalf("no route table %s", table)
	return ""
}

func TestProductionRulesCatchBadInputs(t *testing.T) {
	cases := []struct {
		rule, typ, res string
		edit           func(r *pulumimock.Resource, in map[string]any)
		reason         string
	}{
		{"prod-rds-protected", "aws:rds/instance:Instance", "linkage-postgres", func(_ *pulumimock.Resource, in map[string]any) {
			in["deletionProtection"] = false
		}, "deletionProtection is off"},
		{"prod-rds-protected", "aws:rds/instance:Instance", "linkage-postgres", func(_ *pulumimock.Resource, in map[string]any) {
			in["multiAz"] = false
		}, "multiAz is off"},
		{"prod-rds-protected", "aws:rds/instance:Instance", "linkage-postgres", func(_ *pulumimock.Resource, in map[string]any) {
			in["backupRetentionPeriod"] = 3.0
		}, "backupRetentionPeriod 3 < 7 days"},
		{"prod-rds-protected", "aws:rds/instance:Instance", "linkage-postgres", func(_ *pulumimock.Resource, in map[string]any) {
			in["performanceInsightsEnabled"] = false
		}, "performanceInsightsEnabled is off"},
		{"prod-redis-failover", "aws:elasticache/replicationGroup:ReplicationGroup", "linkage-redis", func(_ *pulumimock.Resource, in map[string]any) {
			in["automaticFailoverEnabled"] = false
		}, "automaticFailoverEnabled is off"},
		{"prod-buckets-versioned", "aws:s3/bucketVersioningV2:BucketVersioningV2", "linkage-objectstore", func(_ *pulumimock.Resource, in map[string]any) {
			sub(in, "versioningConfiguration")["status"] = "Suspended"
		}, "versioning is not enabled"},
		{"prod-image-promoted", "kubernetes:apps/v1:Deployment", "linkage-worker", func(_ *pulumimock.Resource, in map[string]any) {
			c := sub(in, "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
			c["image"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage-prod:src-0123456789abcdef"
		}, "image 123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage-prod:src-0123456789abcdef is not a digest"},
		{"prod-nat-per-az", "aws:ec2/routeTable:RouteTable", "linkage-private-us-east-1b", func(_ *pulumimock.Resource, in map[string]any) {
			in["routes"].([]any)[0].(map[string]any)["natGatewayId"] = natOf(t, "linkage-private-us-east-1a")
		}, "shares NAT gateway " + natOf(t, "linkage-private-us-east-1a") + " with linkage-private-us-east-1a"},
	}
	for _, c := range cases {
		t.Run(c.reason, func(t *testing.T) {
			var reasons []string
			for _, v := range evaluateProduction(mutate(t, prod(t), c.typ, c.res, c.edit)) {
				require.Equal(t, c.rule, v.Rule, "only the broken rule fires: %s", v)
				reasons = append(reasons, v.Reason)
			}
			require.Equal(t, []string{c.reason}, reasons)
		})
	}
}
