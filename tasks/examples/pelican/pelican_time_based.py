#!/usr/bin/python3
"""pelican_time_based: Pelican's check.time_based worker (seed 001).  Payload
{"dataset_id"}: finds the dataset's ancestor itself (the latest earlier dataset of the
same source that was checked), reads both datasets' items in batches, compares the
pairs (same ocid), stores the results, and sends the report.
"""

import etl_task
import pelican


def amount(d):
    v = ((d.get("tender") or {}).get("value") or {}).get("amount")
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def main(initial, etl):
    ds = (initial.get("payload") or {}).get("dataset_id")
    if not isinstance(ds, int):
        raise etl_task.BadInput('pelican_time_based wants {"dataset_id"}')
    conn = pelican.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT a.id FROM pelican.dataset d JOIN pelican.dataset a ON "
                    "a.source = d.source AND a.id < d.id AND a.phase = 'CHECKED' "
                    "WHERE d.id = %s ORDER BY a.id DESC LIMIT 1", (ds,))
        row = cur.fetchone()
        anc = row[0] if row else None
        cur.execute("UPDATE pelican.dataset SET ancestor_id = %s WHERE id = %s", (anc, ds))
    results = {}
    if anc is None:
        results["ocid.persistence"] = (None, {"ancestor": None})
        results["tender_value.stability"] = (None, {"ancestor": None})
    else:
        old = {}
        for _id, ocid, data in pelican.items_in_batches(conn, anc):
            old[ocid] = amount(data)
        kept = changed = pairs = 0
        for _id, ocid, data in pelican.items_in_batches(conn, ds):
            if ocid in old:
                kept += 1
                a, b = old[ocid], amount(data)
                if a is not None and b is not None:
                    pairs += 1
                    if a and abs(b - a) / abs(a) > 0.5:
                        changed += 1
        share = kept / len(old) if old else 1
        results["ocid.persistence"] = (share >= 0.9, {"ancestor": anc, "ancestor_items":
                                                      len(old), "kept": kept,
                                                      "share": round(share, 4)})
        ch = changed / pairs if pairs else 0
        results["tender_value.stability"] = (ch < 0.1, {"ancestor": anc, "pairs": pairs,
                                                        "changed": changed})
    with conn, conn.cursor() as cur:
        pelican.store_dataset_results(cur, ds, 'time', results)
        pelican.set_phase(cur, ds, "TIME_VARIANCE", "OK")
        pelican.send(cur, "pelican_report", {"dataset_id": ds})
    return {"dataset_id": ds, "ancestor_id": anc}


etl_task.run(main)
