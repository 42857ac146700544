// Package client is a typed Go client of the linkage API (Anonlink Entity Service API v1): one
// method per endpoint, a context on every call, and every answer other than the endpoint's success
// status returned as a *ProblemError carrying the status and the RFC 7807 problem the server sent.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/linkage-platform/linkage/app/histogram"
	"github.com/linkage-platform/linkage/app/linkage"
)

// Client calls one deployment. The zero HTTP client is http.DefaultClient.
type Client struct {
	base string
	http *http.Client
}

// New returns a client of the service at baseURL (its root: the API lives under /api/v1). hc may
// be nil (http.DefaultClient); it carries timeouts and transport settings.
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/") + "/api/v1", http: hc}
}

// ProblemError is an answer other than the endpoint's success status.
type ProblemError struct {
	Method, Path string
	Status       int
	// Problem is the decoded body; zero when the body was not a problem object (Body has it).
	Problem linkage.Problem
	Body    []byte
	// RetryAfter is the Retry-After header of a 503, zero when absent.
	RetryAfter time.Duration
}

func (e *ProblemError) Error() string {
	detail := e.Problem.Detail
	if e.Problem.Title == "" {
		detail = string(bytes.TrimSpace(e.Body))
	} else if detail == "" {
		detail = e.Problem.Title
	}
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Status, detail)
}

// StatusOf is the HTTP status of a *ProblemError in err's chain, 0 for any other error.
func StatusOf(err error) int {
	if pe, ok := errors.AsType[*ProblemError](err); ok {
		return pe.Status
	}
	return 0
}

// NewProject is the body of POST /projects.
type NewProject struct {
	Schema        json.RawMessage    `json:"schema"` // nil sends {}
	ResultType    linkage.ResultType `json:"result_type"`
	NumberParties int                `json:"number_parties,omitempty"` // 0: the service default (2)
	Name          string             `json:"name,omitempty"`
	Notes         string             `json:"notes,omitempty"`
	UsesBlocking  bool               `json:"uses_blocking,omitempty"`
}

// Project is the answer to POST /projects: the only time the tokens are shown.
type Project struct {
	ProjectID    string   `json:"project_id"`
	UpdateTokens []string `json:"update_tokens"`
	ResultToken  string   `json:"result_token"`
}

// ProjectSummary is an entry of GET /projects.
type ProjectSummary struct {
	ProjectID string `json:"project_id"`
	TimeAdded string `json:"time_added"`
}

// ProjectDescription is GET /projects/{pid}.
type ProjectDescription struct {
	ProjectID          string             `json:"project_id"`
	Schema             json.RawMessage    `json:"schema"`
	ResultType         linkage.ResultType `json:"result_type"`
	NumberParties      int                `json:"number_parties"`
	Name               string             `json:"name"`
	Notes              string             `json:"notes"`
	PartiesContributed int                `json:"parties_contributed"`
	Error              bool               `json:"error"`
	UsesBlocking       bool               `json:"uses_blocking"`
	TimeAdded          string             `json:"time_added"`
}

// Receipt is the answer to an upload.
type Receipt struct {
	ReceiptToken string `json:"receipt_token"`
	Message      string `json:"message"`
}

// UploadAccess is the answer to authorize-external-upload: write-only credentials for Upload.Path.
type UploadAccess struct {
	Credentials linkage.Credentials `json:"credentials"`
	Upload      linkage.ObjectRef   `json:"upload"`
}

// ObjectAccess is a similarity_scores result held in the object store (RETURN-OBJECT-STORE-ADDRESS).
type ObjectAccess struct {
	Credentials linkage.Credentials `json:"credentials"`
	Object      linkage.ObjectRef   `json:"object"`
}

// NewRun is the body of POST /projects/{pid}/runs.
type NewRun struct {
	Threshold float64 `json:"threshold"`
	Name      string  `json:"name,omitempty"`
	Notes     string  `json:"notes,omitempty"`
}

// Run is a run as POST /runs and GET /runs/{rid} describe it (POST leaves State and TimeAdded empty).
type Run struct {
	RunID     string           `json:"run_id"`
	Threshold float64          `json:"threshold"`
	Name      string           `json:"name"`
	Notes     string           `json:"notes"`
	State     linkage.RunState `json:"state,omitempty"`
	TimeAdded string           `json:"time_added,omitempty"`
}

// RunSummary is an entry of GET /projects/{pid}/runs.
type RunSummary struct {
	RunID     string           `json:"run_id"`
	TimeAdded string           `json:"time_added"`
	State     linkage.RunState `json:"state"`
}

