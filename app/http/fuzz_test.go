package http_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/linkage"
)

// The upload parsers are fuzzed through the whole handler (routing, limits, token check,
// streaming into the blob store), over an in-memory store so that an execution costs
// microseconds: `make fuzz` runs each target for 10^6 executions.

const fuzzToken = "0123456789abcdef0123456789abcdef0123456789abcdef"

// fuzzStore holds one project per blocking mode whose party 0 may upload any number of times;
// the upload path must need nothing else (the embedded nil Store panics if it does).
type fuzzStore struct {
	linkage.Store
	projects map[string]*linkage.Project
	last     linkage.Party // the last completed upload
}

func (s *fuzzStore) GetProject(_ context.Context, id string) (*linkage.Project, error) {
	p, ok := s.projects[id]
	if !ok {
		return nil, linkage.ErrNotFound
	}
	return p, nil
}

func (s *fuzzStore) ListParties(_ context.Context, id string) ([]linkage.Party, error) {
	return []linkage.Party{
		{ProjectID: id, Index: 0, UpdateTokenHash: linkage.HashToken(fuzzToken), State: linkage.UploadPending},
		{ProjectID: id, Index: 1, UpdateTokenHash: linkage.HashToken(fuzzToken + "x"), State: linkage.UploadPending},
	}, nil
}

// fuzzAttempt owns every claim of the fuzz store.
const fuzzAttempt = "fuzz"

func (s *fuzzStore) ClaimUpload(context.Context, string, int, time.Time, time.Time) (string, error) {
	return fuzzAttempt, nil
}
func (s *fuzzStore) ReleaseUpload(context.Context, string, int, string) error { return nil }
func (s *fuzzStore) CompleteUpload(_ context.Context, u linkage.Party) ([]string, error) {
	s.last = u
	return nil, nil
}

// An upload accepted but unusable fails the project's runs (there are none here).
func (s *fuzzStore) ListRuns(context.Context, string, string, int) ([]linkage.RunEntry, error) {
	return nil, nil
}
func (s *fuzzStore) FailRun(context.Context, string, string, time.Time) error { return nil }

// memBlobs is a BlobStore in memory.
type memBlobs struct {
	mu   sync.Mutex
	objs map[string][]byte
}

func (m *memBlobs) Put(_ context.Context, key string, r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = b
	return int64(len(b)), nil
}

func (m *memBlobs) Get(_ context.Context, key string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, linkage.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memBlobs) DeletePrefix(_ context.Context, prefix string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) {
			delete(m.objs, k)
		}
	}
	return nil
}

type fuzzAPI struct {
	store      *fuzzStore
	h          http.Handler
	blobs      *memBlobs
	plain, blk string // project ids without and with blocking
}

func newFuzzAPI() *fuzzAPI {
	f := &fuzzAPI{blobs: &memBlobs{objs: map[string][]byte{}}, plain: linkage.NewID(), blk: linkage.NewID()}
	f.store = &fuzzStore{projects: map[string]*linkage.Project{
		f.plain: {ID: f.plain, ResultType: linkage.ResultGroups, NumberParties: 2},
		f.blk:   {ID: f.blk, ResultType: linkage.ResultGroups, NumberParties: 2, UsesBlocking: true},
	}}
	f.h = linkhttp.New(linkhttp.Config{Store: f.store, Blobs: f.blobs, Logger: quietLogger(), Version: "fuzz",
		// Small limits so that the fuzzer reaches them.
		Limits: linkhttp.Limits{MaxUploadBytes: 1 << 16, MaxUploadRecords: 64, MaxHashSize: 256}})
	return f
}

func (f *fuzzAPI) post(t *testing.T, pid, path string, body []byte, header ...string) *httptest.ResponseRecorder {
	f.blobs.DeletePrefix(context.Background(), "")
	r := httptest.NewRequest("POST", "/api/v1/projects/"+pid+path, bytes.NewReader(body))
	r.Header.Set("Authorization", fuzzToken)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	switch w.Code {
	case http.StatusCreated:
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusInternalServerError:
		require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
		if w.Code == http.StatusInternalServerError { // only the object-store form on a server without one
			require.Contains(t, w.Body.String(), `"title":"Not enabled"`)
		}
		require.Empty(t, f.blobs.objs, "a rejected upload leaves no object")
	default:
		t.Fatalf("status %d (only 201, 400, 413 and 500 Not enabled are expected): %s", w.Code, w.Body)
	}
	return w
}

