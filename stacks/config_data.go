package stacks

import (
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/linkage-platform/linkage/components/container"
	"github.com/linkage-platform/linkage/components/data"
	"github.com/linkage-platform/linkage/components/storage"
)

// DataConfig is the data section: keys linkage:postgres, linkage:redis, linkage:objectStore and
// linkage:dataNodeSelector. Each service's mode is managed | in-cluster | external; the settings of
// every mode have defaults, so switching a service is one key. A service's value is the data
// component's settings type for it (keys by its json tags, e.g. postgres.managed.multiAz,
// redis.inCluster.resources.memoryLimit): a stacks copy would repeat its ~40 fields one for one,
// names, types and meaning alike. What the deployment supplies (namespace, VPC, OIDC, the app's
// ServiceAccount) lives in data.Args outside these types and is mapped in deployData.
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
	inCluster := func(image, size string, r container.Resources) *data.InClusterArgs {
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
			InCluster: inCluster(PostgresImage, "20Gi", container.Resources{
				CPURequest: "250m", MemoryRequest: "512Mi", CPULimit: "2", MemoryLimit: "2Gi",
			}),
			External: &data.ExternalArgs{},
		},
		Redis: data.RedisArgs{
			Mode: data.InCluster,
			Managed: &data.ManagedRedisArgs{
				EngineVersion: "7.1", NodeType: "cache.t4g.small", SnapshotRetentionDays: 1,
			},
			InCluster: inCluster(RedisImage, "5Gi", container.Resources{
				CPURequest: "100m", MemoryRequest: "256Mi", CPULimit: "1", MemoryLimit: "1Gi",
			}),
			External: &data.ExternalArgs{},
		},
		ObjectStore: data.ObjectStoreArgs{
			Mode:    data.InCluster,
			Managed: &data.ManagedObjectStoreArgs{AbortMultipartDays: 7, NoncurrentVersionDays: 30},
			InCluster: &data.InClusterObjectStoreArgs{
				InClusterArgs: *inCluster(MinioImage, "50Gi", container.Resources{
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

var (
	sqlNameRe       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	pgVersionRe     = regexp.MustCompile(`^(\d+)$`)
	rdsClassRe      = regexp.MustCompile(`^db\.[a-z0-9]+\.[a-z0-9]+$`)
	redisVersionRe  = regexp.MustCompile(`^\d+\.\d+$`)
	cacheNodeTypeRe = regexp.MustCompile(`^cache\.[a-z0-9]+\.[a-z0-9]+$`)
	dnsSubdomainRe  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	bucketRe        = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// minPostgresMajor is the oldest major version RDS still offers in standard support.
const minPostgresMajor = 13

func validateData(r *reader, p PlatformConfig, d *DataConfig) {
	validatePostgres(r, "postgres", d.Postgres)
	validateRedis(r, "redis", d.Redis)
	validateObjectStore(r, "objectStore", d.ObjectStore)
	if p.Kind == PlatformKubeconfig {
		for key, mode := range map[string]data.Mode{"postgres": d.Postgres.Mode, "redis": d.Redis.Mode, "objectStore": d.ObjectStore.Mode} {
			if mode == data.Managed {
				r.Problem(key+".mode", "managed needs the eks platform; linkage:platform is %s (no AWS): use in-cluster or external", p.Kind)
			}
		}
	}
}

// validMode records a problem unless mode is one of data.Modes.
func validMode(r *reader, key string, mode data.Mode) {
	if !mode.Valid() {
		r.Problem(key+".mode", "%q is not one of %s, %s, %s", mode, data.Managed, data.InCluster, data.External)
	}
}

// validateService checks the settings of the mode a Postgres or Redis service runs in; managed is
// called only when the managed settings are there (null in the stack file removes them).
func validateService(r *reader, key string, mode data.Mode, hasManaged bool, managed func(), inCluster *data.InClusterArgs, external *data.ExternalArgs) {
	validMode(r, key, mode)
	switch mode {
	case data.Managed:
		if !hasManaged {
			r.Problem(key+".managed", "is required in managed mode")
			return
		}
		managed()
	case data.InCluster:
		validateInCluster(r, key+".inCluster", inCluster)
	case data.External:
		validateExternal(r, key+".external", external)
	}
}

func validatePostgres(r *reader, key string, a data.PostgresArgs) {
	if !sqlNameRe.MatchString(a.Database) {
		r.Problem(key+".database", "%q is not a database name (letters, digits, _; at most 63)", a.Database)
	}
	if a.Mode != data.External && !sqlNameRe.MatchString(a.Username) {
		r.Problem(key+".username", "%q is not a user name (letters, digits, _; at most 63)", a.Username)
	}
	if a.Mode != data.External && (a.Username == "rdsadmin" || a.Username == "postgres") {
		r.Problem(key+".username", "%q is reserved; use an application user name", a.Username)
	}
	validateService(r, key, a.Mode, a.Managed != nil, func() {
		m, key := a.Managed, key+".managed"
		if v := pgVersionRe.FindStringSubmatch(m.EngineVersion); v == nil {
			// A minor version would fight the automatic minor upgrades: after RDS moves to 17.7 the
			// next update would try to downgrade to the pinned 17.6.
			r.Problem(key+".engineVersion", "%q is not a Postgres major version such as 17 (minor versions are upgraded automatically)", m.EngineVersion)
		} else if major, _ := strconv.Atoi(v[1]); major < minPostgresMajor {
			r.Problem(key+".engineVersion", "%s is out of RDS standard support; use %d or newer", m.EngineVersion, minPostgresMajor)
		}
		if !rdsClassRe.MatchString(m.InstanceClass) {
			r.Problem(key+".instanceClass", "%q is not an RDS instance class such as db.t4g.medium", m.InstanceClass)
		}
		if m.AllocatedStorageGiB < 20 || m.AllocatedStorageGiB > 65536 {
			r.Problem(key+".allocatedStorageGiB", "%d: gp3 storage is 20..65536 GiB", m.AllocatedStorageGiB)
		}
		if m.MaxAllocatedStorageGiB != 0 && m.MaxAllocatedStorageGiB < m.AllocatedStorageGiB {
			r.Problem(key+".maxAllocatedStorageGiB", "%d is less than allocatedStorageGiB %d (0 turns autoscaling off)", m.MaxAllocatedStorageGiB, m.AllocatedStorageGiB)
		}
		if m.BackupRetentionDays < 1 || m.BackupRetentionDays > 35 {
			r.Problem(key+".backupRetentionDays", "%d: RDS keeps automated backups 1..35 days", m.BackupRetentionDays)
		}
	}, a.InCluster, a.External)
}

func validateRedis(r *reader, key string, a data.RedisArgs) {
	validateService(r, key, a.Mode, a.Managed != nil, func() {
		m, key := a.Managed, key+".managed"
		if !redisVersionRe.MatchString(m.EngineVersion) {
			r.Problem(key+".engineVersion", "%q is not a Redis version such as 7.1", m.EngineVersion)
		}
		if !cacheNodeTypeRe.MatchString(m.NodeType) {
			r.Problem(key+".nodeType", "%q is not an ElastiCache node type such as cache.t4g.small", m.NodeType)
		}
		if m.Replicas < 0 || m.Replicas > 5 {
			r.Problem(key+".replicas", "%d: a replication group has 0..5 replicas", m.Replicas)
		}
		if m.HighAvailability && m.Replicas < 1 {
			r.Problem(key+".replicas", "%d: automatic failover and Multi-AZ (highAvailability) need at least one replica", m.Replicas)
		}
		if m.SnapshotRetentionDays < 0 || m.SnapshotRetentionDays > 35 {
			r.Problem(key+".snapshotRetentionDays", "%d: ElastiCache keeps snapshots 0..35 days", m.SnapshotRetentionDays)
		}
	}, a.InCluster, a.External)
}

func validateObjectStore(r *reader, key string, a data.ObjectStoreArgs) {
	validMode(r, key, a.Mode)
	switch a.Mode {
	case data.Managed:
		m := a.Managed
		if m == nil {
			r.Problem(key+".managed", "is required in managed mode")
			break
		}
		if m.AbortMultipartDays < 1 {
			r.Problem(key+".managed.abortMultipartDays", "%d: abandoned multipart uploads must expire after at least 1 day", m.AbortMultipartDays)
		}
		if m.Versioning && m.NoncurrentVersionDays < 1 {
			r.Problem(key+".managed.noncurrentVersionDays", "%d: with versioning, old versions must expire after at least 1 day", m.NoncurrentVersionDays)
		}
	case data.InCluster:
		c := a.InCluster
		if c == nil {
			r.Problem(key+".inCluster", "is required in in-cluster mode")
			break
		}
		validateInCluster(r, key+".inCluster", &c.InClusterArgs)
		if !bucketRe.MatchString(c.Bucket) {
			r.Problem(key+".inCluster.bucket", "%q is not a bucket name (3..63 lower-case letters, digits, dots, dashes)", c.Bucket)
		}
		if !regionRe.MatchString(c.Region) {
			r.Problem(key+".inCluster.region", "%q is not a region name such as us-east-1", c.Region)
		}
		if c.ClientImage == "" {
			r.Problem(key+".inCluster.clientImage", "the MinIO client image of the bucket Job is required")
		}
	case data.External:
		e := a.External
		if e == nil {
			r.Problem(key+".external", "is required in external mode")
			break
		}
		if !bucketRe.MatchString(e.Bucket) {
			r.Problem(key+".external.bucket", "%q is not a bucket name", e.Bucket)
		}
		if !regionRe.MatchString(e.Region) {
			r.Problem(key+".external.region", "%q is not a region name such as us-east-1", e.Region)
		}
		if e.Endpoint != "" && !strings.HasPrefix(e.Endpoint, "https://") && !strings.HasPrefix(e.Endpoint, "http://") {
			r.Problem(key+".external.endpoint", "%q is not an http(s) URL; leave it empty for AWS S3", e.Endpoint)
		}
		validateSecretName(r, key+".external.secretName", e.SecretName)
	}
}

func validateExternal(r *reader, key string, e *data.ExternalArgs) {
	if e == nil {
		r.Problem(key, "is required in external mode")
		return
	}
	if _, _, err := data.SplitEndpoint(e.Endpoint); err != nil {
		r.Problem(key+".endpoint", "%q is not host:port", e.Endpoint)
	}
	validateSecretName(r, key+".secretName", e.SecretName)
}

func validateSecretName(r *reader, key, name string) {
	if !dnsSubdomainRe.MatchString(name) {
		r.Problem(key, "%q is not a Kubernetes Secret name", name)
	}
}

func validateInCluster(r *reader, key string, c *data.InClusterArgs) {
	if c == nil {
		r.Problem(key, "is required in in-cluster mode")
		return
	}
	if c.Image == "" {
		r.Problem(key+".image", "is required")
	}
	if c.StorageClass != "" && !dnsSubdomainRe.MatchString(c.StorageClass) {
		r.Problem(key+".storageClass", "%q is not a StorageClass name", c.StorageClass)
	}
	if q, err := resource.ParseQuantity(c.StorageSize); err != nil || q.Sign() <= 0 {
		r.Problem(key+".storageSize", "%q is not a positive size such as 20Gi", c.StorageSize)
	}
	validateResources(r, key+".resources", c.Resources)
}
