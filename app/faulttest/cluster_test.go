//go:build faults

package faulttest

import (
	"bytes"
	"context"
	endian "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/proctest"
	"github.com/linkage-platform/linkage/app/s3"
)

// binary is the linkage binary built once for every test of the package.
var binary string

func TestMain(m *testing.M) { proctest.Main(m, &binary) }

// postgresServer is a private PostgreSQL cluster the test may stop and start (the shared one
// of `make services` serves other tests at the same time).
type postgresServer struct {
	t        testing.TB
	bin, dir string
	port     int
	asUser   []string // runuser prefix when running as root (PostgreSQL refuses root)
}

func startPostgres(t testing.TB) *postgresServer {
	bin := os.Getenv("LINKAGE_TEST_POSTGRES_BIN")
	if bin == "" {
		t.Skip("LINKAGE_TEST_POSTGRES_BIN not set (make services; eval \"$(make -s services-env)\")")
	}
	dir, err := os.MkdirTemp("", "linkage-faults-pg-")
	require.NoError(t, err)
	pg := &postgresServer{t: t, bin: bin, dir: dir, port: proctest.FreePort(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		require.NoError(t, err, "running as root needs the postgres user of Debian's package")
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
		pg.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	t.Cleanup(func() {
		pg.ctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	pg.run(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "linkage", "--no-sync")
	pg.start()
	pg.run(filepath.Join(bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port), "-U", "linkage", "linkage")
	return pg
}

func (pg *postgresServer) run(name string, args ...string) {
	pg.t.Helper()
	argv := append(append(append([]string{}, pg.asUser...), name), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = pg.dir
	out, err := cmd.CombinedOutput()
	require.NoError(pg.t, err, "%s: %s", strings.Join(argv, " "), out)
}

func (pg *postgresServer) ctl(args ...string) {
	argv := append(append(append([]string{}, pg.asUser...), filepath.Join(pg.bin, "pg_ctl"), "-D", filepath.Join(pg.dir, "data"), "-w"), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = pg.dir
	cmd.Run()
}

func (pg *postgresServer) start() {
	pg.t.Helper()
	pg.run(filepath.Join(pg.bin, "pg_ctl"), "-D", filepath.Join(pg.dir, "data"), "-w", "-t", "60",
		"-l", filepath.Join(pg.dir, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", pg.port, pg.dir), "start")
}

// kill9 SIGKILLs the postmaster and its backends, as a crash of the database host would: no
// checkpoint, no clean shutdown (fsync is on, so what was committed must survive).
func (pg *postgresServer) kill9() {
	pg.t.Helper()
	b, err := os.ReadFile(filepath.Join(pg.dir, "data", "postmaster.pid"))
	require.NoError(pg.t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	require.NoError(pg.t, err)
	procs := append([]int{pid}, childrenOf(pid)...)
	for _, p := range procs {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	// Until reaped: a zombie postmaster still answers kill(pid, 0), and the next start takes
	// its postmaster.pid for a running server.
	proctest.Eventually(pg.t, 30*time.Second, "postgres processes to die and be reaped", func() bool {
		for _, p := range procs {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
				return false
			}
		}
		return true
	})
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		fields := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

func (pg *postgresServer) url() string {
	return fmt.Sprintf("postgres://linkage@127.0.0.1:%d/linkage?sslmode=disable", pg.port)
}

// redisServer is a private Redis without persistence: a restart loses every key, the harshest
// case for the queue (the reconciler must re-enqueue the work).
type redisServer struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

func startRedis(t testing.TB) *redisServer {
	if os.Getenv("LINKAGE_TEST_REDIS_URL") == "" {
		t.Skip("LINKAGE_TEST_REDIS_URL not set (make services; eval \"$(make -s services-env)\")")
	}
	r := &redisServer{t: t, port: proctest.FreePort(t)}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	require.NoError(r.t, r.cmd.Start())
	proctest.Eventually(r.t, 10*time.Second, "redis to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (r *redisServer) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *redisServer) url(params string) string {
	return fmt.Sprintf("redis://127.0.0.1:%d/0?%s", r.port, params)
}

// proc is one linkage process with its log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once the process has exited and cmd.ProcessState is set
}

// cluster is API + workers on a private Postgres and Redis and the shared S3 server (moto).
type cluster struct {
	t       testing.TB
	dir     string
	pg      *postgresServer
	redis   *redisServer
	env     []string
	api     *proc
	apiURL  string
	workers []*proc
	procs   []*proc
	// workerArgs are the flags of every worker process.
	workerArgs []string
}

func newCluster(t testing.TB, workerArgs ...string) *cluster {
	endpoint := os.Getenv("LINKAGE_TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Skip("LINKAGE_TEST_S3_ENDPOINT not set (make services; eval \"$(make -s services-env)\")")
	}
	c := &cluster{t: t, dir: t.TempDir(), workerArgs: workerArgs}
	c.pg = startPostgres(t)
	c.redis = startRedis(t)

	bucket := "linkage-faults-" + linkage.NewID()[:12]
	c.env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_REGION=us-east-1",
		"LINKAGE_DATABASE_URL="+c.pg.url(),
		"LINKAGE_REDIS_URL="+c.redis.url("visibility-timeout=3s&retry-base=200ms&retry-max=2s&max-attempts=8"),
		"LINKAGE_BLOB_URL=s3://"+bucket+"/faults?endpoint="+endpoint+"&upload-role=arn:aws:iam::123456789012:role/linkage-upload",
		"LINKAGE_LOG_LEVEL=info",
	)
	for _, kv := range []string{"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_REGION=us-east-1"} {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	blobs, err := s3.Open(context.Background(), s3.Config{Bucket: bucket, Endpoint: endpoint, PathStyle: true})
	require.NoError(t, err)
	require.NoError(t, blobs.EnsureBucket(context.Background()))

	out, err := c.command("migrate").CombinedOutput()
	require.NoError(t, err, "migrate: %s", out)

	port := proctest.FreePort(t)
	c.apiURL = fmt.Sprintf("http://127.0.0.1:%d/api/v1", port)
	c.api = c.start("api", nil, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	proctest.Eventually(t, 30*time.Second, "the API to answer", func() bool {
		resp, err := http.Get(c.apiURL + "/status")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	t.Cleanup(func() {
		for _, p := range c.procs {
			if p.running() {
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			for _, p := range c.procs {
				b, _ := os.ReadFile(p.log)
				if len(b) > 6000 {
					b = b[len(b)-6000:]
				}
				t.Logf("--- %s log (tail) ---\n%s", p.name, b)
			}
		}
	})
	return c
}

func (c *cluster) command(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = c.env
	cmd.Dir = c.dir
	return cmd
}

// start starts a linkage process with extra environment variables env.
func (c *cluster) start(name string, env []string, args ...string) *proc {
	c.t.Helper()
	p := &proc{name: name, log: filepath.Join(c.dir, fmt.Sprintf("%s-%d.log", name, len(c.procs)))}
	f, err := os.Create(p.log)
	require.NoError(c.t, err)
	p.cmd = c.command(args...)
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	require.NoError(c.t, p.cmd.Start())
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); f.Close(); close(p.done) }()
	c.procs = append(c.procs, p)
	return p
}

// startWorker starts one more worker process; env are extra environment variables.
func (c *cluster) startWorker(env ...string) *proc {
	args := append([]string{"worker", "--metrics-addr", "", "--reconcile-interval", "1s", "--shutdown-grace", "5s"}, c.workerArgs...)
	p := c.start(fmt.Sprintf("worker%d", len(c.workers)), env, args...)
	c.workers = append(c.workers, p)
	return p
}

// startHeld starts a worker that holds every task reaching the fault point until it stops.
func (c *cluster) startHeld(point string) *proc {
	args := append([]string{"worker", "--metrics-addr", "", "--reconcile-interval", "1s", "--shutdown-grace", "5s",
		"--fault-hold", point}, c.workerArgs...)
	return c.start("held", nil, args...)
}

// logHas reports whether p's log holds s.
func (p *proc) logHas(t testing.TB, s string) bool {
	b, err := os.ReadFile(p.log)
	require.NoError(t, err)
	return strings.Contains(string(b), s)
}

// waitLog waits until p's log holds s (a fault point reached, say).
func (p *proc) waitLog(t testing.TB, s string) {
	t.Helper()
	proctest.Eventually(t, 2*time.Minute, p.name+" to log "+s, func() bool { return p.logHas(t, s) })
}

// waitFault waits until p's log says it reached the fault point (p passes earlier points, e.g.
// start-committed before chunk-compared, and logs each).
func (p *proc) waitFault(t testing.TB, point string) {
	t.Helper()
	proctest.Eventually(t, 2*time.Minute, p.name+" to reach "+point, func() bool {
		return p.logCount(t, `"msg":"fault point reached"`, `"point":"`+point+`"`) > 0
	})
}

// logCount is the number of p's log lines that hold every one of subs.
func (p *proc) logCount(t testing.TB, subs ...string) int {
	b, err := os.ReadFile(p.log)
	require.NoError(t, err)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// running reports whether p has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// liveWorkers are the worker processes still running.
func (c *cluster) liveWorkers() []*proc {
	var live []*proc
	for _, w := range c.workers {
		if w.running() {
			live = append(live, w)
		}
	}
	return live
}

// stopWorkers terminates every live worker (the next scenario chooses who works).
func (c *cluster) stopWorkers() {
	for _, w := range c.liveWorkers() {
		w.terminate(c.t, 15*time.Second)
	}
}

// reconcileErrors counts the failed reconcile passes in the workers' logs.
func (c *cluster) reconcileErrors(workers []*proc) int {
	n := 0
	for _, w := range workers {
		n += w.logCount(c.t, `"level":"ERROR"`, `"msg":"reconcile"`)
	}
	return n
}

// kill9 SIGKILLs p: no chance to hand anything back.
func (p *proc) kill9(t testing.TB) {
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
}

// terminate sends SIGTERM (as Kubernetes does) and waits for the process to exit.
func (p *proc) terminate(t testing.TB, within time.Duration) {
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%s did not exit within %v of SIGTERM", p.name, within)
	}
}

// call makes an API request and decodes a JSON answer into out (if not nil).
func (c *cluster) call(method, path, token string, body io.Reader, out any) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.apiURL+path, body)
	require.NoError(c.t, err)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	require.NoError(c.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(c.t, json.Unmarshal(b, out), "%s", b)
	}
	return resp.StatusCode, resp.Header, b
}

// project is a project of the given result type with its parties' files (in party order) and
// the receipt tokens of the uploads done so far.
type project struct {
	id, resultToken, resultType string
	files, receipts             []string
}

// createProject creates a project of n parties and returns it with the update tokens.
func (c *cluster) createProject(resultType string, n int) (project, []string) {
	c.t.Helper()
	var created struct {
		ProjectID    string   `json:"project_id"`
		UpdateTokens []string `json:"update_tokens"`
		ResultToken  string   `json:"result_token"`
	}
	body := fmt.Sprintf(`{"schema": {}, "result_type": %q, "number_parties": %d}`, resultType, n)
	status, _, b := c.call("POST", "/projects", "", strings.NewReader(body), &created)
	require.Equal(c.t, 201, status, "%s", b)
	return project{id: created.ProjectID, resultToken: created.ResultToken, resultType: resultType}, created.UpdateTokens
}

// upload sends a {"clks": [...]} file as the next party's upload and records its file and
// receipt token.
func (c *cluster) upload(p *project, token, file string) {
	c.t.Helper()
	data, err := os.Open(file)
	require.NoError(c.t, err)
	defer data.Close()
	var receipt struct {
		ReceiptToken string `json:"receipt_token"`
	}
	status, _, b := c.call("POST", "/projects/"+p.id+"/clks", token, data, &receipt)
	require.Equal(c.t, 201, status, "upload %s: %s", file, b)
	p.files = append(p.files, file)
	p.receipts = append(p.receipts, receipt.ReceiptToken)
}

// newProject creates a project of the result type with one party per file, all uploaded.
func (c *cluster) newProject(resultType string, files ...string) project {
	c.t.Helper()
	p, tokens := c.createProject(resultType, len(files))
	for i, f := range files {
		c.upload(&p, tokens[i], f)
	}
	return p
}

func (c *cluster) newRun(p project, threshold float64) string {
	c.t.Helper()
	var run struct {
		RunID string `json:"run_id"`
	}
	status, _, b := c.call("POST", "/projects/"+p.id+"/runs", p.resultToken, strings.NewReader(fmt.Sprintf(`{"threshold": %v}`, threshold)), &run)
	require.Equal(c.t, 201, status, "%s", b)
	return run.RunID
}

// runStatus is the part of the run status the tests look at.
type runStatus struct {
	State        string `json:"state"`
	Message      string `json:"message"`
	CurrentStage struct {
		Number   int `json:"number"`
		Progress *struct {
			Relative float64 `json:"relative"`
		} `json:"progress"`
	} `json:"current_stage"`
}

// status returns the run's status; ok is false when the API could not answer (e.g. 503).
func (c *cluster) status(p project, runID string) (runStatus, bool) {
	var st runStatus
	code, _, _ := c.call("GET", "/projects/"+p.id+"/runs/"+runID+"/status", p.resultToken, nil, &st)
	return st, code == 200
}

// waitCompleted waits for the run to complete, checking progress never goes back.
func (c *cluster) waitCompleted(p project, runID string, timeout time.Duration) {
	c.t.Helper()
	last := 0.0
	lastStage := 0
	proctest.Eventually(c.t, timeout, "the run to complete", func() bool {
		st, ok := c.status(p, runID)
		if !ok {
			return false
		}
		require.NotEqual(c.t, "error", st.State, "run failed: %s", st.Message)
		if st.CurrentStage.Progress != nil && st.CurrentStage.Number == lastStage {
			require.GreaterOrEqual(c.t, st.CurrentStage.Progress.Relative, last, "progress went back")
			last = st.CurrentStage.Progress.Relative
		} else if st.CurrentStage.Number != lastStage {
			require.Greater(c.t, st.CurrentStage.Number, lastStage, "stage went back")
			lastStage, last = st.CurrentStage.Number, 0
		}
		return st.State == "completed"
	})
}

// check compares the run's result with `linkage link` on the project's own files seeded with
// the run id (the CLI prints what the service serves, byte for byte): the result token's
// document (groups, scores or mask), for permutations each party's permutation read with that
// party's receipt token, and for similarity scores the binary candidate-pair file at the
// object-store address the API hands out.
func (c *cluster) check(p project, runID string) {
	c.t.Helper()
	api := client.New(strings.TrimSuffix(c.apiURL, "/api/v1"), &http.Client{Timeout: 60 * time.Second})
	args := append([]string{"--threshold", fmt.Sprint(threshold), "--result", p.resultType, "--seed", runID}, p.files...)
	docs := map[string]string{"": p.resultToken}
	if p.resultType == "permutations" {
		for i, receipt := range p.receipts {
			docs[fmt.Sprint(i)] = receipt
		}
	}
	for party, token := range docs {
		cli := args
		if party != "" {
			cli = append([]string{"--party", party}, args...)
		}
		want := linkOutput(c.t, cli...)
		got, err := api.Result(context.Background(), p.id, runID, token)
		require.NoError(c.t, err)
		requireSameBytes(c.t, want, got, fmt.Sprintf("%s result (party %q)", p.resultType, party))
		if p.resultType == "similarity_scores" {
			requireSameBytes(c.t, scoresFile(c.t, want), c.scoresObject(api, p, runID), "similarity scores object")
		}
	}
}

// requireSameBytes fails at the first byte where got differs from want (not require.Equal:
// its diff of megabyte documents is unreadable).
func requireSameBytes(t testing.TB, want, got []byte, what string) {
	t.Helper()
	if !bytes.Equal(want, got) {
		i := 0
		for i < len(want) && i < len(got) && want[i] == got[i] {
			i++
		}
		t.Fatalf("%s differs from linkage link at byte %d (lengths %d and %d): service %q…, CLI %q…",
			what, i, len(got), len(want), got[i:min(i+80, len(got))], want[i:min(i+80, len(want))])
	}
}

// scoresObject reads a similarity_scores result in its RETURN-OBJECT-STORE-ADDRESS form: the
// object the API points at, with the credentials it hands out.
func (c *cluster) scoresObject(api *client.Client, p project, runID string) []byte {
	c.t.Helper()
	ctx := context.Background()
	addr, err := api.SimilarityScoresObject(ctx, p.id, runID, p.resultToken)
	require.NoError(c.t, err)
	out, err := s3Client(addr.Object.Endpoint, addr.Object.Secure, addr.Credentials).GetObject(ctx,
		&awss3.GetObjectInput{Bucket: aws.String(addr.Object.Bucket), Key: aws.String(addr.Object.Path)})
	require.NoError(c.t, err)
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	require.NoError(c.t, err)
	return b
}

// s3Client is a client of the object store at endpoint with temporary credentials.
func s3Client(endpoint string, secure bool, creds linkage.Credentials) *awss3.Client {
	scheme := "http://"
	if secure {
		scheme = "https://"
	}
	return awss3.New(awss3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(scheme + endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
	})
}

// scoresFile encodes a {"similarity_scores": [[[p, r], [p, r], score], ...]} document in the
// binary candidate-pair file of design/api.md: header 1, 8, 1, 4, then per pair, little-endian,
// the score (float64), the two parties (uint8) and the two rows (uint32), in document order.
func scoresFile(t testing.TB, doc []byte) []byte {
	t.Helper()
	var d struct {
		Scores [][3]json.RawMessage `json:"similarity_scores"`
	}
	require.NoError(t, json.Unmarshal(doc, &d))
	out := []byte{1, 8, 1, 4}
	for _, s := range d.Scores {
		var a, b [2]int
		var score float64
		require.NoError(t, json.Unmarshal(s[0], &a))
		require.NoError(t, json.Unmarshal(s[1], &b))
		require.NoError(t, json.Unmarshal(s[2], &score))
		out = endian.LittleEndian.AppendUint64(out, math.Float64bits(score))
		out = append(out, byte(a[0]), byte(b[0]))
		out = endian.LittleEndian.AppendUint32(out, uint32(a[1]))
		out = endian.LittleEndian.AppendUint32(out, uint32(b[1]))
	}
	return out
}

// linkOutput is `linkage link args...`'s document. It must hold matches: the data's true
// matches, so an empty result cannot agree by luck.
func linkOutput(t testing.TB, args ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(binary, append([]string{"link"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	require.NoError(t, cmd.Run())
	require.Contains(t, out.String(), "1", "linkage link %v found no match", args)
	return out.Bytes()
}