// RunStatus is GET /runs/{rid}/status.
type RunStatus struct {
	State                  linkage.RunState `json:"state"`
	TimeAdded              string           `json:"time_added"`
	TimeStarted            string           `json:"time_started"`
	TimeCompleted          string           `json:"time_completed"`
	Stages                 int              `json:"stages"`
	CurrentStage           Stage            `json:"current_stage"`
	TotalNumberComparisons int64            `json:"total_number_comparisons"`
	Message                string           `json:"message"` // the reason, when error
}

// Terminal is true for completed and error.
func (s RunStatus) Terminal() bool {
	return s.State == linkage.RunCompleted || s.State == linkage.RunError
}

// Stage is the current stage of a run.
type Stage struct {
	Number      int       `json:"number"`
	Description string    `json:"description"`
	Progress    *Progress `json:"progress"`
}

// Progress within a stage.
type Progress struct {
	Absolute    int64   `json:"absolute"`
	Relative    float64 `json:"relative"`
	Description string  `json:"description"`
}

// Status is GET /status.
type Status struct {
	Status       string  `json:"status"`
	ProjectCount int     `json:"project_count"`
	Rate         float64 `json:"rate"`
}

// Version is GET /version.
type Version struct {
	Anonlink      string `json:"anonlink"`
	EntityService string `json:"entityservice"`
	Python        string `json:"python"`
	Go            string `json:"go"`
}

// Record is one record of a result: its party and its row in that party's upload. It is written
// as the API's two-element array [party, row].
type Record struct{ Party, Row int }

func (r Record) MarshalJSON() ([]byte, error) { return json.Marshal([2]int{r.Party, r.Row}) }

func (r *Record) UnmarshalJSON(b []byte) error {
	var a [2]int
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("record: want [party, row]: %w", err)
	}
	r.Party, r.Row = a[0], a[1]
	return nil
}

// Score is one entry of a similarity_scores result, written as [[party, row], [party, row], score].
type Score struct {
	A, B  Record
	Score float64
}

func (s *Score) UnmarshalJSON(b []byte) error {
	var raw [3]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("score: want [record, record, score]: %w", err)
	}
	if err := json.Unmarshal(raw[0], &s.A); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[1], &s.B); err != nil {
		return err
	}
	return json.Unmarshal(raw[2], &s.Score)
}

// Permutation is a party's permutations result (read with its receipt token).
type Permutation struct {
	Permutation []int `json:"permutation"`
	Rows        int   `json:"rows"`
}

// Status is GET /status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var out Status
	return out, c.call(ctx, http.MethodGet, "/status", "", nil, nil, http.StatusOK, &out)
}

// Version is GET /version.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var out Version
	return out, c.call(ctx, http.MethodGet, "/version", "", nil, nil, http.StatusOK, &out)
}

// CreateProject creates a project; its Schema defaults to {}.
func (c *Client) CreateProject(ctx context.Context, p NewProject) (Project, error) {
	if p.Schema == nil {
		p.Schema = json.RawMessage("{}")
	}
	var out Project
	return out, c.call(ctx, http.MethodPost, "/projects", "", jsonBody(p), nil, http.StatusCreated, &out)
}

// Projects lists the projects.
func (c *Client) Projects(ctx context.Context) ([]ProjectSummary, error) {
	return list[ProjectSummary](ctx, c, "/projects", "")
}

// Project describes a project (result or update token).
func (c *Client) Project(ctx context.Context, pid, token string) (ProjectDescription, error) {
	var out ProjectDescription
	return out, c.call(ctx, http.MethodGet, "/projects/"+pid, token, nil, nil, http.StatusOK, &out)
}

// DeleteProject deletes a project with its runs, uploads and results (result token).
func (c *Client) DeleteProject(ctx context.Context, pid, token string) error {
	return c.call(ctx, http.MethodDelete, "/projects/"+pid, token, nil, nil, http.StatusNoContent, nil)
}

// AuthorizeExternalUpload asks for credentials to put a party's files in the object store.
func (c *Client) AuthorizeExternalUpload(ctx context.Context, pid, updateToken string) (UploadAccess, error) {
	var out UploadAccess
	return out, c.call(ctx, http.MethodGet, "/projects/"+pid+"/authorize-external-upload", updateToken, nil, nil, http.StatusCreated, &out)
}

