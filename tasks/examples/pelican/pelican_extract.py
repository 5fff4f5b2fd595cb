#!/usr/bin/python3
"""pelican_extract: Pelican's extract worker (seed 001).  Payload {"name", "source",
"file": NDJSON of compiled releases (the stand-in for Kingfisher Process), "per_job": item
ids per check job (500), "insert_batch": releases an INSERT (1000)}.  Creates the dataset and its metadata, inserts the releases in
batches with each item in progress, and publishes check jobs carrying batches of item
ids (in an etl batch whose on_finish is pelican_check_dataset): all in one transaction,
whose commit is the acknowledgement, the point of no return.  A crash before it leaves
nothing (the retry does it all once); a crash after it finds the dataset this job made
and duplicates nothing.  The pelican schema lives in the queue's database.
"""
import json
import os
import time

import psycopg2.extras

import etl_task
import pelican


def hold(p, point):
    """For the crash tests: wait at a named point (the job's first run only)."""
    if p.get("hold_at") == point and os.environ.get("ETL_RUN", "1") == "1":
        etl_task.progress(0, 1, "holding at " + point)
        time.sleep(float(p.get("hold_seconds", 30)))


def main(initial, etl):
    p = initial.get("payload") or {}
    for k in ("name", "source", "file"):
        if not isinstance(p.get(k), str):
            raise etl_task.BadInput('pelican_extract wants {"name", "source", "file"}')
    job = os.environ.get("ETL_JOB_ID") or ""
    per_job = int(p.get("per_job", 500))
    insert_batch = int(p.get("insert_batch", 1000))
    conn = pelican.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id, size FROM pelican.dataset WHERE extract_job = %s", (job,))
        row = cur.fetchone()
        if row:
            print(f"dataset {row[0]} was made and published by an earlier run of this job")
            return {"dataset_id": row[0], "items": row[1], "again": True}
    hold(p, "start")
    try:
        f = open(p["file"], encoding="utf-8")
    except OSError as e:
        raise etl_task.BadInput(f"{p['file']}: {e}") from e
    with conn, conn.cursor() as cur, f:
        cur.execute("INSERT INTO pelican.dataset (name, source, extract_job, meta) "
                    "VALUES (%s, %s, %s, %s) RETURNING id",
                    (p["name"], p["source"], job,
                     json.dumps({"file": p["file"], "extracted_by": job})))
        ds = cur.fetchone()[0]
        n = 0
        batch = []

        def flush():
            psycopg2.extras.execute_values(
                cur, "INSERT INTO pelican.data_item (dataset_id, ocid, data) VALUES %s",
                [(ds, r.get("ocid"), json.dumps(r)) for r in batch], page_size=1000)
            batch.clear()
        for line in f:
            if not line.strip():
                continue
            try:
                batch.append(json.loads(line))
            except ValueError as e:
                raise etl_task.BadInput(f"{p['file']} line {n + 1}: {e}") from e
            n += 1
            if len(batch) == insert_batch:
                flush()
                hold(p, "inserting")
        if batch:
            flush()
        cur.execute("UPDATE pelican.dataset SET size = %s, meta = meta || %s WHERE id = %s",
                    (n, json.dumps({"items": n}), ds))
        # the check jobs: batches of item ids, in an etl batch that ends in check_dataset
        bid, jobs = pelican.publish(cur, ds, per_job)
        hold(p, "before_ack")
    # committed: acknowledged; what follows may crash and nothing is done twice
    hold(p, "acked")
    etl.progress(1, 1, f"{n} items, {jobs} check jobs")
    return {"dataset_id": ds, "items": n, "check_jobs": jobs, "batch_id": str(bid)}


etl_task.run(main)
