package http

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/linkage-platform/linkage/app/linkage"
)

// An upload is streamed: the JSON body is read token by token and each CLK is decoded and
// written to the blob store as it arrives (binary, back to back), so memory does not grow with
// the upload. The update token is claimed atomically before reading and spent when the upload
// is recorded; a failed upload hands it back. Each claim is an attempt with its own blobs: a
// stalled attempt whose claim a retry took over can neither record the upload nor touch the
// retry's blobs, and deletes only its own once the database says it lost.

type uploaded struct {
	records   int64
	size      int
	hasBlocks bool
	problem   string // accepted, but cannot be linked: why (api.md's accepted-then-failed split)
}

// maxCLKBytes is the largest CLK the reference accepts (Hash-Size 1..1024).
const maxCLKBytes = 1024

// checkHashSize owns the size rules of binary CLKs, for both binary forms (a /binaryclks body,
// an object-store encodings file): the reference's 1..1024 bytes (given, the text the client
// sent, names a bad value) and the max-hash-size budget.
func (s *Server) checkHashSize(size int64, given string) error {
	if size < 1 || size > maxCLKBytes {
		return badRequest("Hash-Size must be an integer from 1 to %d (bytes per CLK), got %q", maxCLKBytes, given)
	}
	if size > int64(s.cfg.Limits.MaxHashSize) {
		return limitProblem(&linkage.LimitError{Limit: "max-hash-size", Max: int64(s.cfg.Limits.MaxHashSize), Got: size}, "CLKs too large")
	}
	return nil
}

// sizeAgrees refuses binary CLKs of another size than the other parties' (the stores check it
// again when they record the upload, against concurrent uploads).
func sizeAgrees(a *access, size int64) error {
	if want := expectedSize(a); want != 0 && int64(want) != size {
		return badRequest("Hash-Size %d differs from the %d-byte CLKs other parties uploaded", size, want)
	}
	return nil
}

// blobWriter streams writes into a blob through a pipe to BlobStore.Put.
type blobWriter struct {
	pw   *io.PipeWriter
	bw   *bufio.Writer
	done chan error
	n    int64
}

func startPut(ctx context.Context, blobs linkage.BlobStore, key string) *blobWriter {
	pr, pw := io.Pipe()
	b := &blobWriter{pw: pw, bw: bufio.NewWriterSize(pw, 256<<10), done: make(chan error, 1)}
	go func() {
		_, err := blobs.Put(ctx, key, pr)
		pr.CloseWithError(err) // unblock writes if Put stopped early
		b.done <- err
	}()
	return b
}

// flush hands what was written so far to Put.
func (b *blobWriter) flush() error { return b.bw.Flush() }

func (b *blobWriter) Write(p []byte) (int, error) {
	n, err := b.bw.Write(p)
	b.n += int64(n)
	return n, err
}

// finish flushes and waits for the blob to be stored.
func (b *blobWriter) finish() error {
	if err := b.bw.Flush(); err != nil {
		b.pw.CloseWithError(err)
		<-b.done
		return err
	}
	b.pw.Close()
	return <-b.done
}

// abort makes Put fail, so no object appears.
func (b *blobWriter) abort(err error) {
	b.pw.CloseWithError(err)
	<-b.done
}

// authorizeUpload checks the update token and claims the party's one upload.
func (s *Server) authorizeUpload(r *http.Request) (*access, error) {
	a, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	if err := a.needUpdate(); err != nil {
		return nil, err
	}
	now := s.now()
	if a.attempt, err = s.store.ClaimUpload(r.Context(), a.project.ID, a.party, now, now.Add(-s.cfg.UploadClaimTimeout)); err != nil {
		if errors.Is(err, linkage.ErrConflict) || isNotFound(err) {
			return nil, errForbidden // the token is spent (or in use by a concurrent upload)
		}
		return nil, err
	}
	return a, nil
}

// expectedSize is the CLK size of the parties that have uploaded already (0: none yet).
func expectedSize(a *access) int {
	for _, pa := range a.parties {
		if pa.State == linkage.UploadDone && pa.Index != a.party && pa.Problem == "" {
			return pa.HashSize
		}
	}
	return 0
}

