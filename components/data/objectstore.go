package data

import (
	"fmt"
	"net/url"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/components/container"
	"github.com/linkage-platform/linkage/components/iampolicy"
	"github.com/linkage-platform/linkage/components/irsa"
)

const minioPort = 9000

// Key patterns (app/linkage's blob layout) of the objects clients reach with
// temporary credentials: their external uploads and the runs' results.
var (
	externalUploadKeys = linkage.ExternalPrefix("*") + "*"
	resultKeys         = linkage.RunPrefix("*", "*") + "result*"
)

// blobURL is the app's --blob-url: s3://bucket?region=…&endpoint=…&upload-role=…
func blobURL(bucket string, query url.Values) string {
	u := url.URL{Scheme: "s3", Host: bucket, RawQuery: query.Encode()}
	return u.String()
}

// ObjectStoreArgs configure the blob store.
type ObjectStoreArgs struct {
	Mode Mode `json:"mode"`

	Managed   *ManagedObjectStoreArgs   `json:"managed"`
	InCluster *InClusterObjectStoreArgs `json:"inCluster"`
	External  *ExternalObjectStoreArgs  `json:"external"`
}

// ManagedObjectStoreArgs shape the S3 bucket.
type ManagedObjectStoreArgs struct {
	// Versioning keeps overwritten and deleted objects for
	// NoncurrentVersionDays (production).
	Versioning            bool `json:"versioning"`
	NoncurrentVersionDays int  `json:"noncurrentVersionDays"`
	// AbortMultipartDays removes abandoned multipart uploads.
	AbortMultipartDays int `json:"abortMultipartDays"`
}

// InClusterObjectStoreArgs run MinIO and create its bucket.
type InClusterObjectStoreArgs struct {
	InClusterArgs
	Bucket string `json:"bucket"`
	// Region MinIO reports (clients sign requests for it).
	Region string `json:"region"`
	// ClientImage is the MinIO client (mc) image of the bucket Job.
	ClientImage string `json:"clientImage"`
}

// ExternalObjectStoreArgs name an existing bucket.
type ExternalObjectStoreArgs struct {
	Bucket string `json:"bucket"`
	// Endpoint is the S3 API URL; empty for AWS S3.
	Endpoint   string `json:"endpoint"`
	Region     string `json:"region"`
	SecretName string `json:"secretName"`
}

// ObjectStore is the blob store, whatever its mode.
type ObjectStore struct {
	pulumi.ResourceState

	Mode   Mode
	Bucket pulumi.StringOutput
	// Endpoint is the S3 API URL.
	Endpoint pulumi.StringOutput
	Region   pulumi.StringOutput
	// SecretName is the Kubernetes Secret holding BLOB_URL and the rest.
	SecretName pulumi.StringOutput
	// AppRoleArn is the IRSA role for the app's ServiceAccount (managed only).
	AppRoleArn pulumi.StringOutput
	// UploadRoleArn is the role the API assumes to hand clients temporary
	// credentials: authorize-external-upload and result downloads (managed only).
	UploadRoleArn pulumi.StringOutput
}

func newObjectStore(ctx *pulumi.Context, name string, shared sharedArgs, args ObjectStoreArgs, opts ...pulumi.ResourceOption) (*ObjectStore, error) {
	o := &ObjectStore{
		Mode:          args.Mode,
		AppRoleArn:    pulumi.String("").ToStringOutput(),
		UploadRoleArn: pulumi.String("").ToStringOutput(),
	}
	if err := ctx.RegisterComponentResource("linkage:components:ObjectStore", name, o, opts...); err != nil {
		return nil, fmt.Errorf("object store %s: register: %w", name, err)
	}
	var err error
	switch args.Mode {
	case Managed:
		err = o.managed(ctx, name, shared, args)
	case InCluster:
		err = o.inCluster(ctx, name, shared, args)
	case External:
		o.external(args)
	}
	if err != nil {
		return nil, fmt.Errorf("object store %s (%s): %w", name, args.Mode, err)
	}
	if err := ctx.RegisterResourceOutputs(o, pulumi.Map{
		"mode":          pulumi.String(string(o.Mode)),
		"bucket":        o.Bucket,
		"endpoint":      o.Endpoint,
		"region":        o.Region,
		"secretName":    o.SecretName,
		"appRoleArn":    o.AppRoleArn,
		"uploadRoleArn": o.UploadRoleArn,
	}); err != nil {
		return nil, fmt.Errorf("object store %s: register outputs: %w", name, err)
	}
	return o, nil
}

