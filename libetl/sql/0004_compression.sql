-- 0004_compression.sql: payloads are compressed with lz4 where the server has it.  pglz
-- spent over a second on a 50 MB payload that would not compress (once when sent, again
-- when the claim copied it into the INITIAL event); lz4 gives up in milliseconds.
DO $do$
BEGIN
  ALTER TABLE etl.job ALTER COLUMN data SET COMPRESSION lz4;
  ALTER TABLE etl.job ALTER COLUMN output SET COMPRESSION lz4;
  ALTER TABLE etl.event ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  NULL;	-- a server built without lz4 keeps pglz
END
$do$;
