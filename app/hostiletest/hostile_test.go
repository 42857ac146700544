//go:build hostile

package hostiletest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/proctest"
	"github.com/linkage-platform/linkage/app/s3"
)

// Budgets of peak RSS per process with the flags below (measured peaks are in the notes; the
// budgets leave room for the Go runtime's slack, not for a whole hostile value).
const (
	apiBudget    = 128 << 20
	workerBudget = 256 << 20
)

// maxUploadBytes bounds every upload of the suite, object-store copies included.
const maxUploadBytes = 8 << 20

// metricsRate is the /metrics scrapes per second allowed per client: above the suite's own
// polling (at most 10 per second), far below a flood.
const metricsRate = 20

// flags every process of the suite runs with: small budgets and timeouts so that each case is
// quick.
var (
	apiFlags = []string{"--upload-idle-timeout", "2s", "--upload-timeout", "30s", "--body-timeout", "2s", "--metrics-rate-limit", strconv.Itoa(metricsRate), "--rate-limit", "0",
		"--max-upload-bytes", strconv.Itoa(maxUploadBytes), "--max-hash-size", "256"}
	workerFlags = []string{"--max-chunk-candidates", "1000000", "--reconcile-interval", "1s", "--concurrency", "2"}
)

var binary string

func TestMain(m *testing.M) { proctest.Main(m, &binary) }

// proc is one linkage process: its /metrics, its budget and its log.
type proc struct {
	name    string
	cmd     *exec.Cmd
	metrics string
	budget  int64
	log     string
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func (p *proc) peakRSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	require.NoError(t, err, "%s is not running", p.name)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
	return 0
}

// gauges reads go_goroutines and process_open_fds from the process's /metrics.
func (p *proc) gauges(t testing.TB) (goroutines, fds float64) {
	t.Helper()
	resp, err := http.Get(p.metrics)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sc := bufio.NewScanner(resp.Body)
	goroutines, fds = math.NaN(), math.NaN()
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, _ := strconv.ParseFloat(v, 64)
		switch name {
		case "go_goroutines":
			goroutines = f
		case "process_open_fds":
			fds = f
		}
	}
	require.False(t, math.IsNaN(goroutines) || math.IsNaN(fds), "%s: no go_goroutines/process_open_fds in /metrics", p.name)
	return goroutines, fds
}

// deployment is the API (and workers) under test.
type deployment struct {
	t      *testing.T
	dir    string
	apiURL string
	procs  []*proc
	// objectStore is set when blobs are in S3: clients may upload there and copy.
	objectStore bool
}

