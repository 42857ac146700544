// Package postgres implements linkage.Store on PostgreSQL through pgx: the production database
// (RDS, or an in-cluster PostgreSQL), the source of truth for run state across API and worker
// processes.
//
// Transitions that read and then write (completing the last upload, creating a run, completing
// a chunk) lock the project's or run's row first, so concurrent processes serialize on it under
// READ COMMITTED. Errors reaching the server (refused connection, restart, failover) wrap
// linkage.ErrUnavailable, which the API answers with 503.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linkage-platform/linkage/app/linkage"
)

// DB is a linkage.Store on a PostgreSQL connection pool.
type DB struct {
	pool *pgxpool.Pool
}

var _ linkage.Store = (*DB)(nil)

// Open connects a pool to the database at url (postgres://user:password@host:port/db?...,
// with any libpq parameter such as sslmode or search_path). The pool connects lazily and
// reconnects by itself, so a process started while the database is down comes up and answers
// 503 until it is back. Call Migrate (linkage migrate) before use.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse URL: %w", err)
	}
	// Fail fast while the server is down rather than hold API requests for the default 2 min+.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 5*time.Second {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.HealthCheckPeriod = 10 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	return &DB{pool: pool}, nil
}

func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return wrap("ping postgres", err)
	}
	return nil
}

// unavailable reports whether err means the server could not be reached or went away (as
// opposed to a query the server rejected).
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"57", // operator intervention: admin_shutdown, crash_shutdown, cannot_connect_now
			"53": // insufficient resources: too many connections
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

// wrap adds context to err, and linkage.ErrUnavailable when the server is unreachable.
func wrap(what string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", what, linkage.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// withTx runs fn in a transaction, committing if it returns nil.
func (db *DB) withTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return wrap(what+": begin", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(what+": commit", err)
	}
	return nil
}

// querier is the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// missingOr tells why a conditional update matched no row: the row is missing (ErrNotFound)
// or in the wrong state (ErrConflict).
func missingOr(ctx context.Context, q querier, what, existsQuery string, args ...any) error {
	var exists bool
	if err := q.QueryRow(ctx, existsQuery, args...).Scan(&exists); err != nil {
		return wrap(what, err)
	}
	if !exists {
		return fmt.Errorf("%s: %w", what, linkage.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, linkage.ErrConflict)
}

// ts maps the zero time to NULL.
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fromTS maps NULL to the zero time, and times to UTC.
func fromTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func (db *DB) CreateProject(ctx context.Context, p *linkage.Project, parties []linkage.Party) error {
	return db.withTx(ctx, "create project", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO projects
			(id, name, notes, schema, result_type, number_parties, uses_blocking, result_token_hash, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			p.ID, p.Name, p.Notes, string(p.Schema), string(p.ResultType), p.NumberParties,
			p.UsesBlocking, p.ResultTokenHash, p.CreatedAt); err != nil {
			return wrap("insert project", err)
		}
		rows := make([][]any, len(parties))
		for i, pa := range parties {
			rows[i] = []any{p.ID, pa.Index, pa.UpdateTokenHash, string(linkage.UploadPending)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"parties"}, []string{"project_id", "idx", "update_token_hash", "state"},
			pgx.CopyFromRows(rows)); err != nil {
			return wrap("insert parties", err)
		}
		return nil
	})
}

const projectColumns = `id, name, notes, schema, result_type, number_parties, uses_blocking, result_token_hash, created_at`

func scanProject(row pgx.Row) (*linkage.Project, error) {
	var p linkage.Project
	var schema, rt string
	if err := row.Scan(&p.ID, &p.Name, &p.Notes, &schema, &rt, &p.NumberParties, &p.UsesBlocking, &p.ResultTokenHash, &p.CreatedAt); err != nil {
		return nil, err
	}
	p.Schema = []byte(schema)
	p.ResultType = linkage.ResultType(rt)
	p.CreatedAt = p.CreatedAt.UTC()
	return &p, nil
}

func (db *DB) GetProject(ctx context.Context, id string) (*linkage.Project, error) {
	p, err := scanProject(db.pool.QueryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("project %s: %w", id, linkage.ErrNotFound)
	}
	if err != nil {
		return nil, wrap("get project "+id, err)
	}
	return p, nil
}

