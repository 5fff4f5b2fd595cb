-- events.sql: the event store's rules (SPEC section 3): what an event may be, what it
-- does to its context, and a run's closing event.  Functions and triggers only; applied
-- by etl_migrate with CREATE OR REPLACE each time this file changes.

-- The event store's rules live here, not in callers (SPEC section 3), checked once per
-- statement over the statement's new rows (a transition table), set-based: a claim or an
-- end of 100 jobs checks and moves 100 contexts in three statements, not 100 trigger
-- calls (a per-row trigger cost 24 of the 36 us an event insert took).
--
-- An ERROR event is an error: flagged before it is stored (the only per-row work, and
-- only for ERROR events not flagged by their writer).
CREATE OR REPLACE FUNCTION etl.event_error_flag() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.error := true;
  RETURN NEW;
END
$fn$;
DROP TRIGGER IF EXISTS event_rules ON etl.event;
DROP FUNCTION IF EXISTS etl.event_before_insert();
CREATE OR REPLACE TRIGGER event_error_flag BEFORE INSERT ON etl.event
  FOR EACH ROW WHEN (NOT NEW.error AND NEW.type LIKE '%:ERROR')
  EXECUTE FUNCTION etl.event_error_flag();

-- The rules, for each context the statement wrote to, its rows in id order: the
-- context exists (ET001) and is not DONE, nor made DONE by an earlier row (ET002); its
-- INITIAL comes once (ET003) and first (ET004).  The contexts are locked in id order
-- first, so two writers of one context are serialised and a writer that waited sees
-- what the other committed.  Then each context whose status changes takes the status
-- its last new event gives (INITIAL or other: OPEN, ERROR: ERROR, FINAL: DONE).  Only
-- such an event writes the context's row: a row written once per event would leave a
-- chain of versions that every later event of the same transaction walks (10,000
-- events in one transaction took seconds, 100,000 minutes).  So latest_event_id is the
-- latest event of the last statement that moved the status; the latest event of all is
-- etl.context_latest().  A claim opens a context with its INITIAL's id already in it:
-- that INITIAL moves nothing and writes no row.
CREATE OR REPLACE FUNCTION etl.event_rules() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  bad  record;
  cx   etl.etl_context;
  n    bigint;
  ctx  bigint;
  ev   bigint;
  typ  text;
  kind text;
  st   text;
