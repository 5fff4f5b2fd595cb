-- flows.sql: what ties jobs together (sending, batches, dependencies, sub-tasks, dead
-- letters).  Functions and triggers only; the job's state moves through jobs.sql.

-- Enqueue one job (SPEC section 7, etl send).  p_opts: priority, start_after (seconds)
-- or start_at (timestamp), singleton_key, singleton_seconds and debounce (throttle),
-- pg_env, debug_wait, run_on_host, batch_id, after (job ids), parent_id,
-- idempotency_key, parent_context_id.  Returns the job id, or NULL and why when the
-- queue's policy or the throttle kept it out; a sub-task already queued returns its id.
CREATE OR REPLACE FUNCTION etl.send(p_queue text, p_data jsonb, p_opts jsonb DEFAULT '{}')
RETURNS TABLE (id uuid, note text) LANGUAGE plpgsql AS
$fn$
#variable_conflict use_column
DECLARE
  q       etl.queue;
  o       jsonb := coalesce(p_opts, '{}');
  v_start timestamptz;
  v_slot  timestamptz;
  v_secs  double precision;
  v_after uuid[];
  v_wait  int := 0;
  v_state etl.job_state := 'created';
  v_out   jsonb;
  v_id    uuid;
  v_bad   record;
  v_key   text := o->>'singleton_key';
  tries   int := 0;