// upload runs receive under the claim of a's party and records the result.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, form string, receive func(ctx context.Context, a *access) (uploaded, error)) error {
	client := s.cfg.ClientAddr(r)
	if !s.uploads.acquire(client) {
		w.Header().Set("Retry-After", "10")
		return tooManyUploads(s.cfg.Limits.MaxUploadsPerClient)
	}
	defer s.uploads.release(client)
	a, err := s.authorizeUpload(r)
	if err != nil {
		return err
	}
	pid, party, attempt := a.project.ID, a.party, a.attempt
	s.sweepReplaced(r, a)
	// Clean-up must happen even if the client went away. It deletes this attempt's blobs only
	// (a retry's are under other keys) and gives the claim back if this attempt still owns it.
	cleanup := func() {
		ctx := context.WithoutCancel(r.Context())
		_ = s.blobs.DeletePrefix(ctx, linkage.UploadKey(pid, party, attempt))
		_ = s.blobs.DeletePrefix(ctx, linkage.BlocksKey(pid, party, attempt))
		if err := s.store.ReleaseUpload(ctx, pid, party, attempt); err != nil && !isNotFound(err) {
			level := slog.LevelWarn
			if errors.Is(err, linkage.ErrConflict) {
				level = slog.LevelInfo // another attempt holds the party now: nothing to give back
			}
			s.log.Log(ctx, level, "release upload", "request_id", requestID(r.Context()), "project", pid, "party", party, "err", err)
		}
	}
	up, err := receive(r.Context(), a)
	if err == nil && a.project.UsesBlocking && !up.hasBlocks && form != "binary" && up.problem == "" {
		// Binary uploads carry no blocks: every record is in one implicit block (api.md).
		err = badRequest("the project uses blocking: upload clknblocks, or encodings with blocks")
	}
	if err != nil {
		cleanup()
		s.metrics.uploads.WithLabelValues(form, "rejected").Inc()
		return err
	}
	receipt := linkage.NewID()
	if up.problem != "" {
		up.size = 0 // no usable CLK size: other parties are not held to it
		up.problem = fmt.Sprintf("the upload of party %d cannot be linked: %s", party, up.problem)
	}
	receiptHash := linkage.HashToken(receipt)
	queued, err := s.store.CompleteUpload(r.Context(), linkage.Party{
		ProjectID: pid, Index: party, Records: up.records, HashSize: up.size, HasBlocks: up.hasBlocks,
		ReceiptTokenHash: receiptHash, UploadedAt: s.now(), Problem: up.problem, Attempt: attempt,
	})
	if err != nil {
		// The blobs go only if the database says this attempt was not recorded: an error
		// during COMMIT may hide a commit.
		switch recorded, rerr := s.uploadRecorded(r, pid, party, receiptHash); {
		case rerr != nil:
			s.log.Error("upload outcome unknown; blobs kept", "request_id", requestID(r.Context()), "project", pid, "party", party,
				"err", err, "read_back_err", rerr)
			return fmt.Errorf("complete upload: %w (and reading it back: %w)", err, rerr)
		case recorded == recordedOurs:
			s.log.Warn("upload recorded despite an error", "request_id", requestID(r.Context()), "project", pid, "party", party, "err", err)
			queued = nil // queued runs are found by the reconciler
		case recorded == recordedOther:
			cleanup()
			return claimLost("another upload with the same update token was recorded")
		default:
			cleanup()
			switch {
			case isNotFound(err):
				return errForbidden // project deleted meanwhile
			case errors.Is(err, linkage.ErrConflict):
				return claimLost("another upload with the same update token took over its claim, after this one sent nothing for the claim timeout")
			}
			return err
		}
	}
	s.metrics.uploads.WithLabelValues(form, "accepted").Inc()
	s.metrics.uploadBytes.Add(float64(up.records) * float64(up.size))
	s.log.Info("upload accepted", "request_id", requestID(r.Context()), "project", pid, "party", party, "form", form,
		"records", up.records, "size", up.size, "blocks", up.hasBlocks)
	if up.problem != "" {
		s.failRuns(r, pid, up.problem)
	} else {
		for _, rid := range queued {
			s.schedule(r, pid, rid)
		}
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"receipt_token": receipt, "message": "Updated"})
}

