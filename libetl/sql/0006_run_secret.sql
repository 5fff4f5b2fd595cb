-- 0006_run_secret.sql: a run's secret.  Each claim makes a secret for the run it starts:
-- the controller hands it to the task on its stdin (the INITIAL's meta) and on an
-- inherited descriptor, never in argv or the environment; the job keeps only its
-- sha256.  A task proves with it which run it is: the etl.task_* functions (the only
-- way in for the etl_task role) check it against the job's current run, so a task
-- writes to its own run and nothing else, and a run that is over writes nothing.
ALTER TABLE etl.job ADD COLUMN run_secret bytea;
ALTER TYPE etl.claimed ADD ATTRIBUTE secret text;
