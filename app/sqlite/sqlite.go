// Package sqlite implements linkage.Store on SQLite through modernc.org/sqlite (pure Go, no
// cgo): the embedded default database of `linkage all-in-one`.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/linkage-platform/linkage/app/linkage"
)

// DB is a linkage.Store on one SQLite file.
type DB struct {
	db *sql.DB
}

var _ linkage.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path; ":memory:" gives a private
// in-memory database. Call Migrate before use.
func Open(path string) (*DB, error) {
	q := url.Values{}
	// WAL lets readers run beside the writer; IMMEDIATE transactions take the write lock up
	// front so concurrent transactions wait (busy_timeout) instead of failing to upgrade.
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if path == ":memory:" || strings.Contains(path, "mode=memory") {
		db.SetMaxOpenConns(1) // each connection would get its own empty in-memory database
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &DB{db: db}, nil
}

func (db *DB) Close() error { return db.db.Close() }

func (db *DB) Ping(ctx context.Context) error {
	if err := db.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// withTx runs fn in a transaction, committing if it returns nil.
func (db *DB) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// missingOr tells why a conditional update matched no row: the row is missing (ErrNotFound)
// or in the wrong state (ErrConflict).
func missingOr(ctx context.Context, q querier, what, existsQuery string, args ...any) error {
	var n int
	if err := q.QueryRowContext(ctx, existsQuery, args...).Scan(&n); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, linkage.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, linkage.ErrConflict)
}

func (db *DB) CreateProject(ctx context.Context, p *linkage.Project, parties []linkage.Party) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO projects
			(id, name, notes, schema, result_type, number_parties, uses_blocking, result_token_hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.Name, p.Notes, string(p.Schema), string(p.ResultType), p.NumberParties,
			b2i(p.UsesBlocking), p.ResultTokenHash, nanos(p.CreatedAt)); err != nil {
			return fmt.Errorf("insert project: %w", err)
		}
		for _, pa := range parties {
			if _, err := tx.ExecContext(ctx, `INSERT INTO parties (project_id, idx, update_token_hash, state)
				VALUES (?, ?, ?, ?)`, p.ID, pa.Index, pa.UpdateTokenHash, string(linkage.UploadPending)); err != nil {
				return fmt.Errorf("insert party %d: %w", pa.Index, err)
			}
		}
		return nil
	})
}

const projectColumns = `id, name, notes, schema, result_type, number_parties, uses_blocking, result_token_hash, created_at`

type scanner interface{ Scan(dest ...any) error }

func scanProject(s scanner) (*linkage.Project, error) {
	var p linkage.Project
	var schema, rt string
	var blocking int
	var created int64
	if err := s.Scan(&p.ID, &p.Name, &p.Notes, &schema, &rt, &p.NumberParties, &blocking, &p.ResultTokenHash, &created); err != nil {
		return nil, err
	}
	p.Schema = []byte(schema)
	p.ResultType = linkage.ResultType(rt)
	p.UsesBlocking = blocking != 0
	p.CreatedAt = fromNanos(created)
	return &p, nil
}