BEGIN
  SELECT * INTO q FROM etl.queue x WHERE x.name = p_queue;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no queue named %', p_queue USING ERRCODE = 'ET001';
  END IF;
  v_start := CASE WHEN o ? 'start_at' THEN (o->>'start_at')::timestamptz
                  ELSE now() + coalesce((o->>'start_after')::float8, 0) * interval '1 second' END;
  IF NOT isfinite(v_start) THEN
    RAISE EXCEPTION 'start time % would never come: want a finite time', o->>'start_at'
      USING ERRCODE = '22023';
  END IF;
  IF o ? 'batch_id' AND NOT EXISTS (SELECT 1 FROM etl.batch b WHERE b.id = (o->>'batch_id')::uuid) THEN
    RAISE EXCEPTION 'no batch %', o->>'batch_id' USING ERRCODE = 'ET001';
  END IF;
  IF length(o->>'group_key') > 200 THEN
    RAISE EXCEPTION 'a group key is at most 200 characters' USING ERRCODE = '22023';
  END IF;
  IF (o->>'singleton_seconds') IS NOT NULL THEN
    v_secs := (o->>'singleton_seconds')::float8;
    IF v_secs <= 0 THEN
      RAISE EXCEPTION 'singleton_seconds must be positive' USING ERRCODE = '22023';
    END IF;
    v_slot := to_timestamp(floor(extract(epoch FROM now()) / v_secs) * v_secs);
  END IF;
  IF jsonb_typeof(o->'after') = 'array' AND jsonb_array_length(o->'after') > 0 THEN
    v_after := ARRAY(SELECT jsonb_array_elements_text(o->'after')::uuid);
    -- lock them: none may finish unseen between this look and our job_dep rows
    PERFORM 1 FROM etl.job j WHERE j.id = ANY (v_after) FOR SHARE;
    SELECT a INTO v_bad FROM unnest(v_after) a
     WHERE NOT EXISTS (SELECT 1 FROM etl.job j WHERE j.id = a) LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'no job % to wait for', v_bad.a USING ERRCODE = 'ET001';
    END IF;
    SELECT j.id, j.state INTO v_bad FROM etl.job j
     WHERE j.id = ANY (v_after) AND j.state IN ('failed', 'cancelled') LIMIT 1;
    IF FOUND THEN
      v_state := 'cancelled';
      v_out := jsonb_build_object('message',
                 format('cancelled: job %s it waits for is %s', v_bad.id, v_bad.state));
    END IF;
    SELECT count(*) INTO v_wait FROM etl.job j
     WHERE j.id = ANY (v_after) AND j.state <> 'completed';
  END IF;
  LOOP
    INSERT INTO etl.job AS j (queue, priority, data, state, retry_limit, retry_delay,
        retry_backoff, retry_delay_max, expire_seconds, heartbeat_seconds, dead_letter,
        pg_env, start_after, created_on, singleton_key, singleton_on, debug_wait, parent_id,
        run_on_host, batch_id, policy, waiting, idempotency_key, parent_context_id,
        group_key, output)
    -- a job's own retry_limit, retry_delay and expire_seconds (pg-boss's per-job
    -- options: schedules, SQL senders) win over the queue's
    VALUES (q.name, coalesce((o->>'priority')::int, 0), p_data, v_state,
        coalesce((o->>'retry_limit')::int, q.retry_limit),
        coalesce((o->>'retry_delay')::int, q.retry_delay), q.retry_backoff, q.retry_delay_max,
        coalesce((o->>'expire_seconds')::int, q.expire_seconds),
        q.heartbeat_seconds, q.dead_letter, coalesce(o->>'pg_env', q.pg_env),
        greatest(v_start, coalesce(v_slot, v_start)),
        clock_timestamp(), v_key, v_slot, coalesce((o->>'debug_wait')::bool, false),
        (o->>'parent_id')::uuid, o->>'run_on_host', (o->>'batch_id')::uuid, q.policy,
        CASE WHEN v_state = 'created' THEN v_wait ELSE 0 END, o->>'idempotency_key',
        (o->>'parent_context_id')::bigint, nullif(o->>'group_key', ''),
        v_out)
    ON CONFLICT DO NOTHING
    RETURNING j.id INTO v_id;
    tries := tries + 1;
    EXIT WHEN v_id IS NOT NULL OR v_slot IS NULL OR NOT coalesce((o->>'debounce')::bool, false)
              OR tries > 1;
    -- debounce: the slot is taken, try the next one
    v_slot := v_slot + v_secs * interval '1 second';
  END LOOP;
  IF v_id IS NULL THEN
    IF o ? 'idempotency_key' THEN
      SELECT j.id INTO v_id FROM etl.job j
       WHERE j.parent_id = (o->>'parent_id')::uuid AND j.idempotency_key = o->>'idempotency_key';
      IF v_id IS NOT NULL THEN
        id := v_id; note := 'exists'; RETURN NEXT; RETURN;
      END IF;
    END IF;
    id := NULL;
    note := CASE WHEN v_slot IS NOT NULL
                 THEN format('throttled: queue %s already has a job with key %L in the slot of %s',
                             q.name, coalesce(v_key, ''), v_slot)
                 ELSE format('not sent: queue %s (policy %s) already has a job with singleton key %L',
                             q.name, q.policy, v_key) END;
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_wait > 0 AND v_state = 'created' THEN
    INSERT INTO etl.job_dep (job_id, after_id)
    SELECT v_id, j.id FROM etl.job j WHERE j.id = ANY (v_after) AND j.state <> 'completed'
    ON CONFLICT DO NOTHING;
    UPDATE etl.job j SET has_dependents = true
     WHERE j.id = ANY (v_after) AND NOT j.has_dependents;
  END IF;
  id := v_id;
  note := CASE WHEN v_state = 'cancelled' THEN v_out->>'message' END;
  RETURN NEXT;
END
$fn$;

-- A batch callback: a job in queue p_queue whose INITIAL payload says what happened.
CREATE OR REPLACE FUNCTION etl.batch_callback(b etl.batch, p_queue text, p_event text)
RETURNS void LANGUAGE plpgsql AS
$fn$
BEGIN
  -- a callback queue removed since: the batch's end must not fail the job that ended it
  IF NOT EXISTS (SELECT 1 FROM etl.queue q WHERE q.name = p_queue) THEN
    RAISE WARNING 'batch %: no queue % for its % callback', b.id, p_queue, p_event;
    RETURN;
  END IF;
  PERFORM etl.send(p_queue, jsonb_build_object('batch_id', b.id, 'event', p_event,
      'jobs', b.jobs, 'completed', b.completed, 'failed', b.failed,
      'cancelled', b.cancelled, 'pending', b.pending, 'data', b.data), '{}');