// sweepReplaced deletes the blobs of the attempt whose stale claim a's attempt took over (read
// before claiming): that attempt can no longer be recorded, and if its process died after
// storing them (or with the outcome of its COMMIT unknown) nothing else would remove them. A
// replaced attempt still alive deletes its own when it is refused.
func (s *Server) sweepReplaced(r *http.Request, a *access) {
	prev := a.parties[a.party]
	if prev.State != linkage.UploadUploading || prev.Attempt == "" || prev.Attempt == a.attempt {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	for _, key := range []string{linkage.UploadKey(a.project.ID, a.party, prev.Attempt), linkage.BlocksKey(a.project.ID, a.party, prev.Attempt)} {
		if err := s.blobs.DeletePrefix(ctx, key); err != nil {
			s.log.Warn("delete a replaced upload attempt's blob", "request_id", requestID(r.Context()), "key", key, "err", err)
		}
	}
	s.log.Info("upload claim taken over from a stale attempt", "request_id", requestID(r.Context()),
		"project", a.project.ID, "party", a.party, "replaced", prev.Attempt, "attempt", a.attempt)
}

// claimLost is the answer to an upload attempt that lost its claim on the update token to a
// retry (it stalled past the claim timeout): nothing of it was recorded or kept.
func claimLost(why string) *problem {
	return problemf(http.StatusConflict, "Conflict", "the upload was not recorded: %s; its data was discarded", why)
}

type uploadRecord int

const (
	recordedNone  uploadRecord = iota // the party is not done (or the project is gone)
	recordedOurs                      // done with this attempt's receipt
	recordedOther                     // done by another attempt
)

// uploadRecorded reads back whether the party's upload was recorded, and by which attempt.
func (s *Server) uploadRecorded(r *http.Request, pid string, party int, receiptHash []byte) (uploadRecord, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	parties, err := s.store.ListParties(ctx, pid)
	switch {
	case isNotFound(err):
		return recordedNone, nil
	case err != nil:
		return recordedNone, err
	case party >= len(parties) || parties[party].State != linkage.UploadDone:
		return recordedNone, nil
	case bytes.Equal(parties[party].ReceiptTokenHash, receiptHash):
		return recordedOurs, nil
	}
	return recordedOther, nil
}

// failRuns moves every unfinished run of the project to error with message: an accepted upload
// cannot be linked. Runs it misses (a race with POST /runs) are failed by the worker, and read
// as errors meanwhile (runView).
func (s *Server) failRuns(r *http.Request, pid, message string) {
	ctx := context.WithoutCancel(r.Context())
	for after := ""; ; {
		runs, err := s.store.ListRuns(ctx, pid, after, maxPage)
		if err != nil {
			s.log.Warn("fail runs of a project in error", "request_id", requestID(r.Context()), "project", pid, "err", err)
			return
		}
		for _, run := range runs {
			if run.State.Terminal() {
				continue
			}
			if err := s.store.FailRun(ctx, run.ID, message, s.now()); err != nil && !errors.Is(err, linkage.ErrConflict) && !isNotFound(err) {
				s.log.Warn("fail run of a project in error", "request_id", requestID(r.Context()), "run", run.ID, "err", err)
			}
		}
		if len(runs) < maxPage {
			return
		}
		after = runs[len(runs)-1].ID
	}
}

// projectProblem is why the project's uploads cannot be linked ("" if they can).
func projectProblem(a *access) string {
	for _, pa := range a.parties {
		if pa.Problem != "" {
			return pa.Problem
		}
	}
	return ""
}

// runView is the run as clients see it: an unfinished run of a project in error is an error.
func runView(a *access, run *linkage.Run) *linkage.Run {
	if p := projectProblem(a); p != "" && !run.State.Terminal() {
		v := *run
		v.State, v.Message = linkage.RunError, p
		return &v
	}
	return run
}

// uploadCLKs is POST /clks: JSON (application/json, or no content type) or, as the reference
// accepts there too, the binary form (application/octet-stream with Hash-Count and Hash-Size).
func (s *Server) uploadCLKs(w http.ResponseWriter, r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return s.uploadJSON(w, r)
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
		return badRequest("Content-Type %q: %v", ct, err)
	case mt == "application/json":
		return s.uploadJSON(w, r)
	case mt == "application/octet-stream":
		return s.uploadBinary(w, r)
	}
	return badRequest("Content-Type %q: POST /clks takes application/json or application/octet-stream", ct)
}