// collect reads every row with scan.
func collect[T any](rows pgx.Rows, err error, what string, scan func(pgx.Rows) (*T, error)) ([]T, error) {
	if err != nil {
		return nil, wrap(what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(what, err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(what, err)
	}
	return out, nil
}

func (db *DB) ListProjects(ctx context.Context, after string, limit int) ([]linkage.ProjectEntry, error) {
	q, args := `SELECT id, created_at FROM projects ORDER BY created_at, id LIMIT $1`, []any{limit}
	if after != "" {
		q = `SELECT id, created_at FROM projects WHERE (created_at, id) > (SELECT created_at, id FROM projects WHERE id = $2)
			ORDER BY created_at, id LIMIT $1`
		args = append(args, after)
	}
	rows, err := db.pool.Query(ctx, q, args...)
	return collect(rows, err, "list projects", func(r pgx.Rows) (*linkage.ProjectEntry, error) {
		var p linkage.ProjectEntry
		return &p, r.Scan(&p.ID, &p.CreatedAt)
	})
}

func (db *DB) CountProjects(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM projects`).Scan(&n); err != nil {
		return 0, wrap("count projects", err)
	}
	return n, nil
}

func (db *DB) DeleteProject(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM projects WHERE id = $1`, id)
	if err != nil {
		return wrap("delete project "+id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete project %s: %w", id, linkage.ErrNotFound)
	}
	return nil
}

func (db *DB) ListParties(ctx context.Context, projectID string) ([]linkage.Party, error) {
	rows, err := db.pool.Query(ctx, `SELECT project_id, idx, update_token_hash, receipt_token_hash, state,
		claimed_at, records, hash_size, has_blocks, uploaded_at, problem, attempt FROM parties WHERE project_id = $1 ORDER BY idx`, projectID)
	return collect(rows, err, "list parties of "+projectID, func(r pgx.Rows) (*linkage.Party, error) {
		var p linkage.Party
		var state string
		var claimed, uploaded *time.Time
		if err := r.Scan(&p.ProjectID, &p.Index, &p.UpdateTokenHash, &p.ReceiptTokenHash, &state,
			&claimed, &p.Records, &p.HashSize, &p.HasBlocks, &uploaded, &p.Problem, &p.Attempt); err != nil {
			return nil, err
		}
		p.State = linkage.UploadState(state)
		p.ClaimedAt, p.UploadedAt = fromTS(claimed), fromTS(uploaded)
		return &p, nil
	})
}

const partyExists = `SELECT EXISTS (SELECT 1 FROM parties WHERE project_id = $1 AND idx = $2)`

func (db *DB) ClaimUpload(ctx context.Context, projectID string, party int, now, staleBefore time.Time) (string, error) {
	what := fmt.Sprintf("claim upload %s/%d", projectID, party)
	attempt := linkage.NewID()
	tag, err := db.pool.Exec(ctx, `UPDATE parties SET state = 'uploading', claimed_at = $1, attempt = $5
		WHERE project_id = $2 AND idx = $3 AND (state = 'pending' OR (state = 'uploading' AND claimed_at < $4))`,
		now, projectID, party, staleBefore, attempt)
	if err != nil {
		return "", wrap(what, err)
	}
	if tag.RowsAffected() == 0 {
		return "", missingOr(ctx, db.pool, what, partyExists, projectID, party)
	}
	return attempt, nil
}

func (db *DB) ReleaseUpload(ctx context.Context, projectID string, party int, attempt string) error {
	what := fmt.Sprintf("release upload %s/%d (attempt %s)", projectID, party, attempt)
	tag, err := db.pool.Exec(ctx, `UPDATE parties SET state = 'pending', claimed_at = NULL, attempt = ''
		WHERE project_id = $1 AND idx = $2 AND state = 'uploading' AND attempt = $3`, projectID, party, attempt)
	if err != nil {
		return wrap(what, err)
	}
	if tag.RowsAffected() == 0 {
		return notOwner(ctx, db.pool, what, projectID, party, attempt)
	}
	return nil
}

// notOwner explains why an attempt could not release or record its claim: ErrNotFound, or
// ErrConflict naming who holds the party now.
func notOwner(ctx context.Context, q querier, what, projectID string, party int, attempt string) error {
	var state, owner string
	err := q.QueryRow(ctx, `SELECT state, attempt FROM parties WHERE project_id = $1 AND idx = $2`, projectID, party).Scan(&state, &owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, linkage.ErrNotFound)
	}
	if err != nil {
		return wrap(what, err)
	}
	return fmt.Errorf("%s: %w", what, linkage.ClaimLost(linkage.UploadState(state), owner == attempt))
}

// lockProject serializes the transactions that look at all of a project's parties and runs.
func lockProject(ctx context.Context, tx pgx.Tx, projectID, what string) error {
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM projects WHERE id = $1 FOR UPDATE`, projectID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: project %s: %w", what, projectID, linkage.ErrNotFound)
	}
	if err != nil {
		return wrap(what, err)
	}
	return nil
}

func (db *DB) CompleteUpload(ctx context.Context, u linkage.Party) ([]string, error) {
	what := fmt.Sprintf("complete upload %s/%d (attempt %s)", u.ProjectID, u.Index, u.Attempt)
	var queued []string
	err := db.withTx(ctx, what, func(tx pgx.Tx) error {
		if err := lockProject(ctx, tx, u.ProjectID, what); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE parties SET state = 'done', records = $1, hash_size = $2, has_blocks = $3,
			receipt_token_hash = $4, uploaded_at = $5, problem = $6 WHERE project_id = $7 AND idx = $8 AND state = 'uploading' AND attempt = $9`,
			u.Records, u.HashSize, u.HasBlocks, u.ReceiptTokenHash, ts(u.UploadedAt), u.Problem, u.ProjectID, u.Index, u.Attempt)
		if err != nil {
			return wrap(what, err)
		}
		if tag.RowsAffected() == 0 {
			return notOwner(ctx, tx, what, u.ProjectID, u.Index, u.Attempt)
		}
		var other, size int
		switch err := tx.QueryRow(ctx, `SELECT idx, hash_size FROM parties WHERE project_id = $1 AND idx != $2 AND state = 'done'
			AND hash_size > 0 AND $3 > 0 AND hash_size != $3 LIMIT 1`, u.ProjectID, u.Index, u.HashSize).Scan(&other, &size); {
		case err == nil:
			return fmt.Errorf("%s: %w", what, linkage.HashSizeError(u.HashSize, other, size))
		case !errors.Is(err, pgx.ErrNoRows):
			return wrap(what, err)
		}
		rows, err := tx.Query(ctx, `UPDATE runs SET state = 'queued' WHERE project_id = $1 AND state = 'created'
			AND NOT EXISTS (SELECT 1 FROM parties WHERE project_id = $1 AND state != 'done') RETURNING id`, u.ProjectID)
		queued, err = collect(rows, err, what+": queue runs", func(r pgx.Rows) (*string, error) {
			var id string
			return &id, r.Scan(&id)
		})
		return err
	})
	return queued, err
}

