-- Projects, their parties (one upload each), runs and the chunks of each run: the same model as
-- app/sqlite's schema, in PostgreSQL's types. Times are timestamptz, NULL meaning "not yet".
CREATE TABLE projects (
	id                text PRIMARY KEY,
	name              text NOT NULL,
	notes             text NOT NULL,
	schema            text NOT NULL, -- stored opaque, byte for byte
	result_type       text NOT NULL,
	number_parties    integer NOT NULL,
	uses_blocking     boolean NOT NULL,
	result_token_hash bytea NOT NULL,
	created_at        timestamptz NOT NULL
);
CREATE INDEX projects_created_at ON projects (created_at);

CREATE TABLE parties (
	project_id         text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	idx                integer NOT NULL,
	update_token_hash  bytea NOT NULL,
	receipt_token_hash bytea,
	state              text NOT NULL CHECK (state IN ('pending', 'uploading', 'done')),
	claimed_at         timestamptz,
	records            bigint NOT NULL DEFAULT 0,
	hash_size          integer NOT NULL DEFAULT 0,
	has_blocks         boolean NOT NULL DEFAULT false,
	uploaded_at        timestamptz,
	PRIMARY KEY (project_id, idx)
);

CREATE TABLE runs (
	id             text PRIMARY KEY,
	project_id     text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name           text NOT NULL,
	notes          text NOT NULL,
	threshold      double precision NOT NULL,
	state          text NOT NULL CHECK (state IN ('created', 'queued', 'running', 'completed', 'error')),
	stage          integer NOT NULL,
	total          bigint NOT NULL DEFAULT 0,
	message        text NOT NULL DEFAULT '',
	solve_attempts integer NOT NULL DEFAULT 0,
	created_at     timestamptz NOT NULL,
	started_at     timestamptz,
	completed_at   timestamptz
);
CREATE INDEX runs_project ON runs (project_id, created_at);
-- The reconciler's work list: only the few active runs are indexed.
CREATE INDEX runs_active ON runs (state) WHERE state IN ('queued', 'running');

CREATE TABLE chunks (
	run_id     text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	idx        integer NOT NULL,
	party_a    integer NOT NULL,
	party_b    integer NOT NULL,
	a_lo       bigint NOT NULL,
	a_hi       bigint NOT NULL,
	b_lo       bigint NOT NULL,
	b_hi       bigint NOT NULL,
	progress   bigint NOT NULL DEFAULT 0,
	candidates bigint NOT NULL DEFAULT 0,
	attempts   integer NOT NULL DEFAULT 0,
	done       boolean NOT NULL DEFAULT false,
	PRIMARY KEY (run_id, idx)
);