func (db *DB) GetProject(ctx context.Context, id string) (*linkage.Project, error) {
	p, err := scanProject(db.db.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("project %s: %w", id, linkage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get project %s: %w", id, err)
	}
	return p, nil
}

func (db *DB) ListProjects(ctx context.Context, after string, limit int) ([]linkage.ProjectEntry, error) {
	q, args := `SELECT id, created_at FROM projects ORDER BY created_at, id LIMIT ?`, []any{limit}
	if after != "" {
		q = `SELECT id, created_at FROM projects WHERE (created_at, id) > (SELECT created_at, id FROM projects WHERE id = ?)
			ORDER BY created_at, id LIMIT ?`
		args = []any{after, limit}
	}
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var ps []linkage.ProjectEntry
	for rows.Next() {
		var p linkage.ProjectEntry
		var created int64
		if err := rows.Scan(&p.ID, &created); err != nil {
			return nil, fmt.Errorf("list projects: %w", err)
		}
		p.CreatedAt = fromNanos(created)
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return ps, nil
}

func (db *DB) CountProjects(ctx context.Context) (int, error) {
	var n int
	if err := db.db.QueryRowContext(ctx, `SELECT count(*) FROM projects`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count projects: %w", err)
	}
	return n, nil
}

func (db *DB) DeleteProject(ctx context.Context, id string) error {
	res, err := db.db.ExecContext(ctx, `DELETE FROM projects WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete project %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete project %s: %w", id, linkage.ErrNotFound)
	}
	return nil
}

func (db *DB) ListParties(ctx context.Context, projectID string) ([]linkage.Party, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT project_id, idx, update_token_hash, receipt_token_hash, state,
		claimed_at, records, hash_size, has_blocks, uploaded_at, problem, attempt FROM parties WHERE project_id = ? ORDER BY idx`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list parties of %s: %w", projectID, err)
	}
	defer rows.Close()
	var ps []linkage.Party
	for rows.Next() {
		var p linkage.Party
		var state string
		var claimed, uploaded int64
		var blocks int
		if err := rows.Scan(&p.ProjectID, &p.Index, &p.UpdateTokenHash, &p.ReceiptTokenHash, &state,
			&claimed, &p.Records, &p.HashSize, &blocks, &uploaded, &p.Problem, &p.Attempt); err != nil {
			return nil, fmt.Errorf("list parties of %s: %w", projectID, err)
		}
		p.State = linkage.UploadState(state)
		p.ClaimedAt = fromNanos(claimed)
		p.UploadedAt = fromNanos(uploaded)
		p.HasBlocks = blocks != 0
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list parties of %s: %w", projectID, err)
	}
	return ps, nil
}

const partyExists = `SELECT count(*) FROM parties WHERE project_id = ? AND idx = ?`

func (db *DB) ClaimUpload(ctx context.Context, projectID string, party int, now, staleBefore time.Time) (string, error) {
	attempt := linkage.NewID()
	res, err := db.db.ExecContext(ctx, `UPDATE parties SET state = 'uploading', claimed_at = ?, attempt = ?
		WHERE project_id = ? AND idx = ? AND (state = 'pending' OR (state = 'uploading' AND claimed_at < ?))`,
		nanos(now), attempt, projectID, party, nanos(staleBefore))
	if err != nil {
		return "", fmt.Errorf("claim upload %s/%d: %w", projectID, party, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", missingOr(ctx, db.db, fmt.Sprintf("claim upload %s/%d", projectID, party), partyExists, projectID, party)
	}
	return attempt, nil
}

func (db *DB) ReleaseUpload(ctx context.Context, projectID string, party int, attempt string) error {
	what := fmt.Sprintf("release upload %s/%d (attempt %s)", projectID, party, attempt)
	res, err := db.db.ExecContext(ctx, `UPDATE parties SET state = 'pending', claimed_at = 0, attempt = ''
		WHERE project_id = ? AND idx = ? AND state = 'uploading' AND attempt = ?`, projectID, party, attempt)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notOwner(ctx, db.db, what, projectID, party, attempt)
	}
	return nil
}

// notOwner explains why an attempt could not release or record its claim: ErrNotFound, or
// ErrConflict naming who holds the party now.
func notOwner(ctx context.Context, q querier, what, projectID string, party int, attempt string) error {
	var state, owner string
	err := q.QueryRowContext(ctx, `SELECT state, attempt FROM parties WHERE project_id = ? AND idx = ?`, projectID, party).Scan(&state, &owner)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, linkage.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, linkage.ClaimLost(linkage.UploadState(state), owner == attempt))
}

// sizeDiffers finds a done party whose CLK size differs from the one being recorded (sizes 0:
// uploads in error, which hold no one to a size).
const sizeDiffers = `SELECT idx, hash_size FROM parties WHERE project_id = ? AND idx != ? AND state = 'done'
	AND hash_size > 0 AND ? > 0 AND hash_size != ? LIMIT 1`

func (db *DB) CompleteUpload(ctx context.Context, u linkage.Party) ([]string, error) {
	what := fmt.Sprintf("complete upload %s/%d (attempt %s)", u.ProjectID, u.Index, u.Attempt)
	var queued []string
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE parties SET state = 'done', records = ?, hash_size = ?, has_blocks = ?,
			receipt_token_hash = ?, uploaded_at = ?, problem = ? WHERE project_id = ? AND idx = ? AND state = 'uploading' AND attempt = ?`,
			u.Records, u.HashSize, b2i(u.HasBlocks), u.ReceiptTokenHash, nanos(u.UploadedAt), u.Problem, u.ProjectID, u.Index, u.Attempt)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notOwner(ctx, tx, what, u.ProjectID, u.Index, u.Attempt)
		}
		var other, size int
		switch err := tx.QueryRowContext(ctx, sizeDiffers, u.ProjectID, u.Index, u.HashSize, u.HashSize).Scan(&other, &size); {
		case err == nil:
			return fmt.Errorf("%s: %w", what, linkage.HashSizeError(u.HashSize, other, size))
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%s: %w", what, err)
		}
		var waiting int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM parties WHERE project_id = ? AND state != 'done'`,
			u.ProjectID).Scan(&waiting); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if waiting > 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `UPDATE runs SET state = 'queued' WHERE project_id = ? AND state = 'created' RETURNING id`, u.ProjectID)
		if err != nil {
			return fmt.Errorf("%s: queue runs: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("%s: queue runs: %w", what, err)
			}
			queued = append(queued, id)
		}
		return rows.Err()
	})
	return queued, err
}

