package data

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Problem is one invalid argument. Field is a dotted path relative to the
// service ("managed.instanceClass"), so stacks/ can name the config key.
type Problem struct {
	Field  string
	Reason string
}

func (p Problem) Error() string { return p.Field + ": " + p.Reason }

type problems []Problem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// prefixed returns the problems with prefix+"." in front of each field.
func prefixed(prefix string, ps []Problem) []Problem {
	out := make([]Problem, len(ps))
	for i, p := range ps {
		out[i] = Problem{Field: prefix + "." + p.Field, Reason: p.Reason}
	}
	return out
}

// Validate reports every problem of the arguments together.
func (a *Args) Validate() []Problem {
	var ps problems
	if a.Namespace == nil {
		ps.add("namespace", "is required")
	}
	for _, svc := range []struct {
		name string
		mode Mode
	}{{"postgres", a.Postgres.Mode}, {"redis", a.Redis.Mode}, {"objectStore", a.ObjectStore.Mode}} {
		if svc.mode == Managed && a.AWS == nil {
			ps.add(svc.name+".mode", "managed needs AWS (a VPC and an EKS cluster); this deployment has none")
		}
	}
	if a.ObjectStore.Mode == Managed && (a.ObjectStore.ServiceAccountNamespace == "" || a.ObjectStore.ServiceAccountName == "") {
		ps.add("objectStore.serviceAccount", "the app's service account namespace and name are required for its IRSA role")
	}
	ps = append(ps, prefixed("postgres", a.Postgres.Validate())...)
	ps = append(ps, prefixed("redis", a.Redis.Validate())...)
	ps = append(ps, prefixed("objectStore", a.ObjectStore.Validate())...)
	return ps
}

func joinProblems(ps []Problem) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

var (
	sqlNameRe       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	pgVersionRe     = regexp.MustCompile(`^(\d+)$`)
	rdsClassRe      = regexp.MustCompile(`^db\.[a-z0-9]+\.[a-z0-9]+$`)
	redisVersionRe  = regexp.MustCompile(`^\d+\.\d+$`)
	cacheNodeTypeRe = regexp.MustCompile(`^cache\.[a-z0-9]+\.[a-z0-9]+$`)
	dnsSubdomainRe  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	bucketRe        = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionRe        = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
)

// minPostgresMajor is the oldest major version RDS still offers in standard support.
const minPostgresMajor = 13

func checkMode(ps *problems, m Mode) {
	if !m.Valid() {
		ps.add("mode", "%q is not one of %s, %s, %s", m, Managed, InCluster, External)
	}
}

// Validate reports every problem of the Postgres arguments.
func (a *PostgresArgs) Validate() []Problem {
	var ps problems
	checkMode(&ps, a.Mode)
	if !sqlNameRe.MatchString(a.Database) {
		ps.add("database", "%q is not a database name (letters, digits, _; at most 63)", a.Database)
	}
	if a.Mode != External && !sqlNameRe.MatchString(a.Username) {
		ps.add("username", "%q is not a user name (letters, digits, _; at most 63)", a.Username)
	}
	if a.Mode != External && (a.Username == "rdsadmin" || a.Username == "postgres") {
		ps.add("username", "%q is reserved; use an application user name", a.Username)
	}
	switch a.Mode {
	case Managed:
		m := a.Managed
		if m == nil {
			ps.add("managed", "is required in managed mode")
			break
		}
		if v := pgVersionRe.FindStringSubmatch(m.EngineVersion); v == nil {
			// A minor version would fight the automatic minor upgrades: after RDS moves to 17.7 the
			// next update would try to downgrade to the pinned 17.6.
			ps.add("managed.engineVersion", "%q is not a Postgres major version such as 17 (minor versions are upgraded automatically)", m.EngineVersion)
		} else if major, _ := strconv.Atoi(v[1]); major < minPostgresMajor {
			ps.add("managed.engineVersion", "%s is out of RDS standard support; use %d or newer", m.EngineVersion, minPostgresMajor)
		}
		if !rdsClassRe.MatchString(m.InstanceClass) {
			ps.add("managed.instanceClass", "%q is not an RDS instance class such as db.t4g.medium", m.InstanceClass)
		}
		if m.AllocatedStorageGiB < 20 || m.AllocatedStorageGiB > 65536 {
			ps.add("managed.allocatedStorageGiB", "%d: gp3 storage is 20..65536 GiB", m.AllocatedStorageGiB)
		}
		if m.MaxAllocatedStorageGiB != 0 && m.MaxAllocatedStorageGiB < m.AllocatedStorageGiB {
			ps.add("managed.maxAllocatedStorageGiB", "%d is less than allocatedStorageGiB %d (0 turns autoscaling off)", m.MaxAllocatedStorageGiB, m.AllocatedStorageGiB)
		}
		if m.BackupRetentionDays < 1 || m.BackupRetentionDays > 35 {
			ps.add("managed.backupRetentionDays", "%d: RDS keeps automated backups 1..35 days", m.BackupRetentionDays)
		}
	case InCluster:
		a.InCluster.validate(&ps, "inCluster")
	case External:
		a.External.validate(&ps)
	}
	return ps
}

