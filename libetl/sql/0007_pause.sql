-- 0007_pause.sql: a queue can be paused (etl queue pause): its jobs wait, none is
-- claimed, until it is resumed; running jobs run on.
ALTER TABLE etl.queue ADD COLUMN paused bool NOT NULL DEFAULT false;