func FuzzJSONUpload(f *testing.F) {
	clk := "AAAAAAAAAAA="             // 8 zero bytes
	one := "/////////////////////w==" // 16 bytes
	for _, s := range []string{
		`{"clks": ["` + clk + `", "` + clk + `"]}`,
		`{"clks": ["` + one + `"], "other": {"nested": [1, 2, {"x": null}]}}`,
		`{"clknblocks": [["` + clk + `", "b1", "b2"], ["` + clk + `", "b2"]]}`,
		`{"encodings": ["` + clk + `", "` + clk + `"], "blocks": {"0": ["a"], "1": ["a", "b"]}}`,
		`{"blocks": {"1": ["a"]}, "encodings": ["` + clk + `", "` + clk + `"]}`,
		`{"encodings": {"file": {"bucket": "b", "path": "p"}}, "blocks": {"file": {"bucket": "b", "path": "q"}}}`,
		`{"clks": ["not base64!"]}`, `{"clks": ["` + clk + `", "` + one + `"]}`, `{"clks": []}`, `[]`, `{"clks": "x"}`,
		`{"clks": ["` + clk + `"]} trailing`, `{"clknblocks": [["` + clk + `"]]}`, `{"blocks": {"-1": ["a"]}}`,
		`{"encodings": ["` + clk + `"], "blocks": {"7": ["a"]}}`, `{"clks": ["` + clk + `"]`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	api := newFuzzAPI()
	f.Fuzz(func(t *testing.T, body []byte, blocking bool) {
		pid := api.plain
		if blocking {
			pid = api.blk
		}
		if w := api.post(t, pid, "/clks", body); w.Code == http.StatusCreated {
			clks, stored := api.blobs.objs[linkage.UploadKey(pid, 0, fuzzAttempt)]
			if api.store.last.Problem != "" {
				// Accepted, then reported (odd CLK sizes): nothing to link is stored.
				require.False(t, stored, "an upload with a problem stores no CLKs")
				return
			}
			require.NotEmpty(t, clks)
			require.Zero(t, len(clks)%8, "CLKs are multiples of 8 bytes")
			_, hasBlocks := api.blobs.objs[linkage.BlocksKey(pid, 0, fuzzAttempt)]
			require.True(t, hasBlocks || !blocking, "a blocking project's upload stores its blocks")
			if hasBlocks {
				_, err := linkage.ReadBlocks(bytes.NewReader(api.blobs.objs[linkage.BlocksKey(pid, 0, fuzzAttempt)]), 0, int64(len(clks)/8))
				require.NoError(t, err, "the stored blocks read back")
			}
		}
	})
}

func FuzzBinaryUpload(f *testing.F) {
	f.Add("2", "8", bytes.Repeat([]byte{0xa5}, 16))
	f.Add("1", "128", bytes.Repeat([]byte{1}, 128))
	f.Add("3", "8", bytes.Repeat([]byte{1}, 16))
	f.Add("1", "7", []byte("1234567"))
	f.Add("-1", "8", []byte{})
	f.Add("100", "8", bytes.Repeat([]byte{1}, 800))
	f.Add("1", "4096", bytes.Repeat([]byte{1}, 4096))
	f.Add(" 1", "0x8", []byte("12345678"))
	api := newFuzzAPI()
	f.Fuzz(func(t *testing.T, count, size string, body []byte) {
		w := api.post(t, api.plain, "/binaryclks", body, "Hash-Count", count, "Hash-Size", size, "Content-Type", "application/octet-stream")
		if w.Code == http.StatusCreated {
			require.Empty(t, api.store.last.Problem, "binary uploads of any size 1..1024 are linked")
			require.Equal(t, body, api.blobs.objs[linkage.UploadKey(api.plain, 0, fuzzAttempt)], "the body is stored as sent")
			require.Equal(t, fmt.Sprint(len(body)), mulString(t, count, size))
		}
	})
}

// mulString multiplies two decimal headers the handler accepted.
func mulString(t *testing.T, a, b string) string {
	var x, y int64
	_, err := fmt.Sscan(a, &x)
	require.NoError(t, err)
	_, err = fmt.Sscan(b, &y)
	require.NoError(t, err)
	return fmt.Sprint(x * y)
}
