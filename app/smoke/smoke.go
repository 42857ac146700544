// Package smoke checks a running linkage service end to end through its public API, as a client
// would: it creates a two-party project, uploads CLKs whose matches it knows, runs a linkage, checks
// the groups it gets back and deletes the project. The Kubernetes deployment runs it after every
// rollout (`linkage smoke --url …`); operators can run it against any deployment.
package smoke

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/linkage"
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
	hc := c.Client
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	api := client.New(c.BaseURL, hc)
	if err := c.waitReady(ctx, api); err != nil {
		return err
	}
	p, err := api.CreateProject(ctx, client.NewProject{
		ResultType: linkage.ResultGroups, NumberParties: 2, Name: "smoke test", Notes: "created and deleted by linkage smoke",
	})
	if err != nil {
		return fmt.Errorf("create project: %w", err)
	}
	if p.ProjectID == "" || p.ResultToken == "" || len(p.UpdateTokens) != 2 {
		return fmt.Errorf("create project: want project_id, result_token and 2 update_tokens, got %+v", p)
	}
	c.log().Info("project created", "project_id", p.ProjectID)
	defer func() {
		// Clean up even after a failure; a context already past its deadline gets a fresh minute.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := api.DeleteProject(cleanup, p.ProjectID, p.ResultToken); derr != nil {
			err = errors.Join(err, fmt.Errorf("delete project: %w", derr))
		}
	}()
	parties, want := Fixture(c.Records)
	for i, clks := range parties {
		receipt, err := api.UploadCLKs(ctx, p.ProjectID, p.UpdateTokens[i], clks)
		if err != nil {
			return fmt.Errorf("upload party %d: %w", i, err)
		}
		if receipt.ReceiptToken == "" {
			return fmt.Errorf("upload party %d: no receipt_token in the answer", i)
		}
	}
	run, err := api.CreateRun(ctx, p.ProjectID, p.ResultToken, client.NewRun{Threshold: Threshold, Name: "smoke test"})
	if err != nil {
		return fmt.Errorf("create run: %w", err)
	}
	c.log().Info("run created", "run_id", run.RunID)
	status, err := api.WaitRun(ctx, p.ProjectID, run.RunID, p.ResultToken, c.poll())
	if err != nil {
		return fmt.Errorf("run status: %w", err)
	}
	if status.State == linkage.RunError {
		return fmt.Errorf("run failed: %s", status.Message)
	}
	groups, err := api.Groups(ctx, p.ProjectID, run.RunID, p.ResultToken)
	if err != nil {
		return fmt.Errorf("result: %w", err)
	}
	if err := CheckGroups(groups, want); err != nil {
		return err
	}
	c.log().Info("smoke test passed", "groups", len(want))
	return nil
}

// waitReady polls /status until the service answers: a new load balancer needs a while for DNS.
func (c *Checker) waitReady(ctx context.Context, api *client.Client) error {
	var last error
	for {
		_, err := api.Status(ctx)
		if err == nil {
			return nil
		}
		if last == nil || ctx.Err() == nil {
			last = err // a call cut short by the deadline says less than the answer before it
		}
		c.log().Info("waiting for the service", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("service not ready: %w (last error: %v)", ctx.Err(), last)
		case <-time.After(c.poll()):
		}
	}
}

func (c *Checker) poll() time.Duration {
	if c.Poll == 0 {
		return 2 * time.Second
	}
	return c.Poll
}

func (c *Checker) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// Fixture returns two parties' CLKs (base64) and the groups a correct linkage finds at Threshold:
// party 1 holds party 0's records in reverse order (exact copies, Dice 1.0) plus one record of its
// own; party 0 has one record of its own too. Random CLKs score about 0.5 against each other.
func Fixture(records int) (parties [2][]string, groups [][]client.Record) {
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
		groups = append(groups, []client.Record{{Party: 0, Row: i}, {Party: 1, Row: records - i}})
	}
	return parties, groups
}

// CheckGroups compares groups as sets: neither the order of groups nor of records within one matters.
func CheckGroups(got, want [][]client.Record) error {
	norm := func(groups [][]client.Record) []string {
		var out []string
		for _, g := range groups {
			keys := make([]string, len(g))
			for i, rec := range g {
				keys[i] = fmt.Sprintf("%d/%d", rec.Party, rec.Row)
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
