-- roles.sql: who may do what (README "Security").  Five roles, NOLOGIN: grant them to the
-- login roles of people and programs.
--
--   etl_admin       everything: the schema, queues (run_as, limits), schedules
--   etl_controller  claims, records runs and ends, maintenance; reads all; cannot touch
--                   queues (their run_as) or send jobs
--   etl_sender      sends, cancels and retries jobs, makes batches; reads all
--   etl_viewer      reads jobs, events, contexts, queues, controllers (log paths are
--                   in etl.job.log_path; the files are the file system's)
--   etl_task        the etl.task_* functions only: its own run's events, progress,
--                   heartbeat and lock, proven by the run's secret
--
-- The functions that write are SECURITY DEFINER (they run as the schema's owner, with a
-- fixed search_path): they are the only way a role changes what it may not write
-- directly.  Applied by etl migrate after the other function files (each apply of
-- those resets their attributes).  Creating the roles needs CREATEROLE: without it, and
-- without the roles, nothing here is done and the schema stays its owner's alone.
DO $roles$
DECLARE
  r    text;
  f    record;
  can  bool;
BEGIN
  SELECT rolcreaterole OR rolsuper INTO can FROM pg_roles WHERE rolname = current_user;
  FOREACH r IN ARRAY ARRAY['etl_admin', 'etl_controller', 'etl_sender', 'etl_viewer',
                           'etl_task'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      IF NOT can THEN
        RAISE WARNING 'etl: role % does not exist and % may not create it: the schema '
          'stays usable by its owner only (run etl migrate once as a role with CREATEROLE)',
          r, current_user;
        RETURN;
      END IF;
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;

  -- nobody but these roles and the owner
  REVOKE ALL ON SCHEMA etl FROM PUBLIC;
  REVOKE ALL ON ALL TABLES IN SCHEMA etl FROM PUBLIC;
  REVOKE ALL ON ALL SEQUENCES IN SCHEMA etl FROM PUBLIC;
  REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA etl FROM PUBLIC;
  GRANT USAGE ON SCHEMA etl TO etl_admin, etl_controller, etl_sender, etl_viewer, etl_task;

  -- what writes runs as the owner, on a search_path no caller can change (pure helpers
  -- stay plain, so the planner can still inline them; the event trigger too: only the
  -- owner's functions and etl_admin insert events)
  FOR f IN SELECT p.oid::regprocedure AS sig
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'etl'
              AND p.proname NOT IN ('context_latest',
                                    'controller_lock_key', 'job_move_ok', 'job_birth_ok',
                                    'cron_match', 'retry_seconds', 'event_rules',
                                    'event_error_flag', 'event_immutable') LOOP
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, etl, '
                   'pg_temp', f.sig);
  END LOOP;

  -- viewer: reads
  GRANT SELECT ON ALL TABLES IN SCHEMA etl TO etl_viewer;
  -- sender: the columns a send fills (the rest take their defaults: state 'created'),
  -- batches
  GRANT INSERT (queue, priority, data, retry_limit, retry_delay, retry_backoff,
                retry_delay_max, expire_seconds, heartbeat_seconds, dead_letter, pg_env,
                start_after, created_on, singleton_key, debug_wait, run_on_host, batch_id,
                policy) ON etl.job TO etl_sender;
  GRANT INSERT ON etl.batch TO etl_sender;
  -- controller: its own row; the context of a job of another pg_env it prepares
  GRANT INSERT, UPDATE ON etl.controller TO etl_controller;
  -- the logs of jobs retention deleted, its host's to remove
  GRANT DELETE ON etl.log_trash TO etl_controller;
  GRANT UPDATE (etl_context_id, event_since) ON etl.job TO etl_controller;
  -- admin: all
  GRANT ALL ON ALL TABLES IN SCHEMA etl TO etl_admin;
  GRANT ALL ON ALL SEQUENCES IN SCHEMA etl TO etl_admin;
  GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA etl TO etl_admin;

  -- functions, by role (nargs: one overload only)
  FOR f IN SELECT p.oid::regprocedure AS sig, g.role
             FROM (VALUES
               ('context_latest', NULL, 'etl_viewer'), ('context_status', NULL, 'etl_viewer'),
               ('controller_lock_key', NULL, 'etl_viewer'),
               ('retry_seconds', NULL, 'etl_viewer'), ('cron_match', NULL, 'etl_viewer'),
               ('send', NULL, 'etl_sender'), ('cancel', NULL, 'etl_sender'),
               ('retry', NULL, 'etl_sender'), ('batch_close', NULL, 'etl_sender'),
               ('batch_retry', NULL, 'etl_sender'), ('redrive', NULL, 'etl_sender'),
               ('claim', NULL, 'etl_controller'), ('finish', NULL, 'etl_controller'),
               ('complete', NULL, 'etl_controller'), ('fail', NULL, 'etl_controller'),
               ('release', NULL, 'etl_controller'), ('release_ok', NULL, 'etl_controller'),
               ('job_started', NULL, 'etl_controller'), ('wake_view', NULL, 'etl_controller'),
               ('release_unstarted', NULL, 'etl_controller'),
               ('reap_orphans', NULL, 'etl_controller'), ('maintain', NULL, 'etl_controller'),
               ('stale_beats', NULL, 'etl_controller'), ('record_end', NULL, 'etl_controller'),
               ('context_open', NULL, 'etl_controller'), ('beat', 1, 'etl_controller'),
               ('beat', 3, 'etl_task'), ('task_event', NULL, 'etl_task'),
               ('task_progress', NULL, 'etl_task'), ('task_attach', NULL, 'etl_task'),
               ('context_status', NULL, 'etl_task'),
               ('step_get', NULL, 'etl_task'), ('step_put', NULL, 'etl_task'),
               ('step_forget', NULL, 'etl_task')
             ) AS g(fn, nargs, role)
             JOIN pg_proc p ON p.proname = g.fn AND (g.nargs IS NULL OR p.pronargs = g.nargs)
             JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'etl' LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f.sig, f.role);
  END LOOP;

  -- a sender and a controller read what a viewer reads
  BEGIN
    GRANT etl_viewer TO etl_sender, etl_controller;
  EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'etl: % may not grant etl_viewer to etl_sender and etl_controller', current_user;
  END;
END
$roles$;
