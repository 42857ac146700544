-- The solve attempt whose result blobs a completed run serves, recorded by the completion that
-- won: a second solve of the run writes under its own keys and never over the served result.
-- '' (runs completed before): the blobs at the old keys.
ALTER TABLE runs ADD COLUMN result_attempt text NOT NULL DEFAULT '';
