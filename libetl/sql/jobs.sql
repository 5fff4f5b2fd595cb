-- jobs.sql: a job's life: the one rule for its state, claim, start, end, cancel,
-- retry, orphans.  Functions and triggers only.

-- The one rule for a job's state.  Every write of etl.job.state passes this trigger:
-- the moves etl.job_move_ok allows (the table in docs/ARCHITECTURE.md is made from it),
-- anything else raises ET010.  A job enters a finished state with its completion time
-- and its queue's retention, and leaves one without them.  The writers (all in this
-- file or flows.sql): etl.send (created, or cancelled when a job it waits for failed),
-- etl.claim, etl.complete, etl.fail, etl.cancel, etl.retry, etl.release_unstarted,
-- etl.run_here and etl.job_rerun (etl run), etl.redrive.
CREATE OR REPLACE FUNCTION etl.job_move_ok(f etl.job_state, t etl.job_state)
RETURNS bool LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$fn$
  SELECT CASE f
    WHEN 'created'   THEN t IN ('active', 'cancelled', 'completed')
    WHEN 'retry'     THEN t IN ('active', 'cancelled', 'completed')
    WHEN 'active'    THEN t IN ('completed', 'failed', 'retry', 'cancelled', 'created')
    WHEN 'failed'    THEN t IN ('retry', 'completed', 'active')
    WHEN 'cancelled' THEN t IN ('retry', 'completed', 'active')
    WHEN 'completed' THEN false
  END
$fn$;

-- The states a job is born in: queued, cancelled at once (a job it waits for failed), or
-- running in the foreground (etl run).
CREATE OR REPLACE FUNCTION etl.job_birth_ok(t etl.job_state)
RETURNS bool LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$fn$ SELECT t IN ('created', 'cancelled', 'active') $fn$;

CREATE OR REPLACE FUNCTION etl.job_state_rule() RETURNS trigger LANGUAGE plpgsql AS
$fn$
DECLARE
  keep int;
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NOT etl.job_birth_ok(NEW.state) THEN
      RAISE EXCEPTION 'a job cannot be created %', NEW.state USING ERRCODE = 'ET010';
    END IF;
  ELSIF NOT coalesce(etl.job_move_ok(OLD.state, NEW.state), false) THEN
    RAISE EXCEPTION 'job %: no move from % to %', OLD.id, OLD.state, NEW.state
      USING ERRCODE = 'ET010';
  END IF;
  IF NEW.state IN ('completed', 'cancelled', 'failed') THEN
    SELECT q.retention_seconds INTO keep FROM etl.queue q WHERE q.name = NEW.queue;
    NEW.completed_on := now();
    NEW.keep_until := now() + coalesce(keep, 1209600) * interval '1 second';
  ELSE
    NEW.completed_on := NULL;
    NEW.keep_until := NULL;
  END IF;
  RETURN NEW;
END
$fn$;
-- A job born queued (nearly all of them) needs no check: the trigger is skipped.
CREATE OR REPLACE TRIGGER job_state_birth BEFORE INSERT ON etl.job
  FOR EACH ROW WHEN (NEW.state <> 'created') EXECUTE FUNCTION etl.job_state_rule();
CREATE OR REPLACE TRIGGER job_state_move BEFORE UPDATE OF state ON etl.job
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION etl.job_state_rule();

-- A queued job whose start is in the future is deferred: one more in its waiting count,
-- so it is out of the claim index until then.  Set here whoever writes the job (etl.send,
-- a sender's INSERT, a retry's backoff), released by the claims (etl.claim) once its
-- time has come, or here when a write moves its start to now (etl retry) or the job on
-- (cancelled).  The conditions are checked without a call: a job written with a start
-- now (nearly all) costs nothing.
CREATE OR REPLACE FUNCTION etl.job_defer() RETURNS trigger LANGUAGE plpgsql AS
$fn$
BEGIN
  -- a new row's flag is this trigger's to set, whatever its writer gave: a flag with no
  -- count behind it would make a release take back what was never added
  IF TG_OP = 'INSERT' THEN
    NEW.deferred := false;
  END IF;
  IF NEW.start_after > now() AND NEW.state IN ('created', 'retry') THEN
    IF NOT NEW.deferred THEN
      NEW.deferred := true;
      NEW.waiting := NEW.waiting + 1;
    END IF;
  ELSIF NEW.deferred THEN
    NEW.deferred := false;
    NEW.waiting := greatest(NEW.waiting - 1, 0);
  END IF;
  RETURN NEW;
END
$fn$;
CREATE OR REPLACE TRIGGER job_defer_insert BEFORE INSERT ON etl.job
  FOR EACH ROW WHEN (NEW.start_after > now() OR NEW.deferred)
  EXECUTE FUNCTION etl.job_defer();
CREATE OR REPLACE TRIGGER job_defer_update BEFORE UPDATE ON etl.job
  FOR EACH ROW
  WHEN ((NOT NEW.deferred AND NEW.start_after > now() AND NEW.state IN ('created', 'retry'))
        OR (NEW.deferred AND (NEW.start_after <= now() OR NEW.state NOT IN ('created', 'retry'))))
  EXECUTE FUNCTION etl.job_defer();

-- Wake-ups (NOTIFY etl_job).  The payload is "KEY N OFF QUEUE": the live controllers
-- that serve QUEUE rank themselves by a hash of KEY and their id (rendezvous hashing:
-- each computes the same order from etl.wake_view), and only ranks OFF to OFF + N - 1
-- claim; N = 0 wakes every one.  One that was full, or filled its free slots, hands the
-- wake-up on to the rank after (its own NOTIFY, OFF moved on).  So a job sent wakes one
-- controller, not all of them (a claim statement each), and a batch of n jobs wakes n.
-- A job pinned to a host (run_on_host) or released by a controller (released_by) wakes
-- every one: which of them may take it is for the claim to say.  A payload of the queue
-- alone (etl queue resume) wakes every one too.
-- KEY is the transaction's id: PostgreSQL folds equal notifications of one transaction,
-- so the many rows one transaction makes ready wake once per queue (a controller that
-- fills its slots hands on to the next).
CREATE OR REPLACE FUNCTION etl.wake_payload(p_queue text, p_n bigint, p_every bool)
RETURNS text LANGUAGE sql VOLATILE AS
$fn$
  SELECT (txid_current() % 2147483648) || ' ' || CASE WHEN p_every THEN 0 ELSE p_n END
         || ' 0 ' || p_queue
$fn$;