// Validate reports every problem of the Redis arguments.
func (a *RedisArgs) Validate() []Problem {
	var ps problems
	checkMode(&ps, a.Mode)
	switch a.Mode {
	case Managed:
		m := a.Managed
		if m == nil {
			ps.add("managed", "is required in managed mode")
			break
		}
		if !redisVersionRe.MatchString(m.EngineVersion) {
			ps.add("managed.engineVersion", "%q is not a Redis version such as 7.1", m.EngineVersion)
		}
		if !cacheNodeTypeRe.MatchString(m.NodeType) {
			ps.add("managed.nodeType", "%q is not an ElastiCache node type such as cache.t4g.small", m.NodeType)
		}
		if m.Replicas < 0 || m.Replicas > 5 {
			ps.add("managed.replicas", "%d: a replication group has 0..5 replicas", m.Replicas)
		}
		if m.HighAvailability && m.Replicas < 1 {
			ps.add("managed.replicas", "%d: automatic failover and Multi-AZ (highAvailability) need at least one replica", m.Replicas)
		}
		if m.SnapshotRetentionDays < 0 || m.SnapshotRetentionDays > 35 {
			ps.add("managed.snapshotRetentionDays", "%d: ElastiCache keeps snapshots 0..35 days", m.SnapshotRetentionDays)
		}
	case InCluster:
		a.InCluster.validate(&ps, "inCluster")
	case External:
		a.External.validate(&ps)
	}
	return ps
}

// Validate reports every problem of the object store arguments.
func (a *ObjectStoreArgs) Validate() []Problem {
	var ps problems
	checkMode(&ps, a.Mode)
	switch a.Mode {
	case Managed:
		m := a.Managed
		if m == nil {
			ps.add("managed", "is required in managed mode")
			break
		}
		if m.AbortMultipartDays < 1 {
			ps.add("managed.abortMultipartDays", "%d: abandoned multipart uploads must expire after at least 1 day", m.AbortMultipartDays)
		}
		if m.Versioning && m.NoncurrentVersionDays < 1 {
			ps.add("managed.noncurrentVersionDays", "%d: with versioning, old versions must expire after at least 1 day", m.NoncurrentVersionDays)
		}
	case InCluster:
		c := a.InCluster
		if c == nil {
			ps.add("inCluster", "is required in in-cluster mode")
			break
		}
		c.InClusterArgs.validate(&ps, "inCluster")
		if !bucketRe.MatchString(c.Bucket) {
			ps.add("inCluster.bucket", "%q is not a bucket name (3..63 lower-case letters, digits, dots, dashes)", c.Bucket)
		}
		if !regionRe.MatchString(c.Region) {
			ps.add("inCluster.region", "%q is not a region name such as us-east-1", c.Region)
		}
		if c.ClientImage == "" {
			ps.add("inCluster.clientImage", "the MinIO client image of the bucket Job is required")
		}
	case External:
		e := a.External
		if e == nil {
			ps.add("external", "is required in external mode")
			break
		}
		if !bucketRe.MatchString(e.Bucket) {
			ps.add("external.bucket", "%q is not a bucket name", e.Bucket)
		}
		if !regionRe.MatchString(e.Region) {
			ps.add("external.region", "%q is not a region name such as us-east-1", e.Region)
		}
		if e.Endpoint != "" && !strings.HasPrefix(e.Endpoint, "https://") && !strings.HasPrefix(e.Endpoint, "http://") {
			ps.add("external.endpoint", "%q is not an http(s) URL; leave it empty for AWS S3", e.Endpoint)
		}
		if !dnsSubdomainRe.MatchString(e.SecretName) {
			ps.add("external.secretName", "%q is not a Kubernetes Secret name", e.SecretName)
		}
	}
	return ps
}

func (e *ExternalArgs) validate(ps *problems) {
	if e == nil {
		ps.add("external", "is required in external mode")
		return
	}
	if _, _, err := splitEndpoint(e.Endpoint); err != nil {
		ps.add("external.endpoint", "%q is not host:port", e.Endpoint)
	}
	if !dnsSubdomainRe.MatchString(e.SecretName) {
		ps.add("external.secretName", "%q is not a Kubernetes Secret name", e.SecretName)
	}
}

func (c *InClusterArgs) validate(ps *problems, field string) {
	if c == nil {
		ps.add(field, "is required in in-cluster mode")
		return
	}
	if c.Image == "" {
		ps.add(field+".image", "is required")
	}
	if c.StorageClass != "" && !dnsSubdomainRe.MatchString(c.StorageClass) {
		ps.add(field+".storageClass", "%q is not a StorageClass name", c.StorageClass)
	}
	if q, err := resource.ParseQuantity(c.StorageSize); err != nil || q.Sign() <= 0 {
		ps.add(field+".storageSize", "%q is not a positive size such as 20Gi", c.StorageSize)
	}
	r := c.Resources
	pair := func(kind, request, limit string) {
		req, reqErr := resource.ParseQuantity(request)
		lim, limErr := resource.ParseQuantity(limit)
		if reqErr != nil || req.Sign() <= 0 {
			ps.add(field+".resources."+kind+"Request", "%q is not a positive quantity", request)
		}
		if limErr != nil || lim.Sign() <= 0 {
			ps.add(field+".resources."+kind+"Limit", "%q is not a positive quantity", limit)
		}
		if reqErr == nil && limErr == nil && lim.Cmp(req) < 0 {
			ps.add(field+".resources."+kind+"Limit", "%s is less than the request %s", limit, request)
		}
	}
	pair("cpu", r.CPURequest, r.CPULimit)
	pair("memory", r.MemoryRequest, r.MemoryLimit)
}