func (db *DB) CreateRun(ctx context.Context, r *linkage.Run) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		var parties, waiting int
		if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(state != 'done'), 0) FROM parties WHERE project_id = ?`,
			r.ProjectID).Scan(&parties, &waiting); err != nil {
			return fmt.Errorf("create run: %w", err)
		}
		if parties == 0 {
			return fmt.Errorf("create run: project %s: %w", r.ProjectID, linkage.ErrNotFound)
		}
		r.State, r.Stage = linkage.RunQueued, linkage.StageUploads
		if waiting > 0 {
			r.State = linkage.RunCreated
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO runs (id, project_id, name, notes, threshold, state, stage, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.ProjectID, r.Name, r.Notes, r.Threshold, string(r.State), r.Stage,
			nanos(r.CreatedAt)); err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		return nil
	})
}

// progressColumn sums the progress of the run's open chunks only: at most a window's rows.
const progressColumn = `done_comparisons + coalesce((SELECT sum(progress) FROM chunks WHERE chunks.run_id = runs.id), 0)`

const runColumns = `id, project_id, name, notes, threshold, state, stage, total, message, created_at, started_at, completed_at,
	chunks, chunks_planned, chunks_done, candidates, chunk_comparisons, result_attempt, ` + progressColumn

func scanRun(s scanner) (*linkage.Run, error) {
	var r linkage.Run
	var state string
	var created, started, completed int64
	if err := s.Scan(&r.ID, &r.ProjectID, &r.Name, &r.Notes, &r.Threshold, &state, &r.Stage, &r.Total, &r.Message,
		&created, &started, &completed, &r.Chunks, &r.ChunksPlanned, &r.ChunksDone, &r.Candidates, &r.ChunkComparisons,
		&r.ResultAttempt, &r.Progress); err != nil {
		return nil, err
	}
	r.State = linkage.RunState(state)
	r.CreatedAt, r.StartedAt, r.CompletedAt = fromNanos(created), fromNanos(started), fromNanos(completed)
	return &r, nil
}

func (db *DB) GetRun(ctx context.Context, projectID, runID string) (*linkage.Run, error) {
	r, err := scanRun(db.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ? AND project_id = ?`, runID, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %s: %w", runID, linkage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", runID, err)
	}
	return r, nil
}

