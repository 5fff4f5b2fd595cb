-- 0003_runs.sql: runs.  Each claim of a job starts a new run (its number); the run's pid
-- record and its end carry it, and the database ignores the end of a run that is not the
-- job's current one.  A job cancelled while its task runs stays stopping until that
-- task's end is recorded: it cannot be retried (a second run alive beside the first)
-- before then.
ALTER TABLE etl.job ADD COLUMN run int NOT NULL DEFAULT 0;
ALTER TABLE etl.job ADD COLUMN stopping bool NOT NULL DEFAULT false;
-- The claim reads a payload from its job's row where it needs it, no longer carries it.
ALTER TYPE etl.claimed DROP ATTRIBUTE data, DROP ATTRIBUTE jdata, ADD ATTRIBUTE run int;
