package data

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/linkage-platform/linkage/components/componenttest"
	"github.com/linkage-platform/linkage/components/container"
	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/components/irsa"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

func inCluster(image string) *InClusterArgs {
	return &InClusterArgs{
		Image: image, StorageClass: "gp3-retain", StorageSize: "10Gi",
		Resources: container.Resources{CPURequest: "100m", MemoryRequest: "128Mi", CPULimit: "1", MemoryLimit: "1Gi"},
	}
}

// testArgs has every mode's settings filled in; modes picks each service's mode.
func testArgs(postgres, redis, objectStore Mode) *Args {
	return &Args{
		Namespace:    pulumi.String("linkage"),
		NodeSelector: map[string]string{"role": "system"},
		AWS: &AWSArgs{
			Region:                "us-east-1",
			VpcID:                 pulumi.String("vpc-1"),
			PrivateSubnetIDs:      pulumi.StringArray{pulumi.String("subnet-a"), pulumi.String("subnet-b")},
			ClientSecurityGroupID: pulumi.String("sg-nodes"),
			OIDC: irsa.OIDC{
				ProviderArn: pulumi.String("arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC").ToStringOutput(),
				IssuerURL:   pulumi.String("https://oidc.eks.us-east-1.amazonaws.com/id/ABC").ToStringOutput(),
			},
			AppNamespace: "linkage", AppServiceAccount: "linkage",
		},
		Postgres: PostgresArgs{
			Mode: postgres, Database: "linkage", Username: "linkage",
			Managed: &ManagedPostgresArgs{
				EngineVersion: "17", InstanceClass: "db.r6g.large", AllocatedStorageGiB: 50, MaxAllocatedStorageGiB: 200,
				MultiAZ: true, DeletionProtection: true, BackupRetentionDays: 14, PerformanceInsights: true,
			},
			InCluster: inCluster("postgres:17.6"),
			External:  &ExternalArgs{Endpoint: "db.example.com:5433", SecretName: "my-db"},
		},
		Redis: RedisArgs{
			Mode:      redis,
			Managed:   &ManagedRedisArgs{EngineVersion: "7.1", NodeType: "cache.r7g.large", Replicas: 1, HighAvailability: true, SnapshotRetentionDays: 7},
			InCluster: inCluster("redis:7.4.5-alpine"),
			External:  &ExternalArgs{Endpoint: "redis.example.com:6380", SecretName: "my-redis"},
		},
		ObjectStore: ObjectStoreArgs{
			Mode:    objectStore,
			Managed: &ManagedObjectStoreArgs{Versioning: true, NoncurrentVersionDays: 30, AbortMultipartDays: 7},
			InCluster: &InClusterObjectStoreArgs{
				InClusterArgs: *inCluster("minio/minio:RELEASE.2025-09-07T16-13-09Z"),
				Bucket:        "linkage", Region: "us-east-1", ClientImage: "minio/mc:RELEASE.2025-08-13T08-35-41Z",
			},
			External: &ExternalObjectStoreArgs{Bucket: "their-bucket", Endpoint: "https://s3.example.com", Region: "eu-west-1", SecretName: "my-s3"},
		},
	}
}

// outputs are the Data component's outputs once resolved.
type outputs struct {
	mu     sync.Mutex
	wg     sync.WaitGroup
	values map[string]any
}

func (o *outputs) capture(name string, out pulumi.Output) {
	o.wg.Add(1)
	out.ApplyT(func(v any) any {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.values[name] = v
		o.wg.Done()
		return v
	})
}

// wait blocks until every captured output resolved: outputs made of plain
// values alone are not awaited by the program's end.
func (o *outputs) wait() error {
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("outputs did not resolve")
	}
}

