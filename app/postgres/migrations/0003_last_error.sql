-- The cause of the last failed attempt at a chunk or at a run's solve, named in the run's
-- error message once the attempts are exhausted (a transient error has no other trace).
ALTER TABLE chunks ADD COLUMN last_error text NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN solve_error text NOT NULL DEFAULT '';