func (o *ObjectStore) managed(ctx *pulumi.Context, name string, shared sharedArgs, args ObjectStoreArgs) error {
	m := args.Managed
	parent := pulumi.Parent(o)
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{}, parent)
	if err != nil {
		return fmt.Errorf("bucket: %w", err)
	}
	onBucket := []pulumi.ResourceOption{parent, pulumi.DependsOn([]pulumi.Resource{bucket})}
	block, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, onBucket...)
	if err != nil {
		return fmt.Errorf("public access block: %w", err)
	}
	if _, err := s3.NewBucketOwnershipControls(ctx, name, &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule:   s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, onBucket...); err != nil {
		return fmt.Errorf("ownership controls: %w", err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("aws:kms"),
			},
			// One data key per bucket instead of one KMS call per object.
			BucketKeyEnabled: pulumi.Bool(true),
		}},
	}, onBucket...); err != nil {
		return fmt.Errorf("encryption: %w", err)
	}
	lifecycleOpts := onBucket
	rules := s3.BucketLifecycleConfigurationV2RuleArray{s3.BucketLifecycleConfigurationV2RuleArgs{
		Id:     pulumi.String("abort-incomplete-multipart-uploads"),
		Status: pulumi.String("Enabled"),
		Filter: s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
		AbortIncompleteMultipartUpload: s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
			DaysAfterInitiation: pulumi.Int(m.AbortMultipartDays),
		},
	}}
	if m.Versioning {
		versioning, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
			Bucket:                  bucket.ID(),
			VersioningConfiguration: s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
		}, onBucket...)
		if err != nil {
			return fmt.Errorf("versioning: %w", err)
		}
		// Lifecycle rules on versions need versioning in place first.
		lifecycleOpts = []pulumi.ResourceOption{parent, pulumi.DependsOn([]pulumi.Resource{bucket, versioning})}
		rules = append(rules, s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:     pulumi.String("expire-noncurrent-versions"),
			Status: pulumi.String("Enabled"),
			Filter: s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			NoncurrentVersionExpiration: s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
				NoncurrentDays: pulumi.Int(m.NoncurrentVersionDays),
			},
		})
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules:  rules,
	}, lifecycleOpts...); err != nil {
		return fmt.Errorf("lifecycle: %w", err)
	}
	tlsOnly := bucket.Arn.ApplyT(func(arn string) string {
		return iampolicy.New(iampolicy.Statement{
			Sid:       "DenyInsecureTransport",
			Effect:    "Deny",
			Principal: map[string]iampolicy.Strings{"AWS": {"*"}},
			Action:    iampolicy.Strings{"s3:*"},
			Resource:  iampolicy.Strings{arn, arn + "/*"},
			Condition: map[string]map[string]iampolicy.Strings{"Bool": {"aws:SecureTransport": {"false"}}},
		}).JSON()
	}).(pulumi.StringOutput)
	if _, err := s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: tlsOnly,
	}, parent, pulumi.DependsOn([]pulumi.Resource{bucket, block})); err != nil {
		return fmt.Errorf("bucket policy: %w", err)
	}

	appRole, uploadRole, err := o.roles(ctx, name, shared, args, bucket.Arn, parent)
	if err != nil {
		return err
	}
	region := shared.aws.Region
	o.Bucket = bucket.ID().ToStringOutput()
	o.Endpoint = pulumi.String("https://s3." + region + ".amazonaws.com").ToStringOutput()
	o.Region = pulumi.String(region).ToStringOutput()
	o.AppRoleArn = appRole.Arn
	o.UploadRoleArn = uploadRole.Arn
	blobURL := pulumi.All(o.Bucket, uploadRole.Arn).ApplyT(func(v []any) string {
		return blobURL(v[0].(string), url.Values{"region": {region}, "upload-role": {v[1].(string)}})
	}).(pulumi.StringOutput)
	secret, err := newSecret(ctx, name, shared.namespace, "objectstore", pulumi.StringMap{
		KeyBlobURL: blobURL,
		KeyRegion:  pulumi.String(region),
	}, parent)
	if err != nil {
		return err
	}
	o.SecretName = secret.Metadata.Name().Elem()
	return nil
}