// run declares the data services under mocks and returns what was declared
// and the component's outputs.
func run(t *testing.T, args *Args) (*pulumimock.Mocks, map[string]any) {
	t.Helper()
	out := &outputs{values: map[string]any{}}
	m := pulumimock.New("linkage", "test")
	// A distinct password per RandomPassword, as the provider would generate.
	m.OnResource = func(args pulumi.MockResourceArgs) (resource.PropertyMap, error) {
		if args.TypeToken != "random:index/randomPassword:RandomPassword" {
			return nil, nil
		}
		return resource.PropertyMap{"result": resource.MakeSecret(resource.NewProperty("pw-" + args.Name))}, nil
	}
	err := pulumimock.RunWith(m, pulumimock.Config{Values: map[string]string{"aws:region": "us-east-1"}},
		func(ctx *pulumi.Context) error {
			d, err := New(ctx, "linkage", args)
			if err != nil {
				return err
			}
			for name, o := range map[string]pulumi.Output{
				"postgres.endpoint": d.Postgres.Endpoint, "postgres.database": d.Postgres.Database, "postgres.secret": d.Postgres.SecretName,
				"redis.endpoint": d.Redis.Endpoint, "redis.secret": d.Redis.SecretName,
				"objectStore.bucket": d.ObjectStore.Bucket, "objectStore.endpoint": d.ObjectStore.Endpoint,
				"objectStore.secret": d.ObjectStore.SecretName, "objectStore.appRoleArn": d.ObjectStore.AppRoleArn,
				"objectStore.uploadRoleArn": d.ObjectStore.UploadRoleArn,
			} {
				out.capture(name, o)
			}
			return out.wait()
		})
	require.NoError(t, err)
	return m, out.values
}

// secretData returns a Secret's stringData, revealed, after checking it is secret in state.
func secretData(t *testing.T, r pulumimock.Resource) map[string]string {
	t.Helper()
	require.Equalf(t, pulumimock.Redacted, pulumimock.Plain(r.Inputs, true)["stringData"], "stringData of Secret %s must be secret", r.Name)
	return componenttest.Decode[corev1.Secret](t, r).StringData
}

func TestInClusterDeclaresStatefulSetsSecretsAndServices(t *testing.T) {
	m, out := run(t, testArgs(InCluster, InCluster, InCluster))

	for _, typ := range []string{"aws:rds/instance:Instance", "aws:elasticache/replicationGroup:ReplicationGroup", "aws:s3/bucketV2:BucketV2", "aws:iam/role:Role"} {
		require.Emptyf(t, m.ByType(typ), "in-cluster mode must not declare %s", typ)
	}
	require.Len(t, m.ByType("kubernetes:apps/v1:StatefulSet"), 3)

	require.Equal(t, "linkage-postgres.linkage.svc:5432", out["postgres.endpoint"])
	require.Equal(t, "linkage", out["postgres.database"])
	require.Equal(t, "linkage-postgres", out["postgres.secret"])
	require.Equal(t, "linkage-redis.linkage.svc:6379", out["redis.endpoint"])
	require.Equal(t, "linkage-objectstore", out["objectStore.secret"])
	require.Equal(t, "linkage", out["objectStore.bucket"])
	require.Equal(t, "http://linkage-objectstore.linkage.svc:9000", out["objectStore.endpoint"])
	require.Equal(t, "", out["objectStore.appRoleArn"])

	pg := secretData(t, componenttest.Find(t, m, "kubernetes:core/v1:Secret", "linkage-postgres"))
	u, err := url.Parse(pg[KeyDatabaseURL])
	require.NoError(t, err)
	password, _ := u.User.Password()
	require.Equal(t, pg["POSTGRES_PASSWORD"], password)
	require.Equal(t, "linkage", u.User.Username())
	require.Equal(t, "linkage-postgres.linkage.svc:5432", u.Host)
	require.Equal(t, "/linkage", u.Path)

	redis := secretData(t, componenttest.Find(t, m, "kubernetes:core/v1:Secret", "linkage-redis"))
	require.True(t, strings.HasPrefix(redis[KeyRedisURL], "redis://:"))

	s3 := secretData(t, componenttest.Find(t, m, "kubernetes:core/v1:Secret", "linkage-objectstore"))
	require.Equal(t, "s3://linkage?endpoint=http%3A%2F%2Flinkage-objectstore.linkage.svc%3A9000&region=us-east-1", s3[KeyBlobURL])
	require.Equal(t, "linkage-app", s3[KeyAccessKeyID])
	root := secretData(t, componenttest.Find(t, m, "kubernetes:core/v1:Secret", "linkage-objectstore-root"))
	require.NotEqual(t, root["MINIO_ROOT_PASSWORD"], s3[KeySecretAccessKey], "the app gets its own MinIO user, not root")

	for _, name := range []string{"linkage-postgres", "linkage-redis", "linkage-objectstore"} {
		sts := componenttest.Decode[appsv1.StatefulSet](t, componenttest.Find(t, m, "kubernetes:apps/v1:StatefulSet", name))
		require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
		require.Equal(t, componenttest.Ptr("gp3-retain"), sts.Spec.VolumeClaimTemplates[0].Spec.StorageClassName)
		require.NotNil(t, sts.Spec.PersistentVolumeClaimRetentionPolicy)
		require.Equal(t, appsv1.RetainPersistentVolumeClaimRetentionPolicyType, sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted)
		pod := sts.Spec.Template.Spec
		require.Equal(t, map[string]string{"role": "system"}, pod.NodeSelector)
		require.NotNil(t, pod.SecurityContext)
		require.Equal(t, componenttest.Ptr(true), pod.SecurityContext.RunAsNonRoot)
		svc := componenttest.Decode[corev1.Service](t, componenttest.Find(t, m, "kubernetes:core/v1:Service", name))
		require.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP)
		require.Equal(t, name, sts.Spec.ServiceName)
	}

	job := componenttest.Find(t, m, "kubernetes:batch/v1:Job", "linkage-objectstore-bucket")
	require.True(t, job.DeleteBeforeReplace)
	require.Contains(t, job.DependsOn, componenttest.Find(t, m, "kubernetes:apps/v1:StatefulSet", "linkage-objectstore").URN)
	policyMap := componenttest.Decode[corev1.ConfigMap](t, componenttest.Find(t, m, "kubernetes:core/v1:ConfigMap", "linkage-objectstore-policy"))
	require.Contains(t, policyMap.Data, "policy.json")
	policy, err := iampolicy.Parse(policyMap.Data["policy.json"])
	require.NoError(t, err)
	for _, st := range policy.Statement {
		for _, res := range st.Resource {
			require.True(t, strings.HasPrefix(res, "arn:aws:s3:::linkage"), "MinIO user policy limited to the bucket: %s", res)
		}
	}
}