func (db *DB) ListRuns(ctx context.Context, projectID, after string, limit int) ([]linkage.RunEntry, error) {
	q, args := `SELECT id, state, created_at FROM runs WHERE project_id = ? ORDER BY created_at, id LIMIT ?`, []any{projectID, limit}
	if after != "" {
		q = `SELECT id, state, created_at FROM runs WHERE project_id = ?
			AND (created_at, id) > (SELECT created_at, id FROM runs WHERE id = ? AND project_id = ?)
			ORDER BY created_at, id LIMIT ?`
		args = []any{projectID, after, projectID, limit}
	}
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var rs []linkage.RunEntry
	for rows.Next() {
		var e linkage.RunEntry
		var state string
		var created int64
		if err := rows.Scan(&e.ID, &state, &created); err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		e.State, e.CreatedAt = linkage.RunState(state), fromNanos(created)
		rs = append(rs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return rs, nil
}

func (db *DB) ActiveRuns(ctx context.Context) ([]linkage.RunCounters, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT id, project_id, state, stage, chunks, chunks_planned, chunks_done, chunk_comparisons, `+
		progressColumn+` FROM runs WHERE state IN ('queued', 'running') ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("active runs: %w", err)
	}
	defer rows.Close()
	var rs []linkage.RunCounters
	for rows.Next() {
		var r linkage.RunCounters
		var state string
		if err := rows.Scan(&r.ID, &r.ProjectID, &state, &r.Stage, &r.Chunks, &r.ChunksPlanned, &r.ChunksDone, &r.ChunkComparisons,
			&r.Progress); err != nil {
			return nil, fmt.Errorf("active runs: %w", err)
		}
		r.State = linkage.RunState(state)
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("active runs: %w", err)
	}
	return rs, nil
}

func (db *DB) DeleteRun(ctx context.Context, projectID, runID string) error {
	res, err := db.db.ExecContext(ctx, `DELETE FROM runs WHERE id = ? AND project_id = ?`, runID, projectID)
	if err != nil {
		return fmt.Errorf("delete run %s: %w", runID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete run %s: %w", runID, linkage.ErrNotFound)
	}
	return nil
}

func (db *DB) CountRuns(ctx context.Context) (map[linkage.RunState]int, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT state, count(*) FROM runs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count runs: %w", err)
	}
	defer rows.Close()
	counts := map[linkage.RunState]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count runs: %w", err)
		}
		counts[linkage.RunState(s)] = n
	}
	return counts, rows.Err()
}

const runExists = `SELECT count(*) FROM runs WHERE id = ?`

func (db *DB) StartRun(ctx context.Context, runID string, plan linkage.RunPlan, first []linkage.Chunk, now time.Time) error {
	return db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET state = 'running', stage = ?, total = ?, chunks = ?, chunk_comparisons = ?,
			chunks_planned = ?, started_at = ? WHERE id = ? AND state = 'queued'`,
			linkage.StageCompare, plan.Comparisons, plan.Chunks, plan.ChunkComparisons, len(first), nanos(now), runID)
		if err != nil {
			return fmt.Errorf("start run %s: %w", runID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return missingOr(ctx, tx, "start run "+runID, runExists, runID)
		}
		return insertChunks(ctx, tx, "start run "+runID, runID, first)
	})
}

func (db *DB) PlanChunks(ctx context.Context, runID string, chunks []linkage.Chunk) error {
	if len(chunks) == 0 {
		return nil
	}
	what := "plan chunks of run " + runID
	return db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET chunks_planned = chunks_planned + ?
			WHERE id = ? AND state = 'running' AND chunks_planned = ? AND chunks_planned + ? <= chunks`,
			len(chunks), runID, chunks[0].Index, len(chunks))
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return missingOr(ctx, tx, what, runExists, runID)
		}
		return insertChunks(ctx, tx, what, runID, chunks)
	})
}

