-- 0005_lease.sql: a controller's lease.  Its detached tasks run under etl-keeper, which
-- stops them when the controller has not renewed its lease for lease seconds; the
-- controller records here, at each beat, the bound (its lease plus the grace of a stop
-- and a margin) after its last beat by which every task it ran is gone.  Another
-- controller rescues the jobs of plain tasks (no liveness lock of their own) once that
-- bound has passed, never before.
ALTER TABLE etl.controller ADD COLUMN lease_bound double precision;
-- A claim tells the controller the job's heartbeat length: it hands it to the task
-- ($ETL_HEARTBEAT_SECONDS) and stops a job whose heartbeat is older.
ALTER TYPE etl.claimed ADD ATTRIBUTE heartbeat_seconds int;