-- Wake controllers once per statement and queue, only for jobs ready now: a statement
-- that inserts 10,000 jobs sends one NOTIFY per queue, not 10,000.
CREATE OR REPLACE FUNCTION etl.job_notify() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE r record;
BEGIN
  FOR r IN SELECT n.queue, count(*) AS n, bool_or(n.run_on_host IS NOT NULL) AS every
             FROM new_jobs n
            WHERE n.state IN ('created', 'retry') AND n.start_after <= now() AND n.waiting = 0
            GROUP BY n.queue
  LOOP
    PERFORM pg_notify('etl_job', etl.wake_payload(r.queue, r.n, r.every));
  END LOOP;
  RETURN NULL;
END
$fn$;
CREATE OR REPLACE TRIGGER job_notify_insert AFTER INSERT ON etl.job
  REFERENCING NEW TABLE AS new_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION etl.job_notify();
-- An update wakes them only for a job it made ready (retried, released, its wait over):
-- a row trigger whose condition is checked without a call, so the many updates that
-- make nothing ready (a heartbeat, a pid, a task's lock, an end) call nothing.  The
-- wake-ups of one transaction are one per queue: PostgreSQL folds equal notifications.
CREATE OR REPLACE FUNCTION etl.job_notify_row() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('etl_job', etl.wake_payload(NEW.queue, 1, NEW.run_on_host IS NOT NULL
                                                 OR NEW.output ? 'released_by'));
  RETURN NULL;
END
$fn$;
DROP TRIGGER IF EXISTS job_notify_update ON etl.job;
CREATE OR REPLACE TRIGGER job_notify_ready AFTER UPDATE ON etl.job
  FOR EACH ROW
  WHEN (NEW.state IN ('created', 'retry') AND NEW.waiting = 0 AND NEW.start_after <= now()
        AND (OLD.state NOT IN ('created', 'retry') OR OLD.waiting <> 0
             OR OLD.start_after > now() OR OLD.queue IS DISTINCT FROM NEW.queue))
  EXECUTE FUNCTION etl.job_notify_row();

-- Seconds before retry number (count + 1): the fixed delay, or with backoff
-- delay * 2^count capped at delay_max, with "equal jitter" (half fixed, half random).
-- Never a runaway: with backoff a delay of 0 counts from 1 s (pg-boss's floor); without,
-- a delay of 0 retries at once three times, then waits 1, 2, 4 ... s up to delay_max, so
-- a failing task on a queue with a large retry limit does not run thousands of times.
CREATE OR REPLACE FUNCTION etl.retry_seconds(delay int, count int, backoff bool, delay_max int)
RETURNS double precision LANGUAGE sql VOLATILE AS
$fn$
  SELECT CASE WHEN backoff
              THEN least(delay_max::double precision,
                         greatest(delay, 1) * power(2, least(count, 30)))
                   * (0.5 + random() / 2)
              WHEN delay > 0 OR count < 3 THEN delay::double precision
              ELSE least(delay_max::double precision, power(2, least(count - 3, 30))) END
$fn$;

-- The controller's hot statements are set-based: a claim of n jobs is a
-- fixed number of statements (one UPDATE, one INSERT of contexts, one INSERT of INITIAL
-- events), with ids taken from the sequences in the UPDATE; the common end (ended well)
-- of n jobs is one INSERT of FINAL events.  Both keep one generic plan: planning the
-- claim's query cost more than running it (about 1 ms against 0.2 ms here).  A generic
-- plan made while the tables were small must not scan them once they are large: these
-- functions join a few rows by key, so they run with sequential scans, hash and merge
-- joins off (and so JIT off: those settings make every cost look huge).

-- Claim up to p_limit ready jobs, best first, FOR UPDATE SKIP LOCKED, and give each job
-- whose events live in this database (pg_env NULL, '' or p_pg_env) its context and
-- INITIAL event in the same transaction; since is the context's latest event id (NULL for
-- other pg_envs: the caller prepares those); fresh says the claim opened the context.
-- Queues with a concurrency limit or a key policy are serialised by an advisory lock
-- taken in a statement of its own: in READ COMMITTED each statement of a function gets a
-- fresh snapshot, so the count of active jobs below sees every claim committed before.
-- Jobs of queues in mode inprocess run in the claiming process: p_pid and p_pid_start
-- are recorded as theirs at once.  A claim carries at most 16 MiB of payloads (as
-- stored) beyond its first job.
-- (the seven-argument form goes: its result gained a column once, and a priority range
-- came later; callers of it reach this one, whose new arguments default to no bound)
DROP FUNCTION IF EXISTS etl.claim(text[], int, text, text, text, int, bigint);
-- (the nine-argument form's result gained "more": a claim that fills its slots says
-- whether it left ready jobs behind, so the controller claims again after an end only
-- when one may find something; issue 22, quiet wake-ups)
DO $do$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'etl' AND p.proname = 'claim' AND p.pronargs = 9
                AND NOT ('more' = ANY (p.proargnames))) THEN
    DROP FUNCTION etl.claim(text[], int, text, text, text, int, bigint, int, int);
  END IF;
END
$do$;
CREATE OR REPLACE FUNCTION etl.claim(p_queues text[], p_limit int, p_controller text,
                                     p_host text, p_pg_env text, p_pid int DEFAULT NULL,
                                     p_pid_start bigint DEFAULT NULL,
                                     p_min_priority int DEFAULT NULL,
                                     p_max_priority int DEFAULT NULL)
RETURNS TABLE (id uuid, queue text, task text, data text, pg_env text,
               etl_context_id bigint, since bigint, retry_count int, retry_limit int,
               expire_seconds int, priority int, debug_wait bool, keep_cores bool,
               batch_id uuid, run_as text, rlimit_as bigint, rlimit_cpu int,
               rlimit_nofile int, nice int, mode text, fresh bool, run int,
               heartbeat_seconds int, secret text, more bool)
LANGUAGE plpgsql AS
$fn$
#variable_conflict use_column
DECLARE
  rows   etl.claimed[];
  inproc bool;
  left_behind bool;
