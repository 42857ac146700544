package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/s3"
)

// backendEnv is `linkage serve` + `linkage worker` configuration on the shared Postgres, Redis
// and S3 servers of `make services`, each test in its own schema, key prefix and bucket.
func backendEnv(t *testing.T) []string {
	t.Helper()
	pgURL, redisURL, endpoint := os.Getenv("LINKAGE_TEST_POSTGRES_URL"), os.Getenv("LINKAGE_TEST_REDIS_URL"), os.Getenv("LINKAGE_TEST_S3_ENDPOINT")
	if pgURL == "" || redisURL == "" || endpoint == "" {
		t.Skip("LINKAGE_TEST_POSTGRES_URL, LINKAGE_TEST_REDIS_URL and LINKAGE_TEST_S3_ENDPOINT are needed (make services; eval \"$(make -s services-env)\")")
	}
	ctx := context.Background()
	id := linkage.NewID()[:12]
	conn, err := pgx.Connect(ctx, pgURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE SCHEMA e2e_"+id)
	require.NoError(t, err)
	t.Cleanup(func() {
		if conn, err := pgx.Connect(ctx, pgURL); err == nil {
			conn.Exec(ctx, "DROP SCHEMA e2e_"+id+" CASCADE")
			conn.Close(ctx)
		}
	})
	u, err := url.Parse(pgURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", "e2e_"+id)
	u.RawQuery = q.Encode()

	for _, kv := range [][2]string{{"AWS_ACCESS_KEY_ID", "testing"}, {"AWS_SECRET_ACCESS_KEY", "testing"}, {"AWS_REGION", "us-east-1"}} {
		t.Setenv(kv[0], kv[1])
	}
	bucket := "linkage-e2e-" + id
	blobs, err := s3.Open(ctx, s3.Config{Bucket: bucket, Endpoint: endpoint, PathStyle: true})
	require.NoError(t, err)
	require.NoError(t, blobs.EnsureBucket(ctx))
	sep := "?"
	if bytes.ContainsRune([]byte(redisURL), '?') {
		sep = "&"
	}
	return []string{
		"--database-url", u.String(),
		"--redis-url", redisURL + sep + "key-prefix=e2e-" + id,
		"--blob-url", "s3://" + bucket + "/e2e?endpoint=" + endpoint + "&path-style=true&upload-role=arn:aws:iam::123456789012:role/linkage-upload",
	}
}

// startServeAndWorker runs `linkage migrate`, then `linkage serve` and `linkage worker` until the
// test ends, and returns the API's base URL and the worker's metrics address.
func startServeAndWorker(t *testing.T) (base, workerMetrics string) {
	t.Helper()
	backends := backendEnv(t)
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), append([]string{"migrate"}, backends...), &out, &out), out.String())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	t.Cleanup(func() {
		cancel()
		for range 2 {
			<-done
		}
	})
	addr, workerMetrics := freeAddr(t), freeAddr(t)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", addr, "--log-level", "warn"}, backends...), io.Discard, os.Stderr)
	}()
	go func() {
		done <- run(ctx, append([]string{"worker", "--metrics-addr", workerMetrics, "--shutdown-grace", "1s", "--log-level", "warn"}, backends...), io.Discard, os.Stderr)
	}()
	base = "http://" + addr
	waitReady(t, base)
	return base, workerMetrics
}

// apiDo sends a request with optional headers (name, value, ...) and decodes a JSON answer.
func apiDo(t *testing.T, method, url, token string, body []byte, out any, header ...string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(b, out), "%s", b)
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode
}

type objectRef struct {
	Endpoint string `json:"endpoint"`
	Secure   bool   `json:"secure"`
	Bucket   string `json:"bucket"`
	Path     string `json:"path"`
}

type tempCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
}

// s3As is an S3 client with the temporary credentials the API handed out, at the endpoint it named.
func s3As(c tempCredentials, o objectRef) *awss3.Client {
	scheme := "http://"
	if o.Secure {
		scheme = "https://"
	}
	return awss3.New(awss3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(scheme + o.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
	})
}