// roles are the app's IRSA role (bucket read/write, may assume the upload
// role) and the upload role, whose credentials the API narrows further with
// a session policy to one party's upload prefix or one result object.
func (o *ObjectStore) roles(ctx *pulumi.Context, name string, shared sharedArgs, args ObjectStoreArgs, bucketArn pulumi.StringOutput, parent pulumi.ResourceOption) (app *irsa.Role, upload *iam.Role, err error) {
	app, err = irsa.NewRole(ctx, name+"-app", &irsa.RoleArgs{
		OIDC:           shared.aws.OIDC,
		Namespace:      shared.aws.AppNamespace,
		ServiceAccount: shared.aws.AppServiceAccount,
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("app role: %w", err)
	}
	uploadTrust := app.Arn.ApplyT(func(arn string) string {
		return iampolicy.New(iampolicy.Statement{
			Effect:    "Allow",
			Principal: map[string]iampolicy.Strings{"AWS": {arn}},
			Action:    iampolicy.Strings{"sts:AssumeRole"},
		}).JSON()
	}).(pulumi.StringOutput)
	upload, err = iam.NewRole(ctx, name+"-upload", &iam.RoleArgs{
		Description:      pulumi.String("linkage clients' temporary credentials: write external uploads, read results"),
		AssumeRolePolicy: uploadTrust,
		// Assumed from the IRSA session (role chaining): one hour at most.
		MaxSessionDuration: pulumi.Int(3600),
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("upload role: %w", err)
	}
	uploadPolicy := bucketArn.ApplyT(func(arn string) string {
		return iampolicy.New(
			iampolicy.Allow("WriteExternalUploads",
				[]string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
				arn+"/"+externalUploadKeys),
			iampolicy.Allow("ReadResults", []string{"s3:GetObject"}, arn+"/"+resultKeys),
		).JSON()
	}).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(ctx, name+"-upload", &iam.RolePolicyArgs{Role: upload.Name, Policy: uploadPolicy}, parent); err != nil {
		return nil, nil, fmt.Errorf("upload role policy: %w", err)
	}
	// Attached here rather than through irsa.RoleArgs.Policy: it names the
	// upload role, which trusts the app role, which must exist first.
	appPolicy := pulumi.All(bucketArn, upload.Arn).ApplyT(func(v []any) string {
		return bucketPolicy(v[0].(string),
			iampolicy.Allow("IssueUploadCredentials", []string{"sts:AssumeRole"}, v[1].(string))).JSON()
	}).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(ctx, name+"-app", &iam.RolePolicyArgs{Role: app.Name, Policy: appPolicy}, parent); err != nil {
		return nil, nil, fmt.Errorf("app role policy: %w", err)
	}
	return app, upload, nil
}

// bucketPolicy grants the app what it does with its bucket and nothing
// more: objects read/write/delete, listing, multipart housekeeping. The same
// document is the MinIO user's policy.
func bucketPolicy(bucketArn string, more ...iampolicy.Statement) iampolicy.Document {
	return iampolicy.New(append([]iampolicy.Statement{
		iampolicy.Allow("Objects",
			[]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
			bucketArn+"/*"),
		iampolicy.Allow("Bucket",
			[]string{"s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"},
			bucketArn),
	}, more...)...)
}

func (o *ObjectStore) inCluster(ctx *pulumi.Context, name string, shared sharedArgs, args ObjectStoreArgs) error {
	c := args.InCluster
	parent := pulumi.Parent(o)
	rootPassword, err := newPassword(ctx, name+"-root", 40, parent)
	if err != nil {
		return err
	}
	appSecretKey, err := newPassword(ctx, name+"-app", 40, parent)
	if err != nil {
		return err
	}
	root, err := newSecret(ctx, name+"-root", shared.namespace, "minio", pulumi.StringMap{
		"MINIO_ROOT_USER":     pulumi.String("minio-root"),
		"MINIO_ROOT_PASSWORD": rootPassword.Result,
	}, parent)
	if err != nil {
		return err
	}
	endpoint := pulumi.Sprintf("http://%s:%d", serviceHost(name, shared.namespace), minioPort)
	blobURL := endpoint.ApplyT(func(e string) string {
		return blobURL(c.Bucket, url.Values{"region": {c.Region}, "endpoint": {e}})
	}).(pulumi.StringOutput)
	app, err := newSecret(ctx, name, shared.namespace, "minio", pulumi.StringMap{
		KeyBlobURL:         blobURL,
		KeyRegion:          pulumi.String(c.Region),
		KeyAccessKeyID:     pulumi.String("linkage-app"),
		KeySecretAccessKey: appSecretKey.Result,
	}, parent)
	if err != nil {
		return err
	}
	rootName, appName := root.Metadata.Name().Elem(), app.Metadata.Name().Elem()
	sts, err := newStatefulService(ctx, statefulService{
		name:      name,
		component: "minio",
		namespace: shared.namespace,
		selector:  shared.nodeSelector,
		spec:      c.InClusterArgs,
		uid:       1000,
		port:      minioPort,
		args:      []string{"server", "/data", "--address", fmt.Sprintf(":%d", minioPort)},
		env: corev1.EnvVarArray{
			secretEnv("MINIO_ROOT_USER", rootName, "MINIO_ROOT_USER"),
			secretEnv("MINIO_ROOT_PASSWORD", rootName, "MINIO_ROOT_PASSWORD"),
			corev1.EnvVarArgs{Name: pulumi.String("MINIO_SITE_REGION"), Value: pulumi.String(c.Region)},
			corev1.EnvVarArgs{Name: pulumi.String("MINIO_BROWSER"), Value: pulumi.String("off")},
			// MinIO keeps its certs directory under $HOME.
			corev1.EnvVarArgs{Name: pulumi.String("HOME"), Value: pulumi.String("/tmp")},
		},
		dataPath:  "/data",
		scratch:   []string{"/tmp"},
		readiness: httpProbe("/minio/health/ready", minioPort),
		liveness:  httpProbe("/minio/health/live", minioPort),
	}, parent, pulumi.DependsOn(shared.dependsOn))
	if err != nil {
		return err
	}
	if err := bucketJob(ctx, name, shared, c, endpoint, rootName, appName, sts, parent); err != nil {
		return err
	}
	o.Bucket = pulumi.String(c.Bucket).ToStringOutput()
	o.Endpoint = endpoint
	o.Region = pulumi.String(c.Region).ToStringOutput()
	o.SecretName = appName
	return nil
}

// bucketScript waits for MinIO, then creates the bucket and the app's user
// with a policy limited to that bucket; every step is idempotent.
const bucketScript = `set -eu
until mc alias set store "$S3_ENDPOINT" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1 && mc admin info store >/dev/null 2>&1; do
  echo "waiting for $S3_ENDPOINT"; sleep 3
done
mc mb --ignore-existing "store/$BUCKET"
mc admin policy create store linkage-app /policy/policy.json
mc admin user add store "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
if ! mc admin user info store "$AWS_ACCESS_KEY_ID" | grep -q linkage-app; then
  mc admin policy attach store linkage-app --user "$AWS_ACCESS_KEY_ID"
fi
echo "bucket $BUCKET ready"
`

func bucketJob(ctx *pulumi.Context, name string, shared sharedArgs, c *InClusterObjectStoreArgs, endpoint, rootName, appName pulumi.StringOutput, minio pulumi.Resource, parent pulumi.ResourceOption) error {
	doc := bucketPolicy("arn:aws:s3:::" + c.Bucket).JSON()
	cm, err := corev1.NewConfigMap(ctx, name+"-policy", &corev1.ConfigMapArgs{
		Metadata: objectMeta(name+"-policy", "minio", shared.namespace),
		Data:     pulumi.StringMap{"policy.json": pulumi.String(doc)},
	}, parent)
	if err != nil {
		return fmt.Errorf("policy configmap: %w", err)
	}
	vols, mounts := scratchVolumes([]string{"/tmp"})
	vols = append(vols, corev1.VolumeArgs{
		Name:      pulumi.String("policy"),
		ConfigMap: corev1.ConfigMapVolumeSourceArgs{Name: cm.Metadata.Name()},
	})
	mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("policy"), MountPath: pulumi.String("/policy"), ReadOnly: pulumi.Bool(true)})
	jobName := name + "-bucket"
	_, err = batchv1.NewJob(ctx, jobName, &batchv1.JobArgs{
		Metadata: objectMeta(jobName, "minio", shared.namespace),
		Spec: batchv1.JobSpecArgs{
			BackoffLimit:          pulumi.Int(6),
			ActiveDeadlineSeconds: pulumi.Int(900),
			Template: corev1.PodTemplateSpecArgs{
				Metadata: metav1.ObjectMetaArgs{Labels: labels(jobName, "minio")},
				Spec: corev1.PodSpecArgs{
					RestartPolicy:                pulumi.String("Never"),
					AutomountServiceAccountToken: pulumi.Bool(false),
					EnableServiceLinks:           pulumi.Bool(false),
					NodeSelector:                 optionalStringMap(shared.nodeSelector),
					SecurityContext:              restrictedPod(1000),
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:    pulumi.String("mc"),
						Image:   pulumi.String(c.ClientImage),
						Command: pulumi.StringArray{pulumi.String("sh"), pulumi.String("-c"), pulumi.String(bucketScript)},
						Env: corev1.EnvVarArray{
							corev1.EnvVarArgs{Name: pulumi.String("HOME"), Value: pulumi.String("/tmp")},
							corev1.EnvVarArgs{Name: pulumi.String("BUCKET"), Value: pulumi.String(c.Bucket)},
							corev1.EnvVarArgs{Name: pulumi.String("S3_ENDPOINT"), Value: endpoint},
							secretEnv("MINIO_ROOT_USER", rootName, "MINIO_ROOT_USER"),
							secretEnv("MINIO_ROOT_PASSWORD", rootName, "MINIO_ROOT_PASSWORD"),
							secretEnv(KeyAccessKeyID, appName, KeyAccessKeyID),
							secretEnv(KeySecretAccessKey, appName, KeySecretAccessKey),
						},
						Resources: container.Resources{
							CPURequest: "50m", MemoryRequest: "64Mi", CPULimit: "500m", MemoryLimit: "256Mi",
						}.Args(),
						SecurityContext: restrictedContainer(1000),
						VolumeMounts:    mounts,
					}},
					Volumes: vols,
				},
			},
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{minio}),
		// The name is fixed, so a changed (immutable) Job must go before its successor.
		pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return fmt.Errorf("bucket job: %w", err)
	}
	return nil
}

func (o *ObjectStore) external(args ObjectStoreArgs) {
	e := args.External
	o.Bucket = pulumi.String(e.Bucket).ToStringOutput()
	o.Endpoint = pulumi.String(e.Endpoint).ToStringOutput()
	o.Region = pulumi.String(e.Region).ToStringOutput()
	o.SecretName = pulumi.String(e.SecretName).ToStringOutput()
}
