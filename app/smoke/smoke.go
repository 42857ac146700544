// Package smoke checks a running linkage service end to end through its public API, as a client
// would: it creates a two-party project, uploads CLKs whose matches it knows, runs a linkage, checks
// the groups it gets back and deletes the project. The Kubernetes deployment runs it after every
// rollout (`linkage smoke --url …`); operators can run it against any deployment.
package smoke

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Threshold of the test run: copies score 1.0, unrelated random CLKs about 0.5.
const Threshold = 0.9

// clkBytes is the usual 1024-bit CLK.
const clkBytes = 128

// Checker runs the check against one deployment.
type Checker struct {
	// BaseURL is the service root (the API lives under /api/v1).
	BaseURL string
	// Client defaults to one with a 30 s per-request timeout.
	Client *http.Client
	// Records per party (≥ 1).
	Records int
	// Poll is the interval between readiness and run-status polls (default 2 s).
	Poll time.Duration
	Log  *slog.Logger
}

// Run checks the deployment; ctx bounds the whole check, including waiting for the service to answer.
func (c *Checker) Run(ctx context.Context) (err error) {
	if c.Records < 1 {
		return fmt.Errorf("records must be at least 1, got %d", c.Records)
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	p, err := c.createProject(ctx)
	if err != nil {
		return err
	}
	c.log().Info("project created", "project_id", p.ProjectID)
	defer func() {
		// Clean up even after a failure; a context already past its deadline gets a fresh minute.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := c.call(cleanup, http.MethodDelete, "/projects/"+p.ProjectID, p.ResultToken, nil, http.StatusNoContent, nil); derr != nil {
			err = errors.Join(err, fmt.Errorf("delete project: %w", derr))
		}
	}()
	parties, want := Fixture(c.Records)
	for i, clks := range parties {
		var receipt struct {
			ReceiptToken string `json:"receipt_token"`
		}
		if err := c.call(ctx, http.MethodPost, "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[i],
			map[string]any{"clks": clks}, http.StatusCreated, &receipt); err != nil {
			return fmt.Errorf("upload party %d: %w", i, err)
		}
		if receipt.ReceiptToken == "" {
			return fmt.Errorf("upload party %d: no receipt_token in the answer", i)
		}
	}
	var run struct {
		RunID string `json:"run_id"`
	}
	if err := c.call(ctx, http.MethodPost, "/projects/"+p.ProjectID+"/runs", p.ResultToken,
		map[string]any{"threshold": Threshold, "name": "smoke test"}, http.StatusCreated, &run); err != nil {
		return fmt.Errorf("create run: %w", err)
	}
	c.log().Info("run created", "run_id", run.RunID)
	if err := c.waitRun(ctx, p, run.RunID); err != nil {
		return err
	}
	var result struct {
		Groups [][][2]int `json:"groups"`
	}
	if err := c.call(ctx, http.MethodGet, "/projects/"+p.ProjectID+"/runs/"+run.RunID+"/result", p.ResultToken,
		nil, http.StatusOK, &result); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	if err := CheckGroups(result.Groups, want); err != nil {
		return err
	}
	c.log().Info("smoke test passed", "groups", len(want))
	return nil
}

type project struct {
	ProjectID    string   `json:"project_id"`
	UpdateTokens []string `json:"update_tokens"`
	ResultToken  string   `json:"result_token"`
}

func (c *Checker) createProject(ctx context.Context) (project, error) {
	var p project
	body := map[string]any{
		"schema": map[string]any{}, "result_type": "groups", "number_parties": 2,
		"name": "smoke test", "notes": "created and deleted by linkage smoke",
	}
	if err := c.call(ctx, http.MethodPost, "/projects", "", body, http.StatusCreated, &p); err != nil {
		return p, fmt.Errorf("create project: %w", err)
	}
	if p.ProjectID == "" || p.ResultToken == "" || len(p.UpdateTokens) != 2 {
		return p, fmt.Errorf("create project: want project_id, result_token and 2 update_tokens, got %+v", p)
	}
	return p, nil
}

// waitReady polls /status until the service answers: a new load balancer needs a while for DNS.
func (c *Checker) waitReady(ctx context.Context) error {
	var last error
	for {
		err := c.call(ctx, http.MethodGet, "/status", "", nil, http.StatusOK, nil)
		if err == nil {
			return nil
		}
		if last == nil || ctx.Err() == nil {
			last = err // a call cut short by the deadline says less than the answer before it
		}
		c.log().Info("waiting for the service", "err", err)
		if err := c.sleep(ctx); err != nil {
			return fmt.Errorf("service not ready: %w (last error: %v)", err, last)
		}
	}
}

func (c *Checker) waitRun(ctx context.Context, p project, runID string) error {
	for {
		var status struct {
			State   string `json:"state"`
			Message string `json:"message"`
		}
		if err := c.call(ctx, http.MethodGet, "/projects/"+p.ProjectID+"/runs/"+runID+"/status", p.ResultToken,
			nil, http.StatusOK, &status); err != nil {
			return fmt.Errorf("run status: %w", err)
		}
		switch status.State {
		case "completed":
			return nil
		case "error":
			return fmt.Errorf("run failed: %s", status.Message)
		}
		if err := c.sleep(ctx); err != nil {
			return fmt.Errorf("run still %s: %w", status.State, err)
		}
	}
}

func (c *Checker) sleep(ctx context.Context) error {
	poll := c.Poll
	if poll == 0 {
		poll = 2 * time.Second
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(poll):
		return nil
	}
}

func (c *Checker) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// call sends one API request and decodes the answer into out (if not nil); any other status than
// want is an error carrying the body (a problem JSON).
func (c *Checker) call(ctx context.Context, method, path, token string, body any, want int, out any) error {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+"/api/v1"+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, bytes.TrimSpace(raw))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// Fixture returns two parties' CLKs (base64) and the groups a correct linkage finds at Threshold:
// party 1 holds party 0's records in reverse order (exact copies, Dice 1.0) plus one record of its
// own; party 0 has one record of its own too. Random CLKs score about 0.5 against each other.
func Fixture(records int) (parties [2][]string, groups [][][2]int) {
	rng := rand.New(rand.NewPCG(8851, uint64(records)))
	clk := func() string {
		b := make([]byte, clkBytes)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	shared := make([]string, records)
	for i := range shared {
		shared[i] = clk()
	}
	parties[0] = append(slices.Clone(shared), clk())
	parties[1] = append([]string{clk()}, shared...)
	slices.Reverse(parties[1][1:])
	for i := range records {
		groups = append(groups, [][2]int{{0, i}, {1, records - i}})
	}
	return parties, groups
}

// CheckGroups compares groups as sets: neither the order of groups nor of records within one matters.
func CheckGroups(got, want [][][2]int) error {
	norm := func(groups [][][2]int) []string {
		var out []string
		for _, g := range groups {
			keys := make([]string, len(g))
			for i, rec := range g {
				keys[i] = fmt.Sprintf("%d/%d", rec[0], rec[1])
			}
			slices.Sort(keys)
			out = append(out, strings.Join(keys, ","))
		}
		slices.Sort(out)
		return out
	}
	g, w := norm(got), norm(want)
	if !slices.Equal(g, w) {
		return fmt.Errorf("wrong groups: got %d %v, want %d %v", len(g), g, len(w), w)
	}
	return nil
}