func (db *DB) CreateRun(ctx context.Context, r *linkage.Run) error {
	return db.withTx(ctx, "create run", func(tx pgx.Tx) error {
		if err := lockProject(ctx, tx, r.ProjectID, "create run"); err != nil {
			return err
		}
		var waiting int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM parties WHERE project_id = $1 AND state != 'done'`,
			r.ProjectID).Scan(&waiting); err != nil {
			return wrap("create run", err)
		}
		r.State, r.Stage = linkage.RunQueued, linkage.StageUploads
		if waiting > 0 {
			r.State = linkage.RunCreated
		}
		if _, err := tx.Exec(ctx, `INSERT INTO runs (id, project_id, name, notes, threshold, state, stage, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.ID, r.ProjectID, r.Name, r.Notes, r.Threshold, string(r.State), r.Stage,
			r.CreatedAt); err != nil {
			return wrap("insert run", err)
		}
		return nil
	})
}

// progressColumn sums the progress of the run's open chunks only: at most a window's rows.
const progressColumn = `(done_comparisons + coalesce((SELECT sum(progress) FROM chunks WHERE chunks.run_id = runs.id), 0))::bigint`

const runColumns = `id, project_id, name, notes, threshold, state, stage, total, message, created_at, started_at, completed_at,
	chunks, chunks_planned, chunks_done, candidates, chunk_comparisons, result_attempt, ` + progressColumn

func scanRun(row pgx.Row) (*linkage.Run, error) {
	var r linkage.Run
	var state string
	var started, completed *time.Time
	if err := row.Scan(&r.ID, &r.ProjectID, &r.Name, &r.Notes, &r.Threshold, &state, &r.Stage, &r.Total, &r.Message,
		&r.CreatedAt, &started, &completed, &r.Chunks, &r.ChunksPlanned, &r.ChunksDone, &r.Candidates, &r.ChunkComparisons,
		&r.ResultAttempt, &r.Progress); err != nil {
		return nil, err
	}
	r.State = linkage.RunState(state)
	r.CreatedAt = r.CreatedAt.UTC()
	r.StartedAt, r.CompletedAt = fromTS(started), fromTS(completed)
	return &r, nil
}