func (s *Server) uploadBinary(w http.ResponseWriter, r *http.Request) error {
	count, err := strconv.ParseInt(r.Header.Get("Hash-Count"), 10, 64)
	if err != nil || count <= 0 {
		return badRequest("header Hash-Count must be a positive integer (the number of CLKs), got %q", r.Header.Get("Hash-Count"))
	}
	size, err := strconv.ParseInt(r.Header.Get("Hash-Size"), 10, 64)
	if err != nil {
		size = 0 // not a number: out of range
	}
	if err := s.checkHashSize(size, r.Header.Get("Hash-Size")); err != nil {
		return err
	}
	if count > s.cfg.Limits.MaxUploadRecords {
		return limitProblem(&linkage.LimitError{Limit: "max-upload-records", Max: s.cfg.Limits.MaxUploadRecords}, "too many CLKs")
	}
	total := count * size
	if total > s.cfg.Limits.MaxUploadBytes {
		return limitProblem(&linkage.LimitError{Limit: "max-upload-bytes", Max: s.cfg.Limits.MaxUploadBytes}, "upload too large")
	}
	if r.ContentLength >= 0 && r.ContentLength != total {
		return badRequest("Content-Length is %d but Hash-Count × Hash-Size = %d × %d = %d", r.ContentLength, count, size, total)
	}
	return s.upload(w, r, "binary", func(ctx context.Context, a *access) (uploaded, error) {
		if err := sizeAgrees(a, size); err != nil {
			return uploaded{}, err
		}
		body := s.halfway(ctx, a, s.uploadBody(w, r), total, nil) // Put stores each read before the next
		n, err := s.blobs.Put(ctx, linkage.UploadKey(a.project.ID, a.party, a.attempt), &exactReader{r: body, n: total})
		if err != nil {
			var p *problem
			if errors.As(err, &p) {
				return uploaded{}, p
			}
			return uploaded{}, fmt.Errorf("store upload: %w", err)
		}
		if n != total {
			return uploaded{}, badRequest("body has %d bytes but Hash-Count × Hash-Size = %d", n, total)
		}
		return uploaded{records: count, size: int(size)}, nil
	})
}

// exactReader reads exactly n bytes from r and fails if r holds fewer or more.
type exactReader struct {
	r    io.Reader
	n    int64
	read int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.read == e.n {
		var one [1]byte
		if k, _ := io.ReadFull(e.r, one[:]); k > 0 {
			return 0, badRequest("body is longer than Hash-Count × Hash-Size = %d bytes", e.n)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.n-e.read {
		p = p[:e.n-e.read]
	}
	k, err := e.r.Read(p)
	e.read += int64(k)
	if err == io.EOF && e.read < e.n {
		return k, badRequest("body has %d bytes but Hash-Count × Hash-Size = %d", e.read, e.n)
	}
	if err == io.EOF {
		err = nil
	}
	return k, err
}

func (s *Server) uploadJSON(w http.ResponseWriter, r *http.Request) error {
	body := newTokenLimit(http.MaxBytesReader(w, s.uploadBody(w, r), s.cfg.Limits.MaxUploadBytes), s.cfg.Limits.MaxTokenBytes)
	return s.upload(w, r, "json", func(ctx context.Context, a *access) (uploaded, error) {
		p := &jsonUpload{s: s, ctx: ctx, a: a, lim: body, r: r}
		p.dec = json.NewDecoder(s.halfway(ctx, a, body, r.ContentLength, p.flush))
		return p.parse()
	})
}

// uploadBody is r's body under the upload deadlines.
func (s *Server) uploadBody(w http.ResponseWriter, r *http.Request) io.ReadCloser {
	return timedBody(w, r, s.cfg.UploadIdleTimeout, s.cfg.UploadTimeout, "upload-idle-timeout", "upload-timeout")
}

// Fault points of uploads (Config.Fault).
const (
	// FaultUploadHalfWritten: half of the upload's body (by Content-Length; one byte if unknown)
	// is in its blob, which is not yet stored; the claim is held, nothing is recorded.
	FaultUploadHalfWritten = "upload-half-written"
)

// halfway is an upload's body with the upload-half-written fault point (body as is without
// Config.Fault): once half of size bytes have been read, flush hands them to the blob store
// and the hook runs, before anything more is read.
func (s *Server) halfway(ctx context.Context, a *access, body io.Reader, size int64, flush func() error) io.Reader {
	if s.cfg.Fault == nil {
		return body
	}
	return &faultBody{r: body, at: max(size/2, 1), hit: func() error {
		if flush != nil {
			if err := flush(); err != nil {
				return err
			}
		}
		s.log.InfoContext(ctx, "fault point reached", "point", FaultUploadHalfWritten, "request_id", requestID(ctx),
			"project", a.project.ID, "party", a.party, "attempt", a.attempt)
		return s.cfg.Fault(ctx, FaultUploadHalfWritten, a.party)
	}}
}

type faultBody struct {
	r        io.Reader
	at, read int64
	hit      func() error
	done     bool
}

func (f *faultBody) Read(p []byte) (int, error) {
	if !f.done && f.read >= f.at {
		f.done = true
		if err := f.hit(); err != nil {
			return 0, err
		}
	}
	if !f.done && int64(len(p)) > f.at-f.read {
		p = p[:f.at-f.read] // stop at the fault point: what was read is stored before the next read
	}
	n, err := f.r.Read(p)
	f.read += int64(n)
	return n, err
}
