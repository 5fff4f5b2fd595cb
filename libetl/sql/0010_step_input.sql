-- 0010_step_input.sql: a step's cached result is for one input.  The cache was keyed
-- on (key, step, version) only: the same key with another input gave back the old
-- input's results.  Now a result is fresh only for the input checksum it was made
-- from ('' where the caller gives none, as before).
ALTER TABLE etl.step_cache ADD COLUMN input_sum text NOT NULL DEFAULT '';