BEGIN
  -- deferred jobs whose time has come are queued (any queue's: whoever claims first
  -- releases them, and their NOTIFY wakes the others); claims run at least every poll
  -- (never below 0: a flag an admin set by hand must not fail every claim)
  UPDATE etl.job j SET deferred = false, waiting = greatest(j.waiting - 1, 0)
   WHERE j.id = ANY (ARRAY(SELECT d.id FROM etl.job d
                            WHERE d.deferred AND d.start_after <= now()
                            ORDER BY d.start_after LIMIT 10000
                              FOR UPDATE SKIP LOCKED));
  IF EXISTS (SELECT 1 FROM etl.queue q
              WHERE (q.concurrency IS NOT NULL OR q.policy IN ('singleton', 'stately', 'exclusive'))
                AND (p_queues IS NULL OR q.name = ANY (p_queues))) THEN
    PERFORM pg_advisory_xact_lock(hashtext('etl.queue'), hashtext(q.name))
       FROM etl.queue q
      WHERE (q.concurrency IS NOT NULL OR q.policy IN ('singleton', 'stately', 'exclusive'))
        AND (p_queues IS NULL OR q.name = ANY (p_queues))
      ORDER BY q.name;
  END IF;
  -- groups capped across queues (etl.job_group): while there are any, claims take turns
  -- (two at once could each see the group's last free slot)
  IF EXISTS (SELECT 1 FROM etl.job_group) THEN
    PERFORM pg_advisory_xact_lock(hashtext('etl.job_group'));
  END IF;
  WITH cap AS (
      SELECT q.name, q.concurrency - (SELECT count(*) FROM etl.job a
                                       WHERE a.queue = q.name AND a.state = 'active') AS free
        FROM etl.queue q
       WHERE q.concurrency IS NOT NULL AND (p_queues IS NULL OR q.name = ANY (p_queues))
    ), gcap AS (
      SELECT g.name, g.concurrency - (SELECT count(*) FROM etl.job a
                                       WHERE a.group_key = g.name AND a.state = 'active') AS free
        FROM etl.job_group g
    ), cand AS (
      -- each wanted queue (not paused, not full) read through its own index range, best
      -- first: a claim never walks the ready jobs of queues it does not want, however
      -- deep (one index for all queues made a small queue behind a million ready jobs of
      -- another claim at 20 jobs/s); the queues' best are merged below
      SELECT c.* FROM etl.queue wq
        CROSS JOIN LATERAL (
          SELECT j.id, j.queue, j.priority, j.created_on, j.policy, j.singleton_key,
                 j.group_key, coalesce(pg_column_size(j.data), 0) AS bytes
            FROM etl.job j
           WHERE j.queue = wq.name AND j.state IN ('created', 'retry') AND j.waiting = 0
             AND j.start_after <= now()
             -- a controller for a priority range (--min-priority, --max-priority)
             AND (p_min_priority IS NULL OR j.priority >= p_min_priority)
             AND (p_max_priority IS NULL OR j.priority <= p_max_priority)
             -- a group with no free slot (its jobs wait, whatever their queue)
             AND NOT (j.group_key IS NOT NULL
                      AND EXISTS (SELECT 1 FROM gcap WHERE gcap.name = j.group_key
                                     AND gcap.free <= 0))
             -- a job this controller released (its task or user missing here) is for others
             AND NOT coalesce(j.output->'released_by' ? p_controller, false)
             AND (j.run_on_host IS NULL OR j.run_on_host = p_host)
             AND NOT (j.policy IN ('singleton', 'stately', 'exclusive') AND j.singleton_key IS NOT NULL
                      AND EXISTS (SELECT 1 FROM etl.job a WHERE a.queue = j.queue
                                     AND a.singleton_key = j.singleton_key AND a.state = 'active'))
           ORDER BY j.priority DESC, j.created_on, j.id
           -- one more than wanted: whether the claim leaves ready jobs behind
           LIMIT p_limit::bigint + 1
             FOR UPDATE OF j SKIP LOCKED) c
       WHERE (p_queues IS NULL OR wq.name = ANY (p_queues)) AND NOT wq.paused
         AND NOT EXISTS (SELECT 1 FROM cap WHERE cap.name = wq.name AND cap.free <= 0)
    ), pick AS (
      SELECT x.id FROM (SELECT c.id, c.queue, c.policy, c.singleton_key, c.priority,
                               c.created_on, c.group_key,
                               row_number() OVER (PARTITION BY c.queue
                                   ORDER BY c.priority DESC, c.created_on, c.id) AS rn,
                               row_number() OVER (PARTITION BY c.group_key
                                   ORDER BY c.priority DESC, c.created_on, c.id) AS grn,
                               row_number() OVER (PARTITION BY c.queue, c.singleton_key
                                   ORDER BY c.priority DESC, c.created_on, c.id) AS keyrn,
                               coalesce(sum(c.bytes) OVER (ORDER BY c.priority DESC,
                                   c.created_on, c.id ROWS BETWEEN UNBOUNDED PRECEDING
                                   AND 1 PRECEDING), 0) AS before,
                               c.bytes
                          FROM cand c) x
        LEFT JOIN cap ON cap.name = x.queue
        LEFT JOIN gcap ON gcap.name = x.group_key
       WHERE (cap.free IS NULL OR x.rn <= cap.free)
         AND (gcap.free IS NULL OR x.grn <= gcap.free)
         -- at most 16 MiB of payloads a claim (the first job whatever its size), beside
         -- jobs of 64 KiB or less: large payloads come a claim at a time, and small jobs
         -- behind them are not held up
         AND (x.before < 16777216 OR x.bytes <= 65536)
         AND NOT (x.policy IN ('singleton', 'stately', 'exclusive')
                  AND x.singleton_key IS NOT NULL AND x.keyrn > 1)
       -- the best p_limit of all the queues' best (the others stay queued: their locks go
       -- with this transaction)
       ORDER BY x.priority DESC, x.created_on, x.id
       LIMIT p_limit
    ), prev AS (
      -- the run's secret: two random uuids (pg_strong_random), 244 random bits
      SELECT j.id, j.etl_context_id AS old_ctx,
             coalesce(j.pg_env, '') IN ('', coalesce(p_pg_env, '')) AS here,
             replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') AS secret
        FROM pick JOIN etl.job j ON j.id = pick.id
    ), u AS (
      UPDATE etl.job j
         SET state = 'active', started_on = now(), heartbeat_on = now(), run = j.run + 1,
             controller_id = p_controller, host = p_host, task = q.task,
             pid = CASE WHEN q.mode = 'inprocess' THEN p_pid END,
             pid_start_time = CASE WHEN q.mode = 'inprocess' THEN p_pid_start END,
             log_path = NULL, progress = NULL, attached = false,
             run_secret = sha256(convert_to(prev.secret, 'UTF8')),
             etl_context_id = CASE WHEN prev.here AND prev.old_ctx IS NULL
                                   THEN nextval('etl.etl_context_etl_context_id_seq')
                                   ELSE j.etl_context_id END,
             event_since = CASE WHEN NOT prev.here THEN NULL
                                WHEN prev.old_ctx IS NULL THEN nextval('etl.event_event_id_seq')
                                ELSE (SELECT coalesce(max(e.event_id), 0) FROM etl.event e
                                       WHERE e.etl_context_id = prev.old_ctx) END
        FROM prev, etl.queue q
       -- the ids as an array too: the jobs are found by their key whatever join order
       -- the planner picks (with sorts disabled, it once scanned every job instead)
       WHERE j.id = ANY (ARRAY(SELECT pick.id FROM pick)) AND j.id = prev.id
         AND q.name = j.queue
      -- no payload here: a large one would be copied at each step below; it is read
      -- from the job's row once, where it is needed (the INITIAL, the answer)
      RETURNING j.id, j.queue, j.task, coalesce(j.pg_env, ''),
                j.etl_context_id, j.event_since, j.retry_count, j.retry_limit,
                j.expire_seconds, j.priority, j.debug_wait, q.keep_cores, j.batch_id, q.run_as,
                q.rlimit_as, q.rlimit_cpu, q.rlimit_nofile, q.nice, q.mode,
                prev.here AND prev.old_ctx IS NULL, j.parent_context_id, j.run,
                j.heartbeat_seconds, prev.secret
  )
  SELECT array_agg(u::etl.claimed), bool_or(u.mode = 'inprocess'),
         (SELECT count(*) FROM cand) > (SELECT count(*) FROM pick)
    INTO rows, inproc, left_behind FROM u;
  IF rows IS NULL THEN
    RETURN;
  END IF;
  -- A detached job's task gets its INITIAL only after the claimer's next statement (its
  -- pid) has committed, synchronously: that commit flushes this one's WAL too.  So a
  -- claim of detached jobs need not wait for its own flush; a crash before loses the
  -- claim and nothing ran.  In-process jobs start on the answer: they wait.
  IF NOT inproc THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  -- each context opened with its INITIAL's id (taken from the sequence above), so the
  -- INITIAL's insert moves nothing (events.sql)
  INSERT INTO etl.etl_context (etl_context_id, parent_context_id, initial_event_id,
                               latest_event_id, meta)
  SELECT r.etl_context_id, r.parent_ctx, r.since, r.since,
         jsonb_build_object('job_id', r.id, 'queue', r.queue, 'task', regexp_replace(r.task, '^.*/', ''))
    FROM unnest(rows) r WHERE r.new_ctx;
  INSERT INTO etl.event (event_id, etl_context_id, type, payload, meta)
  SELECT r.since, r.etl_context_id, regexp_replace(r.task, '^.*/', '') || ':INITIAL',
         (SELECT x.data FROM etl.job x WHERE x.id = r.id),
         jsonb_build_object('job_id', r.id, 'queue', r.queue, 'task', regexp_replace(r.task, '^.*/', ''))
    FROM unnest(rows) r WHERE r.new_ctx;
  RETURN QUERY SELECT r.id, r.queue, r.task,
                      (SELECT coalesce(x.data::text, 'null') FROM etl.job x WHERE x.id = r.id),
                      r.pg_env, r.etl_context_id, r.since,
                      r.retry_count, r.retry_limit, r.expire_seconds, r.priority, r.debug_wait,
                      r.keep_cores, r.batch_id, r.run_as, r.rlimit_as, r.rlimit_cpu,
                      r.rlimit_nofile, r.nice, r.mode, r.new_ctx, r.run, r.heartbeat_seconds,
                      r.secret, left_behind
                 FROM unnest(rows) r;