func (db *DB) GetRun(ctx context.Context, projectID, runID string) (*linkage.Run, error) {
	r, err := scanRun(db.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1 AND project_id = $2`, runID, projectID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("run %s: %w", runID, linkage.ErrNotFound)
	}
	if err != nil {
		return nil, wrap("get run "+runID, err)
	}
	return r, nil
}

func (db *DB) ListRuns(ctx context.Context, projectID, after string, limit int) ([]linkage.RunEntry, error) {
	q, args := `SELECT id, state, created_at FROM runs WHERE project_id = $1 ORDER BY created_at, id LIMIT $2`, []any{projectID, limit}
	if after != "" {
		q = `SELECT id, state, created_at FROM runs WHERE project_id = $1
			AND (created_at, id) > (SELECT created_at, id FROM runs WHERE id = $3 AND project_id = $1)
			ORDER BY created_at, id LIMIT $2`
		args = append(args, after)
	}
	rows, err := db.pool.Query(ctx, q, args...)
	return collect(rows, err, "list runs", func(r pgx.Rows) (*linkage.RunEntry, error) {
		var e linkage.RunEntry
		var state string
		if err := r.Scan(&e.ID, &state, &e.CreatedAt); err != nil {
			return nil, err
		}
		e.State, e.CreatedAt = linkage.RunState(state), e.CreatedAt.UTC()
		return &e, nil
	})
}

func (db *DB) ActiveRuns(ctx context.Context) ([]linkage.RunCounters, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, project_id, state, stage, chunks, chunks_planned, chunks_done, chunk_comparisons, `+
		progressColumn+` FROM runs WHERE state IN ('queued', 'running') ORDER BY created_at, id`)
	return collect(rows, err, "active runs", func(row pgx.Rows) (*linkage.RunCounters, error) {
		var r linkage.RunCounters
		var state string
		if err := row.Scan(&r.ID, &r.ProjectID, &state, &r.Stage, &r.Chunks, &r.ChunksPlanned, &r.ChunksDone, &r.ChunkComparisons,
			&r.Progress); err != nil {
			return nil, err
		}
		r.State = linkage.RunState(state)
		return &r, nil
	})
}

func (db *DB) DeleteRun(ctx context.Context, projectID, runID string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM runs WHERE id = $1 AND project_id = $2`, runID, projectID)
	if err != nil {
		return wrap("delete run "+runID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete run %s: %w", runID, linkage.ErrNotFound)
	}
	return nil
}

func (db *DB) CountRuns(ctx context.Context) (map[linkage.RunState]int, error) {
	rows, err := db.pool.Query(ctx, `SELECT state, count(*) FROM runs GROUP BY state`)
	type count struct {
		state string
		n     int
	}
	cs, err := collect(rows, err, "count runs", func(r pgx.Rows) (*count, error) {
		var c count
		return &c, r.Scan(&c.state, &c.n)
	})
	if err != nil {
		return nil, err
	}
	counts := map[linkage.RunState]int{}
	for _, c := range cs {
		counts[linkage.RunState(c.state)] = c.n
	}
	return counts, nil
}

const runExists = `SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)`

func (db *DB) StartRun(ctx context.Context, runID string, plan linkage.RunPlan, first []linkage.Chunk, now time.Time) error {
	what := "start run " + runID
	return db.withTx(ctx, what, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE runs SET state = 'running', stage = $1, total = $2, chunks = $3, chunk_comparisons = $4,
			chunks_planned = $5, started_at = $6 WHERE id = $7 AND state = 'queued'`,
			linkage.StageCompare, plan.Comparisons, plan.Chunks, plan.ChunkComparisons, len(first), now, runID)
		if err != nil {
			return wrap(what, err)
		}
		if tag.RowsAffected() == 0 {
			return missingOr(ctx, tx, what, runExists, runID)
		}
		return insertChunks(ctx, tx, what, runID, first)
	})
}