// insertChunks inserts chunks numbered consecutively from chunks[0].Index.
func insertChunks(ctx context.Context, tx *sql.Tx, what, runID string, chunks []linkage.Chunk) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO chunks (run_id, idx, party_a, party_b, a_lo, a_hi, b_lo, b_hi)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer stmt.Close()
	for i, c := range chunks {
		if c.Index != chunks[0].Index+i {
			return fmt.Errorf("%s: chunk %d follows chunk %d: %w", what, c.Index, chunks[0].Index+i-1, linkage.ErrInvalid)
		}
		if _, err := stmt.ExecContext(ctx, runID, c.Index, c.PartyA, c.PartyB, c.ALo, c.AHi, c.BLo, c.BHi); err != nil {
			return fmt.Errorf("%s: chunk %d: %w", what, c.Index, err)
		}
	}
	return nil
}

const chunkColumns = `run_id, idx, party_a, party_b, a_lo, a_hi, b_lo, b_hi, progress, attempts`

func scanChunk(s scanner) (*linkage.Chunk, error) {
	var c linkage.Chunk
	if err := s.Scan(&c.RunID, &c.Index, &c.PartyA, &c.PartyB, &c.ALo, &c.AHi, &c.BLo, &c.BHi, &c.Progress, &c.Attempts); err != nil {
		return nil, err
	}
	return &c, nil
}

func (db *DB) ListChunks(ctx context.Context, runID string) ([]linkage.Chunk, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+chunkColumns+` FROM chunks WHERE run_id = ? ORDER BY idx`, runID)
	if err != nil {
		return nil, fmt.Errorf("list chunks of %s: %w", runID, err)
	}
	defer rows.Close()
	var cs []linkage.Chunk
	for rows.Next() {
		c, err := scanChunk(rows)
		if err != nil {
			return nil, fmt.Errorf("list chunks of %s: %w", runID, err)
		}
		cs = append(cs, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list chunks of %s: %w", runID, err)
	}
	return cs, nil
}

func (db *DB) GetChunk(ctx context.Context, runID string, index int) (*linkage.Chunk, error) {
	c, err := scanChunk(db.db.QueryRowContext(ctx, `SELECT `+chunkColumns+` FROM chunks WHERE run_id = ? AND idx = ?`, runID, index))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("chunk %s/%d: %w", runID, index, linkage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get chunk %s/%d: %w", runID, index, err)
	}
	return c, nil
}

func (db *DB) BeginChunk(ctx context.Context, runID string, index int) (int, string, error) {
	var attempts int
	var lastErr string
	err := db.db.QueryRowContext(ctx, `UPDATE chunks SET attempts = attempts + 1 WHERE run_id = ? AND idx = ? RETURNING attempts, last_error`,
		runID, index).Scan(&attempts, &lastErr)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("chunk %s/%d: %w", runID, index, linkage.ErrNotFound)
	}
	if err != nil {
		return 0, "", fmt.Errorf("begin chunk %s/%d: %w", runID, index, err)
	}
	return attempts, lastErr, nil
}

func (db *DB) ChunkAttemptFailed(ctx context.Context, runID string, index int, cause string) error {
	if _, err := db.db.ExecContext(ctx, `UPDATE chunks SET last_error = ? WHERE run_id = ? AND idx = ?`, cause, runID, index); err != nil {
		return fmt.Errorf("record failed attempt at chunk %s/%d: %w", runID, index, err)
	}
	return nil
}

func (db *DB) SolveAttemptFailed(ctx context.Context, runID string, cause string) error {
	if _, err := db.db.ExecContext(ctx, `UPDATE runs SET solve_error = ? WHERE id = ?`, cause, runID); err != nil {
		return fmt.Errorf("record failed solve attempt %s: %w", runID, err)
	}
	return nil
}

