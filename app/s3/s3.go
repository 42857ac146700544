// Package s3 is the blob store on Amazon S3 or an S3-compatible server (MinIO, moto), and the
// object-store access handed to clients: temporary STS credentials restricted to one prefix for
// external uploads, and reads of objects clients name in their uploads.
//
// Credentials come from the AWS SDK's default chain (environment, shared config, web identity —
// IRSA on EKS —, container and instance roles); nothing here takes keys directly.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/linkage-platform/linkage/app/linkage"
)

// Config locates the bucket and says how to reach it.
type Config struct {
	Bucket string
	// Prefix is prepended to every blob key ("" or ending in "/"), so that one bucket can hold
	// several deployments.
	Prefix string
	// Region of the bucket; "" takes the default chain's, or us-east-1 with a custom Endpoint.
	Region string
	// Endpoint is a custom S3 endpoint URL (MinIO, moto): "" means AWS.
	Endpoint string
	// PathStyle addresses buckets as endpoint/bucket/key rather than bucket.endpoint/key;
	// S3-compatible servers usually need it.
	PathStyle bool
	// PublicEndpoint is the endpoint URL clients use (authorize-external-upload, result
	// addresses) when it differs from Endpoint, e.g. an in-cluster MinIO behind an ingress.
	PublicEndpoint string
	// UploadRoleARN is the role assumed (with a session policy narrowing it to one prefix) to
	// hand out temporary credentials; "" disables handing out credentials.
	UploadRoleARN string
	// STSEndpoint is a custom STS endpoint URL; "" means AWS, or Endpoint when that is set.
	STSEndpoint string
	// CredentialsTTL is the lifetime of handed-out credentials (STS allows 15 min to 12 h).
	CredentialsTTL time.Duration
}

// ParseURL reads a Config from a blob URL:
//
//	s3://bucket/prefix?region=eu-west-1&endpoint=http://minio:9000&path-style=true
//	  &public-endpoint=https://minio.example.org&upload-role=arn:aws:iam::1:role/up
//	  &sts-endpoint=...&credentials-ttl=1h
//
// path-style defaults to true when an endpoint is given.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("blob URL: %w", err)
	}
	if u.Scheme != "s3" || u.Host == "" {
		return Config{}, fmt.Errorf("blob URL %q: want s3://bucket[/prefix]", raw)
	}
	q := u.Query()
	c := Config{
		Bucket:         u.Host,
		Prefix:         strings.Trim(u.Path, "/"),
		Region:         q.Get("region"),
		Endpoint:       q.Get("endpoint"),
		PublicEndpoint: q.Get("public-endpoint"),
		UploadRoleARN:  q.Get("upload-role"),
		STSEndpoint:    q.Get("sts-endpoint"),
		CredentialsTTL: time.Hour,
	}
	if c.Prefix != "" {
		c.Prefix += "/"
	}
	c.PathStyle = c.Endpoint != ""
	if v := q.Get("path-style"); v != "" {
		if c.PathStyle, err = strconv.ParseBool(v); err != nil {
			return Config{}, fmt.Errorf("blob URL: path-style: %w", err)
		}
	}
	if v := q.Get("credentials-ttl"); v != "" {
		if c.CredentialsTTL, err = time.ParseDuration(v); err != nil {
			return Config{}, fmt.Errorf("blob URL: credentials-ttl: %w", err)
		}
	}
	for k := range q {
		switch k {
		case "region", "endpoint", "public-endpoint", "upload-role", "sts-endpoint", "path-style", "credentials-ttl":
		default:
			return Config{}, fmt.Errorf("blob URL: unknown parameter %q", k)
		}
	}
	return c, c.validate()
}

func (c Config) validate() error {
	if c.Bucket == "" {
		return errors.New("s3: bucket is required")
	}
	for name, e := range map[string]string{"endpoint": c.Endpoint, "public-endpoint": c.PublicEndpoint, "sts-endpoint": c.STSEndpoint} {
		if e == "" {
			continue
		}
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("s3: %s %q: want an http(s) URL", name, e)
		}
	}
	if c.UploadRoleARN != "" && (c.CredentialsTTL < 15*time.Minute || c.CredentialsTTL > 12*time.Hour) {
		return fmt.Errorf("s3: credentials-ttl %v: STS allows 15m to 12h", c.CredentialsTTL)
	}
	return nil
}

// Upload tuning: parts are buffered in memory, so an upload holds at most about
// partSize × (concurrency + 1) bytes whatever the object's size.
const (
	partSize          = 8 << 20
	uploadConcurrency = 3
)

// BlobStore implements linkage.BlobStore, linkage.RangeGetter and linkage.ExternalAccess.
type BlobStore struct {
	cfg      Config
	awsCfg   aws.Config
	client   *awss3.Client
	uploader *transfermanager.Client
	sts      *sts.Client
}

