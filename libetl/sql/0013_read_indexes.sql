-- 0013_read_indexes.sql: reads that cost what they show, not the table (issue 22, point
-- 6).  etl ls (and the API's job list) pages newest first by (created_on, id): walked
-- from the end of this index, a page reads its rows and stops.  The metrics and etl top
-- count the jobs still to run (created, retry) per queue from a partial index, however
-- many finished jobs the table keeps (the metrics count finished jobs as they finish:
-- etl_jobs_finished_total); active jobs are few and have job_active; etl top and the
-- queues' view count what finished in the last hour from job_done, reading only those.
CREATE INDEX job_created ON etl.job (created_on, id);
CREATE INDEX job_pending ON etl.job (queue, state) WHERE state IN ('created', 'retry');
CREATE INDEX job_done ON etl.job (queue, state, completed_on)
  WHERE state IN ('completed', 'failed', 'cancelled');
