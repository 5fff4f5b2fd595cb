#!/usr/bin/python3
"""cove_expire: the CoVE app's maintenance (seed 002), run on a schedule (`etl schedule
add cove-expire cove_expire '17 3 * * *' '{"dir": DIR, "days": 7}'`).  Payload {"dir": the
app's files folder, "days": age (may be fractional), "queue": "cove_process"}: every
finished job of the queue older than that loses its folder (the upload, its sample and
conversions) and its cached step results; its results page then says it expired.
"""
import decimal
import os
import re
import shutil

import psycopg2

import etl_task

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def main(initial, etl):
    p = initial.get("payload") or {}
    if not isinstance(p.get("dir"), str) or not isinstance(p.get("days"), (int, decimal.Decimal)):
        raise etl_task.BadInput('cove_expire wants {"dir": FOLDER, "days": AGE}')
    conn = psycopg2.connect(service=os.environ.get("ETL_PG_ENV") or None)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id::text, coalesce(data->>'key', id::text) FROM etl.job "
                    "WHERE queue = %s AND state IN ('completed', 'failed', 'cancelled') "
                    "AND completed_on < now() - %s * interval '1 day' ORDER BY completed_on",
                    (p.get("queue", "cove_process"), str(p["days"])))
        old = cur.fetchall()
    expired = []
    for job, key in old:
        folder = os.path.join(p["dir"], job)
        if not UUID.match(job) or not os.path.isdir(folder):
            continue
        shutil.rmtree(folder)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT etl.step_forget(%s)", (key,))
        expired.append(job)
        etl_task.progress(len(expired), len(old), job)
    conn.close()
    return {"expired": expired}


etl_task.run(main)
