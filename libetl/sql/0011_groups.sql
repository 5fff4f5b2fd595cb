-- 0011_groups.sql: concurrency per group across queues (pg-boss's groups).  A job may
-- name a group (etl send --group KEY, etl.send's group_key); a row of etl.job_group caps
-- how many of that group's jobs are active at once, whatever their queues (a tenant's
-- jobs, say, however many queues they go through).
ALTER TABLE etl.job ADD COLUMN group_key text;
CREATE TABLE etl.job_group (
  name        text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 200),
  concurrency int NOT NULL CHECK (concurrency > 0),
  created_on  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_group_active ON etl.job (group_key)
  WHERE state = 'active' AND group_key IS NOT NULL;
