package linkage

import (
	"context"
	"io"
	"time"
)

// Store is the database: the source of truth for projects, parties, runs and chunks.
// Implementations: app/sqlite, app/postgres. Every method is safe for concurrent use by many
// processes; state transitions are atomic (checked and written in one transaction or statement).
// A missing object yields an error wrapping ErrNotFound; a transition from the wrong state one
// wrapping ErrConflict. The behaviour suite is app/linkage/storetest.
type Store interface {
	// CreateProject inserts the project and its parties (all UploadPending).
	CreateProject(ctx context.Context, p *Project, parties []Party) error
	GetProject(ctx context.Context, id string) (*Project, error)
	// ListProjects returns up to limit projects' ids and creation times, oldest first, after
	// the project with id after ("": from the first). Never the schema or notes: the listing is
	// public and must stay cheap.
	ListProjects(ctx context.Context, after string, limit int) ([]ProjectEntry, error)
	CountProjects(ctx context.Context) (int, error)
	// DeleteProject removes the project with its parties, runs and chunks (not its blobs).
	DeleteProject(ctx context.Context, id string) error

	// ListParties returns the project's parties ordered by Index.
	ListParties(ctx context.Context, projectID string) ([]Party, error)
	// ClaimUpload atomically moves a party from UploadPending (or from UploadUploading claimed
	// before staleBefore: an upload whose process died or stalled) to UploadUploading, so that an
	// update token serves one upload only, and returns the new claim's owner: the attempt id that
	// ReleaseUpload and CompleteUpload must name and that keys the attempt's blobs. ErrConflict if
	// the party is uploading or done.
	ClaimUpload(ctx context.Context, projectID string, party int, now, staleBefore time.Time) (attempt string, err error)
	// ReleaseUpload hands a failed attempt's claim back (UploadUploading → UploadPending).
	// ErrConflict if the claim is no longer the attempt's (a retry took it over, or completed).
	ReleaseUpload(ctx context.Context, projectID string, party int, attempt string) error
	// CompleteUpload records the upload (Records, HashSize, HasBlocks, ReceiptTokenHash,
	// UploadedAt, Problem of u) as made by the attempt u.Attempt, which must own the claim
	// (else ErrConflict, and nothing changes), and moves the party from UploadUploading to
	// UploadDone. When that makes every party done, the project's RunCreated runs become
	// RunQueued in the same transaction and their IDs are returned.
	CompleteUpload(ctx context.Context, u Party) (queued []string, err error)

	// CreateRun inserts r (ID, ProjectID, Name, Notes, Threshold, CreatedAt set by the caller)
	// and sets r.State and r.Stage: RunQueued if every party has uploaded, else RunCreated —
	// decided in the same transaction as CompleteUpload's check, so no run is left behind.
	CreateRun(ctx context.Context, r *Run) error
	// GetRun returns the run with its chunk counters; Progress adds the comparisons of the done
	// chunks (a counter) and the progress of the planned chunks not done (at most a window's
	// rows). ErrNotFound also when the run belongs to another project.
	GetRun(ctx context.Context, projectID, runID string) (*Run, error)
	// ListRuns returns the ids, states and creation times of up to limit of the project's runs,
	// oldest first, after run after ("": from the first). Never the notes or the progress (a sum
	// over chunks): the listing must stay cheap.
	ListRuns(ctx context.Context, projectID, after string, limit int) ([]RunEntry, error)
	// DeleteRun removes the run and its chunks (not its blobs).
	DeleteRun(ctx context.Context, projectID, runID string) error
	// CountRuns counts runs by state (for metrics).
	CountRuns(ctx context.Context) (map[RunState]int, error)

	// ActiveRuns returns the queued and running runs: the reconciler's work list.
	ActiveRuns(ctx context.Context) ([]RunCounters, error)
	// StartRun moves a queued run to running at StageCompare, records its plan (Total, Chunks,
	// ChunkComparisons) and inserts the first chunks of the plan (indexes 0..len(first)-1).
	// ErrConflict if the run is not queued (another worker started it): the caller then
	// continues with the stored plan.
	StartRun(ctx context.Context, runID string, plan RunPlan, first []Chunk, now time.Time) error
	// PlanChunks inserts the next chunks of a running run's plan: their indexes must follow
	// on from ChunksPlanned (chunks[0].Index == ChunksPlanned, consecutive, within Chunks), which
	// it advances. ErrConflict if the run is not running or another worker planned from the
	// same point first: the caller reads the run again and decides anew.
	PlanChunks(ctx context.Context, runID string, chunks []Chunk) error
	// ListChunks returns the run's planned chunks not done (at most a window), ordered by Index.
	ListChunks(ctx context.Context, runID string) ([]Chunk, error)
	// GetChunk returns a planned chunk not done; ErrNotFound for a chunk done (its row is gone:
	// compare Index with the run's ChunksPlanned) or never planned.
	GetChunk(ctx context.Context, runID string, index int) (*Chunk, error)
	// BeginChunk counts an attempt at computing the chunk and returns the attempt number (1-based)
	// and the error recorded by ChunkAttemptFailed for an earlier attempt ("" if none).
	BeginChunk(ctx context.Context, runID string, index int) (attempt int, lastErr string, err error)
	// ChunkAttemptFailed records why an attempt at the chunk failed, replacing the earlier cause.
	ChunkAttemptFailed(ctx context.Context, runID string, index int, cause string) error
	// ReturnChunkAttempt gives back the attempt counted by BeginChunk of a chunk not done: the
	// worker handed the chunk back at shutdown (a spot interruption), which is no failure.
	ReturnChunkAttempt(ctx context.Context, runID string, index int) error
	// ChunkProgress raises the chunk's progress to progress (never lowers it).
	ChunkProgress(ctx context.Context, runID string, index int, progress int64) error
	// CompleteChunk removes the chunk and, in the same transaction, adds its comparisons,
	// its candidates and one done chunk to the run's counters; it returns how many chunks of
	// the plan are not done. Idempotent: completing a done chunk again changes nothing.
	// ErrNotFound if the run is gone or the chunk was never planned.
	CompleteChunk(ctx context.Context, runID string, index int, candidates int64) (remaining int, err error)
	// BeginSolve moves a running run to StageSolve, counts an attempt and returns its number and
	// the error recorded by SolveAttemptFailed for an earlier attempt ("" if none).
	// ErrConflict if the run is not running.
	BeginSolve(ctx context.Context, runID string) (attempt int, lastErr string, err error)
	// SolveAttemptFailed records why an attempt at the run's solve failed, replacing the earlier cause.
	SolveAttemptFailed(ctx context.Context, runID string, cause string) error
	// ReturnSolveAttempt gives back the attempt counted by BeginSolve (a hand-back at shutdown).
	ReturnSolveAttempt(ctx context.Context, runID string) error
	// CompleteRun moves a running run to RunCompleted and records attempt as the solve attempt
	// whose result blobs the run serves (Run.ResultAttempt). ErrConflict if it is not running
	// (completed by another attempt, or failed): that result stands, attempt's blobs are not read.
	CompleteRun(ctx context.Context, runID, attempt string, now time.Time) error
	// FailRun moves a non-terminal run to RunError with message. ErrConflict if it is terminal.
	FailRun(ctx context.Context, runID string, message string, now time.Time) error

	// Ping checks the database is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// BlobStore holds uploads, chunk candidates and results. Implementations: app/fs, app/s3.
// Keys are slash-separated relative paths like "projects/<pid>/uploads/<party>.clk".
// The behaviour suite is app/linkage/blobtest.
type BlobStore interface {
	// Put streams r to key (never buffering the whole object); returns the bytes written.
	// Readers never see a partial object: it appears when Put returns without error.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Get streams the object; a missing key returns an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// DeletePrefix removes every object whose key starts with prefix (no error if none).
	DeletePrefix(ctx context.Context, prefix string) error
}

// RangeGetter is implemented by blob stores that can read part of an object without reading
// what precedes it (a file seek, an HTTP range request). Workers use it to read a chunk's rows.
type RangeGetter interface {
	// GetRange streams length bytes of key starting at offset.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// Task is a unit of queued work.
type Task struct {
	ID      string // idempotency key: while a task with this ID is pending or running, Enqueue of the same ID is a no-op
	Kind    string // e.g. "run.start", "run.chunk", "run.solve"
	Payload []byte // JSON, small (ids and ranges, never data)
}

// Queue distributes tasks to workers. Implementations: app/memqueue, app/redis.
// The behaviour suite is app/linkage/queuetest.
type Queue interface {
	Enqueue(ctx context.Context, t Task) error
	// Consume runs h on tasks with the given parallelism until ctx is done. A handler error means
	// retry with exponential back-off (bounded attempts, then the task is dropped and logged — the
	// orchestrator records the run error); a task whose worker died (SIGKILL) is redelivered after
	// a visibility timeout. Returns nil when ctx is cancelled after in-flight handlers return.
	Consume(ctx context.Context, concurrency int, h func(context.Context, Task) error) error
}

// Blob keys, in one place so that deleting a project or run removes everything.
func ProjectPrefix(projectID string) string { return "projects/" + projectID + "/" }

// UploadKey is the blob of the CLKs written by one upload attempt of a party: each attempt
// writes its own, so a stalled attempt and its retry never overwrite each other, and readers
// take the one of the attempt the database recorded (Party.Attempt). Attempt "" is the key of
// uploads recorded before attempts had ids.
func UploadKey(projectID string, party int, attempt string) string {
	return uploadBase(projectID, party, attempt) + ".clk"
}

// BlocksKey is the blocks blob of an upload attempt (see UploadKey).
func BlocksKey(projectID string, party int, attempt string) string {
	return uploadBase(projectID, party, attempt) + ".blocks"
}

func uploadBase(projectID string, party int, attempt string) string {
	base := ProjectPrefix(projectID) + "uploads/" + itoa(party)
	if attempt != "" {
		base += "-" + attempt
	}
	return base
}

// ExternalPrefix is where the parties of a project write with authorize-external-upload
// credentials, each under ExternalUploadPrefix; the service reads uploads from there on their behalf.
func ExternalPrefix(projectID string) string { return ProjectPrefix(projectID) + "external/" }
func ExternalUploadPrefix(projectID string, party int) string {
	return ExternalPrefix(projectID) + itoa(party) + "/"
}
func RunPrefix(projectID, runID string) string {
	return ProjectPrefix(projectID) + "runs/" + runID + "/"
}

// ChunksPrefix holds the per-chunk blobs of a run, removed once the run is solved.
func ChunksPrefix(projectID, runID string) string { return RunPrefix(projectID, runID) + "chunks/" }

// ChunkKey is the blob of one chunk's candidates.
func ChunkKey(projectID, runID string, index int) string {
	return ChunksPrefix(projectID, runID) + itoa(index) + ".cand"
}

// ChunkHistogramKey is the blob of one chunk's part of the run's score histogram.
func ChunkHistogramKey(projectID, runID string, index int) string {
	return ChunksPrefix(projectID, runID) + itoa(index) + ".hist"
}

// SolvePrefix holds the result blobs written by one solve attempt of a run (ResultKey,
// HistogramKey): two solves of a run never write the same blob, the run serves the attempt its
// completion recorded (Run.ResultAttempt), and an attempt that lost deletes only its own.
// Attempt "" is the layout of runs completed before solve attempts had ids: the run's prefix,
// holding no other attempt's blobs, so it is never deleted as an attempt's.
func SolvePrefix(projectID, runID, attempt string) string {
	if attempt == "" {
		return RunPrefix(projectID, runID)
	}
	return RunPrefix(projectID, runID) + "solve-" + attempt + "/"
}

// HistogramKey is the blob of a completed run's score histogram (app/histogram's JSON) written
// by a solve attempt (see SolvePrefix).
func HistogramKey(projectID, runID, attempt string) string {
	return SolvePrefix(projectID, runID, attempt) + "result-histogram.json"
}

// The documents of a run's result, by part name: what each reader is handed.
const (
	PartResult     = ""           // groups and similarity_scores: the result token's JSON
	PartMask       = "mask"       // permutations: the result token's {"mask": [...]}
	PartScoresFile = "scores-bin" // similarity_scores: the binary candidate-pair file
)

// PartParty is the part of party p's permutation, read with its receipt token.
func PartParty(p int) string { return "party-" + itoa(p) }

// ResultKey is the blob of one part of a run's result written by a solve attempt (see SolvePrefix).
func ResultKey(projectID, runID, attempt, part string) string {
	base := SolvePrefix(projectID, runID, attempt)
	switch part {
	case PartResult:
		return base + "result.json"
	case PartScoresFile:
		return base + "similarity_scores.bin"
	}
	return base + "result-" + part + ".json"
}

// ObjectRef locates an object in an object store clients reach directly, as the API shows it.
type ObjectRef struct {
	Endpoint string `json:"endpoint"`
	Secure   bool   `json:"secure"`
	Bucket   string `json:"bucket"`
	Path     string `json:"path"`
}

// Credentials are temporary object-store credentials, in the API's (AWS) field names.
type Credentials struct {
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	SessionToken    string    `json:"SessionToken"`
	Expiration      time.Time `json:"Expiration"`
}

// ExternalAccess is implemented by blob stores that clients can reach directly (app/s3). Without
// it, authorize-external-upload, object-store upload forms and RETURN-OBJECT-STORE-ADDRESS are
// answered with a problem saying the feature is not enabled.
type ExternalAccess interface {
	// UploadAccess returns credentials allowing writes under the blob key prefix only, and
	// where to write.
	UploadAccess(ctx context.Context, prefix string) (Credentials, ObjectRef, error)
	// DownloadAccess returns credentials allowing to read the blob key, and where it is.
	DownloadAccess(ctx context.Context, key string) (Credentials, ObjectRef, error)
	// OpenExternal streams an object a client named in an upload. It reads with the service's
	// own access, whatever credentials the client sent, and only objects of this store's
	// endpoint and bucket under the blob key prefix ownPrefix (the uploading party's own area):
	// anything else is ErrForbidden, and no other endpoint is ever contacted.
	OpenExternal(ctx context.Context, ref ObjectRef, ownPrefix string) (*ExternalObject, error)
}

// ExternalObject is an object a client put in its upload area, with its user metadata (keys
// lower-case, without the x-amz-meta- prefix: "hash-count", "hash-size").
type ExternalObject struct {
	io.ReadCloser
	Metadata map[string]string
}
