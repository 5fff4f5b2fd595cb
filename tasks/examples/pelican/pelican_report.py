#!/usr/bin/python3
"""pelican_report: Pelican's report worker (seed 001).  Payload {"dataset_id"}: pass and
fail counts per item check (field-level and compiled release-level), random examples of
each outcome (seeded by the dataset and check: the same examples every time), the
dataset-level and time-based results; stored, and the dataset's metadata updated; the
dataset is CHECKED.
"""
import json
import random

import etl_task
import pelican


def main(initial, etl):
    ds = (initial.get("payload") or {}).get("dataset_id")
    if not isinstance(ds, int):
        raise etl_task.BadInput('pelican_report wants {"dataset_id"}')
    conn = pelican.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT check_name, passed, array_agg(item_id ORDER BY item_id) FROM "
                    "pelican.item_result WHERE dataset_id = %s GROUP BY 1, 2", (ds,))
        checks = {}
        for name, passed, ids in cur.fetchall():
            c = checks.setdefault(name, {"passed": 0, "failed": 0, "not_applicable": 0,
                                         "examples": {}})
            key = {True: "passed", False: "failed", None: "not_applicable"}[passed]
            c[key] = len(ids)
            if passed is not None:
                rnd = random.Random(f"{ds}:{name}:{key}")
                c["examples"][key] = sorted(rnd.sample(ids, min(3, len(ids))))
        cur.execute("SELECT check_name, kind, passed, result FROM pelican.dataset_result "
                    "WHERE dataset_id = %s ORDER BY check_name", (ds,))
        ds_checks = {n: {"kind": k, "passed": p, "result": r} for n, k, p, r in cur.fetchall()}
        cur.execute("SELECT count(*), count(*) FILTER (WHERE state = 'FAILED') FROM "
                    "pelican.data_item WHERE dataset_id = %s", (ds,))
        items, failed = cur.fetchone()
        report = {"dataset_id": ds, "items": items, "items_not_checked": failed,
                  "checks": checks, "dataset_checks": ds_checks}
        cur.execute("INSERT INTO pelican.report (dataset_id, report) VALUES (%s, %s) "
                    "ON CONFLICT (dataset_id) DO UPDATE SET report = EXCLUDED.report",
                    (ds, json.dumps(report)))
        cur.execute("UPDATE pelican.dataset SET meta = meta || %s WHERE id = %s",
                    (json.dumps({"reported": True, "items_not_checked": failed}), ds))
        pelican.set_phase(cur, ds, "CHECKED", "FAILED" if failed else "OK")
    return {"dataset_id": ds, "items": items, "checks": len(checks)}


etl_task.run(main)
