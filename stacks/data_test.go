package stacks_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/linkage-platform/linkage/components/container"
	"github.com/linkage-platform/linkage/components/data"
	"github.com/linkage-platform/linkage/internal/manifests"
	"github.com/linkage-platform/linkage/internal/plan"
	"github.com/linkage-platform/linkage/internal/pulumimock"
	"github.com/linkage-platform/linkage/stacks"
)

// dataTypes counts the data services' resources by kind of service.
func dataTypes(m *pulumimock.Mocks) map[string]int {
	return map[string]int{
		"rds":         len(m.ByType("aws:rds/instance:Instance")),
		"elasticache": len(m.ByType("aws:elasticache/replicationGroup:ReplicationGroup")),
		"s3":          len(m.ByType("aws:s3/bucketV2:BucketV2")),
		"statefulset": len(m.ByType("kubernetes:apps/v1:StatefulSet")),
	}
}

func TestEachStackFileChoosesItsDataServices(t *testing.T) {
	for stack, want := range map[string]map[string]int{
		"dev":   {"rds": 0, "elasticache": 0, "s3": 0, "statefulset": 3},
		"prod":  {"rds": 1, "elasticache": 1, "s3": 1, "statefulset": 0},
		"local": {"rds": 0, "elasticache": 0, "s3": 0, "statefulset": 3},
	} {
		p, err := plan.Build("..", stack, stacks.Run)
		require.NoError(t, err)
		require.Equal(t, want, dataTypes(p.Mocks), stack)
		if stack == "local" {
			for _, r := range p.Resources {
				require.False(t, strings.HasPrefix(r.Type, "aws:"), "local touches no AWS: %s", r.URN)
			}
		}
	}
}

// withMode returns the stack file's configuration with one service switched to mode.
func withMode(t *testing.T, cfg pulumimock.Config, key, mode string, extra map[string]any) pulumimock.Config {
	t.Helper()
	obj := map[string]any{}
	if raw, ok := cfg.Values[key]; ok {
		require.NoError(t, json.Unmarshal([]byte(raw), &obj))
	}
	obj["mode"] = mode
	for k, v := range extra {
		obj[k] = v
	}
	b, err := json.Marshal(obj)
	require.NoError(t, err)
	out := pulumimock.Config{Values: map[string]string{}, Secrets: cfg.Secrets}
	for k, v := range cfg.Values {
		out.Values[k] = v
	}
	out.Values[key] = string(b)
	return out
}

// inputsOutside returns URN → inputs of every resource not under the component with the URN.
func inputsOutside(m *pulumimock.Mocks, component string) map[string]any {
	under := map[string]bool{component: true}
	for _, r := range m.Descendants(component) {
		under[r.URN] = true
	}
	out := map[string]any{}
	for _, r := range m.Resources() {
		if !under[r.URN] {
			out[r.URN] = pulumimock.Plain(r.Inputs, false)
		}
	}
	return out
}

// changed lists the URNs whose inputs differ, or that only one side has.
func changed(before, after map[string]any) []string {
	var out []string
	for urn, in := range before {
		if a, ok := after[urn]; !ok || !reflect.DeepEqual(in, a) {
			out = append(out, urn)
		}
	}
	for urn := range after {
		if _, ok := before[urn]; !ok {
			out = append(out, urn)
		}
	}
	sort.Strings(out)
	return out
}

// Switching one service's mode in a stack file changes that service's resources and nothing else
// (the app reads the same Secret names whatever the mode), except that an S3 bucket brings the IRSA
// role the app's ServiceAccount is annotated with.
func TestSwitchingOneServiceModeChangesOnlyThatService(t *testing.T) {
	dev, err := plan.LoadConfig("..", "dev")
	require.NoError(t, err)
	base, err := pulumimock.RunProgram("linkage", "dev", dev, stacks.Run)
	require.NoError(t, err)

	for _, c := range []struct {
		key, mode, component string
		extra                map[string]any
	}{
		{"linkage:postgres", "managed", "Postgres", nil},
		{"linkage:redis", "managed", "Redis", nil},
		{"linkage:redis", "external", "Redis", map[string]any{"external": map[string]any{"endpoint": "redis.example.org:6379", "secretName": "our-redis"}}},
		{"linkage:objectStore", "managed", "ObjectStore", nil},
	} {
		t.Run(c.key+"="+c.mode, func(t *testing.T) {
			switched, err := pulumimock.RunProgram("linkage", "dev", withMode(t, dev, c.key, c.mode, c.extra), stacks.Run)
			require.NoError(t, err)
			urn := "urn:pulumi:dev::linkage::linkage:components:Data$linkage:components:" + c.component + "::linkage-" + strings.ToLower(c.component)
			before, after := inputsOutside(base, urn), inputsOutside(switched, urn)
			if c.component == "ObjectStore" {
				sa := "urn:pulumi:dev::linkage::linkage:components:Linkage$kubernetes:core/v1:ServiceAccount::linkage-sa"
				annotations := func(inputs any) map[string]string {
					var account corev1.ServiceAccount
					require.NoError(t, manifests.Decode(inputs, &account))
					return account.Annotations
				}
				require.Contains(t, before, sa)
				require.Empty(t, annotations(before[sa]))
				require.Contains(t, annotations(after[sa]), "eks.amazonaws.com/role-arn")
				delete(before, sa)
				delete(after, sa)
			}
			if c.mode == "external" {
				// The app reads the operator's Secret: only the references of its Deployments change.
				for _, d := range []string{"linkage-api", "linkage-worker"} {
					dep := "urn:pulumi:dev::linkage::linkage:components:Linkage$kubernetes:apps/v1:Deployment::" + d
					require.Contains(t, fmt.Sprint(after[dep]), "name:our-redis", d)
					delete(before, dep)
					delete(after, dep)
				}
			}
			require.Empty(t, changed(before, after), "resources outside the service that changed")
			require.NotEqual(t, base.Descendants(urn), switched.Descendants(urn), "the service itself changed")
		})
	}
}

