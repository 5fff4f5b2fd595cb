-- 0013_read_indexes.sql: reads that cost what they show, not the table (issue 22, point
-- 6).  etl ls (and the API's job list) pages newest first by (created_on, id): walked
-- from the end of this index, a page reads its rows and stops.  The metrics count the
-- jobs still to run (created, retry) per queue from a partial index, however many
-- finished jobs the table keeps (finished jobs are counted as they finish:
-- etl_jobs_finished_total); active jobs are few and have job_active.
CREATE INDEX job_created ON etl.job (created_on, id);
CREATE INDEX job_pending ON etl.job (queue, state) WHERE state IN ('created', 'retry');
