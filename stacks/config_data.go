package stacks

import (
	"github.com/linkage-platform/linkage/components/data"
	"github.com/linkage-platform/linkage/components/storage"
)

// DataConfig is the data section: keys linkage:postgres, linkage:redis, linkage:objectStore (objects
// whose fields are those of the data component's args, e.g. postgres.mode, postgres.managed.multiAz,
// redis.inCluster.resources.memoryLimit) and linkage:dataNodeSelector. Each service's mode is
// managed | in-cluster | external; the settings of every mode have defaults, so switching a service
// is one key.
type DataConfig struct {
	Postgres    data.PostgresArgs
	Redis       data.RedisArgs
	ObjectStore data.ObjectStoreArgs
	// NodeSelector pins the in-cluster data pods (dev: the on-demand system nodes).
	NodeSelector map[string]string
}

// Default images of the in-cluster services; pin by digest in a stack file for byte-for-byte rollouts.
const (
	PostgresImage = "postgres:17.6"
	RedisImage    = "redis:7.4.5-alpine"
	// MinIO publishes source only since its CVE-2025-62506 fix (RELEASE.2025-10-15T17-29-55Z): the last
	// minio/minio image predates the fix. alpine/minio is built by CI from the release's source (go
	// install at the tag) as soon as a release appears; same entrypoint (minio) and arguments.
	MinioImage       = "alpine/minio:RELEASE.2025-10-15T17-29-55Z"
	MinioClientImage = "minio/mc:RELEASE.2025-08-13T08-35-41Z"
)

// defaultData is in-cluster everything, with managed settings that are safe for production except
// where they cost (Multi-AZ, replicas, versioning): a stack turns those on explicitly.
func defaultData(p PlatformConfig) DataConfig {
	storageClass := storage.RetainedClass
	nodeSelector := map[string]string{"role": "system"}
	region := p.Region
	if p.Kind == PlatformKubeconfig {
		storageClass, nodeSelector, region = "", nil, "us-east-1" // the cluster's default class, any node
	}
	inCluster := func(image, size string, r data.Resources) *data.InClusterArgs {
		return &data.InClusterArgs{Image: image, StorageClass: storageClass, StorageSize: size, Resources: r}
	}
	return DataConfig{
		NodeSelector: nodeSelector,
		Postgres: data.PostgresArgs{
			Mode:     data.InCluster,
			Database: "linkage",
			Username: "linkage",
			Managed: &data.ManagedPostgresArgs{
				EngineVersion: "17", InstanceClass: "db.t4g.medium",
				AllocatedStorageGiB: 50, MaxAllocatedStorageGiB: 500,
				DeletionProtection: true, BackupRetentionDays: 7,
			},
			InCluster: inCluster(PostgresImage, "20Gi", data.Resources{
				CPURequest: "250m", MemoryRequest: "512Mi", CPULimit: "2", MemoryLimit: "2Gi",
			}),
			External: &data.ExternalArgs{},
		},
		Redis: data.RedisArgs{
			Mode: data.InCluster,
			Managed: &data.ManagedRedisArgs{
				EngineVersion: "7.1", NodeType: "cache.t4g.small", SnapshotRetentionDays: 1,
			},
			InCluster: inCluster(RedisImage, "5Gi", data.Resources{
				CPURequest: "100m", MemoryRequest: "256Mi", CPULimit: "1", MemoryLimit: "1Gi",
			}),
			External: &data.ExternalArgs{},
		},
		ObjectStore: data.ObjectStoreArgs{
			Mode:    data.InCluster,
			Managed: &data.ManagedObjectStoreArgs{AbortMultipartDays: 7, NoncurrentVersionDays: 30},
			InCluster: &data.InClusterObjectStoreArgs{
				InClusterArgs: *inCluster(MinioImage, "50Gi", data.Resources{
					CPURequest: "250m", MemoryRequest: "512Mi", CPULimit: "2", MemoryLimit: "2Gi",
				}),
				Bucket: "linkage", Region: region, ClientImage: MinioClientImage,
			},
			External: &data.ExternalObjectStoreArgs{},
		},
	}
}

func loadData(r *reader, p PlatformConfig) DataConfig {
	d := defaultData(p)
	r.Object("postgres", &d.Postgres)
	r.Object("redis", &d.Redis)
	r.Object("objectStore", &d.ObjectStore)
	d.NodeSelector = r.StringMap("dataNodeSelector", d.NodeSelector)
	validateData(r, p, &d)
	return d
}

func validateData(r *reader, p PlatformConfig, d *DataConfig) {
	report := func(key string, ps []data.Problem) {
		for _, pr := range ps {
			r.Problem(key+"."+pr.Field, "%s", pr.Reason)
		}
	}
	report("postgres", d.Postgres.Validate())
	report("redis", d.Redis.Validate())
	report("objectStore", d.ObjectStore.Validate())
	if p.Kind == PlatformKubeconfig {
		for key, mode := range map[string]data.Mode{"postgres": d.Postgres.Mode, "redis": d.Redis.Mode, "objectStore": d.ObjectStore.Mode} {
			if mode == data.Managed {
				r.Problem(key+".mode", "managed needs the eks platform; linkage:platform is %s (no AWS): use in-cluster or external", p.Kind)
			}
		}
	}
}