func (db *DB) ReturnChunkAttempt(ctx context.Context, runID string, index int) error {
	if _, err := db.db.ExecContext(ctx, `UPDATE chunks SET attempts = attempts - 1 WHERE run_id = ? AND idx = ? AND attempts > 0`,
		runID, index); err != nil {
		return fmt.Errorf("return attempt at chunk %s/%d: %w", runID, index, err)
	}
	return nil
}

func (db *DB) ReturnSolveAttempt(ctx context.Context, runID string) error {
	if _, err := db.db.ExecContext(ctx, `UPDATE runs SET solve_attempts = solve_attempts - 1 WHERE id = ? AND state = 'running' AND solve_attempts > 0`,
		runID); err != nil {
		return fmt.Errorf("return solve attempt %s: %w", runID, err)
	}
	return nil
}

func (db *DB) ChunkProgress(ctx context.Context, runID string, index int, progress int64) error {
	res, err := db.db.ExecContext(ctx, `UPDATE chunks SET progress = max(progress, ?) WHERE run_id = ? AND idx = ?`, progress, runID, index)
	if err != nil {
		return fmt.Errorf("chunk progress %s/%d: %w", runID, index, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("chunk %s/%d: %w", runID, index, linkage.ErrNotFound)
	}
	return nil
}

func (db *DB) CompleteChunk(ctx context.Context, runID string, index int, candidates int64) (int, error) {
	var remaining int
	what := fmt.Sprintf("complete chunk %s/%d", runID, index)
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		var comparisons int64
		err := tx.QueryRowContext(ctx, `DELETE FROM chunks WHERE run_id = ? AND idx = ? RETURNING (a_hi - a_lo) * (b_hi - b_lo)`,
			runID, index).Scan(&comparisons)
		removed := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if removed {
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET chunks_done = chunks_done + 1,
				done_comparisons = done_comparisons + ?, candidates = candidates + ? WHERE id = ?`,
				comparisons, candidates, runID); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		var chunks, planned, done int
		err = tx.QueryRowContext(ctx, `SELECT chunks, chunks_planned, chunks_done FROM runs WHERE id = ?`, runID).
			Scan(&chunks, &planned, &done)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !removed && index >= planned) {
			return fmt.Errorf("chunk %s/%d: %w", runID, index, linkage.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		remaining = chunks - done
		return nil
	})
	return remaining, err
}

func (db *DB) BeginSolve(ctx context.Context, runID string) (int, string, error) {
	var attempts int
	var lastErr string
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE runs SET stage = ?, solve_attempts = solve_attempts + 1
			WHERE id = ? AND state = 'running' RETURNING solve_attempts, solve_error`, linkage.StageSolve, runID).Scan(&attempts, &lastErr)
		if errors.Is(err, sql.ErrNoRows) {
			return missingOr(ctx, tx, "begin solve "+runID, runExists, runID)
		}
		if err != nil {
			return fmt.Errorf("begin solve %s: %w", runID, err)
		}
		return nil
	})
	return attempts, lastErr, err
}

func (db *DB) CompleteRun(ctx context.Context, runID, attempt string, now time.Time) error {
	res, err := db.db.ExecContext(ctx, `UPDATE runs SET state = 'completed', stage = ?, completed_at = ?, result_attempt = ?
		WHERE id = ? AND state = 'running'`, linkage.StageSolve, nanos(now), attempt, runID)
	if err != nil {
		return fmt.Errorf("complete run %s: %w", runID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return missingOr(ctx, db.db, "complete run "+runID, runExists, runID)
	}
	return nil
}

func (db *DB) FailRun(ctx context.Context, runID, message string, now time.Time) error {
	res, err := db.db.ExecContext(ctx, `UPDATE runs SET state = 'error', message = ?, completed_at = ?
		WHERE id = ? AND state IN ('created', 'queued', 'running')`, message, nanos(now), runID)
	if err != nil {
		return fmt.Errorf("fail run %s: %w", runID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return missingOr(ctx, db.db, "fail run "+runID, runExists, runID)
	}
	return nil
}