END
$fn$;

-- Fire what is due for batch p_id: on_discard at its first failure for good (p_failed),
-- on_finish (and on_success if all completed) once it is closed and nothing is pending.
-- The caller holds the batch row lock (it just updated the counters), so each fires once.
CREATE OR REPLACE FUNCTION etl.batch_check(p_id uuid, p_failed bool)
RETURNS void LANGUAGE plpgsql AS
$fn$
DECLARE
  b etl.batch;
BEGIN
  IF p_failed THEN
    UPDATE etl.batch x SET discard_fired = true
     WHERE x.id = p_id AND NOT x.discard_fired RETURNING * INTO b;
    IF FOUND AND b.on_discard IS NOT NULL THEN
      PERFORM etl.batch_callback(b, b.on_discard, 'discard');
    END IF;
  END IF;
  UPDATE etl.batch x
     SET finish_fired = true, finished_on = now(),
         success_fired = x.success_fired OR (x.failed = 0 AND x.cancelled = 0)
   WHERE x.id = p_id AND x.closed AND x.pending = 0 AND NOT x.finish_fired
  RETURNING * INTO b;
  IF FOUND THEN
    IF b.failed = 0 AND b.cancelled = 0 AND b.on_success IS NOT NULL THEN
      PERFORM etl.batch_callback(b, b.on_success, 'success');
    END IF;
    IF b.on_finish IS NOT NULL THEN
      PERFORM etl.batch_callback(b, b.on_finish, 'finish');
    END IF;
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION etl.job_after_insert() RETURNS trigger LANGUAGE plpgsql AS
$fn$
BEGIN
  -- a job added to a finished batch re-arms its success and finish callbacks
  UPDATE etl.batch b
     SET jobs = b.jobs + 1,
         pending = b.pending + (NEW.state IN ('created', 'retry', 'active'))::int,
         cancelled = b.cancelled + (NEW.state = 'cancelled')::int,
         finish_fired = false, success_fired = false, finished_on = NULL
   WHERE b.id = NEW.batch_id;
  RETURN NULL;
END
$fn$;
CREATE OR REPLACE TRIGGER job_batch_insert AFTER INSERT ON etl.job
  FOR EACH ROW WHEN (NEW.batch_id IS NOT NULL) EXECUTE FUNCTION etl.job_after_insert();

-- A job entered or left a final state: keep its batch's counters, release or cancel the
-- jobs waiting for it (by index: no scan), and wake a parent waiting for its sub-task.
CREATE OR REPLACE FUNCTION etl.job_after_state() RETURNS trigger LANGUAGE plpgsql AS
$fn$
DECLARE
  was_final bool := OLD.state IN ('completed', 'cancelled', 'failed');
  is_final  bool := NEW.state IN ('completed', 'cancelled', 'failed');
BEGIN
  IF NEW.batch_id IS NOT NULL AND (was_final OR is_final) THEN
    UPDATE etl.batch b
       SET pending = b.pending + was_final::int - is_final::int,
           completed = b.completed + (NEW.state = 'completed')::int - (OLD.state = 'completed')::int,
           failed = b.failed + (NEW.state = 'failed')::int - (OLD.state = 'failed')::int,
           cancelled = b.cancelled + (NEW.state = 'cancelled')::int - (OLD.state = 'cancelled')::int
     WHERE b.id = NEW.batch_id;
    IF FOUND AND is_final THEN
      PERFORM etl.batch_check(NEW.batch_id, NEW.state = 'failed');
    END IF;
  END IF;
  IF NEW.has_dependents AND is_final AND NOT was_final THEN
    IF NEW.state = 'completed' THEN
      UPDATE etl.job j
         SET waiting = j.waiting - 1
        FROM etl.job_dep d
       WHERE d.after_id = NEW.id AND j.id = d.job_id AND j.state IN ('created', 'retry') AND j.waiting > 0;
    ELSE
      PERFORM etl.cancel(ARRAY(SELECT d.job_id FROM etl.job_dep d WHERE d.after_id = NEW.id),
                         format('cancelled: job %s it waited for is %s', NEW.id, NEW.state),
                         true, true);
    END IF;
  END IF;
  IF NEW.parent_id IS NOT NULL AND is_final THEN
    PERFORM pg_notify('etl_subtask', NEW.parent_id::text);
  END IF;
  RETURN NULL;