END
$fn$;

-- The end of many runs whose events live in this database, in one call.  p_jobs: [{id,
-- ctx, since, ok, task, error, no_retry, output}].  Returns each job's new state.  Jobs
-- that ended well are recorded in bulk: their
-- contexts locked in id order, one INSERT of FINAL for those still open (its payload the
-- job's output when the runner gives one: an in-process task's result; else null), and
-- the output of each is its context's latest event, the FINAL once the context is DONE.
-- Failures keep the per-job path: each needs its own ERROR or the task's.
CREATE OR REPLACE FUNCTION etl.finish(p_jobs jsonb)
RETURNS TABLE (id uuid, state etl.job_state)
LANGUAGE plpgsql AS
$fn$
DECLARE
  v    record;
  e    record;
  ok   jsonb;
  cur  jsonb;
  done jsonb := '[]';
  fail jsonb := '[]';
  rel  jsonb := '[]';
  uns  uuid[] := '{}';
BEGIN
  -- The ends of current runs only: a run whose job has moved on (cancelled, or retried,
  -- or rescued by another controller, or an end already recorded) writes nothing,
  -- neither events nor the job's state; it is answered with a null state.
  -- (each job looked up by its key: a join here could be planned as a scan of every job)
  SELECT coalesce(jsonb_agg(x), '[]') INTO cur
    FROM jsonb_array_elements(p_jobs) x
   WHERE EXISTS (SELECT 1 FROM etl.job j
                  WHERE j.id = (x->>'id')::uuid
                    AND (x->>'run' IS NULL OR j.run = (x->>'run')::int)
                    AND (j.state = 'active' OR j.stopping));
  IF jsonb_array_length(cur) < jsonb_array_length(p_jobs) THEN
    RETURN QUERY SELECT (x->>'id')::uuid, NULL::etl.job_state
                   FROM jsonb_array_elements(p_jobs) x
                  WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(cur) y
                                     WHERE y->>'id' = x->>'id');
  END IF;
  -- a cancelled job's task has ended: it may be retried now
  UPDATE etl.job j SET stopping = false
   WHERE j.id = ANY (ARRAY(SELECT (x->>'id')::uuid FROM jsonb_array_elements(cur) x))
     AND j.stopping;
  SELECT coalesce(jsonb_agg(x), '[]') INTO ok
    FROM jsonb_array_elements(cur) x
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
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', y.id, 'output', le.payload,
                                                 'run', y.run)), '[]')
      INTO done
      FROM jsonb_to_recordset(ok) AS y(id uuid, ctx bigint, run int)
      JOIN etl.etl_context c ON c.etl_context_id = y.ctx
      LEFT JOIN etl.event le ON le.event_id = c.latest_event_id;
  END IF;
  FOR v IN SELECT * FROM jsonb_to_recordset(cur)
                  AS x(id uuid, ctx bigint, since bigint, ok bool, task text,
                       error jsonb, no_retry bool, release bool, run int, unstarted bool)
            WHERE NOT (coalesce(x.ok, false) AND x.ctx IS NOT NULL)
  LOOP
    IF v.unstarted THEN
      -- its task never got its INITIAL (the controller died before writing it, and the
      -- task, reading EOF, exited 75 as etl-task(7) asks): nothing ran, nothing is
      -- recorded, and the job goes back to the queue, not counted as a retry
      uns := uns || v.id;
      CONTINUE;
    END IF;
    IF v.release THEN
      -- a problem of this host (its task or user missing here): back to the queue for
      -- another controller, if a live one has not tried it yet; else a failure for good
      IF etl.release_ok(v.id) THEN
        rel := rel || jsonb_build_object('id', v.id, 'message', v.error->>'message');
        CONTINUE;
      END IF;
      v.no_retry := true;
    END IF;
    IF v.ctx IS NULL THEN
      -- it never started (no task to run): nothing to record but the failure
      fail := fail || jsonb_build_object('id', v.id, 'output', v.error, 'no_retry', v.no_retry,
                                         'run', v.run);
      CONTINUE;
    END IF;
    SELECT * INTO e FROM etl.record_end(v.ctx, v.since, v.ok, v.task, v.error);
    IF e.done THEN
      done := done || jsonb_build_object('id', v.id, 'output', e.output, 'run', v.run);
    ELSE
      fail := fail || jsonb_build_object('id', v.id, 'output', e.output, 'no_retry', v.no_retry,
                                         'run', v.run);
    END IF;
  END LOOP;
  RETURN QUERY SELECT c.id, 'completed'::etl.job_state FROM etl.complete(done) c;
  RETURN QUERY SELECT f.id, f.state FROM etl.fail(fail) f;
  IF jsonb_array_length(rel) > 0 THEN
    RETURN QUERY SELECT r.id, r.state FROM etl.release(rel) r;
  END IF;
  IF cardinality(uns) > 0 THEN
    RETURN QUERY
      UPDATE etl.job j
         SET state = CASE WHEN j.retry_count > 0 THEN 'retry' ELSE 'created' END::etl.job_state,
             started_on = NULL, controller_id = NULL, host = NULL, pid = NULL,
             pid_start_time = NULL, log_path = NULL, attached = false, start_after = now()
       WHERE j.id = ANY (uns) AND j.state = 'active'
      RETURNING j.id, j.state;
  END IF;
