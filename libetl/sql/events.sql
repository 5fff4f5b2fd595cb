-- events.sql: the event store's rules (SPEC section 3): what an event may be, what it
-- does to its context, and a run's closing event.  Functions and triggers only; applied
-- by etl_migrate with CREATE OR REPLACE each time this file changes.

-- The event store's rules live here, not in callers (SPEC section 3).
CREATE OR REPLACE FUNCTION etl.event_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  c    etl.etl_context;
  kind text := substring(NEW.type from '[^:]*$');
BEGIN
  SELECT * INTO c FROM etl.etl_context
   WHERE etl_context_id = NEW.etl_context_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'etl_context % does not exist', NEW.etl_context_id
      USING ERRCODE = 'ET001';
  END IF;
  IF c.status = 'DONE' THEN
    RAISE EXCEPTION 'etl_context % is DONE: it accepts no more events', NEW.etl_context_id
      USING ERRCODE = 'ET002';
  END IF;
  IF kind = 'INITIAL' THEN
    IF c.initial_event_id IS NOT NULL THEN
      RAISE EXCEPTION 'etl_context % already has its INITIAL event', NEW.etl_context_id
        USING ERRCODE = 'ET003';
    END IF;
  ELSIF c.initial_event_id IS NULL THEN
    RAISE EXCEPTION 'the first event of etl_context % must be an :INITIAL event', NEW.etl_context_id
      USING ERRCODE = 'ET004';
  END IF;
  NEW.error := NEW.error OR kind = 'ERROR';
  -- Only an event that changes the context's status writes its row: a row written once
  -- per event would leave a chain of versions that every later event of the same
  -- transaction walks (10,000 events in one transaction took seconds, 100,000 minutes).
  -- So latest_event_id is the last INITIAL, ERROR or FINAL (or first event after an
  -- ERROR); the latest event of all is etl.context_latest().
  IF kind IN ('INITIAL', 'ERROR', 'FINAL') OR c.status <> 'OPEN' THEN
    UPDATE etl.etl_context
       SET status = CASE kind WHEN 'FINAL' THEN 'DONE' WHEN 'ERROR' THEN 'ERROR' ELSE 'OPEN' END,
           initial_event_id = CASE WHEN kind = 'INITIAL' THEN NEW.event_id ELSE initial_event_id END,
           latest_event_id = NEW.event_id,
           updated_on = now()
     WHERE etl_context_id = NEW.etl_context_id;
  END IF;
  PERFORM pg_notify('etl_event', NEW.etl_context_id || ' ' || NEW.event_id || ' ' || NEW.type);
  RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER event_rules BEFORE INSERT ON etl.event
  FOR EACH ROW EXECUTE FUNCTION etl.event_before_insert();

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