END
$fn$;
CREATE OR REPLACE TRIGGER job_state AFTER UPDATE OF state ON etl.job
  FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state
        AND (NEW.batch_id IS NOT NULL OR NEW.has_dependents OR NEW.parent_id IS NOT NULL))
  EXECUTE FUNCTION etl.job_after_state();

-- Close a batch: no more jobs come.  A closed batch with nothing pending fires now.
CREATE OR REPLACE FUNCTION etl.batch_close(p_id uuid) RETURNS void LANGUAGE plpgsql AS
$fn$
BEGIN
  UPDATE etl.batch b SET closed = true, closed_on = coalesce(b.closed_on, now())
   WHERE b.id = p_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no batch %', p_id USING ERRCODE = 'ET001';
  END IF;
  PERFORM etl.batch_check(p_id, false);
END
$fn$;

-- Queue a batch's failed jobs again and re-arm its callbacks.  Returns how many.
CREATE OR REPLACE FUNCTION etl.batch_retry(p_id uuid) RETURNS bigint LANGUAGE plpgsql AS
$fn$
DECLARE
  n bigint;
BEGIN
  UPDATE etl.batch b
     SET success_fired = false, discard_fired = false, finish_fired = false, finished_on = NULL
   WHERE b.id = p_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no batch %', p_id USING ERRCODE = 'ET001';
  END IF;
  SELECT count(*) INTO n
    FROM etl.retry(ARRAY(SELECT j.id FROM etl.job j
                          WHERE j.batch_id = p_id AND j.state = 'failed'));
  RETURN n;
END
$fn$;

-- Move dead-lettered jobs of p_queue back to the queue they came from, once each.
-- (p_limit came later: the one-argument form goes, or a call with one would be ambiguous)
DROP FUNCTION IF EXISTS etl.redrive(text);
CREATE OR REPLACE FUNCTION etl.redrive(p_queue text, p_limit int DEFAULT NULL)
RETURNS TABLE (id uuid, new_id uuid) LANGUAGE plpgsql AS
$fn$
#variable_conflict use_column
DECLARE
  r  etl.job;
  n  uuid;
