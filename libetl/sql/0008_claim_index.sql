-- 0008_claim_index.sql: the claim reads each wanted queue's ready jobs through that
-- queue's range of job_fetch, which leaves out jobs still waiting for others (waiting >
-- 0: a claim no longer walks past them); the index of all queues is gone (one index
-- write less per state change).  job_dep is looked up by its waiting job too (a
-- deleted job's dependencies).
DROP INDEX etl.job_fetch;
DROP INDEX etl.job_fetch_all;
-- A job whose start is in the future (etl send --delay, a retry's backoff) is deferred:
-- counted in waiting until its time comes (jobs.sql: set by a trigger, released by the
-- claims), so it stays out of job_fetch too (a claim walked past 964,000 of them).
ALTER TABLE etl.job ADD COLUMN deferred bool NOT NULL DEFAULT false;
UPDATE etl.job SET deferred = true, waiting = waiting + 1
 WHERE state IN ('created', 'retry') AND start_after > now();
CREATE INDEX job_deferred ON etl.job (start_after) WHERE deferred;
CREATE INDEX job_fetch ON etl.job (queue, priority DESC, created_on, id)
  WHERE state IN ('created', 'retry') AND waiting = 0;
CREATE INDEX job_dep_job ON etl.job_dep (job_id);