// UploadCLKs uploads a party's base64 CLKs as {"clks": [...]}.
func (c *Client) UploadCLKs(ctx context.Context, pid, updateToken string, clks []string) (Receipt, error) {
	return c.UploadJSON(ctx, pid, updateToken, jsonBody(map[string][]string{"clks": clks}))
}

// UploadJSON uploads a JSON body of any of the POST /clks forms as it is (clks, clknblocks,
// encodings with blocks, inline or in the object store).
func (c *Client) UploadJSON(ctx context.Context, pid, updateToken string, body io.Reader) (Receipt, error) {
	var out Receipt
	h := http.Header{"Content-Type": {"application/json"}}
	return out, c.call(ctx, http.MethodPost, "/projects/"+pid+"/clks", updateToken, body, h, http.StatusCreated, &out)
}

// UploadBinary uploads count CLKs of size bytes each, back to back in body, to /binaryclks.
func (c *Client) UploadBinary(ctx context.Context, pid, updateToken string, count, size int, body io.Reader) (Receipt, error) {
	var out Receipt
	h := http.Header{
		"Content-Type": {"application/octet-stream"},
		"Hash-Count":   {strconv.Itoa(count)},
		"Hash-Size":    {strconv.Itoa(size)},
	}
	return out, c.call(ctx, http.MethodPost, "/projects/"+pid+"/binaryclks", updateToken,
		sized{body, int64(count) * int64(size)}, h, http.StatusCreated, &out)
}

// CreateRun starts a run (result token).
func (c *Client) CreateRun(ctx context.Context, pid, token string, r NewRun) (Run, error) {
	var out Run
	return out, c.call(ctx, http.MethodPost, "/projects/"+pid+"/runs", token, jsonBody(r), nil, http.StatusCreated, &out)
}

// Runs lists a project's runs (result token).
func (c *Client) Runs(ctx context.Context, pid, token string) ([]RunSummary, error) {
	return list[RunSummary](ctx, c, "/projects/"+pid+"/runs", token)
}

// list GETs every page of a listing: the service sends at most a page per answer and a
// Link rel="next" header while more follow.
func list[T any](ctx context.Context, c *Client, path, token string) ([]T, error) {
	var all []T
	for query := ""; ; {
		var page []T
		h, err := c.send(ctx, http.MethodGet, path+query, token, nil, nil, http.StatusOK, &page)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		next, ok := nextPage(h.Get("Link"))
		if !ok {
			return all, nil
		}
		if query = "?" + next; len(page) == 0 {
			return nil, fmt.Errorf("GET %s: an empty page links to a next one (%s)", path, next)
		}
	}
}

// nextPage returns the query of a Link header's rel="next" target: the path is the listing's own.
func nextPage(link string) (query string, ok bool) {
	for _, l := range strings.Split(link, ",") {
		target, params, found := strings.Cut(strings.TrimSpace(l), ";")
		if !found || !strings.Contains(params, `rel="next"`) {
			continue
		}
		u, err := url.Parse(strings.Trim(strings.TrimSpace(target), "<>"))
		if err == nil && u.RawQuery != "" {
			return u.RawQuery, true
		}
	}
	return "", false
}

// Run describes a run (result token).
func (c *Client) Run(ctx context.Context, pid, rid, token string) (Run, error) {
	var out Run
	return out, c.call(ctx, http.MethodGet, runPath(pid, rid), token, nil, nil, http.StatusOK, &out)
}

// DeleteRun deletes a run and its result (result token).
func (c *Client) DeleteRun(ctx context.Context, pid, rid, token string) error {
	return c.call(ctx, http.MethodDelete, runPath(pid, rid), token, nil, nil, http.StatusNoContent, nil)
}

// RunStatus is a run's state and progress (result token, or a receipt token of a permutations project).
func (c *Client) RunStatus(ctx context.Context, pid, rid, token string) (RunStatus, error) {
	var out RunStatus
	return out, c.call(ctx, http.MethodGet, runPath(pid, rid)+"/status", token, nil, nil, http.StatusOK, &out)
}