END
$fn$;

-- Whether active job p_id may go back to the queue for another controller: some live
-- controller (it holds its liveness lock) has not tried it yet.  A free lock is taken
-- for this transaction only.
CREATE OR REPLACE FUNCTION etl.release_ok(p_id uuid) RETURNS bool LANGUAGE plpgsql AS
$fn$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT x.id FROM etl.job j, etl.controller x
            WHERE j.id = p_id AND x.heartbeat_on > now() - interval '10 minutes'
              AND x.id IS DISTINCT FROM j.controller_id
              AND NOT coalesce(j.output->'released_by' ? x.id, false)
  LOOP
    IF NOT pg_try_advisory_xact_lock(etl.controller_lock_key(c.id)) THEN
      RETURN true;
    END IF;
  END LOOP;
  RETURN false;
END
$fn$;

-- Put active jobs back to the queue, not counted as a retry, for any controller but
-- those that released them (output.released_by, which their claims skip).  p_jobs:
-- [{id, message}].
CREATE OR REPLACE FUNCTION etl.release(p_jobs jsonb)
RETURNS TABLE (id uuid, state etl.job_state) LANGUAGE sql AS
$fn$
  UPDATE etl.job j
     SET state = CASE WHEN j.retry_count > 0 THEN 'retry' ELSE 'created' END::etl.job_state,
         started_on = NULL, controller_id = NULL, host = NULL, pid = NULL,
         pid_start_time = NULL, log_path = NULL, start_after = now(),
         output = jsonb_build_object('message', v.message, 'released_by',
                    coalesce(j.output->'released_by', '[]') || to_jsonb(j.controller_id))
    FROM jsonb_to_recordset(p_jobs) AS v(id uuid, message text)
   WHERE j.id = v.id AND j.state::text = 'active'
  RETURNING j.id, j.state
$fn$;

