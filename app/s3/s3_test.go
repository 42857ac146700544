package s3

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/linkage/blobtest"
)

// testConfig is a store on the S3 server named by LINKAGE_TEST_S3_ENDPOINT (moto in CI) with a
// fresh bucket; the test is skipped without it.
func testConfig(t *testing.T) Config {
	t.Helper()
	endpoint := os.Getenv("LINKAGE_TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Skip("LINKAGE_TEST_S3_ENDPOINT not set (make services; eval \"$(make -s services-env)\")")
	}
	// moto accepts any key; the default chain reads these.
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	return Config{
		Bucket:         "linkage-test-" + linkage.NewID()[:16],
		Prefix:         "deploy/",
		Endpoint:       endpoint,
		PathStyle:      true,
		UploadRoleARN:  "arn:aws:iam::123456789012:role/linkage-upload",
		CredentialsTTL: 15 * 60e9,
	}
}

func openTest(t *testing.T, c Config) *BlobStore {
	t.Helper()
	s, err := Open(context.Background(), c)
	require.NoError(t, err)
	require.NoError(t, s.EnsureBucket(context.Background()))
	require.NoError(t, s.Ping(context.Background()))
	return s
}

func TestBlobStore(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) linkage.BlobStore { return openTest(t, testConfig(t)) })
}

func TestMultipartPut(t *testing.T) {
	s := openTest(t, testConfig(t))
	ctx := context.Background()
	size := int64(2*partSize + 12345) // three parts
	n, err := s.Put(ctx, "big", io.LimitReader(&pattern{}, size))
	require.NoError(t, err)
	require.Equal(t, size, n)
	rc, err := s.Get(ctx, "big")
	require.NoError(t, err)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	want, _ := io.ReadAll(io.LimitReader(&pattern{}, size))
	require.Equal(t, want, got)
}

// pattern is an endless, position-dependent byte stream (not seekable: Put must stream it).
type pattern struct{ i int }

func (p *pattern) Read(b []byte) (int, error) {
	for k := range b {
		b[k] = byte(p.i*7 + p.i/251)
		p.i++
	}
	return len(b), nil
}

func TestPrefixIsolation(t *testing.T) {
	c := testConfig(t)
	a := openTest(t, c)
	c.Prefix = "other/"
	b := openTest(t, c)
	ctx := context.Background()
	_, err := a.Put(ctx, "projects/p/x", strings.NewReader("a"))
	require.NoError(t, err)
	_, err = b.Get(ctx, "projects/p/x")
	require.ErrorIs(t, err, linkage.ErrNotFound)
	require.NoError(t, b.DeletePrefix(ctx, "projects/"))
	rc, err := a.Get(ctx, "projects/p/x")
	require.NoError(t, err)
	rc.Close()
}

func TestParseURL(t *testing.T) {
	c, err := ParseURL("s3://bkt/some/prefix/?region=eu-west-1&endpoint=http://127.0.0.1:9000&upload-role=arn:aws:iam::1:role/u&credentials-ttl=30m")
	require.NoError(t, err)
	require.Equal(t, Config{
		Bucket: "bkt", Prefix: "some/prefix/", Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000",
		PathStyle: true, UploadRoleARN: "arn:aws:iam::1:role/u", CredentialsTTL: 30 * 60e9,
	}, c)

	c, err = ParseURL("s3://bkt")
	require.NoError(t, err)
	require.Equal(t, "", c.Prefix)
	require.False(t, c.PathStyle)

	for raw, msg := range map[string]string{
		"file:///x":                               "want s3://bucket",
		"s3:///x":                                 "want s3://bucket",
		"s3://b?endpoint=127.0.0.1:9000":          "endpoint",
		"s3://b?path-style=maybe":                 "path-style",
		"s3://b?colour=red":                       `unknown parameter "colour"`,
		"s3://b?upload-role=r&credentials-ttl=1m": "credentials-ttl",
	} {
		_, err := ParseURL(raw)
		require.ErrorContains(t, err, msg, raw)
	}
}
