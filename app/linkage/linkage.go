// Package linkage holds the domain of the linkage service: projects, parties and their uploads,
// runs and their chunks, tokens, states and errors, and the interfaces of the outside systems the
// service depends on (Store, BlobStore, Queue). It does no I/O itself.
package linkage

import (
	"encoding/json"
	"fmt"
	"time"
)

// ResultType is what a project's runs produce; fixed at project creation.
type ResultType string

const (
	ResultGroups           ResultType = "groups"
	ResultPermutations     ResultType = "permutations"
	ResultSimilarityScores ResultType = "similarity_scores"
)

// Validate checks the result type against the number of parties it supports.
func (t ResultType) Validate(parties int) error {
	switch t {
	case ResultGroups:
		return nil
	case ResultPermutations, ResultSimilarityScores:
		if parties != 2 {
			return fmt.Errorf("result_type %q needs exactly 2 parties, got %d: %w", t, parties, ErrInvalid)
		}
		return nil
	default:
		return fmt.Errorf("result_type must be one of groups, permutations, similarity_scores, got %q: %w", string(t), ErrInvalid)
	}
}

// ProjectEntry is a project in a listing.
type ProjectEntry struct {
	ID        string
	CreatedAt time.Time
}

// Project is one linkage project: a fixed number of parties each uploading once, and runs over
// their uploads. Tokens are kept only as SHA-256 hashes.
type Project struct {
	ID              string
	Name            string
	Notes           string
	Schema          json.RawMessage // stored opaque
	ResultType      ResultType
	NumberParties   int
	UsesBlocking    bool
	ResultTokenHash []byte
	CreatedAt       time.Time
}

// UploadState is where a party is with its one upload.
type UploadState string

const (
	UploadPending   UploadState = "pending"   // update token not used yet
	UploadUploading UploadState = "uploading" // claimed by an upload in progress
	UploadDone      UploadState = "done"      // uploaded; the update token is spent
)

// Party is one data provider of a project and its upload.
type Party struct {
	ProjectID        string
	Index            int // 0-based, the party number in results
	UpdateTokenHash  []byte
	ReceiptTokenHash []byte // set once uploaded
	State            UploadState
	ClaimedAt        time.Time // when the current upload claimed the token
	// Attempt owns the claim while uploading and names the attempt whose blobs hold the upload
	// once done (UploadKey, BlocksKey); "" for uploads recorded before attempts had ids.
	Attempt    string
	Records    int64 // number of CLKs
	HashSize   int   // bytes per CLK
	HasBlocks  bool  // a blocks blob was uploaded
	UploadedAt time.Time
	// Problem says why an accepted upload cannot be linked (api.md: JSON encodings of odd
	// sizes are accepted, then reported through the project's error flag and its runs).
	Problem string
}

// RunState is the life cycle of a run; it only moves forward.
type RunState string

const (
	RunCreated   RunState = "created"   // waiting for uploads
	RunQueued    RunState = "queued"    // all uploads present, waiting for a worker
	RunRunning   RunState = "running"   // comparing or solving
	RunCompleted RunState = "completed" // result available
	RunError     RunState = "error"     // failed; Message says why
)

// Terminal reports whether the state is final.
func (s RunState) Terminal() bool { return s == RunCompleted || s == RunError }

// Stages of a run as reported by the status endpoint.
const (
	StageUploads = 1 // waiting for / checking uploads
	StageCompare = 2 // computing similarity; progress = comparisons done
	StageSolve   = 3 // solving and writing the result
	StageCount   = 3
)

// StageDescription names a stage for the status endpoint.
func StageDescription(stage int) string {
	switch stage {
	case StageUploads:
		return "waiting for CLKs"
	case StageCompare:
		return "compute similarity scores"
	case StageSolve:
		return "compute output"
	}
	return "unknown"
}

// Run is one linkage computation over a project's uploads at a threshold.
type Run struct {
	ID        string
	ProjectID string
	Name      string
	Notes     string
	Threshold float64
	State     RunState
	Stage     int
	Progress  int64 // comparisons done (counted as chunks finish, plus the open chunks' progress); never decreases
	Total     int64 // comparisons to do; 0 until the run started
	// The chunk plan and its counters, set when the run starts: only the chunks in the window
	// (planned, not done) exist as rows, so nothing has to read every chunk of a large run.
	Chunks           int   // chunks in the plan
	ChunksPlanned    int   // chunks 0..ChunksPlanned-1 have been planned (inserted and enqueued)
	ChunksDone       int   // chunks done
	Candidates       int64 // candidate pairs found by the done chunks
	ChunkComparisons int64 // the plan's target chunk size, fixed at start so that every worker plans alike
	Message          string
	CreatedAt        time.Time
	StartedAt        time.Time // zero until running
	CompletedAt      time.Time // zero until completed or error
	// ResultAttempt is the solve attempt whose result blobs a completed run serves (SolvePrefix);
	// "" for runs completed before solve attempts had ids, and for runs not completed.
	ResultAttempt string
}

// RunCounters is what the reconciler and the rate sampler read of each unfinished run: its
// state, stage and counters, never its name, notes or message (a pass reads every active run).
type RunCounters struct {
	ID, ProjectID    string
	State            RunState
	Stage            int
	Progress         int64
	Chunks           int
	ChunksPlanned    int
	ChunksDone       int
	ChunkComparisons int64
}

// Counters is r's RunCounters.
func (r *Run) Counters() RunCounters {
	return RunCounters{ID: r.ID, ProjectID: r.ProjectID, State: r.State, Stage: r.Stage, Progress: r.Progress,
		Chunks: r.Chunks, ChunksPlanned: r.ChunksPlanned, ChunksDone: r.ChunksDone, ChunkComparisons: r.ChunkComparisons}
}

// RunEntry is a run in a listing.
type RunEntry struct {
	ID        string
	State     RunState
	CreatedAt time.Time
}

// ValidateThreshold checks 0 < t ≤ 1.
func ValidateThreshold(t float64) error {
	if !(t > 0 && t <= 1) {
		return fmt.Errorf("threshold must satisfy 0 < threshold <= 1, got %v: %w", t, ErrInvalid)
	}
	return nil
}

// Chunk is a rectangle of comparisons of one run: rows [ALo,AHi) of party A against rows
// [BLo,BHi) of party B (A < B). Any worker may compute it; its candidates go to the blob store.
// A chunk is stored from when it is planned until it is done; then the run's counters hold
// what is left of it.
type Chunk struct {
	RunID    string
	Index    int
	PartyA   int
	PartyB   int
	ALo, AHi int64
	BLo, BHi int64
	Progress int64 // comparisons done so far; never decreases
	Attempts int
}

// RunPlan is what a run records of its chunk plan when it starts.
type RunPlan struct {
	Chunks           int   // chunks in the plan
	Comparisons      int64 // comparisons over all chunks: the run's Total
	ChunkComparisons int64 // the plan's target chunk size
}

// Comparisons is the size of the rectangle.
func (c Chunk) Comparisons() int64 { return (c.AHi - c.ALo) * (c.BHi - c.BLo) }
