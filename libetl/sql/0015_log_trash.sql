-- 0015_log_trash.sql: job logs follow their jobs (issue 22, point 5).  Retention, run by
-- any controller, records the log of each job it deletes here; the controller of that
-- host (and log folder) removes the files and their rows at its next maintenance.
CREATE TABLE etl.log_trash (
  host     text NOT NULL,
  path     text NOT NULL,
  gone_on  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX log_trash_host ON etl.log_trash (host);