func (db *DB) PlanChunks(ctx context.Context, runID string, chunks []linkage.Chunk) error {
	if len(chunks) == 0 {
		return nil
	}
	what := "plan chunks of run " + runID
	return db.withTx(ctx, what, func(tx pgx.Tx) error {
		// A concurrent planner from the same point waits for this row and then matches nothing.
		tag, err := tx.Exec(ctx, `UPDATE runs SET chunks_planned = chunks_planned + $1
			WHERE id = $2 AND state = 'running' AND chunks_planned = $3 AND chunks_planned + $1 <= chunks`,
			len(chunks), runID, chunks[0].Index)
		if err != nil {
			return wrap(what, err)
		}
		if tag.RowsAffected() == 0 {
			return missingOr(ctx, tx, what, runExists, runID)
		}
		return insertChunks(ctx, tx, what, runID, chunks)
	})
}

// insertChunks inserts chunks numbered consecutively from chunks[0].Index.
func insertChunks(ctx context.Context, tx pgx.Tx, what, runID string, chunks []linkage.Chunk) error {
	rows := make([][]any, len(chunks))
	for i, c := range chunks {
		if c.Index != chunks[0].Index+i {
			return fmt.Errorf("%s: chunk %d follows chunk %d: %w", what, c.Index, chunks[0].Index+i-1, linkage.ErrInvalid)
		}
		rows[i] = []any{runID, c.Index, c.PartyA, c.PartyB, c.ALo, c.AHi, c.BLo, c.BHi}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"chunks"},
		[]string{"run_id", "idx", "party_a", "party_b", "a_lo", "a_hi", "b_lo", "b_hi"}, pgx.CopyFromRows(rows)); err != nil {
		return wrap(what+": insert chunks", err)
	}
	return nil
}

const chunkColumns = `run_id, idx, party_a, party_b, a_lo, a_hi, b_lo, b_hi, progress, attempts`

func scanChunk(row pgx.Row) (*linkage.Chunk, error) {
	var c linkage.Chunk
	if err := row.Scan(&c.RunID, &c.Index, &c.PartyA, &c.PartyB, &c.ALo, &c.AHi, &c.BLo, &c.BHi, &c.Progress, &c.Attempts); err != nil {
		return nil, err
	}
	return &c, nil
}

func (db *DB) ListChunks(ctx context.Context, runID string) ([]linkage.Chunk, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+chunkColumns+` FROM chunks WHERE run_id = $1 ORDER BY idx`, runID)
	return collect(rows, err, "list chunks of "+runID, func(r pgx.Rows) (*linkage.Chunk, error) { return scanChunk(r) })
}

func (db *DB) GetChunk(ctx context.Context, runID string, index int) (*linkage.Chunk, error) {
	c, err := scanChunk(db.pool.QueryRow(ctx, `SELECT `+chunkColumns+` FROM chunks WHERE run_id = $1 AND idx = $2`, runID, index))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("chunk %s/%d: %w", runID, index, linkage.ErrNotFound)
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("get chunk %s/%d", runID, index), err)
	}
	return c, nil
}

func (db *DB) BeginChunk(ctx context.Context, runID string, index int) (int, string, error) {
	var attempts int
	var lastErr string
	err := db.pool.QueryRow(ctx, `UPDATE chunks SET attempts = attempts + 1 WHERE run_id = $1 AND idx = $2 RETURNING attempts, last_error`,
		runID, index).Scan(&attempts, &lastErr)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", fmt.Errorf("chunk %s/%d: %w", runID, index, linkage.ErrNotFound)
	}
	if err != nil {
		return 0, "", wrap(fmt.Sprintf("begin chunk %s/%d", runID, index), err)
	}
	return attempts, lastErr, nil
}

func (db *DB) ChunkAttemptFailed(ctx context.Context, runID string, index int, cause string) error {
	if _, err := db.pool.Exec(ctx, `UPDATE chunks SET last_error = $1 WHERE run_id = $2 AND idx = $3`, cause, runID, index); err != nil {
		return wrap(fmt.Sprintf("record failed attempt at chunk %s/%d", runID, index), err)
	}
	return nil
}

func (db *DB) SolveAttemptFailed(ctx context.Context, runID string, cause string) error {
	if _, err := db.pool.Exec(ctx, `UPDATE runs SET solve_error = $1 WHERE id = $2`, cause, runID); err != nil {
		return wrap("record failed solve attempt "+runID, err)
	}
	return nil
}

func (db *DB) ReturnChunkAttempt(ctx context.Context, runID string, index int) error {
	if _, err := db.pool.Exec(ctx, `UPDATE chunks SET attempts = attempts - 1 WHERE run_id = $1 AND idx = $2 AND attempts > 0`,
		runID, index); err != nil {
		return wrap(fmt.Sprintf("return attempt at chunk %s/%d", runID, index), err)
	}
	return nil
}

