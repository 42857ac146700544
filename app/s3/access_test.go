package s3

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
)

func TestUploadAccess(t *testing.T) {
	s := openTest(t, testConfig(t))
	ctx := context.Background()
	creds, ref, err := s.UploadAccess(ctx, "projects/p/external/0/")
	require.NoError(t, err)
	require.NotEmpty(t, creds.AccessKeyID)
	require.NotEmpty(t, creds.SecretAccessKey)
	require.NotEmpty(t, creds.SessionToken)
	require.WithinDuration(t, time.Now().Add(15*time.Minute), creds.Expiration, time.Minute)
	// No trailing slash: clients append "/<file name>".
	require.Equal(t, linkage.ObjectRef{Endpoint: "127.0.0.1:5000", Secure: false, Bucket: s.cfg.Bucket, Path: "deploy/projects/p/external/0"}, ref)

	// A client writes with the temporary credentials and the metadata anonlink-client sets.
	client := s.newClient(s.cfg.Endpoint, true, credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken))
	_, err = client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Path + "/clks.bin"),
		Body: strings.NewReader("encodings"), Metadata: map[string]string{"hash-count": "1", "Hash-Size": "9"}})
	require.NoError(t, err)

	// The service reads it back with its own access, metadata included.
	file := ref
	file.Path += "/clks.bin"
	obj, err := s.OpenExternal(ctx, file, "projects/p/external/0/")
	require.NoError(t, err)
	b, err := io.ReadAll(obj)
	obj.Close()
	require.NoError(t, err)
	require.Equal(t, "encodings", string(b))
	require.Equal(t, map[string]string{"hash-count": "1", "hash-size": "9"}, obj.Metadata)
	// ... and it is the blob the store itself sees under the key.
	rc, err := s.Get(ctx, "projects/p/external/0/clks.bin")
	require.NoError(t, err)
	rc.Close()

	file.Path = ref.Path + "/missing"
	_, err = s.OpenExternal(ctx, file, "projects/p/external/0/")
	require.ErrorIs(t, err, linkage.ErrNotFound)
}

func TestDownloadAccess(t *testing.T) {
	s := openTest(t, testConfig(t))
	ctx := context.Background()
	_, err := s.Put(ctx, "projects/p/runs/r/result.json", strings.NewReader(`{"similarity_scores":[]}`))
	require.NoError(t, err)
	creds, ref, err := s.DownloadAccess(ctx, "projects/p/runs/r/result.json")
	require.NoError(t, err)
	require.Equal(t, "deploy/projects/p/runs/r/result.json", ref.Path)
	// A client reads it with the temporary credentials.
	client := s.newClient(s.cfg.Endpoint, true, credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken))
	out, err := client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Path)})
	require.NoError(t, err)
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	require.NoError(t, err)
	require.JSONEq(t, `{"similarity_scores":[]}`, string(b))
}

func TestAccessDisabled(t *testing.T) {
	c := testConfig(t)
	c.UploadRoleARN = ""
	s := openTest(t, c)
	_, _, err := s.UploadAccess(context.Background(), "projects/p/")
	require.ErrorIs(t, err, ErrAccessDisabled)
	_, _, err = s.DownloadAccess(context.Background(), "projects/p/x")
	require.ErrorIs(t, err, ErrAccessDisabled)
}

// TestOpenExternalOnlyOwnArea: the service reads only the party's own area of its own bucket
// and endpoint; anything else is forbidden (never fetched, whatever the client sends).
func TestOpenExternalOnlyOwnArea(t *testing.T) {
	s := openTest(t, testConfig(t))
	ctx := context.Background()
	for _, ref := range []linkage.ObjectRef{
		{Endpoint: "127.0.0.1:5000", Bucket: "someone-elses", Path: "deploy/x"},
		{Endpoint: "127.0.0.1:5000", Bucket: s.cfg.Bucket, Path: "outside-prefix/x"},
		{Endpoint: "elsewhere.example:9000", Bucket: s.cfg.Bucket, Path: "deploy/x"},
		{Bucket: s.cfg.Bucket},
		// Another party's or project's area of this very store.
		{Endpoint: "127.0.0.1:5000", Bucket: s.cfg.Bucket, Path: "deploy/projects/p/external/1/clks.bin"},
		{Endpoint: "127.0.0.1:5000", Bucket: s.cfg.Bucket, Path: "deploy/projects/other/uploads/0.clk"},
		{Endpoint: "127.0.0.1:5000", Bucket: s.cfg.Bucket, Path: "deploy/projects/p/external/01/clks.bin"},
	} {
		_, err := s.OpenExternal(ctx, ref, "projects/p/external/0/")
		if ref.Path == "" {
			require.ErrorIs(t, err, linkage.ErrInvalid, "%+v", ref)
			continue
		}
		require.ErrorIs(t, err, linkage.ErrForbidden, "%+v", ref)
	}
}

func TestSessionPolicy(t *testing.T) {
	s := &BlobStore{cfg: Config{Bucket: "bkt"}}
	s.awsCfg.Region = "eu-west-1"
	doc, err := s.sessionPolicy("deploy/projects/p/external/0/*", "s3:PutObject", "s3:AbortMultipartUpload")
	require.NoError(t, err)
	var p policy
	require.NoError(t, json.Unmarshal([]byte(doc), &p))
	require.Equal(t, policy{Version: "2012-10-17", Statement: []policyStatement{{
		Effect:   "Allow",
		Action:   []string{"s3:PutObject", "s3:AbortMultipartUpload"},
		Resource: []string{"arn:aws:s3:::bkt/deploy/projects/p/external/0/*"},
	}}}, p)
	s.awsCfg.Region = "cn-north-1"
	doc, err = s.sessionPolicy("k", "s3:GetObject")
	require.NoError(t, err)
	require.Contains(t, doc, `"arn:aws-cn:s3:::bkt/k"`)
}