func (d *deployment) start(name string, budget int64, metrics string, args ...string) *proc {
	d.t.Helper()
	p := &proc{name: name, metrics: metrics, budget: budget, log: filepath.Join(d.dir, name+".log")}
	f, err := os.Create(p.log)
	require.NoError(d.t, err)
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = d.dir
	p.cmd.Stdout, p.cmd.Stderr = f, f
	require.NoError(d.t, p.cmd.Start())
	d.t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
		f.Close()
		if d.t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			d.t.Logf("--- %s log (tail) ---\n%s", name, b)
		}
	})
	d.procs = append(d.procs, p)
	proctest.Eventually(d.t, 60*time.Second, name+" to serve /metrics", func() bool {
		resp, err := http.Get(metrics)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return p
}

func allInOne(t *testing.T) *deployment {
	d := &deployment{t: t, dir: t.TempDir()}
	port := proctest.FreePort(t)
	d.apiURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	args := append([]string{"all-in-one", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", d.dir}, apiFlags...)
	d.start("all-in-one", workerBudget, d.apiURL+"/metrics", append(args, workerFlags...)...)
	return d
}

// serveAndWorker runs the API and a worker on one SQLite file, Redis and the S3 of moto (a
// bucket of its own, so that clients can be granted uploads and copies).
func serveAndWorker(t *testing.T) *deployment {
	redisURL, s3Endpoint := os.Getenv("LINKAGE_TEST_REDIS_URL"), os.Getenv("LINKAGE_TEST_S3_ENDPOINT")
	if redisURL == "" || s3Endpoint == "" {
		t.Skip("LINKAGE_TEST_REDIS_URL or LINKAGE_TEST_S3_ENDPOINT not set (make services; eval \"$(make -s services-env)\")")
	}
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"} {
		t.Setenv(k, v) // the processes inherit them
	}
	bucket := "linkage-hostile-" + linkage.NewID()[:12]
	blobs, err := s3.Open(t.Context(), s3.Config{Bucket: bucket, Endpoint: s3Endpoint, PathStyle: true})
	require.NoError(t, err)
	require.NoError(t, blobs.EnsureBucket(t.Context()))
	u, err := url.Parse(redisURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set("key-prefix", "hostile-"+linkage.NewID()[:8])
	u.RawQuery = q.Encode()
	d := &deployment{t: t, dir: t.TempDir(), objectStore: true}
	backends := []string{"--database-url", "sqlite:" + filepath.Join(d.dir, "linkage.db"), "--redis-url", u.String(),
		"--blob-url", "s3://" + bucket + "/hostile?endpoint=" + s3Endpoint + "&upload-role=arn:aws:iam::123456789012:role/linkage-upload"}
	out, err := exec.Command(binary, append([]string{"migrate"}, backends...)...).CombinedOutput()
	require.NoError(t, err, "migrate: %s", out)
	port, mport := proctest.FreePort(t), proctest.FreePort(t)
	d.apiURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	d.start("serve", apiBudget, d.apiURL+"/metrics", append(append([]string{"serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port)}, backends...), apiFlags...)...)
	d.start("worker", workerBudget, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport),
		append(append([]string{"worker", "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", mport)}, backends...), workerFlags...)...)
	return d
}

// call sends a request and returns the status and body; a transport error (the server may
// close the connection once it has answered a body it refused) is returned as status 0.
func (d *deployment) call(method, path, token string, body io.Reader, header ...string) (int, []byte) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.apiURL+"/api/v1"+path, body)
	require.NoError(d.t, err)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type project struct {
	ProjectID    string   `json:"project_id"`
	UpdateTokens []string `json:"update_tokens"`
	ResultToken  string   `json:"result_token"`
}

func (d *deployment) project(resultType string, blocking bool) project {
	d.t.Helper()
	status, b := d.call("POST", "/projects", "", strings.NewReader(fmt.Sprintf(
		`{"schema":{},"result_type":%q,"number_parties":2,"uses_blocking":%v}`, resultType, blocking)))
	require.Equal(d.t, http.StatusCreated, status, "%s", b)
	var p project
	require.NoError(d.t, json.Unmarshal(b, &p))
	return p
}

func (d *deployment) run(p project, threshold float64) string {
	d.t.Helper()
	status, b := d.call("POST", "/projects/"+p.ProjectID+"/runs", p.ResultToken, strings.NewReader(fmt.Sprintf(`{"threshold":%v}`, threshold)))
	require.Equal(d.t, http.StatusCreated, status, "%s", b)
	var r struct {
		RunID string `json:"run_id"`
	}
	require.NoError(d.t, json.Unmarshal(b, &r))
	return r.RunID
}

// wait returns the run's final state and message.
func (d *deployment) wait(p project, run string) (string, string) {
	d.t.Helper()
	var st struct {
		State   string `json:"state"`
		Message string `json:"message"`
	}
	proctest.Eventually(d.t, 5*time.Minute, "run "+run+" to end", func() bool {
		status, b := d.call("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/status", p.ResultToken, nil)
		require.Equal(d.t, http.StatusOK, status, "%s", b)
		require.NoError(d.t, json.Unmarshal(b, &st))
		return st.State == "completed" || st.State == "error"
	})
	return st.State, st.Message
}

// baseline is each process's goroutines and descriptors at rest.
type baseline map[*proc][2]float64

func (d *deployment) baseline() baseline {
	b := baseline{}
	for _, p := range d.procs {
		g, f := p.gauges(d.t)
		b[p] = [2]float64{g, f}
	}
	return b
}

// settle waits until every process is back to (near) its baseline of goroutines and
// descriptors, and checks every peak RSS against its budget.
func (d *deployment) settle(b baseline) {
	d.t.Helper()
	http.DefaultClient.CloseIdleConnections()
	for _, p := range d.procs {
		var g, f float64
		proctest.Eventually(d.t, 60*time.Second, p.name+" to return to its goroutines and descriptors", func() bool {
			g, f = p.gauges(d.t)
			// Slack: the scrape's own connection and handler, the runtime's timers, idle
			// keep-alive connections to the stores. A leak shows far above it: each case
			// sends tens to hundreds of requests.
			return g <= b[p][0]+8 && f <= b[p][1]+8
		})
		rss := p.peakRSS(d.t)
		d.t.Logf("%s: peak RSS %.0f MiB (budget %d MiB), goroutines %.0f (baseline %.0f), fds %.0f (baseline %.0f)",
			p.name, float64(rss)/(1<<20), p.budget>>20, g, b[p][0], f, b[p][1])
		require.Less(d.t, rss, p.budget, "%s peak RSS", p.name)
	}
}

// repeat streams prefix, n bytes of c and suffix without holding them.
func repeat(prefix string, c byte, n int64, suffix string) io.Reader {
	return io.MultiReader(strings.NewReader(prefix), io.LimitReader(byteReader(c), n), strings.NewReader(suffix))
}

type byteReader byte

func (b byteReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// referencePairs are the reference implementation's scores between parties 0 and 1 of
// ../shared/testdata/reference at its threshold.
func referencePairs(t *testing.T) (float64, map[[2]int]float64) {
	b, err := os.ReadFile("../../../shared/testdata/reference/reference.json")
	require.NoError(t, err)
	var ref struct {
		Threshold float64     `json:"threshold"`
		Pairs     [][]float64 `json:"candidate_pairs"`
	}
	require.NoError(t, json.Unmarshal(b, &ref))
	out := map[[2]int]float64{}
	for _, c := range ref.Pairs {
		if c[0] == 0 && c[2] == 1 {
			out[[2]int{int(c[1]), int(c[3])}] = c[4]
		}
	}
	require.NotEmpty(t, out)
	return ref.Threshold, out
}

// normal runs a similarity_scores project on the reference data alongside the hostile cases;
// check waits for it and compares its scores with the reference's.
func (d *deployment) normal() (check func()) {
	threshold, want := referencePairs(d.t)
	p := d.project("similarity_scores", false)
	for party := range 2 {
		f, err := os.Open(fmt.Sprintf("../../../shared/testdata/reference/clks_%d.json", party))
		require.NoError(d.t, err)
		status, b := d.call("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[party], f, "Content-Type", "application/json")
		f.Close()
		require.Equal(d.t, http.StatusCreated, status, "%s", b)
	}
	run := d.run(p, threshold)
	return func() {
		state, msg := d.wait(p, run)
		require.Equal(d.t, "completed", state, msg)
		status, b := d.call("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/result", p.ResultToken, nil)
		require.Equal(d.t, http.StatusOK, status, "%s", b)
		var res struct {
			Scores [][3]json.RawMessage `json:"similarity_scores"`
		}
		require.NoError(d.t, json.Unmarshal(b, &res))
		got := map[[2]int]float64{}
		for _, s := range res.Scores {
			var a, c [2]int
			var score float64
			require.NoError(d.t, json.Unmarshal(s[0], &a))
			require.NoError(d.t, json.Unmarshal(s[1], &c))
			require.NoError(d.t, json.Unmarshal(s[2], &score))
			got[[2]int{a[1], c[1]}] = score
		}
		require.Equal(d.t, len(want), len(got), "pairs of the normal project")
		for k, v := range want {
			require.InDelta(d.t, v, got[k], 1e-9, "pair %v", k)
		}
	}
}

func TestHostile(t *testing.T) {
	for name, deploy := range map[string]func(*testing.T) *deployment{"all-in-one": allInOne, "serve+worker": serveAndWorker} {
		t.Run(name, func(t *testing.T) { hostile(t, deploy(t)) })
	}
}

func hostile(t *testing.T, d *deployment) {
	// Warm up (first connections, the database pool) before the baseline.
	d.project("groups", false)
	base := d.baseline()
	checkNormal := d.normal()

	// 2 × 20k random 8-byte CLKs at threshold 1e-9: every pair is a candidate (400M).
	tooLow := func(t *testing.T, resultType string) string {
		p := d.project(resultType, false)
		data := make([]byte, 20_000*8)
		for party := range 2 {
			_, _ = rand.Read(data)
			status, b := d.call("POST", "/projects/"+p.ProjectID+"/binaryclks", p.UpdateTokens[party], bytes.NewReader(data),
				"Hash-Size", "8", "Hash-Count", "20000", "Content-Type", "application/octet-stream")
			require.Equal(t, http.StatusCreated, status, "%s", b)
		}
		state, msg := d.wait(p, d.run(p, 1e-9))
		require.Equal(t, "error", state)
		return msg
	}
	t.Run("threshold too low", func(t *testing.T) {
		// Within max-score-pairs (500M): stopped by the chunk's budget.
		require.Contains(t, tooLow(t, "similarity_scores"), "max-chunk-candidates")
	})
	t.Run("threshold too low for the solver", func(t *testing.T) {
		// Over max-solver-pairs (100M): refused when the run starts, from a sample.
		msg := tooLow(t, "groups")
		require.Contains(t, msg, "estimated from")
		require.Contains(t, msg, "limit max-solver-pairs exceeded")
	})

	t.Run("200 MB JSON string", func(t *testing.T) {
		p := d.project("groups", false)
		status, b := d.call("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[0], repeat(`{"clks":["`, 'A', 200<<20, `"]}`),
			"Content-Type", "application/json")
		require.Equal(t, http.StatusRequestEntityTooLarge, status, "%s", b)
		require.Contains(t, string(b), "max-json-token-bytes")
	})

	t.Run("blocks then clknblocks", func(t *testing.T) {
		p := d.project("groups", true)
		for range 200 {
			status, b := d.call("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[0],
				strings.NewReader(`{"blocks":{"0":["a"]},"clknblocks":[]}`), "Content-Type", "application/json")
			require.Equal(t, http.StatusBadRequest, status, "%s", b)
		}
	})

	t.Run("too many blocks per record", func(t *testing.T) {
		p := d.project("groups", true)
		ids := strings.Repeat(`"b",`, 1000)
		status, b := d.call("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[0],
			strings.NewReader(`{"clknblocks":[["AAAAAAAAAAA=",`+ids+`"b"]]}`), "Content-Type", "application/json")
		require.Equal(t, http.StatusRequestEntityTooLarge, status, "%s", b)
		require.Contains(t, string(b), "max-blocks-per-record")
	})

	t.Run("stalled upload", func(t *testing.T) {
		p := d.project("groups", false)
		c, err := net.Dial("tcp", strings.TrimPrefix(d.apiURL, "http://"))
		require.NoError(t, err)
		defer c.Close()
		_, err = fmt.Fprintf(c, "POST /api/v1/projects/%s/clks HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"clks\":[",
			p.ProjectID, p.UpdateTokens[0])
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Minute)))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	})

	t.Run("object-store copies", func(t *testing.T) {
		if !d.objectStore {
			t.Skip("blobs in files: no object store to copy from")
		}
		// A party uploads to the object store with the credentials it is granted and names
		// the object: the copy is held to the limits of a direct upload, and to the CLK size
		// of the other party, before anything is stored.
		p := d.project("groups", false)
		copyObject := func(party int, object []byte, hashSize int) (int, []byte) {
			var grant struct {
				Credentials linkage.Credentials `json:"credentials"`
				Upload      linkage.ObjectRef   `json:"upload"`
			}
			status, b := d.call("GET", "/projects/"+p.ProjectID+"/authorize-external-upload", p.UpdateTokens[party], nil)
			require.Equal(t, http.StatusCreated, status, "%s", b)
			require.NoError(t, json.Unmarshal(b, &grant))
			key := grant.Upload.Path + "/encodings.bin"
			cli := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + grant.Upload.Endpoint), UsePathStyle: true,
				Credentials: credentials.NewStaticCredentialsProvider(grant.Credentials.AccessKeyID, grant.Credentials.SecretAccessKey, grant.Credentials.SessionToken)})
			_, err := cli.PutObject(t.Context(), &awss3.PutObjectInput{Bucket: aws.String(grant.Upload.Bucket), Key: aws.String(key), Body: bytes.NewReader(object)})
			require.NoError(t, err)
			ref := fmt.Sprintf(`{"encodings":{"file":{"bucket":%q,"path":%q,"endpoint":%q,"secure":false}}}`, grant.Upload.Bucket, key, grant.Upload.Endpoint)
			return d.call("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[party], strings.NewReader(ref),
				"Content-Type", "application/json", "Hash-Size", strconv.Itoa(hashSize))
		}
		// Hash-Size 64 MiB made each chunk of the run allocate GiBs once.
		status, b := copyObject(0, bytes.Repeat([]byte{0xff}, 1<<20), 64<<20)
		require.Equal(t, http.StatusBadRequest, status, "%s", b)
		require.Contains(t, string(b), "Hash-Size")
		status, b = copyObject(0, bytes.Repeat([]byte{0xff}, 512*100), 512)
		require.Equal(t, http.StatusRequestEntityTooLarge, status, "%s", b)
		require.Contains(t, string(b), "max-hash-size")
		status, b = copyObject(0, bytes.Repeat([]byte{0xff}, maxUploadBytes+128), 128)
		require.Equal(t, http.StatusRequestEntityTooLarge, status, "%s", b)
		require.Contains(t, string(b), "max-upload-bytes")
		status, b = copyObject(0, bytes.Repeat([]byte{0xff}, 128*100), 128)
		require.Equal(t, http.StatusCreated, status, "%s", b)
		status, b = copyObject(1, bytes.Repeat([]byte{0xff}, 64*100), 64)
		require.Equal(t, http.StatusBadRequest, status, "%s", b)
		require.Contains(t, string(b), "differs from the 128-byte CLKs")
	})

	t.Run("metrics flood", func(t *testing.T) {
		// One client (from 127.0.0.2) scrapes /metrics as fast as 4 connections allow: beyond
		// its burst and rate it gets 503 with Retry-After, and the scraper at 127.0.0.1 is
		// still served.
		flood := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4,
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
		defer flood.CloseIdleConnections()
		var served, limited atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 250 {
					resp, err := flood.Get(d.apiURL + "/metrics")
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode == http.StatusOK:
						served.Add(1)
					case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
						limited.Add(1)
					default:
						t.Errorf("scrape: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
						return
					}
				}
			})
		}
		wg.Wait()
		allowed := 10 + metricsRate*time.Since(start).Seconds() // burst + rate × time
		t.Logf("flood: %d served (at most %.0f allowed), %d refused", served.Load(), allowed, limited.Load())
		require.LessOrEqual(t, float64(served.Load()), allowed+1)
		require.Equal(t, int64(1000), served.Load()+limited.Load())
		d.procs[0].gauges(t) // another client's scrape: 200
	})

	checkNormal()
	d.settle(base)
}