func (db *DB) ReturnSolveAttempt(ctx context.Context, runID string) error {
	if _, err := db.pool.Exec(ctx, `UPDATE runs SET solve_attempts = solve_attempts - 1 WHERE id = $1 AND state = 'running' AND solve_attempts > 0`,
		runID); err != nil {
		return wrap("return solve attempt "+runID, err)
	}
	return nil
}

func (db *DB) ChunkProgress(ctx context.Context, runID string, index int, progress int64) error {
	tag, err := db.pool.Exec(ctx, `UPDATE chunks SET progress = greatest(progress, $1) WHERE run_id = $2 AND idx = $3`, progress, runID, index)
	if err != nil {
		return wrap(fmt.Sprintf("chunk progress %s/%d", runID, index), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("chunk %s/%d: %w", runID, index, linkage.ErrNotFound)
	}
	return nil
}

func (db *DB) CompleteChunk(ctx context.Context, runID string, index int, candidates int64) (int, error) {
	what := fmt.Sprintf("complete chunk %s/%d", runID, index)
	var remaining int
	err := db.withTx(ctx, what, func(tx pgx.Tx) error {
		// Lock the run first (as StartRun and PlanChunks do), so that of two workers completing
		// the last two chunks at once, the second counts after the first.
		var planned int
		err := tx.QueryRow(ctx, `SELECT chunks_planned FROM runs WHERE id = $1 FOR UPDATE`, runID).Scan(&planned)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%s: run: %w", what, linkage.ErrNotFound)
		}
		if err != nil {
			return wrap(what, err)
		}
		var comparisons int64
		err = tx.QueryRow(ctx, `DELETE FROM chunks WHERE run_id = $1 AND idx = $2 RETURNING (a_hi - a_lo) * (b_hi - b_lo)`,
			runID, index).Scan(&comparisons)
		if errors.Is(err, pgx.ErrNoRows) {
			if index >= planned {
				return fmt.Errorf("chunk %s/%d: %w", runID, index, linkage.ErrNotFound)
			}
			// Done before: count nothing twice.
			if err := tx.QueryRow(ctx, `SELECT chunks - chunks_done FROM runs WHERE id = $1`, runID).Scan(&remaining); err != nil {
				return wrap(what, err)
			}
			return nil
		}
		if err != nil {
			return wrap(what, err)
		}
		if err := tx.QueryRow(ctx, `UPDATE runs SET chunks_done = chunks_done + 1, done_comparisons = done_comparisons + $1,
			candidates = candidates + $2 WHERE id = $3 RETURNING chunks - chunks_done`, comparisons, candidates, runID).Scan(&remaining); err != nil {
			return wrap(what, err)
		}
		return nil
	})
	return remaining, err
}

func (db *DB) BeginSolve(ctx context.Context, runID string) (int, string, error) {
	what := "begin solve " + runID
	var attempts int
	var lastErr string
	err := db.pool.QueryRow(ctx, `UPDATE runs SET stage = $1, solve_attempts = solve_attempts + 1
		WHERE id = $2 AND state = 'running' RETURNING solve_attempts, solve_error`, linkage.StageSolve, runID).Scan(&attempts, &lastErr)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", missingOr(ctx, db.pool, what, runExists, runID)
	}
	if err != nil {
		return 0, "", wrap(what, err)
	}
	return attempts, lastErr, nil
}

func (db *DB) CompleteRun(ctx context.Context, runID, attempt string, now time.Time) error {
	what := "complete run " + runID
	tag, err := db.pool.Exec(ctx, `UPDATE runs SET state = 'completed', stage = $1, completed_at = $2, result_attempt = $3
		WHERE id = $4 AND state = 'running'`, linkage.StageSolve, now, attempt, runID)
	if err != nil {
		return wrap(what, err)
	}
	if tag.RowsAffected() == 0 {
		return missingOr(ctx, db.pool, what, runExists, runID)
	}
	return nil
}

func (db *DB) FailRun(ctx context.Context, runID, message string, now time.Time) error {
	what := "fail run " + runID
	tag, err := db.pool.Exec(ctx, `UPDATE runs SET state = 'error', message = $1, completed_at = $2
		WHERE id = $3 AND state IN ('created', 'queued', 'running')`, message, now, runID)
	if err != nil {
		return wrap(what, err)
	}
	if tag.RowsAffected() == 0 {
		return missingOr(ctx, db.pool, what, runExists, runID)
	}
	return nil
}