// TestObjectStoreFlow drives the reference clients' object-store flow on `linkage serve` +
// `linkage worker` with Postgres, Redis and S3: credentials from authorize-external-upload, put
// with metadata (a binary encodings file and a .json one, blocks files with the client's
// "meta"), POST naming the files, a run, the result through RETURN-OBJECT-STORE-ADDRESS, and the
// binary candidate-pair file read back and compared with the reference's own pairs.
func TestObjectStoreFlow(t *testing.T) {
	dir, ref := loadReference(t)
	api, _ := startServeAndWorker(t)
	base := api + "/api/v1"
	ctx := t.Context()

	var p struct {
		ProjectID    string   `json:"project_id"`
		UpdateTokens []string `json:"update_tokens"`
		ResultToken  string   `json:"result_token"`
	}
	require.Equal(t, 201, apiDo(t, "POST", base+"/projects", "", []byte(`{"schema":{},"result_type":"similarity_scores","uses_blocking":true}`), &p))
	proj := base + "/projects/" + p.ProjectID

	type grant struct {
		Credentials tempCredentials `json:"credentials"`
		Upload      objectRef       `json:"upload"`
	}
	var grants [2]grant
	for party := range 2 {
		require.Equal(t, 201, apiDo(t, "GET", proj+"/authorize-external-upload", p.UpdateTokens[party], nil, &grants[party]))
		g := grants[party]
		require.NotEmpty(t, g.Credentials.SessionToken)
		require.NotEqual(t, '/', g.Upload.Path[len(g.Upload.Path)-1], "upload.path has no trailing slash")

		var clks struct {
			CLKs []string `json:"clks"`
		}
		rawCLKs, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("clks_%d.json", party)))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(rawCLKs, &clks))
		blocks := map[string][]string{}
		for i := range clks.CLKs {
			blocks[strconv.Itoa(i)] = []string{"all"}
		}
		blocksJSON, err := json.Marshal(map[string]any{"blocks": blocks, "meta": map[string]any{"source": "test"}})
		require.NoError(t, err)

		// Party 0 puts binary records with hash-count/hash-size metadata; party 1 a .json file.
		name, body, meta := "encodings.json", rawCLKs, map[string]string(nil)
		if party == 0 {
			var bin []byte
			for _, s := range clks.CLKs {
				b, err := base64.StdEncoding.DecodeString(s)
				require.NoError(t, err)
				bin = append(bin, b...)
			}
			name, body = "encodings.bin", bin
			meta = map[string]string{"hash-count": strconv.Itoa(len(clks.CLKs)), "hash-size": "128"}
		}
		cli := s3As(g.Credentials, g.Upload)
		for obj, b := range map[string][]byte{name: body, "blocks.json": blocksJSON} {
			_, err := cli.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(g.Upload.Bucket),
				Key: aws.String(g.Upload.Path + "/" + obj), Body: bytes.NewReader(b), Metadata: meta})
			require.NoError(t, err)
		}
		file := func(obj string) map[string]any {
			return map[string]any{"file": objectRef{g.Upload.Endpoint, g.Upload.Secure, g.Upload.Bucket, g.Upload.Path + "/" + obj},
				"credentials": g.Credentials}
		}
		upload, err := json.Marshal(map[string]any{"encodings": file(name), "blocks": file("blocks.json")})
		require.NoError(t, err)

		if party == 1 {
			// Another party's files, another endpoint: 403, and the token stays usable.
			other := grants[0]
			theirs, _ := json.Marshal(map[string]any{"encodings": map[string]any{
				"file": objectRef{other.Upload.Endpoint, other.Upload.Secure, other.Upload.Bucket, other.Upload.Path + "/encodings.bin"}}})
			require.Equal(t, 403, apiDo(t, "POST", proj+"/clks", p.UpdateTokens[1], theirs, nil))
			elsewhere, _ := json.Marshal(map[string]any{"encodings": map[string]any{
				"file": objectRef{"203.0.113.1:9000", false, g.Upload.Bucket, g.Upload.Path + "/" + name}}})
			require.Equal(t, 403, apiDo(t, "POST", proj+"/clks", p.UpdateTokens[1], elsewhere, nil))
		}
		var receipt map[string]string
		require.Equal(t, 201, apiDo(t, "POST", proj+"/clks", p.UpdateTokens[party], upload, &receipt))
		require.NotEmpty(t, receipt["receipt_token"])
	}

	var run struct {
		RunID string `json:"run_id"`
	}
	require.Equal(t, 201, apiDo(t, "POST", proj+"/runs", p.ResultToken, []byte(`{"threshold":`+strconv.FormatFloat(ref.Threshold, 'g', -1, 64)+`}`), &run))
	require.Eventually(t, func() bool {
		var st map[string]any
		require.Equal(t, 200, apiDo(t, "GET", proj+"/runs/"+run.RunID+"/status", p.ResultToken, nil, &st))
		require.NotEqual(t, "error", st["state"], "%v", st)
		return st["state"] == "completed"
	}, 2*time.Minute, 100*time.Millisecond)

	var addr struct {
		Credentials tempCredentials `json:"credentials"`
		Object      objectRef       `json:"object"`
	}
	require.Equal(t, 200, apiDo(t, "GET", proj+"/runs/"+run.RunID+"/result", p.ResultToken, nil, &addr,
		"RETURN-OBJECT-STORE-ADDRESS", "yes please"))
	out, err := s3As(addr.Credentials, addr.Object).GetObject(ctx, &awss3.GetObjectInput{
		Bucket: aws.String(addr.Object.Bucket), Key: aws.String(addr.Object.Path)})
	require.NoError(t, err)
	file, err := io.ReadAll(out.Body)
	out.Body.Close()
	require.NoError(t, err)

	// The reference's binary candidate-pair file: header, then 18-byte entries in solver order.
	require.Equal(t, []byte{1, 8, 1, 4}, file[:4])
	var want [][5]float64
	for _, pair := range ref.Pairs {
		if pair[0] == 0 && pair[2] == 1 {
			want = append(want, pair)
		}
	}
	require.Len(t, file[4:], 18*len(want))
	for i, w := range want {
		e := file[4+18*i:]
		got := [5]float64{float64(e[8]), float64(binary.LittleEndian.Uint32(e[10:])), float64(e[9]),
			float64(binary.LittleEndian.Uint32(e[14:])), math.Float64frombits(binary.LittleEndian.Uint64(e))}
		require.Equal(t, w, got, "pair %d", i)
	}
}
