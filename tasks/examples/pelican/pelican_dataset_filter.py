#!/usr/bin/python3
"""pelican_dataset_filter: Pelican's extract.dataset_filter worker (seed 001).  Payload
{"dataset_id", "name", "filter": {"buyer_id": X} or {"currency": C}}: ignored unless the
dataset is CHECKED; makes a new dataset of the items that match and publishes its check
jobs, in one transaction (once per job, as extract).
"""
import json
import os

import etl_task
import pelican


def main(initial, etl):
    p = initial.get("payload") or {}
    src, flt = p.get("dataset_id"), p.get("filter") or {}
    if not isinstance(src, int) or not isinstance(p.get("name"), str) or \
            not (set(flt) <= {"buyer_id", "currency"}) or not flt:
        raise etl_task.BadInput('pelican_dataset_filter wants {"dataset_id", "name", '
                                '"filter": {"buyer_id" or "currency"}}')
    job = os.environ.get("ETL_JOB_ID") or ""
    conn = pelican.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM pelican.dataset WHERE extract_job = %s", (job,))
        if cur.fetchone():
            return {"again": True}
        cur.execute("SELECT phase, source FROM pelican.dataset WHERE id = %s", (src,))
        row = cur.fetchone()
        if row is None or row[0] != "CHECKED":
            print(f"dataset {src} is not CHECKED: ignored")
            return {"ignored": True, "dataset_id": src}
        cur.execute("INSERT INTO pelican.dataset (name, source, extract_job, meta) VALUES "
                    "(%s, %s, %s, %s) RETURNING id", (p["name"], row[1] + ":filtered", job,
                                                      json.dumps({"filtered_from": src,
                                                                  "filter": flt})))
        ds = cur.fetchone()[0]
        cur.execute("INSERT INTO pelican.data_item (dataset_id, ocid, data) SELECT %s, ocid, "
                    "data FROM pelican.data_item WHERE dataset_id = %s "
                    "AND (%s::text IS NULL OR data->'buyer'->>'id' = %s) "
                    "AND (%s::text IS NULL OR data->'tender'->'value'->>'currency' = %s) "
                    "ORDER BY id", (ds, src, flt.get("buyer_id"), flt.get("buyer_id"),
                                    flt.get("currency"), flt.get("currency")))
        n = cur.rowcount
        cur.execute("UPDATE pelican.dataset SET size = %s WHERE id = %s", (n, ds))
        bid, jobs = pelican.publish(cur, ds, int(p.get("per_job", 500)))
    return {"dataset_id": ds, "items": n, "check_jobs": jobs, "batch_id": bid}


etl_task.run(main)
