#!/usr/bin/python3
"""dataset_manager: data-fair's worker (seed 000).  Payload {"dataset": ID}, sent by
datafair.mark_updated() on a stately queue keyed on the dataset: never two at once for
one dataset.  Runs, in this one process, the steps the dataset's change needs, each with
its own progress bar and a journal event typed by its name (dataset:analyze-end, ...,
dataset:finalize-end):

  analyze   the uploaded file's encoding, delimiter and column types
  validate  every row against the dataset's schema (types, required columns), errors
            with their line numbers; the rows written out in UTF-8 for the load
  load      COPY into a new table, swapped in atomically (readers see the old rows or
            the new, never none); a REST dataset's column types altered
  index     an index on each of the dataset's key columns
  finalize  row count and per-column statistics; the dataset finalized

A failure puts the dataset in `error` with the status and step it failed from: here for
an exception, in datafair_failed (the queue's dead letter) for a signal or kill -9, and
here again when a retry finds a step an earlier run never finished.  `etl retry` resumes
at that step.  A bad file fails for good (exit 65): the table keeps the previous version.
"""
import os
import time

import psycopg2
from psycopg2 import sql

import datafair
import etl_task


class Invalid(Exception):
    """The data does not fit the schema: the dataset in error, the job failed for good."""

    def __init__(self, message, errors):
        super().__init__(message)
        self.errors = errors


def plan_of(kind, status, cu):
    """The steps a change needs, in order."""
    need = set()
    if status == "created":
        need |= {"analyze", "validate", "load"} if kind != "rest" else set()
    if cu.get("file"):
        need |= {"analyze", "validate", "load"}
    if cu.get("schema"):
        need |= {"validate", "load"} if kind != "rest" else {"load"}
    need |= {"index", "finalize"}
    return [s for s in datafair.STEPS if s in need]


def file_of(d, cu):
    f = cu.get("file") or d.get("file")
    if not f:
        raise etl_task.BadInput(f"dataset {d['id']} has no file")
    return f


def step_analyze(conn, d, cu, bar):
    f = file_of(d, cu)
    a = datafair.analyze(f["path"], lambda done, total: bar(done, total))
    schema = datafair.merge_schema(d["schema"], a["columns"])
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE datafair.dataset SET analysis = %s, schema = %s WHERE id = %s",
                    (datafair.J(a), datafair.J(schema), d["id"]))
    d["analysis"], d["schema"] = a, schema
    return {"encoding": a["encoding"], "delimiter": a["delimiter"], "rows": a["rows"],
            "columns": [{"key": c["key"], "type": c["type"]} for c in a["columns"]]}


def load_path(d):
    return os.path.join(d["dir"], d["id"], ".load.csv")


def step_validate(conn, d, cu, bar):
    f = file_of(d, cu)
    if not d.get("analysis"):
        step_analyze(conn, d, cu, bar)
    rows, errors, count = datafair.validate(f["path"], d["analysis"], d["schema"],
                                            load_path(d), bar)
    if count:
        first = errors[0]
        where = f"line {first['line']}" + (f", column {first['column']}" if first["column"] else "")
        raise Invalid(f"{count} error(s) in {f['name']}; the first: {where}: {first['message']}",
                      errors)
    return {"rows": rows}


def step_load(conn, d, cu, bar):
    t = datafair.table(d["id"])
    cols = [sql.SQL("{} {}").format(sql.Identifier(c["key"]), sql.SQL(datafair.SQL_TYPE[c["type"]]))
            for c in d["schema"]]
    if d["kind"] == "rest":
        with conn, conn.cursor() as cur:
            for c in d["schema"]:
                ty = sql.SQL(datafair.SQL_TYPE[c["type"]])
                cur.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::text::{}").format(
                    t, sql.Identifier(c["key"]), ty, sql.Identifier(c["key"]), ty))
        return {"altered": len(d["schema"])}
    new = sql.Identifier("datafair", d["id"] + "__new")
    path = load_path(d)
    size = os.path.getsize(path)
    with conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(new))
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(new, sql.SQL(", ").join(cols)))

    class Reader:
        def __init__(self, f):
            self.f, self.done = f, 0

        def read(self, n=-1):
            b = self.f.read(n)
            self.done += len(b)
            bar(self.done, size)
            hold(cu, "load")
            return b

        def readline(self, n=-1):
            return self.read(n)

    # the COPY and the swap in one transaction: a crash leaves the old table serving
    with conn, conn.cursor() as cur, open(path, "rb") as f:
        cur.copy_expert(sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv)").format(new), Reader(f), 1 << 16)
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(t))
        cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(new, sql.Identifier(d["id"])))
        cur.execute("UPDATE datafair.dataset SET file = %s WHERE id = %s",
                    (datafair.J(file_of(d, cu)), d["id"]))
        n = cur.rowcount
    os.unlink(path)
    return {"bytes": size, "swapped": n == 1}


def step_index(conn, d, cu, bar):
    t = datafair.table(d["id"])
    made = []
    with conn, conn.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'datafair' AND tablename = %s",
                    (d["id"],))
        for (name,) in cur.fetchall():
            if name.startswith(d["id"] + "__k_"):
                cur.execute(sql.SQL("DROP INDEX datafair.{}").format(sql.Identifier(name)))
        for k in d["keys"]:
            cur.execute(sql.SQL("CREATE INDEX {} ON {} ({})").format(
                sql.Identifier((d["id"] + "__k_" + k)[:63]), t, sql.Identifier(k)))
            made.append(k)
    bar(1, 1)
    return {"indexes": made}


