-- 0014_wake.sql: quiet wake-ups (issue 22, point 8).  A controller says at each beat
-- which queues it serves (NULL: all), so that the controllers agree, for each wake-up,
-- which of them answer it (etl.wake_view, the triggers job_notify and job_notify_row).
ALTER TABLE etl.controller ADD COLUMN queues text[];
