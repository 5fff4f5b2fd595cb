-- maintain.sql: cron schedules and retention, run by any controller now and then.
-- Functions only.

-- Does local time t match schedule s (vixie cron: day of month OR day of week when
-- both are restricted)?
CREATE OR REPLACE FUNCTION etl.cron_match(s etl.schedule, t timestamp) RETURNS bool
LANGUAGE sql IMMUTABLE AS
$fn$
  SELECT extract(minute FROM t)::int = ANY (s.minutes)
     AND extract(hour FROM t)::int = ANY (s.hours)
     AND extract(month FROM t)::int = ANY (s.months)
     AND CASE WHEN s.dom_any AND s.dow_any THEN true
              WHEN s.dom_any THEN extract(dow FROM t)::int = ANY (s.dows)
              WHEN s.dow_any THEN extract(day FROM t)::int = ANY (s.doms)
              ELSE extract(day FROM t)::int = ANY (s.doms)
                   OR extract(dow FROM t)::int = ANY (s.dows) END
$fn$;

-- Maintenance, run by every controller now and then: each due cron tick enqueues one job
-- (the UPDATE of last_tick_local is the ticket: one controller wins it); once a minute
-- across the cluster, finished jobs past keep_until are deleted.  Local wall-clock
-- ticks only move forward, so a DST fall-back does not run a minute twice.  The events
-- and contexts of the jobs deleted go with them.
CREATE OR REPLACE FUNCTION etl.maintain(p_now timestamptz DEFAULT now())
RETURNS TABLE (what text, n bigint) LANGUAGE plpgsql AS
$fn$
#variable_conflict use_column
DECLARE
  s      etl.schedule;
  tick   timestamp;
  ticks  bigint := 0;
  gone   bigint := 0;
  ctxs   bigint[];
  ctx_gone bigint := 0;
BEGIN
  FOR s IN SELECT * FROM etl.schedule LOOP
    tick := date_trunc('minute', p_now AT TIME ZONE s.timezone);
    CONTINUE WHEN NOT etl.cron_match(s, tick)
               OR (s.last_tick_local IS NOT NULL AND s.last_tick_local >= tick);
    UPDATE etl.schedule x SET last_tick = date_trunc('minute', p_now), last_tick_local = tick
     WHERE x.name = s.name AND (x.last_tick_local IS NULL OR x.last_tick_local < tick);
    IF FOUND THEN
      -- one schedule that cannot send (its queue removed, bad options) skips its tick;
      -- the others and retention go on
      BEGIN
        PERFORM etl.send(s.queue, s.data, s.options);
        ticks := ticks + 1;
      EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'schedule %: tick % not sent: %', s.name, tick, SQLERRM;
      END;
    END IF;
  END LOOP;
  UPDATE etl.maintenance m SET last_run = now()
   WHERE m.name = 'retention' AND m.last_run < now() - interval '60 seconds';
  IF FOUND THEN
    -- at most 5,000 jobs a call, oldest first: a statement that stays short on the
    -- caller's connection (one DELETE of 965,000 jobs held a controller's claims and
    -- heartbeat 95 s); a full batch leaves the gate open, so the caller (the
    -- controller: at once, in a statement of its own) goes on
    WITH d AS (DELETE FROM etl.job j
                WHERE j.id = ANY (ARRAY(SELECT x.id FROM etl.job x
                                         WHERE x.state IN ('completed', 'cancelled', 'failed')
                                           AND x.keep_until < now()
                                         ORDER BY x.keep_until LIMIT 5000
                                           FOR UPDATE SKIP LOCKED))
               RETURNING j.id, j.etl_context_id, j.pg_env, j.host, j.log_path),
         dd AS (DELETE FROM etl.job_dep x USING d WHERE x.after_id = d.id OR x.job_id = d.id),
         -- their logs, for the controller of their host to remove (etl.log_trash)
         lt AS (INSERT INTO etl.log_trash (host, path)
                SELECT d.host, d.log_path FROM d
                 WHERE d.host IS NOT NULL AND d.log_path IS NOT NULL)
    SELECT count(*), array_agg(d.etl_context_id) FILTER (WHERE d.etl_context_id IS NOT NULL
                                                           AND d.pg_env IS NULL)
      INTO gone, ctxs FROM d;
    -- the journal goes with its jobs: the events and contexts of the jobs deleted (those
    -- whose context is in this database: no pg_env of their own), unless another job
    -- still points at one; a sub-task's context left behind loses its parent link
    IF ctxs IS NOT NULL THEN
      UPDATE etl.etl_context c SET parent_context_id = NULL
       WHERE c.parent_context_id = ANY (ctxs) AND NOT (c.etl_context_id = ANY (ctxs));
      DELETE FROM etl.event e
       WHERE e.etl_context_id = ANY (ctxs)
         AND NOT EXISTS (SELECT 1 FROM etl.job j WHERE j.etl_context_id = e.etl_context_id);
      WITH dc AS (DELETE FROM etl.etl_context c
                   WHERE c.etl_context_id = ANY (ctxs)
                     AND NOT EXISTS (SELECT 1 FROM etl.job j
                                      WHERE j.etl_context_id = c.etl_context_id)
                     AND NOT EXISTS (SELECT 1 FROM etl.event e
                                      WHERE e.etl_context_id = c.etl_context_id)
                  RETURNING 1)
      SELECT count(*) INTO ctx_gone FROM dc;
    END IF;
    IF gone = 5000 THEN
      UPDATE etl.maintenance m SET last_run = '-infinity' WHERE m.name = 'retention';
    END IF;
  END IF;
  what := 'cron'; n := ticks; RETURN NEXT;
  what := 'retention'; n := gone; RETURN NEXT;
  what := 'journal'; n := ctx_gone; RETURN NEXT;
END
$fn$;
