-- An upload accepted and then found unusable (api.md: odd JSON encoding sizes): the reason,
-- reported through the project's error flag and its runs' error state.
ALTER TABLE parties ADD COLUMN problem TEXT NOT NULL DEFAULT '';