var (
	_ linkage.BlobStore      = (*BlobStore)(nil)
	_ linkage.RangeGetter    = (*BlobStore)(nil)
	_ linkage.ExternalAccess = (*BlobStore)(nil)
)

// Open loads credentials from the default chain and returns the store. It does not contact S3.
func Open(ctx context.Context, c Config) (*BlobStore, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	var opts []func(*config.LoadOptions) error
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		if c.Endpoint == "" {
			return nil, errors.New("s3: no region: set region= in the blob URL or AWS_REGION")
		}
		awsCfg.Region = "us-east-1"
	}
	s := &BlobStore{cfg: c, awsCfg: awsCfg}
	s.client = s.newClient(c.Endpoint, c.PathStyle, awsCfg.Credentials)
	s.uploader = transfermanager.New(s.client, func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		o.MultipartUploadThreshold = partSize
		o.Concurrency = uploadConcurrency
		if c.Endpoint != "" {
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}
	})
	stsEndpoint := c.STSEndpoint
	if stsEndpoint == "" {
		stsEndpoint = c.Endpoint
	}
	s.sts = sts.NewFromConfig(awsCfg, func(o *sts.Options) {
		if stsEndpoint != "" {
			o.BaseEndpoint = aws.String(stsEndpoint)
		}
	})
	return s, nil
}

// newClient is an S3 client for endpoint ("" = AWS) signing with creds.
func (s *BlobStore) newClient(endpoint string, pathStyle bool, creds aws.CredentialsProvider) *awss3.Client {
	return awss3.NewFromConfig(s.awsCfg, func(o *awss3.Options) {
		o.Credentials = creds
		o.UsePathStyle = pathStyle
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			// S3-compatible servers do not all accept the SDK's default CRC checksums.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
}

func (s *BlobStore) objectKey(key string) string { return s.cfg.Prefix + key }

// EnsureBucket creates the bucket if it does not exist (for MinIO or moto; on AWS the
// infrastructure creates it).
func (s *BlobStore) EnsureBucket(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.cfg.Bucket}); err == nil {
		return nil
	}
	in := &awss3.CreateBucketInput{Bucket: &s.cfg.Bucket}
	if s.awsCfg.Region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.awsCfg.Region),
		}
	}
	_, err := s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("s3: create bucket %s: %w", s.cfg.Bucket, err)
	}
	return nil
}

// Ping checks the bucket is reachable with the store's credentials (readiness).
func (s *BlobStore) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.cfg.Bucket}); err != nil {
		return fmt.Errorf("s3: bucket %s: %w", s.cfg.Bucket, err)
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Put streams r to key: small objects in one PutObject, larger ones as a multipart upload of
// partSize parts (aborted on error, so no partial object ever appears).
func (s *BlobStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	cr := &countingReader{r: r}
	_, err := s.uploader.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: &s.cfg.Bucket,
		Key:    aws.String(s.objectKey(key)),
		Body:   cr,
	})
	if err != nil {
		return cr.n, fmt.Errorf("s3: put %s: %w", key, err)
	}
	return cr.n, nil
}

// Get streams the object.
func (s *BlobStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.get(ctx, s.client, s.cfg.Bucket, s.objectKey(key), nil)
}

// GetRange streams length bytes of key from offset (an HTTP range request).
func (s *BlobStore) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("s3: get %s: negative range %d+%d: %w", key, offset, length, linkage.ErrInvalid)
	}
	if length == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	rng := fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
	return s.get(ctx, s.client, s.cfg.Bucket, s.objectKey(key), &rng)
}

func (s *BlobStore) get(ctx context.Context, c *awss3.Client, bucket, key string, rng *string) (io.ReadCloser, error) {
	out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: &key, Range: rng})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, fmt.Errorf("s3: get %s: %w", key, linkage.ErrNotFound)
		}
		return nil, fmt.Errorf("s3: get %s: %w", key, err)
	}
	return out.Body, nil
}

// DeletePrefix removes every object under prefix, 1000 (the DeleteObjects maximum) at a time.
func (s *BlobStore) DeletePrefix(ctx context.Context, prefix string) error {
	p := awss3.NewListObjectsV2Paginator(s.client, &awss3.ListObjectsV2Input{
		Bucket: &s.cfg.Bucket,
		Prefix: aws.String(s.objectKey(prefix)),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3: list %s: %w", prefix, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := s.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{
			Bucket: &s.cfg.Bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("s3: delete %s: %w", prefix, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("s3: delete %s: %d objects failed, first %s: %s", prefix, len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Message))
		}
	}
	return nil
}
