-- 0002_allow_users.sql: each controller records the users it allows its tasks to run as
-- (its --allow-user, NULL when it does not run as root and so runs every task as itself),
-- so that `etl queue add --run-as` can say which controllers would refuse a queue.
ALTER TABLE etl.controller ADD COLUMN allow_users text[];
