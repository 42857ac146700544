package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/linkage-platform/linkage/app/linkage"
)

// ErrAccessDisabled: handing out credentials needs an upload role (upload-role= in the blob URL).
var ErrAccessDisabled = errors.New("s3: temporary credentials are not enabled (no upload role configured)")

// policy is an IAM policy document; built as values, never by string concatenation.
type policy struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// sessionPolicy allows actions on the objects matching resource (an object key or key prefix
// ending in "*") in the store's bucket. AssumeRole intersects it with the role's own policy,
// so the credentials can do no more than this whatever the role allows.
func (s *BlobStore) sessionPolicy(resource string, actions ...string) (string, error) {
	b, err := json.Marshal(policy{
		Version: "2012-10-17",
		Statement: []policyStatement{{
			Effect:   "Allow",
			Action:   actions,
			Resource: []string{"arn:" + partition(s.awsCfg.Region) + ":s3:::" + s.cfg.Bucket + "/" + resource},
		}},
	})
	return string(b), err
}

// partition is the ARN partition of an AWS region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// assume returns credentials of the upload role narrowed by the session policy.
func (s *BlobStore) assume(ctx context.Context, scope, sessionPolicy string) (linkage.Credentials, error) {
	if s.cfg.UploadRoleARN == "" {
		return linkage.Credentials{}, ErrAccessDisabled
	}
	h := sha256.Sum256([]byte(scope))
	out, err := s.sts.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(s.cfg.UploadRoleARN),
		RoleSessionName: aws.String("linkage-" + hex.EncodeToString(h[:12])), // ≤ 64 characters
		Policy:          aws.String(sessionPolicy),
		DurationSeconds: aws.Int32(int32(s.cfg.CredentialsTTL.Seconds())),
	})
	if err != nil {
		return linkage.Credentials{}, fmt.Errorf("s3: assume role %s for %s: %w", s.cfg.UploadRoleARN, scope, err)
	}
	c := out.Credentials
	if c == nil {
		return linkage.Credentials{}, fmt.Errorf("s3: assume role %s: no credentials in the answer", s.cfg.UploadRoleARN)
	}
	return linkage.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expiration:      aws.ToTime(c.Expiration),
	}, nil
}

// UploadAccess returns temporary credentials that may only write objects under the blob key
// prefix (s3:PutObject, which also covers multipart uploads, and aborting them), and where: the
// path without its trailing slash, as clients append "/<file name>".
func (s *BlobStore) UploadAccess(ctx context.Context, prefix string) (linkage.Credentials, linkage.ObjectRef, error) {
	path := s.objectKey(prefix)
	if !strings.HasSuffix(path, "/") {
		path += "/" // the policy must not match a sibling prefix ("…/1" must not cover "…/10")
	}
	pol, err := s.sessionPolicy(path+"*", "s3:PutObject", "s3:AbortMultipartUpload")
	if err != nil {
		return linkage.Credentials{}, linkage.ObjectRef{}, err
	}
	creds, err := s.assume(ctx, path, pol)
	if err != nil {
		return linkage.Credentials{}, linkage.ObjectRef{}, err
	}
	return creds, s.ref(strings.TrimSuffix(path, "/")), nil
}

// DownloadAccess returns temporary credentials that may only read the one object key.
func (s *BlobStore) DownloadAccess(ctx context.Context, key string) (linkage.Credentials, linkage.ObjectRef, error) {
	path := s.objectKey(key)
	pol, err := s.sessionPolicy(path, "s3:GetObject")
	if err != nil {
		return linkage.Credentials{}, linkage.ObjectRef{}, err
	}
	creds, err := s.assume(ctx, path, pol)
	if err != nil {
		return linkage.Credentials{}, linkage.ObjectRef{}, err
	}
	return creds, s.ref(path), nil
}

// publicEndpoint is the endpoint URL clients reach.
func (s *BlobStore) publicEndpoint() *url.URL {
	e := s.cfg.PublicEndpoint
	if e == "" {
		e = s.cfg.Endpoint
	}
	if e == "" {
		e = "https://s3." + s.awsCfg.Region + ".amazonaws.com"
	}
	u, _ := url.Parse(e) // validated by Config.validate
	return u
}

// ref is where a client finds the object path (bucket-relative), in the Anonlink client's form:
// endpoint as host[:port] and a secure flag.
func (s *BlobStore) ref(path string) linkage.ObjectRef {
	u := s.publicEndpoint()
	return linkage.ObjectRef{Endpoint: u.Host, Secure: u.Scheme == "https", Bucket: s.cfg.Bucket, Path: path}
}

// ownEndpoint reports whether a client-named endpoint is this store's (as clients or the
// service see it); "" means this store's.
func (s *BlobStore) ownEndpoint(endpoint string) bool {
	if endpoint == "" || endpoint == s.publicEndpoint().Host {
		return true
	}
	u, err := url.Parse(s.cfg.Endpoint)
	return err == nil && s.cfg.Endpoint != "" && endpoint == u.Host
}

// OpenExternal streams an object a client named in an upload, with the service's own
// credentials: only objects of this store's endpoint and bucket under the key prefix ownPrefix
// (the party's area handed out by UploadAccess). Anything else is linkage.ErrForbidden; the
// credentials a client sends along are never used, so no other endpoint is contacted.
func (s *BlobStore) OpenExternal(ctx context.Context, ref linkage.ObjectRef, ownPrefix string) (*linkage.ExternalObject, error) {
	if ref.Bucket == "" || ref.Path == "" {
		return nil, fmt.Errorf("object store file needs bucket and path: %w", linkage.ErrInvalid)
	}
	area := s.objectKey(ownPrefix)
	if !s.ownEndpoint(ref.Endpoint) || ref.Bucket != s.cfg.Bucket || !strings.HasPrefix(ref.Path, area) {
		return nil, fmt.Errorf("object %s/%s at %q is outside this party's upload area %s/%s: %w",
			ref.Bucket, ref.Path, ref.Endpoint, s.cfg.Bucket, strings.TrimSuffix(area, "/"), linkage.ErrForbidden)
	}
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &ref.Bucket, Key: &ref.Path})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, fmt.Errorf("s3: get %s: %w", ref.Path, linkage.ErrNotFound)
		}
		return nil, fmt.Errorf("s3: get %s: %w", ref.Path, err)
	}
	meta := make(map[string]string, len(out.Metadata))
	for k, v := range out.Metadata {
		meta[strings.ToLower(k)] = v
	}
	return &linkage.ExternalObject{ReadCloser: out.Body, Metadata: meta}, nil
}