func TestInClusterContainersAreLimitedProbedAndNonRoot(t *testing.T) {
	m, _ := run(t, testArgs(InCluster, InCluster, InCluster))
	var checked int
	check := func(name string, pod corev1.PodSpec, probed bool) {
		for _, c := range pod.Containers {
			checked++
			require.Falsef(t, c.Resources.Limits.Cpu().IsZero(), "%s: cpu limit", name)
			require.Falsef(t, c.Resources.Limits.Memory().IsZero(), "%s: memory limit", name)
			sc := c.SecurityContext
			require.NotNil(t, sc, name)
			require.Equal(t, componenttest.Ptr(true), sc.RunAsNonRoot, name)
			require.Equal(t, componenttest.Ptr(false), sc.AllowPrivilegeEscalation, name)
			require.Equal(t, componenttest.Ptr(true), sc.ReadOnlyRootFilesystem, name)
			require.NotNil(t, sc.RunAsUser, name)
			require.NotZero(t, *sc.RunAsUser, name)
			if probed {
				require.NotNilf(t, c.ReadinessProbe, "%s: readiness probe", name)
				require.NotNilf(t, c.LivenessProbe, "%s: liveness probe", name)
			}
		}
	}
	for _, r := range m.ByType("kubernetes:apps/v1:StatefulSet") {
		check(r.Name, componenttest.Decode[appsv1.StatefulSet](t, r).Spec.Template.Spec, true)
	}
	for _, r := range m.ByType("kubernetes:batch/v1:Job") {
		check(r.Name, componenttest.Decode[batchv1.Job](t, r).Spec.Template.Spec, false)
	}
	require.Equal(t, 4, checked)

	// Redis's password never appears on its command line.
	redis := componenttest.Decode[appsv1.StatefulSet](t, componenttest.Find(t, m, "kubernetes:apps/v1:StatefulSet", "linkage-redis"))
	require.Len(t, redis.Spec.Template.Spec.Containers, 1)
	cmd := redis.Spec.Template.Spec.Containers[0].Command
	require.Len(t, cmd, 3)
	require.NotContains(t, cmd[2], "--requirepass")
}

