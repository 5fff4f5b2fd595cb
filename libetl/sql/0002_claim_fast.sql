-- 0002_claim_fast.sql: the controller's hot statements, set-based (schema version 2).
-- etl.claim and etl.finish no longer loop over jobs in plpgsql: a claim of n jobs is a
-- fixed number of statements (one UPDATE, one INSERT of contexts, one INSERT of INITIAL
-- events), with ids taken from the sequences in the UPDATE; the common end (ended well)
-- of n jobs is one INSERT of FINAL events.  Both keep one generic plan: planning the
-- claim's query cost more than running it (about 1 ms against 0.2 ms here).  A generic
-- plan made while the tables were small must not scan them once they are large: these
-- functions join a few rows by key, so they run with sequential scans, hash and merge
-- joins off (and so JIT off: those settings make every cost look huge).

-- How a queue's tasks run: detached (a process each, SPEC section 4) or inprocess (the
-- task's TASK.so on a controller thread; a crash of the task takes its controller down).
ALTER TABLE etl.queue ADD COLUMN mode text NOT NULL DEFAULT 'detached'
  CHECK (mode IN ('detached', 'inprocess'));

-- A claimed job, as the claim returns it, plus what it needs to open its context.
CREATE TYPE etl.claimed AS (id uuid, queue text, task text, data text, pg_env text,
               etl_context_id bigint, since bigint, retry_count int, retry_limit int,
               expire_seconds int, priority int, debug_wait bool, keep_cores bool,
               batch_id uuid, run_as text, rlimit_as bigint, rlimit_cpu int,
               rlimit_nofile int, nice int, mode text, new_ctx bool, parent_ctx bigint, jdata jsonb);

-- Claim up to p_limit ready jobs, best first (see 0001 for the rules it keeps), with
-- their queue's mode and whether the claim opened their context (fresh).  Jobs of
-- queues in mode inprocess run in the claiming process: p_pid and p_pid_start are
-- recorded as theirs at once.
DROP FUNCTION etl.claim(text[], int, text, text, text);
CREATE FUNCTION etl.claim(p_queues text[], p_limit int, p_controller text,
                                     p_host text, p_pg_env text, p_pid int DEFAULT NULL,
                                     p_pid_start bigint DEFAULT NULL)
RETURNS TABLE (id uuid, queue text, task text, data text, pg_env text,
               etl_context_id bigint, since bigint, retry_count int, retry_limit int,
               expire_seconds int, priority int, debug_wait bool, keep_cores bool,
               batch_id uuid, run_as text, rlimit_as bigint, rlimit_cpu int,
               rlimit_nofile int, nice int, mode text, fresh bool)
LANGUAGE plpgsql
  SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off
  SET enable_bitmapscan = off SET enable_sort = off AS
$fn$
#variable_conflict use_column
DECLARE
  rows etl.claimed[];
