package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/results"
	"github.com/linkage-platform/linkage/app/worker"
)

// randomCLKs returns n 128-byte CLKs with about a quarter of the bits set; party b shares the
// first half of its records with a (a few bits flipped) so that there are matches.
func randomCLKs(seed uint64, n int, like []byte) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]byte, n*128)
	for i := range n {
		rec := out[i*128 : (i+1)*128]
		if like != nil && i%2 == 0 {
			copy(rec, like[i*128:(i+1)*128])
			for range 20 {
				rec[rng.IntN(128)] ^= 1 << rng.IntN(8)
			}
			continue
		}
		for j := range rec {
			rec[j] = byte(rng.Uint32() & rng.Uint32())
		}
	}
	return out
}

func (e *env) uploadBinary(t testing.TB, p project, party int, body io.Reader, count int) {
	req, err := http.NewRequest("POST", e.url+"/projects/"+p.ProjectID+"/binaryclks", body)
	require.NoError(t, err)
	req.Header.Set("Authorization", p.UpdateTokens[party])
	req.Header.Set("Hash-Count", strconv.Itoa(count))
	req.Header.Set("Hash-Size", "128")
	req.ContentLength = int64(count) * 128
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
}

// BenchmarkEndToEnd10k times a 10,000 × 10,000 groups linkage through the API (binary uploads,
// run, result available, result fetched) against the engine alone on the same data (CLKs in
// memory, compare, solve, result JSON), side by side; "api/engine" is the ratio of the wall
// times, "api/engine-cpu" that of the CPU times (status polls and the test client included).
func BenchmarkEndToEnd10k(b *testing.B) {
	const n = 10_000
	a := randomCLKs(1, n, nil)
	bb := randomCLKs(2, n, a)
	const threshold = 0.8
	var engineTime, apiTime, engineCPU, apiCPU time.Duration
	t := &testing.T{}
	e := newEnv(t, true, withWorkerConfig(func(c *worker.Config) { *c = worker.Config{} })) // production defaults
	for b.Loop() {
		start, cpu := time.Now(), processCPU()
		ca, err := engine.New(a, 128)
		require.NoError(b, err)
		cb, err := engine.New(bb, 128)
		require.NoError(b, err)
		cands, err := engine.Compare(context.Background(), ca, cb, engine.Options{Threshold: threshold, PartyA: 0, PartyB: 1})
		require.NoError(b, err)
		var want bytes.Buffer
		require.NoError(b, results.WriteGroups(&want, engine.Groups(cands)))
		engineTime += time.Since(start)
		engineCPU += processCPU() - cpu

		start, cpu = time.Now(), processCPU()
		p := e.createProject("groups", 2, false)
		e.uploadBinary(b, p, 0, bytes.NewReader(a), n)
		e.uploadBinary(b, p, 1, bytes.NewReader(bb), n)
		run := e.createRun(p, threshold)
		for {
			r := e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/status", p.ResultToken, nil)
			if s := r.json(t)["state"]; s == "completed" || s == "error" {
				require.Equal(b, "completed", s)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The time to the result is the server's completion time plus the fetch: how often a
		// client polls is its own choice (Anonlink clients poll every second or so).
		st, err := e.store.GetRun(context.Background(), p.ProjectID, run)
		require.NoError(b, err)
		fetch := time.Now()
		got := e.result(p, run, p.ResultToken)
		apiTime += st.CompletedAt.Sub(start) + time.Since(fetch)
		apiCPU += processCPU() - cpu
		require.Equal(b, want.String(), string(got))
	}
	b.ReportMetric(float64(engineTime.Milliseconds())/float64(b.N), "engine-ms/op")
	b.ReportMetric(float64(apiTime.Milliseconds())/float64(b.N), "api-ms/op")
	b.ReportMetric(float64(apiTime)/float64(engineTime), "api/engine")
	// CPU time is steadier than wall time on a shared machine (it includes the test's client).
	if engineCPU > 0 {
		b.ReportMetric(float64(apiCPU)/float64(engineCPU), "api/engine-cpu")
	}
}

// genReader streams left generated CLK bytes without holding them.
type genReader struct {
	left int64
	rng  *rand.Rand
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left)]
	for i := 0; i < len(p); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], g.rng.Uint64())
		copy(p[i:], w[:])
	}
	g.left -= int64(len(p))
	return len(p), nil
}

// rssKiB reads a field (VmRSS, VmHWM) of /proc/self/status.
func rssKiB(b *testing.B, field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	b.Skip("no " + field)
	return 0
}

// BenchmarkUploadBinary1M streams a 1,000,000-record (128 MB) binary upload through the API and
// reports the growth of the process's peak RSS during it ("rss-growth-MiB"): uploads are
// streamed to the blob store, so it stays far below the upload's size.
func BenchmarkUploadBinary1M(b *testing.B) {
	const n = 1_000_000
	t := &testing.T{}
	e := newEnv(t, false)
	var worst int64
	for b.Loop() {
		p := e.createProject("groups", 2, false)
		runtime.GC()
		debug.FreeOSMemory()
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM to the current RSS
		before := rssKiB(b, "VmRSS")
		e.uploadBinary(b, p, 0, &genReader{left: n * 128, rng: rand.New(rand.NewPCG(3, 4))}, n)
		worst = max(worst, rssKiB(b, "VmHWM")-before)
	}
	b.SetBytes(n * 128)
	b.ReportMetric(float64(worst)/1024, "rss-growth-MiB")
}

// BenchmarkUploadJSON500k streams a 500,000-record {"clks": [...]} upload (about 88 MB of
// JSON) and reports the growth of peak RSS: the body is parsed token by token.
func BenchmarkUploadJSON500k(b *testing.B) {
	const n = 500_000
	t := &testing.T{}
	e := newEnv(t, false)
	var worst int64
	for b.Loop() {
		p := e.createProject("groups", 2, false)
		pr, pw := io.Pipe()
		go func() {
			bw := bufio.NewWriter(pw)
			enc := base64.StdEncoding
			g := &genReader{left: n * 128, rng: rand.New(rand.NewPCG(5, 6))}
			rec := make([]byte, 128)
			bw.WriteString(`{"clks":[`)
			for i := range n {
				if i > 0 {
					bw.WriteByte(',')
				}
				_, _ = io.ReadFull(g, rec)
				bw.WriteByte('"')
				bw.WriteString(enc.EncodeToString(rec))
				bw.WriteByte('"')
			}
			bw.WriteString(`]}`)
			pw.CloseWithError(bw.Flush())
		}()
		runtime.GC()
		debug.FreeOSMemory()
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		before := rssKiB(b, "VmRSS")
		req, err := http.NewRequest("POST", e.url+"/projects/"+p.ProjectID+"/clks", pr)
		require.NoError(b, err)
		req.Header.Set("Authorization", p.UpdateTokens[0])
		resp, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(b, http.StatusCreated, resp.StatusCode, "%s", body)
		worst = max(worst, rssKiB(b, "VmHWM")-before)
	}
	b.ReportMetric(float64(worst)/1024, "rss-growth-MiB")
}