func TestManagedPostgres(t *testing.T) {
	m, out := run(t, testArgs(Managed, InCluster, InCluster))
	db := componenttest.Find(t, m, "aws:rds/instance:Instance", "linkage-postgres")
	for key, want := range map[string]any{
		"engine": "postgres", "engineVersion": "17", "storageType": "gp3", "storageEncrypted": true,
		"publiclyAccessible": false, "multiAz": true, "deletionProtection": true, "backupRetentionPeriod": 14.0,
		"performanceInsightsEnabled": true, "skipFinalSnapshot": false, "maxAllocatedStorage": 200.0,
	} {
		require.Equalf(t, want, db.Input(key), "rds %s", key)
	}
	require.Equal(t, pulumimock.Redacted, pulumimock.Plain(db.Inputs, true)["password"], "the master password is secret")
	require.Equal(t, true, db.Input("autoMinorVersionUpgrade"), "a major version, minor versions applied by RDS")
	suffix := componenttest.Find(t, m, "random:index/randomId:RandomId", "linkage-postgres-final-snapshot")
	require.Equal(t, "linkage-postgres-final-"+suffix.Outputs["hex"].StringValue(), db.Input("finalSnapshotIdentifier"),
		"the final snapshot is named uniquely, so a replacement's does not collide with it")

	params := componenttest.Find(t, m, "aws:rds/parameterGroup:ParameterGroup", "linkage-postgres")
	require.Equal(t, "postgres17", params.Input("family"))
	require.Equal(t, []any{map[string]any{"name": "rds.force_ssl", "value": "1"}}, params.Input("parameters"))

	sg := componenttest.Find(t, m, "aws:ec2/securityGroup:SecurityGroup", "linkage-postgres")
	require.Len(t, sg.Input("ingress"), 1)
	require.Equal(t, 5432.0, sg.Input("ingress[0].fromPort"))
	require.Equal(t, 5432.0, sg.Input("ingress[0].toPort"))
	require.Equal(t, []any{"sg-nodes"}, sg.Input("ingress[0].securityGroups"))
	require.Nil(t, sg.Input("ingress[0].cidrBlocks"))

	subnets := componenttest.Find(t, m, "aws:rds/subnetGroup:SubnetGroup", "linkage-postgres")
	require.Equal(t, []any{"subnet-a", "subnet-b"}, subnets.Input("subnetIds"))

	secret := secretData(t, componenttest.Find(t, m, "kubernetes:core/v1:Secret", "linkage-postgres"))
	dbURL, err := url.Parse(secret[KeyDatabaseURL])
	require.NoError(t, err)
	require.Equal(t, "verify-full", dbURL.Query().Get("sslmode"), "the server's certificate and host name are verified")
	require.Equal(t, PostgresCAPath, dbURL.Query().Get("sslrootcert"))
	require.ElementsMatch(t, []string{KeyDatabaseURL, KeyPostgresCA}, keys(secret), "managed mode hands the app the URL and the CA bundle only")
	requireRDSRoots(t, secret[KeyPostgresCA])
	require.Equal(t, "linkage-postgres", out["postgres.secret"])
}

func TestManagedPostgresWithoutProtectionSkipsFinalSnapshot(t *testing.T) {
	args := testArgs(Managed, InCluster, InCluster)
	args.Postgres.Managed.DeletionProtection = false
	args.Postgres.Managed.PerformanceInsights = false
	m, _ := run(t, args)
	db := componenttest.Find(t, m, "aws:rds/instance:Instance", "linkage-postgres")
	require.Equal(t, true, db.Input("skipFinalSnapshot"))
	require.Nil(t, db.Input("finalSnapshotIdentifier"))
	require.Nil(t, db.Input("performanceInsightsRetentionPeriod"))
}

