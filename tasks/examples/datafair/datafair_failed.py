#!/usr/bin/python3
"""datafair_failed: the dead letter of the dataset_manager queue (seed 000).  A manager
job that failed for good because of something it could not record itself (a signal, a
kill -9, a lost host) arrives here as a copy (payload {"dataset": ID}, parent: the
failed job); the dataset goes to `error` with the status and step it failed from (the
step the manager was in) and how the job ended.  A dataset the manager already put in
error keeps that error.  `etl retry` of the failed job resumes at the step.
"""
import os


import datafair
import etl_task


def main(initial, etl):
    p = initial.get("payload") or {}
    try:
        ds = datafair.check_id(p.get("dataset"))
    except ValueError as e:
        raise etl_task.BadInput(str(e)) from e
    conn = datafair.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT f.id, f.output FROM etl.job me JOIN etl.job f ON f.id = me.parent_id "
                    "WHERE me.id = %s", (os.environ.get("ETL_JOB_ID"),))
        r = cur.fetchone()
        failed_job, output = (r[0], r[1]) if r else (None, None)
        why = output.get("message") if isinstance(output, dict) else None
        cur.execute("SELECT status, running_step, current_update FROM datafair.dataset "
                    "WHERE id = %s FOR UPDATE", (ds,))
        d = cur.fetchone()
        if d is None or d[0] == "error":
            return {"dataset": ds, "recorded": False}
        step = d[1] or "analyze"
        e = {"status": d[0], "step": step, "job": str(failed_job),
             "message": f"the worker failed in step {step}: {why or 'no reason recorded'}",
             "current_update": d[2]}
        cur.execute("UPDATE datafair.dataset SET status = 'error', error = %s, current_update = NULL, "
                    "running_step = NULL, updated_on = now() WHERE id = %s",
                    (datafair.J(e), ds))
        datafair.journal(cur, ds, "error", {k: v for k, v in e.items() if k != "current_update"})
    etl_task.dispatch("dataset:error", {"dataset": ds, "step": step, "message": e["message"]})
    return {"dataset": ds, "recorded": True, "step": step}


etl_task.run(main)
