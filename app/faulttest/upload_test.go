//go:build faults

package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/proctest"
)

// startAPI starts one more API process with extra flags and returns it with its base URL.
func (c *cluster) startAPI(name string, args ...string) (*proc, string) {
	c.t.Helper()
	port := proctest.FreePort(c.t)
	p := c.start(name, nil, append([]string{"serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
	base := fmt.Sprintf("http://127.0.0.1:%d/api/v1", port)
	proctest.Eventually(c.t, 30*time.Second, name+" to answer", func() bool {
		resp, err := http.Get(base + "/status")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return p, base
}

// postFile sends a {"clks": [...]} file as an upload to base: the status and body, or the error
// of a request that got no answer.
func postFile(base, pid, token, file string) (int, []byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest("POST", base+"/projects/"+pid+"/clks", f)
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// uploadObjects lists the objects under the project's upload keys in the cluster's bucket.
func (c *cluster) uploadObjects(pid string) []string {
	c.t.Helper()
	var blobURL string
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "LINKAGE_BLOB_URL="); ok {
			blobURL = v
		}
	}
	u, err := url.Parse(blobURL)
	require.NoError(c.t, err)
	client := awss3.New(awss3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(u.Query().Get("endpoint")), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	prefix := strings.TrimPrefix(u.Path, "/") + "/projects/" + pid + "/uploads/"
	out, err := client.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: aws.String(u.Host), Prefix: aws.String(prefix)})
	require.NoError(c.t, err)
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, strings.TrimPrefix(*o.Key, prefix))
	}
	return keys
}

// killAPIMidUpload: an API process is killed -9 while party 0's upload is half in its blob (held at
// upload-half-written). Once the dead attempt's claim is stale, the client's retry with the same
// update token and other data is the upload recorded: the run agrees with linkage link on the
// retry's file, and the dead attempt left no object under the project's upload keys.
func (c *cluster) killAPIMidUpload(t *testing.T) project {
	dead, _ := c.dataset(20) // the data of the killed attempt: never to be linked
	a, b := c.dataset(21)
	p, tokens := c.createProject("groups", 2)
	const claimTimeout = "3s" // how soon a retry may take a dead upload's claim over
	held, heldURL := c.startAPI("api-held", "--fault-hold", linkhttp.FaultUploadHalfWritten, "--upload-claim-timeout", claimTimeout)
	answered := make(chan error, 1)
	go func() {
		status, body, err := postFile(heldURL, p.id, tokens[0], dead)
		if err == nil {
			err = fmt.Errorf("the killed API answered %d: %s", status, body)
		}
		answered <- err
	}()
	held.waitFault(t, linkhttp.FaultUploadHalfWritten)
	held.kill9(t)
	require.Error(t, <-answered, "the client of the killed API got no answer")

	// The retry goes to another API process (as behind a load balancer). Until the dead claim is
	// stale the token is in use (403); then the retry takes the claim over.
	_, retryURL := c.startAPI("api-retry", "--upload-claim-timeout", claimTimeout)
	var receipt struct {
		ReceiptToken string `json:"receipt_token"`
	}
	refused := 0
	proctest.Eventually(t, time.Minute, "the retry to take the dead upload's claim over", func() bool {
		status, body, err := postFile(retryURL, p.id, tokens[0], a)
		require.NoError(t, err)
		if status == http.StatusForbidden {
			refused++
			return false
		}
		require.Equal(t, http.StatusCreated, status, "%s", body)
		require.NoError(t, json.Unmarshal(body, &receipt))
		return true
	})
	t.Logf("the retry was refused %d times while the dead claim was fresh", refused)
	p.files, p.receipts = []string{a}, []string{receipt.ReceiptToken}
	c.upload(&p, tokens[1], b)

	require.Len(t, c.uploadObjects(p.id), 2, "one object per recorded upload, none of the killed attempt's")
	run := c.newRun(p, threshold)
	c.waitCompleted(p, run, 3*time.Minute)
	c.check(p, run)
	return p
}