BEGIN
  FOR r IN SELECT * FROM etl.job j
            WHERE j.queue = p_queue AND j.source IS NOT NULL AND j.state <> 'active'
              AND j.state <> 'completed'
            ORDER BY j.created_on, j.id	-- the oldest first: --limit takes them
            LIMIT p_limit
              FOR UPDATE SKIP LOCKED
  LOOP
    -- back under its key: the queue's policy holds for a redriven job too
    SELECT s.id INTO n FROM etl.send(r.source->>'queue', r.data,
                                     jsonb_strip_nulls(jsonb_build_object(
                                       'priority', r.priority,
                                       'singleton_key', r.singleton_key))) s;
    -- kept out by the policy (its key's job is there): it stays, for a later redrive
    CONTINUE WHEN n IS NULL;
    UPDATE etl.job j
       SET state = 'completed', output = jsonb_build_object('redriven_to', n)
     WHERE j.id = r.id;
    id := r.id; new_id := n;
    RETURN NEXT;
  END LOOP;
END
$fn$;


-- Remove queue p_name; jobs still waiting in it would wait forever: they are cancelled
-- with it.  A queue a schedule sends to is kept (remove the schedule first).  Whether it
-- existed.
CREATE OR REPLACE FUNCTION etl.queue_rm(p_name text) RETURNS bool LANGUAGE plpgsql AS
$fn$
DECLARE
  s text;
BEGIN
  SELECT string_agg(x.name, ', ' ORDER BY x.name) INTO s FROM etl.schedule x
   WHERE x.queue = p_name;
  IF s IS NOT NULL THEN
    RAISE EXCEPTION 'queue % is used by schedule %: remove it first (etl schedule rm)',
      p_name, s USING ERRCODE = 'ET012';
  END IF;
  DELETE FROM etl.queue q WHERE q.name = p_name;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM etl.cancel(ARRAY(SELECT j.id FROM etl.job j
                            WHERE j.queue = p_name AND j.state IN ('created', 'retry')),
                     'queue removed', true, true);
  RETURN true;
END
$fn$;

-- A queue's dead letters never come back to it: A -> B -> A would turn one failure into
-- jobs without end.  Changes of dead letters are serialised, so two at once cannot close
-- a cycle neither sees.
CREATE OR REPLACE FUNCTION etl.queue_dead_letter_rule() RETURNS trigger LANGUAGE plpgsql AS
$fn$
DECLARE
  path text[] := ARRAY[NEW.name];
  q    text := NEW.dead_letter;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('etl.dead_letter'));
  WHILE q IS NOT NULL LOOP
    path := path || q;
    IF q = NEW.name THEN
      RAISE EXCEPTION 'dead letter cycle: % (a queue''s dead letters must not come back to it)',
        array_to_string(path, ' -> ') USING ERRCODE = 'ET011';
    END IF;
    EXIT WHEN cardinality(path) > 1000;	-- a chain made before this rule: stop looking
    SELECT x.dead_letter INTO q FROM etl.queue x WHERE x.name = q;
  END LOOP;
  RETURN NEW;
END
$fn$;
CREATE OR REPLACE TRIGGER queue_dead_letter BEFORE INSERT OR UPDATE OF dead_letter ON etl.queue
  FOR EACH ROW WHEN (NEW.dead_letter IS NOT NULL) EXECUTE FUNCTION etl.queue_dead_letter_rule();

-- Processing steps' cache (libetl's etl_steps_run and the Python glue alike): a cached
-- result is fresh while the step's version, the stamps of the steps it reads and the
-- input's checksum are those it was made with.  Tasks reach the cache through these
-- (granted to etl_task), not the table.
CREATE OR REPLACE FUNCTION etl.step_get(p_key text, p_step text, p_version int,
                                        p_reads jsonb, p_input_sum text)
RETURNS TABLE (stamp bigint, result jsonb) LANGUAGE sql STABLE AS
$fn$
  SELECT c.stamp, c.result FROM etl.step_cache c
   WHERE c.key = p_key AND c.step = p_step AND c.version = p_version
     AND c.reads = p_reads AND c.input_sum = coalesce(p_input_sum, '')
$fn$;
CREATE OR REPLACE FUNCTION etl.step_put(p_key text, p_step text, p_version int,
                                        p_reads jsonb, p_input_sum text, p_result jsonb)
RETURNS bigint LANGUAGE sql AS
$fn$
  -- a new stamp: the steps that read this one are stale now
  INSERT INTO etl.step_cache AS c (key, step, version, reads, input_sum, result)
  VALUES (p_key, p_step, p_version, p_reads, coalesce(p_input_sum, ''), p_result)
  ON CONFLICT (key, step) DO UPDATE
     SET version = EXCLUDED.version, reads = EXCLUDED.reads, input_sum = EXCLUDED.input_sum,
         result = EXCLUDED.result, stamp = nextval('etl.step_stamp'), created_on = now()
  RETURNING c.stamp
$fn$;
-- A key's cached results removed (an application's data expired); how many.
CREATE OR REPLACE FUNCTION etl.step_forget(p_key text) RETURNS int LANGUAGE sql AS
$fn$
  WITH d AS (DELETE FROM etl.step_cache WHERE key = p_key RETURNING 1) SELECT count(*)::int FROM d
$fn$;