BEGIN
  IF EXISTS (SELECT 1 FROM etl.queue q
              WHERE (q.concurrency IS NOT NULL OR q.policy IN ('singleton', 'stately', 'exclusive'))
                AND (p_queues IS NULL OR q.name = ANY (p_queues))) THEN
    PERFORM pg_advisory_xact_lock(hashtext('etl.queue'), hashtext(q.name))
       FROM etl.queue q
      WHERE (q.concurrency IS NOT NULL OR q.policy IN ('singleton', 'stately', 'exclusive'))
        AND (p_queues IS NULL OR q.name = ANY (p_queues))
      ORDER BY q.name;
  END IF;
  WITH cap AS (
      SELECT q.name, q.concurrency - (SELECT count(*) FROM etl.job a
                                       WHERE a.queue = q.name AND a.state = 'active') AS free
        FROM etl.queue q
       WHERE q.concurrency IS NOT NULL AND (p_queues IS NULL OR q.name = ANY (p_queues))
    ), cand AS (
      SELECT j.id, j.queue, j.priority, j.created_on, j.policy, j.singleton_key
        FROM etl.job j
       WHERE j.state < 'active' AND j.start_after <= now()
         AND (p_queues IS NULL OR j.queue = ANY (p_queues))
         AND (j.run_on_host IS NULL OR j.run_on_host = p_host)
         AND NOT EXISTS (SELECT 1 FROM cap WHERE cap.name = j.queue AND cap.free <= 0)
         AND NOT (j.policy IN ('singleton', 'stately', 'exclusive') AND j.singleton_key IS NOT NULL
                  AND EXISTS (SELECT 1 FROM etl.job a WHERE a.queue = j.queue
                                 AND a.singleton_key = j.singleton_key AND a.state = 'active'))
       ORDER BY j.priority DESC, j.created_on, j.id
       LIMIT p_limit
         FOR UPDATE OF j SKIP LOCKED
    ), pick AS (
      SELECT x.id FROM (SELECT c.id, c.queue, c.policy, c.singleton_key,
                               row_number() OVER (PARTITION BY c.queue
                                   ORDER BY c.priority DESC, c.created_on, c.id) AS rn,
                               row_number() OVER (PARTITION BY c.queue, c.singleton_key
                                   ORDER BY c.priority DESC, c.created_on, c.id) AS keyrn
                          FROM cand c) x
        LEFT JOIN cap ON cap.name = x.queue
       WHERE (cap.free IS NULL OR x.rn <= cap.free)
         AND NOT (x.policy IN ('singleton', 'stately', 'exclusive')
                  AND x.singleton_key IS NOT NULL AND x.keyrn > 1)
    ), prev AS (
      SELECT j.id, j.etl_context_id AS old_ctx,
             coalesce(j.pg_env, '') IN ('', coalesce(p_pg_env, '')) AS here
        FROM pick JOIN etl.job j ON j.id = pick.id
    ), u AS (
      UPDATE etl.job j
         SET state = 'active', started_on = now(), heartbeat_on = now(),
             controller_id = p_controller, host = p_host, task = q.task,
             pid = CASE WHEN q.mode = 'inprocess' THEN p_pid END,
             pid_start_time = CASE WHEN q.mode = 'inprocess' THEN p_pid_start END,
             log_path = NULL, progress = NULL, lock_held = false,
             etl_context_id = CASE WHEN prev.here AND prev.old_ctx IS NULL
                                   THEN nextval('etl.etl_context_etl_context_id_seq')
                                   ELSE j.etl_context_id END,
             event_since = CASE WHEN NOT prev.here THEN NULL
                                WHEN prev.old_ctx IS NULL THEN nextval('etl.event_event_id_seq')
                                ELSE (SELECT coalesce(x.latest_event_id, 0) FROM etl.etl_context x
                                       WHERE x.etl_context_id = prev.old_ctx) END
        FROM prev, etl.queue q
       WHERE j.id = prev.id AND q.name = j.queue
      RETURNING j.id, j.queue, j.task, coalesce(j.data::text, 'null'), coalesce(j.pg_env, ''),
                j.etl_context_id, j.event_since, j.retry_count, j.retry_limit,
                j.expire_seconds, j.priority, j.debug_wait, q.keep_cores, j.batch_id, q.run_as,
                q.rlimit_as, q.rlimit_cpu, q.rlimit_nofile, q.nice, q.mode,
                prev.here AND prev.old_ctx IS NULL, j.parent_context_id, j.data
  )
  SELECT array_agg(u::etl.claimed) INTO rows FROM u;
  IF rows IS NULL THEN
    RETURN;
  END IF;
  -- A detached job's task gets its INITIAL only after the claimer's next statement (its
  -- pid) has committed, synchronously: that commit flushes this one's WAL too.  So a
  -- claim of detached jobs need not wait for its own flush; a crash before loses the
  -- claim and nothing ran.  In-process jobs start on the answer: they wait.
  IF NOT EXISTS (SELECT 1 FROM unnest(rows) r WHERE r.mode = 'inprocess') THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  INSERT INTO etl.etl_context (etl_context_id, parent_context_id, meta)
  SELECT r.etl_context_id, r.parent_ctx,
         jsonb_build_object('job_id', r.id, 'queue', r.queue, 'task', regexp_replace(r.task, '^.*/', ''))
    FROM unnest(rows) r WHERE r.new_ctx;
  INSERT INTO etl.event (event_id, etl_context_id, type, payload, meta)
  SELECT r.since, r.etl_context_id, regexp_replace(r.task, '^.*/', '') || ':INITIAL', r.jdata,
         jsonb_build_object('job_id', r.id, 'queue', r.queue, 'task', regexp_replace(r.task, '^.*/', ''))
    FROM unnest(rows) r WHERE r.new_ctx;
  RETURN QUERY SELECT r.id, r.queue, r.task, r.data, r.pg_env, r.etl_context_id, r.since,
                      r.retry_count, r.retry_limit, r.expire_seconds, r.priority, r.debug_wait,
                      r.keep_cores, r.batch_id, r.run_as, r.rlimit_as, r.rlimit_cpu,
                      r.rlimit_nofile, r.nice, r.mode, r.new_ctx
                 FROM unnest(rows) r;
END
$fn$;

-- The end of many runs (see 0001).  Jobs that ended well are recorded in bulk: their
-- contexts locked in id order, one INSERT of FINAL for those still open (its payload the
-- job's output when the runner gives one: an in-process task's result; else null), and
-- the output of each is its context's latest event, the FINAL once the context is DONE.
-- Failures keep the per-job path: each needs its own ERROR or the task's.
CREATE OR REPLACE FUNCTION etl.finish(p_jobs jsonb)
RETURNS TABLE (id uuid, state etl.job_state)
LANGUAGE plpgsql
  SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off AS