func TestEachInvalidDataValueIsReportedWithItsKey(t *testing.T) {
	for _, c := range []struct {
		values map[string]string
		key    string
		reason string
	}{
		{map[string]string{"linkage:postgres": `{"mode": "cloud"}`}, "linkage:postgres.mode", `"cloud" is not one of managed, in-cluster, external`},
		{map[string]string{"linkage:postgres": `{"mode": "managed", "managed": {"engineVersion": "12"}}`}, "linkage:postgres.managed.engineVersion", "out of RDS standard support"},
		{map[string]string{"linkage:postgres": `{"mode": "managed", "managed": {"engineVersion": "17.6"}}`}, "linkage:postgres.managed.engineVersion", "is not a Postgres major version such as 17"},
		{map[string]string{"linkage:postgres": `{"inCluster": {"resources": {"memoryRequest": "4Gi"}}}`}, "linkage:postgres.inCluster.resources.memoryRequest", "4Gi exceeds the limit 2Gi"},
		{map[string]string{"linkage:redis": `{"inCluster": {"resources": {"cpuLimit": "0"}}}`}, "linkage:redis.inCluster.resources.cpuLimit", `"0" is not a positive Kubernetes quantity`},
		{map[string]string{"linkage:postgres": `{"inCluster": {"storageSize": "lots"}}`}, "linkage:postgres.inCluster.storageSize", "is not a positive size"},
		{map[string]string{"linkage:postgres": `{"database": "linkage-db"}`}, "linkage:postgres.database", "is not a database name"},
		{map[string]string{"linkage:postgres": `{"mode": "managed", "managed": {"backupRetentionDays": 0}}`}, "linkage:postgres.managed.backupRetentionDays", "1..35 days"},
		{map[string]string{"linkage:postgres": `{"mode": "managed", "managed": null}`}, "linkage:postgres.managed", "is required in managed mode"},
		{map[string]string{"linkage:redis": `{"mode": "managed", "managed": {"highAvailability": true}}`}, "linkage:redis.managed.replicas", "need at least one replica"},
		{map[string]string{"linkage:redis": `{"mode": "external"}`}, "linkage:redis.external.endpoint", "is not host:port"},
		{map[string]string{"linkage:objectStore": `{"inCluster": {"bucket": "My_Bucket"}}`}, "linkage:objectStore.inCluster.bucket", "is not a bucket name"},
		{map[string]string{"linkage:objectStore": `{"mode": "managed", "managd": {}}`}, "linkage:objectStore", `unknown field "managd"`},
		{map[string]string{"linkage:platform": "kubeconfig", "linkage:redis": `{"mode": "managed"}`}, "linkage:redis.mode", "managed needs the eks platform"},
	} {
		values := map[string]string{"aws:region": "us-east-1"}
		for k, v := range c.values {
			values[k] = v
		}
		_, err := load(t, values)
		require.Error(t, err, c.key)
		var found bool
		for _, p := range problems(t, err) {
			if p.Key == c.key {
				found = true
				require.Contains(t, p.Reason, c.reason)
			}
		}
		require.Truef(t, found, "no problem reported for %s in %v", c.key, err)
	}
}

func TestDataDefaultsFollowThePlatform(t *testing.T) {
	eks, err := load(t, map[string]string{"aws:region": "eu-west-1"})
	require.NoError(t, err)
	require.Equal(t, "gp3-retain", eks.Data.Postgres.InCluster.StorageClass)
	require.Equal(t, map[string]string{"role": "system"}, eks.Data.NodeSelector)
	require.Equal(t, "eu-west-1", eks.Data.ObjectStore.InCluster.Region)

	local, err := load(t, map[string]string{"linkage:platform": "kubeconfig", "linkage:plainHttp": "true"})
	require.NoError(t, err)
	require.Empty(t, local.Data.Redis.InCluster.StorageClass, "the cluster's default class")
	require.Empty(t, local.Data.NodeSelector)
}

