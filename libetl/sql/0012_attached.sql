-- 0012_attached.sql: a libetl task no longer holds a session advisory lock while it
-- lives (issue 22: behind a transaction pooler such a lock stays on whatever pooled
-- server connection ran it, held for good, and says nothing of the task).  A detached
-- task's liveness is its keeper's and its controller's lease; the column only says
-- that a libetl task attached to its run (connected and checked its run's proof).
ALTER TABLE etl.job RENAME COLUMN lock_held TO attached;
DROP FUNCTION IF EXISTS etl.task_locked(uuid, int, text);
DROP FUNCTION IF EXISTS etl.job_lock_key(uuid);