-- A task is alive (libetl's beat thread, its events and progress): its job's heartbeat.
-- The first is for trusted callers (a foreground run); a task proves its run (below).
CREATE OR REPLACE FUNCTION etl.beat(p_id uuid) RETURNS void LANGUAGE sql AS
$fn$
  UPDATE etl.job SET heartbeat_on = now() WHERE id = p_id AND state = 'active'
$fn$;

-- The functions a task calls (the etl_task role may call nothing else).  Each takes the
-- run's proof: its job, run number and secret; a job that is not active (or stopping) in
-- that run with that secret is refused (ET014), so a task reaches its own run only, and
-- a run that is over (its end recorded, retried, rescued) writes nothing.  Returns the
-- job's context.
CREATE OR REPLACE FUNCTION etl.task_check(p_job uuid, p_run int, p_secret text)
RETURNS bigint LANGUAGE plpgsql STABLE AS
$fn$
DECLARE
  ctx bigint;
BEGIN
  -- a cancelled job's run may write until its task has ended (stopping)
  SELECT j.etl_context_id INTO ctx FROM etl.job j
   WHERE j.id = p_job AND (j.state = 'active' OR j.stopping) AND j.run = p_run
     AND j.run_secret = sha256(convert_to(p_secret, 'UTF8'));
  IF NOT FOUND THEN
    RAISE EXCEPTION 'run % of job % is not the job''s current run, or its secret is wrong',
      p_run, p_job USING ERRCODE = 'ET014';
  END IF;
  RETURN ctx;
END
$fn$;

-- The writes of a task to its job's row check the proof in the UPDATE itself: one
-- statement (a task's connection is new: each statement it runs is planned once for it,
-- and that first planning is most of what a short task costs the server).
CREATE OR REPLACE FUNCTION etl.beat(p_id uuid, p_run int, p_secret text) RETURNS void
LANGUAGE plpgsql AS
$fn$
BEGIN
  UPDATE etl.job j SET heartbeat_on = now()
   WHERE j.id = p_id AND (j.state = 'active' OR j.stopping) AND j.run = p_run
     AND j.run_secret = sha256(convert_to(p_secret, 'UTF8'));
  IF NOT FOUND THEN
    PERFORM etl.task_check(p_id, p_run, p_secret);	-- raises ET014
  END IF;
END
$fn$;

-- A task's progress (a heartbeat too).
CREATE OR REPLACE FUNCTION etl.task_progress(p_id uuid, p_run int, p_secret text,
                                             p_progress jsonb) RETURNS void
LANGUAGE plpgsql AS
$fn$
BEGIN
  UPDATE etl.job j SET progress = p_progress, heartbeat_on = now()
   WHERE j.id = p_id AND (j.state = 'active' OR j.stopping) AND j.run = p_run
     AND j.run_secret = sha256(convert_to(p_secret, 'UTF8'));
  IF NOT FOUND THEN
    PERFORM etl.task_check(p_id, p_run, p_secret);
  END IF;
END
$fn$;

-- A libetl task attaches to its run: its proof is checked and the job says a libetl task
-- runs it.  No session state is left behind (no lock, no LISTEN), so a task may reach the
-- database through a transaction pooler; its liveness is its keeper's and its
-- controller's lease (README "Deploying behind PgBouncer").
CREATE OR REPLACE FUNCTION etl.task_attach(p_id uuid, p_run int, p_secret text) RETURNS void
LANGUAGE plpgsql AS
$fn$
BEGIN
  PERFORM etl.task_check(p_id, p_run, p_secret);
  UPDATE etl.job SET attached = true WHERE id = p_id;
END
$fn$;

-- An event of a task's run, into its job's context only.
CREATE OR REPLACE FUNCTION etl.task_event(p_id uuid, p_run int, p_secret text, p_ctx bigint,
                                          p_type text, p_payload jsonb, p_meta jsonb)
RETURNS bigint LANGUAGE plpgsql AS
$fn$
DECLARE
  ev bigint;
BEGIN
  IF etl.task_check(p_id, p_run, p_secret) IS DISTINCT FROM p_ctx THEN
    RAISE EXCEPTION 'etl_context % is not the context of job %', p_ctx, p_id
      USING ERRCODE = 'ET014';
  END IF;
  INSERT INTO etl.event (etl_context_id, type, payload, meta)
  VALUES (p_ctx, p_type, p_payload, p_meta) RETURNING event_id INTO ev;
  RETURN ev;
END
$fn$;

-- A controller's running jobs whose heartbeat is older than their heartbeat_seconds,
-- with its age in seconds: it stops them, like expired ones.
CREATE OR REPLACE FUNCTION etl.stale_beats(p_me text)
RETURNS TABLE (id uuid, age int, heartbeat_seconds int) LANGUAGE sql STABLE AS
$fn$
  SELECT j.id, extract(epoch FROM now() - j.heartbeat_on)::int, j.heartbeat_seconds
    FROM etl.job j
   WHERE j.controller_id = p_me AND j.state = 'active' AND j.heartbeat_seconds IS NOT NULL
     AND j.heartbeat_on < now() - j.heartbeat_seconds * interval '1 second'
$fn$;

-- Record the pids of started jobs; returns the jobs whose claim was lost: their record
-- updated no row, and no row of that job's run ended meanwhile (cancelled between the
-- claim and now: its end is still recorded) -- a failover to a server that never saw the
-- claim, or a job that moved on to another run.  Their controller stops their task
-- before its INITIAL and records nothing of it.  (It returned nothing before: a lost
-- claim ran, and its end failed.)
DROP FUNCTION IF EXISTS etl.job_started(jsonb);
-- (plpgsql, not sql: its plan is kept across calls; a sql function planned its body at
-- every call, a few ms on the way of every task's INITIAL)
CREATE FUNCTION etl.job_started(p_jobs jsonb) RETURNS SETOF uuid LANGUAGE plpgsql AS
$fn$
BEGIN
  RETURN QUERY
  WITH v AS (
    SELECT * FROM jsonb_to_recordset(p_jobs) AS v(id uuid, pid int, pid_start_time bigint,
                                                 log_path text, host text, run int)
  ), upd AS (
    UPDATE etl.job j
       SET pid = v.pid, pid_start_time = v.pid_start_time, log_path = v.log_path,
           host = coalesce(v.host, j.host)
      FROM v
     WHERE j.id = v.id AND j.state::text = 'active' AND (v.run IS NULL OR j.run = v.run)
    RETURNING j.id
  )
  SELECT v.id FROM v
   WHERE v.id NOT IN (SELECT upd.id FROM upd)
     AND NOT EXISTS (SELECT 1 FROM etl.job j
                      WHERE j.id = v.id AND (v.run IS NULL OR j.run = v.run)
                        AND j.state::text <> 'active');
END
$fn$;
CREATE OR REPLACE FUNCTION etl.fail(p_jobs jsonb)
RETURNS TABLE (id uuid, state etl.job_state) LANGUAGE plpgsql AS
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
                                   AND o.state IN ('created', 'retry') AND o.id <> j.id)) AS again
      FROM jsonb_to_recordset(p_jobs) AS x(id uuid, output jsonb, no_retry bool, run int)
      JOIN etl.job j ON j.id = x.id AND (x.run IS NULL OR j.run = x.run)
  ), upd AS (
    UPDATE etl.job j
       SET state = CASE WHEN v.again THEN 'retry' ELSE 'failed' END::etl.job_state,
           retry_count = j.retry_count + v.again::int,
           start_after = CASE WHEN v.again
                              THEN now() + etl.retry_seconds(j.retry_delay, j.retry_count,
                                                             j.retry_backoff, j.retry_delay_max)
                                           * interval '1 second'
                              ELSE j.start_after END,
           output = v.output
      FROM v
     WHERE j.id = v.id AND j.state::text = 'active'	-- by key (see etl.complete)
    RETURNING j.*
  ), dead AS (
    INSERT INTO etl.job (queue, priority, data, retry_limit, retry_delay, retry_backoff,
                         retry_delay_max, expire_seconds, heartbeat_seconds, dead_letter,
                         pg_env, parent_id, policy, singleton_key, source)
    SELECT q.name, u.priority, u.data, q.retry_limit, q.retry_delay, q.retry_backoff,
           q.retry_delay_max, q.expire_seconds, q.heartbeat_seconds, q.dead_letter,
           coalesce(u.pg_env, q.pg_env), u.id, q.policy, u.singleton_key,
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
RETURNS TABLE (id uuid) LANGUAGE plpgsql AS
$fn$
#variable_conflict use_column
BEGIN
  -- (state compared as text: no partial index of active jobs to start from, so each end
  -- finds its job by its key; joined the other way, every active job met every end:
  -- 2,000 ends took 440 ms instead of 33)
  RETURN QUERY
  UPDATE etl.job j
     SET state = 'completed', output = v.output
    FROM jsonb_to_recordset(p_jobs) AS v(id uuid, output jsonb, run int)
   WHERE j.id = v.id AND j.state::text = 'active' AND (v.run IS NULL OR j.run = v.run)
  RETURNING j.id;
END
$fn$;

-- The planning policy of the hot functions above (see the top of this file): one generic
-- plan each, made safe for tables that grow.  CREATE OR REPLACE cleared their settings.
DO $do$
DECLARE
  f text;
  s text;
BEGIN
  FOREACH f IN ARRAY ARRAY['etl.claim(text[], int, text, text, text, int, bigint, int, int)',
                           'etl.finish(jsonb)', 'etl.job_started(jsonb)', 'etl.fail(jsonb)',
                           'etl.complete(jsonb)'] LOOP
    FOREACH s IN ARRAY ARRAY['plan_cache_mode = force_generic_plan', 'enable_seqscan = off',
                             'enable_hashjoin = off', 'enable_mergejoin = off', 'jit = off'] LOOP
      EXECUTE format('ALTER FUNCTION %s SET %s', f, s);
    END LOOP;
  END LOOP;
  -- the claim reads the fetch index in order: no bitmap scan, no sort
  ALTER FUNCTION etl.claim(text[], int, text, text, text, int, bigint, int, int) SET enable_bitmapscan = off;
  ALTER FUNCTION etl.claim(text[], int, text, text, text, int, bigint, int, int) SET enable_sort = off;
END
$do$;

-- A controller holds this lock on its connection while it lives (taken on every
-- connect): the jobs it runs in-process die with it, and whoever can take it knows.
CREATE OR REPLACE FUNCTION etl.controller_lock_key(text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS
$fn$ SELECT ('x' || substr(md5('etl.controller ' || $1), 1, 16))::bit(64)::bigint $fn$;

-- What a controller needs to answer wake-ups: the live controllers (those holding their
-- liveness lock now, whatever their last beat) with the queues they serve (kind 'c'),
-- the queues whose ready jobs may wait for a slot or a key (a concurrency limit or a
-- key policy: kind 'q'), and whether any group caps jobs (kind 'g').  A controller
-- claims after an end of such a queue's job even when its last claim found the queues
-- empty: the end may have freed what held a job back.
CREATE OR REPLACE FUNCTION etl.wake_view()
RETURNS TABLE (kind text, name text, queues text[]) LANGUAGE sql STABLE AS
$fn$
  -- (the locks read once, a hashed set: not once per controller)
  SELECT 'c', k.id, k.queues
    FROM (SELECT c.id, c.queues, etl.controller_lock_key(c.id) AS key
            FROM etl.controller c) k
   WHERE (((k.key >> 32) & 4294967295)::oid, (k.key & 4294967295)::oid) IN
         (SELECT l.classid, l.objid FROM pg_locks l
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
             AND l.database = (SELECT d.oid FROM pg_database d
                                WHERE d.datname = current_database()))
  UNION ALL
  SELECT 'q', q.name, NULL FROM etl.queue q
   WHERE q.concurrency IS NOT NULL OR q.policy IN ('singleton', 'stately', 'exclusive')
  UNION ALL
  SELECT 'g', NULL, NULL WHERE EXISTS (SELECT 1 FROM etl.job_group)
$fn$;

-- Jobs left active by controllers that stopped beating (or vanished) for p_bound seconds,
-- whose events live here: an in-process job (its pid and host are its controller's) is
-- dead when its controller's lock can be taken; a detached job (libetl or not: tasks hold
-- no session state, so poolers do not fool this) once its controller's lease bound has
-- passed since its last beat (its etl-keeper stopped the task by then), or, for a
-- controller that recorded no lease, once the job is past its expiry.  The dead are
-- finished (failed, retried per policy) and returned.
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
    SELECT j.id, j.task, j.etl_context_id, j.event_since, j.started_on,
           j.expire_seconds, j.controller_id, j.run,
           c.id IS NOT NULL AND j.pid = c.pid AND j.host = c.host AS inproc,
           c.heartbeat_on < now() - c.lease_bound * interval '1 second' AS lease_out
      FROM etl.job j LEFT JOIN etl.controller c ON c.id = j.controller_id
     WHERE j.state = 'active' AND j.controller_id IS DISTINCT FROM p_me
       AND j.controller_id IS DISTINCT FROM 'etl-run'
       AND coalesce(j.pg_env, '') IN ('', coalesce(p_pg_env, ''))
       AND (c.id IS NULL OR c.heartbeat_on < now() - p_bound * interval '1 second')
       FOR UPDATE OF j SKIP LOCKED
  LOOP
    why := NULL;
    IF r.inproc THEN
      IF pg_try_advisory_lock(etl.controller_lock_key(r.controller_id)) THEN
        PERFORM pg_advisory_unlock(etl.controller_lock_key(r.controller_id));
        why := 'its controller died while it ran in-process';
      END IF;
    ELSIF r.lease_out THEN
      why := 'its controller stopped beating and its lease ran out: its keeper stopped '
             'its task';
    ELSIF r.started_on + r.expire_seconds * interval '1 second' < now() THEN
      why := 'expired while its controller was gone';
    END IF;
    IF why IS NOT NULL THEN
      ends := ends || jsonb_build_object('id', r.id, 'ctx', r.etl_context_id,
          'since', r.event_since, 'ok', false, 'task', regexp_replace(r.task, '^.*/', ''),
          'error', jsonb_build_object('message', why), 'no_retry', false, 'run', r.run);
    END IF;
  END LOOP;
  -- cancelled jobs of dead controllers whose tasks are gone: no longer stopping
  UPDATE etl.job j SET stopping = false
    FROM (SELECT x.id FROM etl.job x LEFT JOIN etl.controller c ON c.id = x.controller_id
           WHERE x.stopping AND x.controller_id IS DISTINCT FROM p_me
             AND (c.id IS NULL OR c.heartbeat_on < now() - p_bound * interval '1 second')
             AND (x.started_on + x.expire_seconds * interval '1 second' < now()
                  OR c.heartbeat_on < now() - c.lease_bound * interval '1 second')
             FOR UPDATE OF x SKIP LOCKED) d
   WHERE j.id = d.id;
  RETURN QUERY SELECT * FROM etl.finish(ends);
END
$fn$;

-- A controller's jobs that it claimed but never started (its claim's answer was lost):
-- back to the queue.  Their task never got its INITIAL (it is written only after the
-- pid is recorded), so nothing ran.
CREATE OR REPLACE FUNCTION etl.release_unstarted(p_me text, p_keep uuid[])
RETURNS SETOF uuid LANGUAGE sql AS
$fn$
  UPDATE etl.job j
     SET state = CASE WHEN j.retry_count > 0 THEN 'retry' ELSE 'created' END::etl.job_state,
         started_on = NULL, controller_id = NULL, host = NULL
   WHERE j.controller_id = p_me AND j.state = 'active' AND j.pid IS NULL
     AND NOT (j.id = ANY (coalesce(p_keep, '{}')))
  RETURNING j.id
$fn$;

-- Run again, in the foreground, the task of context p_ctx that is not DONE: its job (or a
-- new one for a context made by hand) becomes active for 'etl-run' on p_host.  Returns
-- what the runner needs; data is the stored INITIAL payload.
CREATE OR REPLACE FUNCTION etl.job_rerun(p_ctx bigint, p_host text)
RETURNS TABLE (id uuid, queue text, task text, data text, pg_env text, since bigint)
LANGUAGE plpgsql AS
$fn$
#variable_conflict use_column
DECLARE
  c    etl.etl_context;
  ini  etl.event;
  j    etl.job;
  base text;
BEGIN
  SELECT * INTO c FROM etl.etl_context x WHERE x.etl_context_id = p_ctx FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no etl_context %', p_ctx USING ERRCODE = 'ET001';
  END IF;
  IF c.status = 'DONE' THEN
    RAISE EXCEPTION 'etl_context % is DONE: there is nothing to run again', p_ctx
      USING ERRCODE = 'ET006';
  END IF;
  SELECT * INTO ini FROM etl.event e WHERE e.event_id = c.initial_event_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'etl_context % has no INITIAL event', p_ctx USING ERRCODE = 'ET004';
  END IF;
  base := substring(ini.type FROM '^(.*):[^:]*$');
  SELECT * INTO j FROM etl.job x WHERE x.etl_context_id = p_ctx
   ORDER BY x.created_on DESC LIMIT 1 FOR UPDATE;
  IF FOUND AND j.state = 'active' THEN
    RAISE EXCEPTION 'job % of etl_context % is active (pid % on %): stop it first',
      j.id, p_ctx, j.pid, j.host USING ERRCODE = 'ET007';
  END IF;
  -- a completed job stays completed: the run gets a job of its own
  IF NOT FOUND OR j.state = 'completed' THEN
    INSERT INTO etl.job (queue, task, data, state, retry_limit, started_on, etl_context_id,
                         controller_id, host)
    VALUES (CASE WHEN base ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$' THEN base ELSE 'run' END,
            base, ini.payload, 'active', 0, now(), p_ctx, 'etl-run', p_host)
    RETURNING * INTO j;
  ELSE
    UPDATE etl.job x
       SET state = 'active', started_on = now(),
           output = NULL, controller_id = 'etl-run', host = p_host, pid = NULL,
           pid_start_time = NULL, log_path = NULL, attached = false,
           task = coalesce(x.task, base)
     WHERE x.id = j.id RETURNING * INTO j;
  END IF;
  UPDATE etl.job x SET event_since = etl.context_latest(p_ctx) WHERE x.id = j.id;
  id := j.id; queue := j.queue; task := j.task; data := coalesce(ini.payload::text, 'null');
  pg_env := coalesce(j.pg_env, ''); since := etl.context_latest(p_ctx);
  RETURN NEXT;
END
$fn$;


-- Cancel the unfinished jobs among p_ids (only those still waiting with p_waiting_only);
-- their output becomes {"message": p_message}, or keeps what it was unless p_replace.
-- The owner of an active one learns of it by NOTIFY and stops its task.  Returns each
-- cancelled job and the state it left.
CREATE OR REPLACE FUNCTION etl.cancel(p_ids uuid[], p_message text, p_replace bool,
                                      p_waiting_only bool DEFAULT false)
RETURNS TABLE (id uuid, was etl.job_state) LANGUAGE plpgsql AS
$fn$
#variable_conflict use_column
DECLARE
  r record;
BEGIN
  FOR r IN
    WITH old AS (
      SELECT j.id, j.state FROM etl.job j
       WHERE j.id = ANY (p_ids)
         AND j.state IN ('created', 'retry', 'active')
         AND NOT (p_waiting_only AND j.state = 'active')
       ORDER BY j.id
         FOR UPDATE OF j
    )
    UPDATE etl.job j
       SET state = 'cancelled',
           -- its task may still run: held until its end is recorded (etl.finish)
           stopping = old.state = 'active',
           output = CASE WHEN p_replace THEN jsonb_build_object('message', p_message)
                         ELSE coalesce(j.output, jsonb_build_object('message', p_message)) END
      FROM old WHERE j.id = old.id
    RETURNING j.id, old.state AS was
  LOOP
    IF r.was = 'active' THEN
      PERFORM pg_notify('etl_cancel', r.id::text);
    END IF;
    id := r.id; was := r.was;
    RETURN NEXT;
  END LOOP;
END
$fn$;

-- Queue failed or cancelled jobs among p_ids again, ready now.  Returns their ids.  A
-- cancelled job whose task has not stopped yet is refused: its retry would run beside it.
CREATE OR REPLACE FUNCTION etl.retry(p_ids uuid[]) RETURNS SETOF uuid LANGUAGE plpgsql AS
$fn$
DECLARE
  s uuid;
BEGIN
  SELECT j.id INTO s FROM etl.job j WHERE j.id = ANY (p_ids) AND j.stopping LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'job % is still stopping (its cancelled task has not exited yet): '
      'retry it once it has', s USING ERRCODE = 'ET013';
  END IF;
  RETURN QUERY
  UPDATE etl.job j SET state = 'retry', start_after = now()
   WHERE j.id = ANY (p_ids) AND j.state IN ('failed', 'cancelled')
  RETURNING j.id;
END
$fn$;
-- A job for a task run in the foreground (etl run): active from the start, on p_host,
-- no retries.
CREATE OR REPLACE FUNCTION etl.run_here(p_queue text, p_task text, p_data jsonb,
                                        p_pg_env text, p_host text)
RETURNS TABLE (id uuid, queue text) LANGUAGE sql AS
$fn$
  INSERT INTO etl.job AS j (queue, task, data, state, retry_limit, started_on, heartbeat_on,
                            pg_env, host, controller_id)
  VALUES (p_queue, p_task, p_data, 'active', 0, now(), now(), p_pg_env, p_host, 'etl-run')
  RETURNING j.id, j.queue
$fn$;