// WaitRun polls the run status every poll until the run completes or fails, or ctx ends; it
// returns the last status seen.
func (c *Client) WaitRun(ctx context.Context, pid, rid, token string, poll time.Duration) (RunStatus, error) {
	var last RunStatus
	for {
		st, err := c.RunStatus(ctx, pid, rid, token)
		if err == nil {
			last = st
		}
		switch {
		case ctx.Err() != nil:
			return last, fmt.Errorf("run %s still %s: %w", rid, last.State, ctx.Err())
		case err != nil || st.Terminal():
			return last, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
}

// Groups is the result of a groups run: each group lists its records.
func (c *Client) Groups(ctx context.Context, pid, rid, token string) ([][]Record, error) {
	var out struct {
		Groups [][]Record `json:"groups"`
	}
	return out.Groups, c.result(ctx, pid, rid, token, &out)
}

// SimilarityScores is the result of a similarity_scores run.
func (c *Client) SimilarityScores(ctx context.Context, pid, rid, token string) ([]Score, error) {
	var out struct {
		Scores []Score `json:"similarity_scores"`
	}
	return out.Scores, c.result(ctx, pid, rid, token, &out)
}

// SimilarityScoresObject is where a similarity_scores result lies in the object store, with
// credentials to read it (the RETURN-OBJECT-STORE-ADDRESS form).
func (c *Client) SimilarityScoresObject(ctx context.Context, pid, rid, token string) (ObjectAccess, error) {
	var out ObjectAccess
	h := http.Header{"Return-Object-Store-Address": {"true"}}
	return out, c.call(ctx, http.MethodGet, runPath(pid, rid)+"/result", token, nil, h, http.StatusOK, &out)
}

// Mask is the result token's view of a permutations run: 1 where the two parties' permuted rows match.
func (c *Client) Mask(ctx context.Context, pid, rid, resultToken string) ([]int, error) {
	var out struct {
		Mask []int `json:"mask"`
	}
	return out.Mask, c.result(ctx, pid, rid, resultToken, &out)
}

// Permutation is a party's view of a permutations run (its receipt token).
func (c *Client) Permutation(ctx context.Context, pid, rid, receiptToken string) (Permutation, error) {
	var out Permutation
	return out, c.result(ctx, pid, rid, receiptToken, &out)
}

// Result is the result document of a run as the service wrote it, byte for byte, whatever the
// result type (a receipt token reads a party's permutation).
func (c *Client) Result(ctx context.Context, pid, rid, token string) ([]byte, error) {
	var out []byte
	return out, c.call(ctx, http.MethodGet, runPath(pid, rid)+"/result", token, nil, nil, http.StatusOK, &out)
}

// Histogram is the distribution of scores a completed run recorded.
func (c *Client) Histogram(ctx context.Context, pid, rid, token string) (*histogram.Histogram, error) {
	out := new(histogram.Histogram)
	return out, c.call(ctx, http.MethodGet, runPath(pid, rid)+"/histogram", token, nil, nil, http.StatusOK, out)
}

func (c *Client) result(ctx context.Context, pid, rid, token string, out any) error {
	return c.call(ctx, http.MethodGet, runPath(pid, rid)+"/result", token, nil, nil, http.StatusOK, out)
}

func runPath(pid, rid string) string { return "/projects/" + pid + "/runs/" + rid }

// sized is a body whose length is known up front, so that it is sent with a Content-Length.
type sized struct {
	io.Reader
	n int64
}

// jsonBody encodes v; the values this package encodes always marshal.
func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("client: encoding %T: %v", v, err))
	}
	return bytes.NewReader(b)
}

// maxProblemBytes bounds how much of an error answer is kept.
const maxProblemBytes = 64 << 10

// call sends one request and decodes the answer into out (if not nil; a *[]byte takes the body as
// it is); any status but want is a *ProblemError.
func (c *Client) call(ctx context.Context, method, path, token string, body io.Reader, h http.Header, want int, out any) error {
	_, err := c.send(ctx, method, path, token, body, h, want, out)
	return err
}

// send is call that also returns the answer's header.
func (c *Client) send(ctx context.Context, method, path, token string, body io.Reader, h http.Header, want int, out any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if s, ok := body.(sized); ok {
		req.Body, req.ContentLength = io.NopCloser(s.Reader), s.n
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		pe := &ProblemError{Method: method, Path: path, Status: resp.StatusCode}
		pe.Body, err = io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
		if err != nil {
			return nil, fmt.Errorf("%s %s: status %d, reading the answer: %w", method, path, resp.StatusCode, err)
		}
		if json.Unmarshal(pe.Body, &pe.Problem) != nil {
			pe.Problem = linkage.Problem{}
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			pe.RetryAfter = time.Duration(s) * time.Second
		}
		return nil, pe
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body) // lets the connection be reused
		return resp.Header, nil
	}
	if raw, ok := out.(*[]byte); ok {
		if *raw, err = io.ReadAll(resp.Body); err != nil {
			return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
		}
		return resp.Header, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return nil, fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return resp.Header, nil
}
