//go:build load

package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/fs"
	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/memqueue"
	"github.com/linkage-platform/linkage/app/ratelimit"
	"github.com/linkage-platform/linkage/app/sqlite"
	"github.com/linkage-platform/linkage/app/worker"
)

// env reads a setting of the load test.
func env[T any](t *testing.T, name string, def T, parse func(string) (T, error)) T {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	x, err := parse(v)
	require.NoError(t, err, "%s=%q", name, v)
	return x
}

// sample is one request; err is a *client.ProblemError for an answer other than success.
type sample struct {
	kind    string
	latency time.Duration
	err     error
}

// TestLoad drives the API at LOAD_RATE requests/s (default 200, the default --rate-limit of one
// client) for LOAD_DURATION (default 30s) with LOAD_PROJECTS virtual clients (default 50), each
// repeating the Anonlink flow: create a project, upload two parties, create a run, poll its
// status until completed, fetch the result. The API runs with its production rate limit.
func TestLoad(t *testing.T) {
	rate := env(t, "LOAD_RATE", 200.0, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	duration := env(t, "LOAD_DURATION", 30*time.Second, time.ParseDuration)
	clients := env(t, "LOAD_PROJECTS", 50, strconv.Atoi)
	records := env(t, "LOAD_RECORDS", 500, strconv.Atoi)

	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "linkage.db"))
	require.NoError(t, err)
	defer store.Close()
	_, err = store.Migrate(context.Background())
	require.NoError(t, err)
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	queue := memqueue.New(memqueue.Options{Logger: log})
	w := worker.New(store, blobs, queue, log, nil, worker.Config{Histogram: worker.HistogramConfig{Floor: 0.5}})
	srv := httptest.NewServer(linkhttp.New(linkhttp.Config{
		Store: store, Blobs: blobs, Scheduler: worker.Scheduler{Queue: queue}, Logger: log, Version: "load",
		Rate: w.Rate, RateLimit: ratelimit.New(ratelimit.Config{Rate: 200, Burst: 400}),
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	workerDone := make(chan struct{})
	go func() { defer close(workerDone); _ = w.Run(ctx) }()
	defer func() { cancel(); <-workerDone }()

	parties := [2][]string{firstRecords(t, 1, records), firstRecords(t, 2, records)}
	api := client.New(srv.URL, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: time.Minute})

	// The pacer hands out one permit per 1/rate; a client waits for a permit before each request.
	permits := make(chan struct{})
	deadline := time.Now().Add(duration)
	go func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for time.Now().Before(deadline) {
			<-tick.C
			select {
			case permits <- struct{}{}:
			default: // every client is busy: the permit is lost, the achieved rate shows it
			}
		}
		close(permits)
	}()

	var mu sync.Mutex
	var samples []sample
	var runs atomic.Int64
	var over atomic.Bool // the pacer has stopped
	// do waits for a permit and records the call; false when the test is over or the call failed.
	do := func(kind string, call func() error) bool {
		if _, ok := <-permits; !ok {
			over.Store(true)
			return false
		}
		start := time.Now()
		err := call()
		mu.Lock()
		samples = append(samples, sample{kind: kind, latency: time.Since(start), err: err})
		mu.Unlock()
		return err == nil
	}
	// flow is one client's project from creation to result (or its first failed call); false
	// when the test is over.
	flow := func() bool {
		var p client.Project
		if !do("create project", func() (err error) {
			p, err = api.CreateProject(ctx, client.NewProject{ResultType: linkage.ResultGroups})
			return err
		}) {
			return !over.Load()
		}
		for party, clks := range parties {
			if !do("upload", func() error {
				_, err := api.UploadCLKs(ctx, p.ProjectID, p.UpdateTokens[party], clks)
				return err
			}) {
				return !over.Load()
			}
		}
		var r client.Run
		if !do("create run", func() (err error) {
			r, err = api.CreateRun(ctx, p.ProjectID, p.ResultToken, client.NewRun{Threshold: 0.8})
			return err
		}) {
			return !over.Load()
		}
		for {
			var st client.RunStatus
			if !do("poll status", func() (err error) {
				st, err = api.RunStatus(ctx, p.ProjectID, r.RunID, p.ResultToken)
				return err
			}) {
				return !over.Load()
			}
			if st.Terminal() {
				break
			}
		}
		if do("result", func() error {
			_, err := api.Groups(ctx, p.ProjectID, r.RunID, p.ResultToken)
			return err
		}) {
			runs.Add(1)
		}
		return !over.Load()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for flow() {
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	report(t, samples, elapsed, rate, clients, runs.Load())
}

func report(t *testing.T, samples []sample, elapsed time.Duration, rate float64, clients int, runs int64) {
	byKind := map[string][]sample{"all": samples}
	for _, s := range samples {
		byKind[s.kind] = append(byKind[s.kind], s)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "load: target %.0f req/s, %d concurrent projects, %s, GOMAXPROCS %d\n", rate, clients, elapsed.Round(time.Second), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&out, "%-14s %8s %9s %9s %9s %7s\n", "request", "count", "p50", "p99", "max", "errors")
	kinds := []string{"all", "create project", "upload", "create run", "poll status", "result"}
	for _, k := range kinds {
		ss := byKind[k]
		if len(ss) == 0 {
			continue
		}
		lat := make([]time.Duration, len(ss))
		errs := 0
		for i, s := range ss {
			lat[i] = s.latency
			if s.err != nil {
				errs++
			}
		}
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		fmt.Fprintf(&out, "%-14s %8d %9s %9s %9s %7d\n", k, len(ss), q(0.50).Round(10*time.Microsecond),
			q(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), errs)
	}
	fmt.Fprintf(&out, "achieved %.1f req/s; %d runs completed end to end; peak RSS %s\n",
		float64(len(samples))/elapsed.Seconds(), runs, peakRSS())
	t.Log("\n" + out.String())
	fmt.Print(out.String())
	for _, s := range samples {
		if client.StatusOf(s.err) == 0 {
			require.NoError(t, s.err, "a transport or decoding error, not an answer of the API")
		}
	}
}

// peakRSS is VmHWM of this process (API, workers and load generator together).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
		}
	}
	return "unknown"
}

// permitsLeft is true until the pacer stops handing out permits.
func permitsLeft(deadline time.Time) bool { return time.Now().Before(deadline) }

// firstRecords is the first n records of a tutorial party.
func firstRecords(t *testing.T, party, n int) []string {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "tutorial", "clks-"+strconv.Itoa(party)+".json"))
	require.NoError(t, err)
	var f struct {
		Clks []string `json:"clks"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	return f.Clks[:min(n, len(f.Clks))]
}
