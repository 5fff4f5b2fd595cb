-- 0009_capacity.sql: a controller records how many jobs it runs at once (--concurrency),
-- so an operator (etl-api's controllers, the web view's overview) sees its capacity
-- beside its running count.
ALTER TABLE etl.controller ADD COLUMN capacity int;