BEGIN
  -- One event (a task's, one statement each): the rules row by row, in statements
  -- cheap to plan, since a task's connection is new and plans each once.
  SELECT count(*), min(e.etl_context_id), min(e.event_id), min(e.type)
    INTO n, ctx, ev, typ FROM new_events e;
  IF n = 1 THEN
    SELECT * INTO cx FROM etl.etl_context x WHERE x.etl_context_id = ctx FOR UPDATE;
    kind := substring(typ from '[^:]*$');
    IF NOT FOUND THEN
      RAISE EXCEPTION 'etl_context % does not exist', ctx USING ERRCODE = 'ET001';
    ELSIF cx.status = 'DONE' THEN
      RAISE EXCEPTION 'etl_context % is DONE: it accepts no more events', ctx
        USING ERRCODE = 'ET002';
    ELSIF kind = 'INITIAL' AND cx.initial_event_id <> ev THEN
      RAISE EXCEPTION 'etl_context % already has its INITIAL event', ctx
        USING ERRCODE = 'ET003';
    ELSIF kind <> 'INITIAL' AND cx.initial_event_id IS NULL THEN
      RAISE EXCEPTION 'the first event of etl_context % must be an :INITIAL event', ctx
        USING ERRCODE = 'ET004';
    END IF;
    st := CASE kind WHEN 'FINAL' THEN 'DONE' WHEN 'ERROR' THEN 'ERROR' ELSE 'OPEN' END;
    IF (kind IN ('INITIAL', 'ERROR', 'FINAL') OR cx.status <> 'OPEN')
       AND (cx.status, cx.initial_event_id, cx.latest_event_id)
           IS DISTINCT FROM (st, coalesce(cx.initial_event_id, ev), ev) THEN
      UPDATE etl.etl_context x
         SET status = st, initial_event_id = coalesce(x.initial_event_id, ev),
             latest_event_id = ev, updated_on = now()
       WHERE x.etl_context_id = ctx;
    END IF;
    PERFORM pg_notify('etl_event', ctx || ' ' || ev || ' ' || typ);
    RETURN NULL;
  END IF;
  -- Many: set-based.  (The lock is a statement of its own: the next one's snapshot
  -- sees what a writer we waited for committed.)
  PERFORM 1 FROM etl.etl_context x
    WHERE x.etl_context_id = ANY (ARRAY(SELECT DISTINCT e.etl_context_id FROM new_events e))
    ORDER BY x.etl_context_id
      FOR UPDATE;
  SELECT v.* INTO bad FROM (
    SELECT n.etl_context_id AS ctx, n.kind, c.etl_context_id IS NULL AS missing,
           c.status = 'DONE' OR n.finals_before > 0 AS done,
           n.kind = 'INITIAL' AND (n.initials_before > 0 OR c.initial_event_id <> n.event_id) AS again,
           n.kind <> 'INITIAL' AND n.initials_before = 0 AND c.initial_event_id IS NULL AS first
      FROM (SELECT e.etl_context_id, e.event_id, substring(e.type from '[^:]*$') AS kind,
                   count(*) FILTER (WHERE e.type LIKE '%:FINAL') OVER w AS finals_before,
                   count(*) FILTER (WHERE e.type LIKE '%:INITIAL') OVER w AS initials_before
              FROM new_events e
            WINDOW w AS (PARTITION BY e.etl_context_id ORDER BY e.event_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) n
      LEFT JOIN etl.etl_context c ON c.etl_context_id = n.etl_context_id
     ORDER BY n.event_id) v
   WHERE v.missing OR v.done OR v.again OR v.first
   LIMIT 1;
  IF FOUND THEN
    IF bad.missing THEN
      RAISE EXCEPTION 'etl_context % does not exist', bad.ctx USING ERRCODE = 'ET001';
    ELSIF bad.done THEN
      RAISE EXCEPTION 'etl_context % is DONE: it accepts no more events', bad.ctx
        USING ERRCODE = 'ET002';
    ELSIF bad.again THEN
      RAISE EXCEPTION 'etl_context % already has its INITIAL event', bad.ctx
        USING ERRCODE = 'ET003';
    ELSE
      RAISE EXCEPTION 'the first event of etl_context % must be an :INITIAL event', bad.ctx
        USING ERRCODE = 'ET004';
    END IF;
  END IF;
  UPDATE etl.etl_context c
     SET status = l.status,
         initial_event_id = coalesce(c.initial_event_id, l.initial),
         latest_event_id = l.latest,
         updated_on = now()
    FROM (SELECT DISTINCT ON (e.etl_context_id) e.etl_context_id AS ctx,
                 CASE substring(e.type from '[^:]*$') WHEN 'FINAL' THEN 'DONE'
                      WHEN 'ERROR' THEN 'ERROR' ELSE 'OPEN' END AS status,
                 e.event_id AS latest,
                 min(e.event_id) FILTER (WHERE e.type LIKE '%:INITIAL')
                   OVER (PARTITION BY e.etl_context_id) AS initial,
                 bool_or(e.type ~ ':(INITIAL|ERROR|FINAL)$')
                   OVER (PARTITION BY e.etl_context_id) AS moves
            FROM new_events e
           ORDER BY e.etl_context_id, e.event_id DESC) l
   WHERE c.etl_context_id = l.ctx
     AND (l.moves OR c.status <> 'OPEN')
     AND (c.status, c.initial_event_id, c.latest_event_id)
         IS DISTINCT FROM (l.status, coalesce(c.initial_event_id, l.initial), l.latest);
  PERFORM pg_notify('etl_event', e.etl_context_id || ' ' || e.event_id || ' ' || e.type)
     FROM (SELECT * FROM new_events ORDER BY event_id) e;
  RETURN NULL;
END
$fn$;
-- Its plans join a few rows by key, whatever calls it (the claim turns sorts off): each
-- context looked up by its key, never a scan of them all.
ALTER FUNCTION etl.event_rules() SET enable_seqscan = off;
ALTER FUNCTION etl.event_rules() SET enable_hashjoin = off;
ALTER FUNCTION etl.event_rules() SET enable_mergejoin = off;
ALTER FUNCTION etl.event_rules() SET enable_sort = on;
ALTER FUNCTION etl.event_rules() SET jit = off;
CREATE OR REPLACE TRIGGER event_rules AFTER INSERT ON etl.event
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION etl.event_rules();

-- The id of context p_ctx's latest event (0 when it has none), by the index.
CREATE OR REPLACE FUNCTION etl.context_latest(p_ctx bigint) RETURNS bigint
LANGUAGE sql STABLE STRICT AS
$fn$ SELECT coalesce(max(e.event_id), 0) FROM etl.event e WHERE e.etl_context_id = p_ctx $fn$;

-- A context's status (OPEN, ERROR, DONE), for tasks that may not read the tables.
CREATE OR REPLACE FUNCTION etl.context_status(p_ctx bigint) RETURNS text
LANGUAGE sql STABLE STRICT AS
$fn$ SELECT c.status FROM etl.etl_context c WHERE c.etl_context_id = p_ctx $fn$;

CREATE OR REPLACE FUNCTION etl.event_immutable() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'events are immutable' USING ERRCODE = 'ET005';
END
$fn$;
CREATE OR REPLACE TRIGGER event_immutable BEFORE UPDATE ON etl.event
  FOR EACH ROW EXECUTE FUNCTION etl.event_immutable();

-- A new context and its INITIAL event, in one call.
CREATE OR REPLACE FUNCTION etl.context_open(p_parent bigint, p_meta jsonb, p_type text,
                                 p_payload jsonb, p_event_meta jsonb,
                                 OUT etl_context_id bigint, OUT event_id bigint)
LANGUAGE plpgsql AS
$fn$
BEGIN
  INSERT INTO etl.etl_context (parent_context_id, meta)
  VALUES (p_parent, coalesce(p_meta, '{}'))
  RETURNING etl_context.etl_context_id INTO etl_context_id;
  INSERT INTO etl.event (etl_context_id, type, payload, meta)
  VALUES (context_open.etl_context_id, p_type, p_payload, p_event_meta)
  RETURNING event.event_id INTO event_id;
END
$fn$;


-- The end of a run, in the context's database: if the task ended well (p_ok) and the
-- context is not DONE, add FINAL with a null payload; if it failed and dispatched no
-- ERROR since event p_since, add p_error as its ERROR.  Returns whether the context is
-- DONE and the job's output: the FINAL payload, or the ERROR payload with the exit
-- status.  The event trigger locks the context row, so two runners cannot both add one.
CREATE OR REPLACE FUNCTION etl.record_end(p_ctx bigint, p_since bigint, p_ok bool, p_task text,
                               p_error jsonb, OUT done bool, OUT output jsonb)
LANGUAGE plpgsql AS
$fn$
DECLARE
  st   text;
  mine jsonb;
BEGIN
  SELECT status INTO st FROM etl.etl_context WHERE etl_context_id = p_ctx FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'etl_context % does not exist', p_ctx USING ERRCODE = 'ET001';
  END IF;
  IF st = 'DONE' THEN
    done := true;
    SELECT e.payload INTO output FROM etl.event e
     WHERE e.etl_context_id = p_ctx AND e.type LIKE '%:FINAL'
     ORDER BY e.event_id DESC LIMIT 1;
    RETURN;
  END IF;
  IF p_ok THEN
    INSERT INTO etl.event (etl_context_id, type, payload) VALUES (p_ctx, p_task || ':FINAL', NULL);
    done := true;
    output := NULL;
    RETURN;
  END IF;
  done := false;
  SELECT e.payload INTO mine FROM etl.event e
   WHERE e.etl_context_id = p_ctx AND e.event_id > coalesce(p_since, 0) AND e.error
   ORDER BY e.event_id DESC LIMIT 1;
  IF NOT FOUND THEN
    INSERT INTO etl.event (etl_context_id, type, payload) VALUES (p_ctx, p_task || ':ERROR', p_error);
    output := p_error;
  ELSE
    -- the task's own ERROR, with how it ended
    output := CASE WHEN jsonb_typeof(mine) = 'object' THEN mine
                   ELSE jsonb_build_object('error', mine) END
              || jsonb_strip_nulls(jsonb_build_object(
                   'exit_status', p_error->'exit_status',
                   'signal_name', p_error->'signal_name',
                   'stopped', p_error->'stopped',
                   'core_file', p_error->'core_file',
                   'limits', p_error->'limits'));
  END IF;
END
$fn$;

