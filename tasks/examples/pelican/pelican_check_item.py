#!/usr/bin/python3
"""pelican_check_item: Pelican's check.data_item worker (seed 001).  Payload
{"dataset_id", "items": [ids]}: reads the items, runs the field-level and compiled
release-level checks on each, stores one result per item and check, and marks each item
OK, in one transaction (a retry rewrites the same rows: an item is checked once).  Many
run at once on one dataset, on any controller.
"""
import json

import psycopg2.extras

import etl_task
import pelican


def main(initial, etl):
    p = initial.get("payload") or {}
    ids = p.get("items")
    if not isinstance(p.get("dataset_id"), int) or not isinstance(ids, list) or not ids:
        raise etl_task.BadInput('pelican_check_item wants {"dataset_id", "items": [ids]}')
    conn = pelican.connect()
    rows = []
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id, data FROM pelican.data_item WHERE dataset_id = %s "
                    "AND id = ANY(%s) ORDER BY id FOR UPDATE", (p["dataset_id"], ids))
        items = cur.fetchall()
        for item_id, data in items:
            for name, (passed, detail) in {**pelican.field_checks(data),
                                           **pelican.release_checks(data)}.items():
                rows.append((p["dataset_id"], item_id, name, passed, json.dumps(detail)))
        psycopg2.extras.execute_values(
            cur, "INSERT INTO pelican.item_result (dataset_id, item_id, check_name, passed, "
            "detail) VALUES %s ON CONFLICT (item_id, check_name) DO UPDATE SET "
            "passed = EXCLUDED.passed, detail = EXCLUDED.detail", rows, page_size=2000)
        cur.execute("UPDATE pelican.data_item SET state = 'OK', checks = checks + 1 "
                    "WHERE id = ANY(%s) AND state = 'IN_PROGRESS'", ([i for i, _ in items],))
        checked = cur.rowcount
    etl.progress(1, 1, f"{checked} items checked")
    return {"dataset_id": p["dataset_id"], "items": len(items), "checked": checked}


etl_task.run(main)
