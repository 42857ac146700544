-- Projects, their parties (one upload each), runs and the chunks of each run.
-- Times are Unix nanoseconds (UTC); 0 means "not yet".
CREATE TABLE projects (
	id                TEXT PRIMARY KEY,
	name              TEXT NOT NULL,
	notes             TEXT NOT NULL,
	schema            TEXT NOT NULL,
	result_type       TEXT NOT NULL,
	number_parties    INTEGER NOT NULL,
	uses_blocking     INTEGER NOT NULL,
	result_token_hash BLOB NOT NULL,
	created_at        INTEGER NOT NULL
);
CREATE INDEX projects_created_at ON projects (created_at);

CREATE TABLE parties (
	project_id         TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	idx                INTEGER NOT NULL,
	update_token_hash  BLOB NOT NULL,
	receipt_token_hash BLOB,
	state              TEXT NOT NULL,
	claimed_at         INTEGER NOT NULL DEFAULT 0,
	records            INTEGER NOT NULL DEFAULT 0,
	hash_size          INTEGER NOT NULL DEFAULT 0,
	has_blocks         INTEGER NOT NULL DEFAULT 0,
	uploaded_at        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (project_id, idx)
);

CREATE TABLE runs (
	id             TEXT PRIMARY KEY,
	project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name           TEXT NOT NULL,
	notes          TEXT NOT NULL,
	threshold      REAL NOT NULL,
	state          TEXT NOT NULL,
	stage          INTEGER NOT NULL,
	total          INTEGER NOT NULL DEFAULT 0,
	message        TEXT NOT NULL DEFAULT '',
	solve_attempts INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	started_at     INTEGER NOT NULL DEFAULT 0,
	completed_at   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_project ON runs (project_id, created_at);
CREATE INDEX runs_state ON runs (state);

CREATE TABLE chunks (
	run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	idx        INTEGER NOT NULL,
	party_a    INTEGER NOT NULL,
	party_b    INTEGER NOT NULL,
	a_lo       INTEGER NOT NULL,
	a_hi       INTEGER NOT NULL,
	b_lo       INTEGER NOT NULL,
	b_hi       INTEGER NOT NULL,
	progress   INTEGER NOT NULL DEFAULT 0,
	candidates INTEGER NOT NULL DEFAULT 0,
	attempts   INTEGER NOT NULL DEFAULT 0,
	done       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (run_id, idx)
);