// TestDataKeys: every documented key of the data section (README, "Data services") lands in its
// setting, spelled as stack files spell it; a setting the deployment supplies (the app's
// ServiceAccount, which the object store's IRSA role trusts) is no key at all.
func TestDataKeys(t *testing.T) {
	res := `{"cpuRequest": "1", "memoryRequest": "1Gi", "cpuLimit": "2", "memoryLimit": "3Gi"}`
	cfg, err := load(t, map[string]string{
		"aws:region": "us-east-1",
		"linkage:postgres": `{"mode": "external", "database": "db1", "username": "user1",
			"managed": {"engineVersion": "16", "instanceClass": "db.r6g.large", "allocatedStorageGiB": 100,
				"maxAllocatedStorageGiB": 1000, "multiAz": true, "deletionProtection": false,
				"backupRetentionDays": 14, "performanceInsights": true},
			"inCluster": {"image": "postgres:16", "storageClass": "fast", "storageSize": "30Gi", "resources": ` + res + `},
			"external": {"endpoint": "db.example.org:5432", "secretName": "my-db"}}`,
		"linkage:redis": `{"mode": "managed",
			"managed": {"engineVersion": "7.1", "nodeType": "cache.r7g.large", "replicas": 2,
				"highAvailability": true, "snapshotRetentionDays": 3},
			"external": {"endpoint": "redis.example.org:6380", "secretName": "my-redis"}}`,
		"linkage:objectStore": `{"mode": "in-cluster",
			"managed": {"versioning": true, "noncurrentVersionDays": 10, "abortMultipartDays": 2},
			"inCluster": {"image": "minio", "storageSize": "5Gi", "resources": ` + res + `,
				"bucket": "bucket-1", "region": "eu-west-1", "clientImage": "mc"},
			"external": {"bucket": "my-bucket", "endpoint": "https://s3.example.org", "region": "eu-west-1", "secretName": "my-s3"}}`,
	})
	require.NoError(t, err)
	d := cfg.Data
	r := container.Resources{CPURequest: "1", MemoryRequest: "1Gi", CPULimit: "2", MemoryLimit: "3Gi"}
	require.Equal(t, data.Mode("external"), d.Postgres.Mode)
	require.Equal(t, []string{"db1", "user1"}, []string{d.Postgres.Database, d.Postgres.Username})
	require.Equal(t, data.ManagedPostgresArgs{
		EngineVersion: "16", InstanceClass: "db.r6g.large", AllocatedStorageGiB: 100, MaxAllocatedStorageGiB: 1000,
		MultiAZ: true, DeletionProtection: false, BackupRetentionDays: 14, PerformanceInsights: true,
	}, *d.Postgres.Managed)
	require.Equal(t, data.InClusterArgs{Image: "postgres:16", StorageClass: "fast", StorageSize: "30Gi", Resources: r}, *d.Postgres.InCluster)
	require.Equal(t, data.ExternalArgs{Endpoint: "db.example.org:5432", SecretName: "my-db"}, *d.Postgres.External)

	require.Equal(t, data.Mode("managed"), d.Redis.Mode)
	require.Equal(t, data.ManagedRedisArgs{EngineVersion: "7.1", NodeType: "cache.r7g.large", Replicas: 2, HighAvailability: true, SnapshotRetentionDays: 3}, *d.Redis.Managed)
	require.Equal(t, data.ExternalArgs{Endpoint: "redis.example.org:6380", SecretName: "my-redis"}, *d.Redis.External)

	require.Equal(t, data.Mode("in-cluster"), d.ObjectStore.Mode)
	require.Equal(t, data.ManagedObjectStoreArgs{Versioning: true, NoncurrentVersionDays: 10, AbortMultipartDays: 2}, *d.ObjectStore.Managed)
	require.Equal(t, data.InClusterObjectStoreArgs{
		InClusterArgs: data.InClusterArgs{Image: "minio", StorageClass: "gp3-retain", StorageSize: "5Gi", Resources: r},
		Bucket:        "bucket-1", Region: "eu-west-1", ClientImage: "mc",
	}, *d.ObjectStore.InCluster)
	require.Equal(t, data.ExternalObjectStoreArgs{Bucket: "my-bucket", Endpoint: "https://s3.example.org", Region: "eu-west-1", SecretName: "my-s3"}, *d.ObjectStore.External)

	_, err = load(t, map[string]string{"aws:region": "us-east-1", "linkage:objectStore": `{"serviceAccountName": "other"}`})
	require.Equal(t, []stacks.Problem{{Key: "linkage:objectStore", Reason: `cannot decode unknown field "serviceAccountName"`}}, problems(t, err))
}
