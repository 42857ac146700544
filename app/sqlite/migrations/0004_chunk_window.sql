-- Chunks are planned lazily, a window at a time: the run's row carries its plan and counters,
-- and a chunk's row lives only from when it is planned until it is done (the transaction that
-- counts it removes it), so status polls, reconciler passes and completions never read every
-- chunk of a large run. Runs started before this planned every chunk at once.
ALTER TABLE runs ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN chunks_planned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN chunks_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN done_comparisons INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN candidates INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN chunk_comparisons INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET
	chunks = (SELECT count(*) FROM chunks WHERE run_id = runs.id),
	chunks_planned = (SELECT count(*) FROM chunks WHERE run_id = runs.id),
	chunks_done = (SELECT count(*) FROM chunks WHERE run_id = runs.id AND done = 1),
	done_comparisons = (SELECT coalesce(sum(progress), 0) FROM chunks WHERE run_id = runs.id AND done = 1),
	candidates = (SELECT coalesce(sum(candidates), 0) FROM chunks WHERE run_id = runs.id AND done = 1);
DELETE FROM chunks WHERE done = 1;
ALTER TABLE chunks DROP COLUMN done;
ALTER TABLE chunks DROP COLUMN candidates;