$fn$
DECLARE
  v    record;
  e    record;
  ok   jsonb;
  done jsonb := '[]';
  fail jsonb := '[]';
BEGIN
  SELECT coalesce(jsonb_agg(x), '[]') INTO ok
    FROM jsonb_array_elements(p_jobs) x
   WHERE (x->>'ok')::bool AND x->>'ctx' IS NOT NULL;
  IF jsonb_array_length(ok) > 0 THEN
    PERFORM 1 FROM etl.etl_context c
     WHERE c.etl_context_id IN (SELECT (x->>'ctx')::bigint FROM jsonb_array_elements(ok) x)
     ORDER BY c.etl_context_id FOR UPDATE;
    INSERT INTO etl.event (etl_context_id, type, payload)
    SELECT y.ctx, y.task || ':FINAL', y.output
      FROM jsonb_to_recordset(ok) AS y(ctx bigint, task text, output jsonb)
      JOIN etl.etl_context c ON c.etl_context_id = y.ctx
     WHERE c.status <> 'DONE'
     ORDER BY y.ctx;
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', y.id, 'output', le.payload)), '[]')
      INTO done
      FROM jsonb_to_recordset(ok) AS y(id uuid, ctx bigint)
      JOIN etl.etl_context c ON c.etl_context_id = y.ctx
      LEFT JOIN etl.event le ON le.event_id = c.latest_event_id;
  END IF;
  FOR v IN SELECT * FROM jsonb_to_recordset(p_jobs)
                  AS x(id uuid, ctx bigint, since bigint, ok bool, task text,
                       error jsonb, no_retry bool)
            WHERE NOT (coalesce(x.ok, false) AND x.ctx IS NOT NULL)
  LOOP
    IF v.ctx IS NULL THEN
      -- it never started (no task to run): nothing to record but the failure
      fail := fail || jsonb_build_object('id', v.id, 'output', v.error, 'no_retry', v.no_retry);
      CONTINUE;
    END IF;
    SELECT * INTO e FROM etl.record_end(v.ctx, v.since, v.ok, v.task, v.error);
    IF e.done THEN
      done := done || jsonb_build_object('id', v.id, 'output', e.output);
    ELSE
      fail := fail || jsonb_build_object('id', v.id, 'output', e.output, 'no_retry', v.no_retry);
    END IF;
  END LOOP;
  RETURN QUERY SELECT c.id, 'completed'::etl.job_state FROM etl.complete(done) c;
  RETURN QUERY SELECT f.id, f.state FROM etl.fail(fail) f;
END
$fn$;

-- SQL-language functions are planned again on every call: the three the controller calls
-- on every loop turn become plpgsql, whose plans are kept (same bodies as in 0001).
CREATE OR REPLACE FUNCTION etl.job_started(p_jobs jsonb) RETURNS void LANGUAGE plpgsql
  SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off AS
$fn$
BEGIN
  UPDATE etl.job j
     SET pid = v.pid, pid_start_time = v.pid_start_time, log_path = v.log_path,
         host = coalesce(v.host, j.host)
    FROM jsonb_to_recordset(p_jobs) AS v(id uuid, pid int, pid_start_time bigint,
                                         log_path text, host text)
   WHERE j.id = v.id AND j.state = 'active';
END
$fn$;
CREATE OR REPLACE FUNCTION etl.fail(p_jobs jsonb)
RETURNS TABLE (id uuid, state etl.job_state) LANGUAGE plpgsql
  SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off AS
$fn$
#variable_conflict use_column
BEGIN
  IF jsonb_array_length(p_jobs) = 0 THEN
    RETURN;
  END IF;
  RETURN QUERY
  WITH v AS (
    SELECT x.id, x.output,
           NOT coalesce(x.no_retry, false) AND j.retry_count < j.retry_limit
           AND NOT (j.policy IN ('short', 'stately') AND j.singleton_key IS NOT NULL
                    AND EXISTS (SELECT 1 FROM etl.job o WHERE o.queue = j.queue
                                   AND o.singleton_key = j.singleton_key
                                   AND o.state < 'active' AND o.id <> j.id)) AS again
      FROM jsonb_to_recordset(p_jobs) AS x(id uuid, output jsonb, no_retry bool)
      JOIN etl.job j ON j.id = x.id
  ), upd AS (
    UPDATE etl.job j
       SET state = CASE WHEN v.again THEN 'retry' ELSE 'failed' END::etl.job_state,
           retry_count = j.retry_count + v.again::int,
           start_after = CASE WHEN v.again
                              THEN now() + etl.retry_seconds(j.retry_delay, j.retry_count,
                                                             j.retry_backoff, j.retry_delay_max)
                                           * interval '1 second'
                              ELSE j.start_after END,
           completed_on = CASE WHEN v.again THEN NULL ELSE now() END,
           keep_until = now() + coalesce((SELECT q.retention_seconds FROM etl.queue q
                                           WHERE q.name = j.queue), 1209600) * interval '1 second',
           output = v.output
      FROM v
     WHERE j.id = v.id AND j.state = 'active'
    RETURNING j.*
  ), dead AS (
    INSERT INTO etl.job (queue, priority, data, retry_limit, retry_delay, retry_backoff,
                         retry_delay_max, expire_seconds, heartbeat_seconds, dead_letter,
                         pg_env, parent_id, policy, source)
    SELECT q.name, u.priority, u.data, q.retry_limit, q.retry_delay, q.retry_backoff,
           q.retry_delay_max, q.expire_seconds, q.heartbeat_seconds, q.dead_letter,
           coalesce(u.pg_env, q.pg_env), u.id, q.policy,
           jsonb_build_object('queue', u.queue, 'id', u.id, 'retry_count', u.retry_count)
      FROM upd u JOIN etl.queue q ON q.name = u.dead_letter
     WHERE u.state = 'failed'
    ON CONFLICT DO NOTHING
    RETURNING 1
  )
  SELECT u.id, u.state FROM upd u;