def step_finalize(conn, d, cu, bar):
    with conn, conn.cursor() as cur:
        rows, st = datafair.stats(cur, d["id"], d["schema"])
        cur.execute("UPDATE datafair.dataset SET row_count = %s, stats = %s WHERE id = %s",
                    (rows, datafair.J(st), d["id"]))
    bar(1, 1)
    return {"rows": rows, "stats": st}


STEP = {"analyze": step_analyze, "validate": step_validate, "load": step_load,
        "index": step_index, "finalize": step_finalize}


HELD = set()


def hold(cu, step):
    """For the crash tests: wait in a step, once (the job's first run only)."""
    if cu.get("hold_at") == step and os.environ.get("ETL_RUN", "1") == "1" and step not in HELD:
        HELD.add(step)
        etl_task.progress(0, 1, "holding at " + step, force=True)
        time.sleep(float(cu.get("hold_seconds", 30)))


def event(conn, ds, name, data):
    with conn, conn.cursor() as cur:
        datafair.journal(cur, ds, name, data)
    etl_task.dispatch("dataset:" + name, data)


def fail(conn, ds, status, step, cu, message, errors=None):
    e = {"status": status, "step": step, "message": message, "current_update": cu}
    if errors:
        e["errors"] = errors
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE datafair.dataset SET status = 'error', error = %s, current_update = NULL, "
                    "running_step = NULL, updated_on = now() WHERE id = %s",
                    (datafair.J(e), ds))
    event(conn, ds, "error", {k: v for k, v in e.items() if k != "current_update"})


def main(initial, etl):
    p = initial.get("payload") or {}
    try:
        ds = datafair.check_id(p.get("dataset"))
    except ValueError as e:
        raise etl_task.BadInput(f"dataset_manager wants {{\"dataset\": ID}}: {e}") from e
    conn = datafair.connect()
    with conn.cursor() as cur:
        # the queue's policy keeps one job a dataset running; the lock makes sure
        cur.execute("SELECT pg_advisory_lock(hashtext('datafair ' || %s))", (ds,))
    with conn, conn.cursor() as cur:
        d = datafair.get(cur, ds)
    if d is None:
        raise etl_task.BadInput(f"no dataset {ds}")
    resume = None
    if d["status"] == "error":
        err = d["error"] or {}
        status, cu, resume = err.get("status", "updated"), err.get("current_update") or {}, err.get("step")
    elif d["status"] in ("created", "updated"):
        status, cu = d["status"], d["current_update"] or {}
        if d["running_step"]:
            # an earlier run of a change died in this step (kill -9, a lost host)
            resume = d["running_step"]
            event(conn, ds, "error", {"status": status, "step": resume,
                                      "message": f"an earlier run ended in step {resume}"})
    else:
        return {"dataset": ds, "status": d["status"], "nothing_to_do": True}
    plan = plan_of(d["kind"], status, cu)
    if resume in plan:
        plan = plan[plan.index(resume):]
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE datafair.dataset SET status = %s, error = NULL, current_update = %s "
                    "WHERE id = %s RETURNING change_seq",
                    (status, datafair.J(cu), ds))
        seq = cur.fetchone()[0]
    start = {"status": status, "steps": plan}
    if resume:
        start["resume_at"] = plan[0]
    event(conn, ds, "process-start", start)
    for i, step in enumerate(plan):
        label = f"{step} ({i + 1} of {len(plan)})"
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE datafair.dataset SET running_step = %s WHERE id = %s", (step, ds))
        etl_task.progress(0, 1, label)
        try:
            out = STEP[step](conn, d, cu, lambda done, total, label=label:
                             etl_task.progress(done, max(total, 1), label))
        except Invalid as e:
            conn.rollback()
            fail(conn, ds, status, step, cu, str(e), e.errors)
            raise etl_task.BadInput(f"dataset {ds}: {e}") from e
        except (OSError, ValueError, psycopg2.Error) as e:
            conn.rollback()
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            fail(conn, ds, status, step, cu, msg)
            if isinstance(e, psycopg2.OperationalError):
                raise etl_task.Retry(f"dataset {ds}: {step}: {msg}") from e
            raise etl_task.BadInput(f"dataset {ds}: {step}: {msg}") from e
        etl_task.progress(1, 1, label)
        hold(cu, step + "-end")
        event(conn, ds, step + "-end", out)
    with conn, conn.cursor() as cur:
        # a change that came while this ran stays for the job already waiting for it
        cur.execute("UPDATE datafair.dataset SET running_step = NULL, "
                    "status = CASE WHEN change_seq = %s THEN 'finalized' ELSE 'updated' END, "
                    "current_update = CASE WHEN change_seq = %s THEN NULL ELSE current_update END, "
                    "finalized_on = now() WHERE id = %s RETURNING status", (seq, seq, ds))
        final = cur.fetchone()[0]
    return {"dataset": ds, "status": final, "ran": plan}


etl_task.run(main)