// requireRDSRoots checks a CA bundle: only self-signed Amazon RDS root CAs, none expired, for the
// us-east-1 region in each of the three key types RDS offers.
func requireRDSRoots(t *testing.T, bundle string) {
	t.Helper()
	rest := []byte(bundle)
	subjects := map[string]bool{}
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		require.True(t, cert.IsCA, cert.Subject)
		require.Equal(t, cert.Subject.String(), cert.Issuer.String(), "a root: %s", cert.Subject)
		require.Contains(t, cert.Subject.CommonName, "Amazon RDS")
		require.True(t, cert.NotAfter.After(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), "%s expires %s", cert.Subject, cert.NotAfter)
		subjects[cert.Subject.CommonName] = true
	}
	require.Empty(t, bytes.TrimSpace(rest), "nothing but certificates")
	for _, kind := range []string{"RSA2048", "RSA4096", "ECC384"} {
		require.True(t, subjects["Amazon RDS us-east-1 Root CA "+kind+" G1"], "us-east-1 %s root", kind)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestManagedRedis(t *testing.T) {
	m, _ := run(t, testArgs(InCluster, Managed, InCluster))
	rg := componenttest.Find(t, m, "aws:elasticache/replicationGroup:ReplicationGroup", "linkage-redis")
	for key, want := range map[string]any{
		"transitEncryptionEnabled": true, "atRestEncryptionEnabled": true, "automaticFailoverEnabled": true,
		"multiAzEnabled": true, "numCacheClusters": 2.0, "port": 6379.0,
	} {
		require.Equalf(t, want, rg.Input(key), "replication group %s", key)
	}
	require.Equal(t, pulumimock.Redacted, pulumimock.Plain(rg.Inputs, true)["authToken"])
	sg := componenttest.Find(t, m, "aws:ec2/securityGroup:SecurityGroup", "linkage-redis")
	require.Equal(t, 6379.0, sg.Input("ingress[0].fromPort"))
	secret := secretData(t, componenttest.Find(t, m, "kubernetes:core/v1:Secret", "linkage-redis"))
	require.True(t, strings.HasPrefix(secret[KeyRedisURL], "rediss://:"), "TLS to ElastiCache")
}

func TestManagedObjectStore(t *testing.T) {
	m, out := run(t, testArgs(InCluster, InCluster, Managed))
	pab := componenttest.Find(t, m, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "linkage-objectstore")
	for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		require.Equal(t, true, pab.Input(k), k)
	}
	own := componenttest.Find(t, m, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "linkage-objectstore")
	require.Equal(t, "BucketOwnerEnforced", own.Input("rule.objectOwnership"))
	sse := componenttest.Find(t, m, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "linkage-objectstore")
	require.Equal(t, "aws:kms", sse.Input("rules[0].applyServerSideEncryptionByDefault.sseAlgorithm"))
	ver := componenttest.Find(t, m, "aws:s3/bucketVersioningV2:BucketVersioningV2", "linkage-objectstore")
	require.Equal(t, "Enabled", ver.Input("versioningConfiguration.status"))
	lc := componenttest.Find(t, m, "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "linkage-objectstore")
	require.Equal(t, 7.0, lc.Input("rules[0].abortIncompleteMultipartUpload.daysAfterInitiation"))

	bucketPolicy := componenttest.Policy(t, componenttest.Find(t, m, "aws:s3/bucketPolicy:BucketPolicy", "linkage-objectstore"), "policy")
	require.Len(t, bucketPolicy.Statement, 1)
	require.Equal(t, "Deny", bucketPolicy.Statement[0].Effect, "the bucket policy only denies (plain HTTP)")

	appRole := componenttest.Find(t, m, "aws:iam/role:Role", "linkage-objectstore-app")
	trust := componenttest.Policy(t, appRole, "assumeRolePolicy")
	require.Len(t, trust.Statement, 1)
	cond := trust.Statement[0].Condition["StringEquals"]
	require.Equal(t, iampolicy.Strings{"system:serviceaccount:linkage:linkage"}, cond["oidc.eks.us-east-1.amazonaws.com/id/ABC:sub"])
	require.Equal(t, iampolicy.Strings{"sts.amazonaws.com"}, cond["oidc.eks.us-east-1.amazonaws.com/id/ABC:aud"])

	appPolicy := componenttest.Policy(t, componenttest.Find(t, m, "aws:iam/rolePolicy:RolePolicy", "linkage-objectstore-app"), "policy")
	uploadRole := componenttest.Find(t, m, "aws:iam/role:Role", "linkage-objectstore-upload")
	var bucketArn string
	for _, st := range appPolicy.Statement {
		require.Equal(t, "Allow", st.Effect)
		for _, a := range st.Action {
			require.NotContains(t, a, "*", "no wildcard actions")
		}
		if st.Sid == "Bucket" {
			bucketArn = st.Resource[0]
		}
		if st.Sid == "IssueUploadCredentials" {
			require.Equal(t, iampolicy.Strings{uploadRole.Outputs["arn"].StringValue()}, st.Resource)
		}
	}
	require.NotEmpty(t, bucketArn)

	uploadTrust := componenttest.Policy(t, uploadRole, "assumeRolePolicy")
	require.Len(t, uploadTrust.Statement, 1)
	require.Equal(t, iampolicy.Strings{fmt.Sprint(out["objectStore.appRoleArn"])}, uploadTrust.Statement[0].Principal["AWS"],
		"only the app's role may issue upload credentials")
	uploadPolicy := componenttest.Policy(t, componenttest.Find(t, m, "aws:iam/rolePolicy:RolePolicy", "linkage-objectstore-upload"), "policy")
	require.Len(t, uploadPolicy.Statement, 2)
	write, read := uploadPolicy.Statement[0], uploadPolicy.Statement[1]
	require.Equal(t, iampolicy.Strings{bucketArn + "/projects/*/external/*"}, write.Resource)
	require.NotContains(t, write.Action, "s3:GetObject", "upload credentials cannot read")
	require.Equal(t, iampolicy.Strings{"s3:GetObject"}, read.Action)
	require.Equal(t, iampolicy.Strings{bucketArn + "/projects/*/runs/*/result*"}, read.Resource)

	secret := secretData(t, componenttest.Find(t, m, "kubernetes:core/v1:Secret", "linkage-objectstore"))
	blob, err := url.Parse(secret[KeyBlobURL])
	require.NoError(t, err)
	require.Equal(t, "s3", blob.Scheme)
	require.Equal(t, out["objectStore.bucket"], blob.Host)
	require.Equal(t, url.Values{"region": {"us-east-1"}, "upload-role": {fmt.Sprint(out["objectStore.uploadRoleArn"])}}, blob.Query())
	require.NotContains(t, secret, KeyAccessKeyID, "S3 is reached through IRSA, never static keys")
	require.Equal(t, "https://s3.us-east-1.amazonaws.com", out["objectStore.endpoint"])
}

func TestExternalCreatesNothing(t *testing.T) {
	m, out := run(t, testArgs(External, External, External))
	for _, r := range m.Resources() {
		require.Falsef(t, r.Custom, "external mode declared %s %s", r.Type, r.Name)
	}
	require.Equal(t, "db.example.com:5433", out["postgres.endpoint"])
	require.Equal(t, "my-db", out["postgres.secret"])
	require.Equal(t, "redis.example.com:6380", out["redis.endpoint"])
	require.Equal(t, "my-redis", out["redis.secret"])
	require.Equal(t, "their-bucket", out["objectStore.bucket"])
	require.Equal(t, "https://s3.example.com", out["objectStore.endpoint"])
	require.Equal(t, "my-s3", out["objectStore.secret"])
}

// Switching one service's mode changes only the resources under that
// service's component: everything else is declared identically.
func TestSwitchingOneModeChangesOnlyThatService(t *testing.T) {
	base, _ := run(t, testArgs(InCluster, InCluster, InCluster))
	for _, svc := range []struct {
		component string
		args      *Args
	}{
		{"linkage-postgres", testArgs(Managed, InCluster, InCluster)},
		{"linkage-redis", testArgs(InCluster, External, InCluster)},
		{"linkage-objectstore", testArgs(InCluster, InCluster, Managed)},
	} {
		switched, _ := run(t, svc.args)
		require.Equal(t, outside(t, base, svc.component), outside(t, switched, svc.component), "switching %s", svc.component)
		require.NotEqual(t, within(t, base, svc.component), within(t, switched, svc.component))
	}
}

// outside is every resource not under the named service component, as
// URN → inputs (secrets revealed: a regenerated password would show).
func outside(t *testing.T, m *pulumimock.Mocks, component string) map[string]any {
	t.Helper()
	skip := map[string]bool{}
	for _, r := range within(t, m, component) {
		skip[r.URN] = true
	}
	out := map[string]any{}
	for _, r := range m.Resources() {
		if !skip[r.URN] && !(r.Name == component && !r.Custom) {
			out[r.URN] = pulumimock.Plain(r.Inputs, false)
		}
	}
	return out
}

func within(t *testing.T, m *pulumimock.Mocks, component string) []pulumimock.Resource {
	t.Helper()
	var comp pulumimock.Resource
	for _, r := range m.Resources() {
		if r.Name == component && !r.Custom {
			comp = r
		}
	}
	require.NotEmpty(t, comp.URN, "component %s", component)
	return m.Descendants(comp.URN)
}

// New refuses arguments it cannot work without, naming each; the values themselves are validated in
// stacks/ (see stacks/data_test.go).
func TestNewNamesWhatItCannotWorkWithout(t *testing.T) {
	args := testArgs(Managed, External, Managed)
	args.AWS = nil
	args.Namespace = nil
	args.Redis.External = nil
	_, err := pulumimock.RunProgram("linkage", "test", pulumimock.Config{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "linkage", args)
		return err
	})
	require.Error(t, err)
	for _, want := range []string{
		"namespace is required", "postgres: managed needs AWS", `redis: mode "external" needs its arguments`,
		"objectStore: managed needs AWS",
	} {
		require.ErrorContains(t, err, want)
	}

	args = testArgs(InCluster, InCluster, Managed)
	args.AWS.AppServiceAccount = ""
	_, err = pulumimock.RunProgram("linkage", "test", pulumimock.Config{}, func(ctx *pulumi.Context) error {
		_, err := New(ctx, "linkage", args)
		return err
	})
	require.ErrorContains(t, err, "objectStore: the app's service account")
}