END
$fn$;
CREATE OR REPLACE FUNCTION etl.complete(p_jobs jsonb)
RETURNS TABLE (id uuid) LANGUAGE plpgsql
  SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off AS
$fn$
#variable_conflict use_column
BEGIN
  IF jsonb_array_length(p_jobs) = 0 THEN
    RETURN;
  END IF;
  RETURN QUERY
  UPDATE etl.job j
     SET state = 'completed', completed_on = now(), output = v.output,
         keep_until = now() + coalesce((SELECT q.retention_seconds FROM etl.queue q
                                         WHERE q.name = j.queue), 1209600) * interval '1 second'
    FROM jsonb_to_recordset(p_jobs) AS v(id uuid, output jsonb)
   WHERE j.id = v.id AND j.state = 'active'
  RETURNING j.id;
END
$fn$;

-- A controller holds this lock on its connection while it lives (taken on every
-- connect): the jobs it runs in-process die with it, and whoever can take it knows.
CREATE FUNCTION etl.controller_lock_key(text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS
$fn$ SELECT ('x' || substr(md5('etl.controller ' || $1), 1, 16))::bit(64)::bigint $fn$;

-- Jobs of dead controllers (see 0001), and now also the in-process ones: a job whose pid
-- and host are its controller's ran in it, and is dead once the controller's lock is free.
CREATE OR REPLACE FUNCTION etl.reap_orphans(p_bound int, p_me text, p_pg_env text)
RETURNS TABLE (id uuid, state etl.job_state) LANGUAGE plpgsql AS
$fn$
#variable_conflict use_column
DECLARE
  r    record;
  why  text;
  ends jsonb := '[]';
BEGIN
  FOR r IN
    SELECT j.id, j.task, j.etl_context_id, j.event_since, j.lock_held, j.started_on,
           j.expire_seconds, j.controller_id,
           c.id IS NOT NULL AND j.pid = c.pid AND j.host = c.host AS inproc
      FROM etl.job j LEFT JOIN etl.controller c ON c.id = j.controller_id
     WHERE j.state = 'active' AND j.controller_id IS DISTINCT FROM p_me
       AND j.controller_id IS DISTINCT FROM 'etl-run'
       AND coalesce(j.pg_env, '') IN ('', coalesce(p_pg_env, ''))
       AND (c.id IS NULL OR c.heartbeat_on < now() - p_bound * interval '1 second')
       FOR UPDATE OF j SKIP LOCKED
  LOOP
    why := NULL;
    IF r.lock_held THEN
      IF pg_try_advisory_lock(etl.job_lock_key(r.id)) THEN
        PERFORM pg_advisory_unlock(etl.job_lock_key(r.id));
        why := 'its task died while its controller was gone';
      END IF;
    ELSIF r.inproc THEN
      IF pg_try_advisory_lock(etl.controller_lock_key(r.controller_id)) THEN
        PERFORM pg_advisory_unlock(etl.controller_lock_key(r.controller_id));
        why := 'its controller died while it ran in-process';
      END IF;
    ELSIF r.started_on + r.expire_seconds * interval '1 second' < now() THEN
      why := 'expired while its controller was gone';
    END IF;
    IF why IS NOT NULL THEN
      ends := ends || jsonb_build_object('id', r.id, 'ctx', r.etl_context_id,
          'since', r.event_since, 'ok', false, 'task', regexp_replace(r.task, '^.*/', ''),
          'error', jsonb_build_object('message', why), 'no_retry', false);
    END IF;
  END LOOP;
  RETURN QUERY SELECT * FROM etl.finish(ends);
END
$fn$;
