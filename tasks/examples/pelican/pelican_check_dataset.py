#!/usr/bin/python3
"""pelican_check_dataset: Pelican's check.dataset worker (seed 001), the on_finish
callback of a dataset's batch of check jobs: it runs once, after every check job ended,
well or not.  Items whose check failed for good are marked FAILED (the dataset's item
phase too); then the dataset-level checks read the items in batches; then time_based is
sent, in the same transaction as the results.
"""
import collections

import etl_task
import pelican


def main(initial, etl):
    p = initial.get("payload") or {}
    ds = (p.get("data") or {}).get("dataset_id")
    if not isinstance(ds, int):
        raise etl_task.BadInput("pelican_check_dataset is a batch callback: data.dataset_id")
    conn = pelican.connect()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT phase FROM pelican.dataset WHERE id = %s", (ds,))
        row = cur.fetchone()
        if row is None:
            raise etl_task.BadInput(f"no dataset {ds}")
        if row[0] != "CONTRACTING_PROCESS":
            return {"dataset_id": ds, "again": True}
        cur.execute("UPDATE pelican.data_item SET state = 'FAILED' WHERE dataset_id = %s "
                    "AND state = 'IN_PROGRESS'", (ds,))
        failed_items = cur.rowcount
        pelican.set_phase(cur, ds, "CONTRACTING_PROCESS", "FAILED" if failed_items else "OK")
    # dataset-level checks, items read in batches
    total = 0
    ocids = collections.Counter()
    buyers = collections.Counter()
    values = []
    for _id, ocid, data in pelican.items_in_batches(conn, ds):
        total += 1
        ocids[ocid] += 1
        buyers[(data.get("buyer") or {}).get("id")] += 1
        v = ((data.get("tender") or {}).get("value") or {}).get("amount")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            values.append(v)
    results = {}
    dups = sorted(o for o, c in ocids.items() if c > 1)
    results["unique.ocid"] = (not dups, {"duplicates": len(dups), "examples": dups[:5]})
    top_buyer, top_n = buyers.most_common(1)[0] if buyers else (None, 0)
    share = top_n / total if total else 0
    results["distribution.buyer"] = (share < 0.5, {"top": top_buyer, "share": round(share, 4)})
    values.sort(reverse=True)
    k = max(1, len(values) // 100)
    top_share = sum(values[:k]) / sum(values) if values else 0
    results["distribution.tender_value"] = (top_share < 0.5,
                                            {"top_1pct_share": round(top_share, 4)})
    with conn, conn.cursor() as cur:
        pelican.store_dataset_results(cur, ds, 'dataset', results)
        pelican.set_phase(cur, ds, "DATASET", "OK")
        pelican.send(cur, "pelican_time_based", {"dataset_id": ds})
    etl.progress(1, 1, f"{total} items, {failed_items} not checked")
    return {"dataset_id": ds, "items": total, "failed_items": failed_items}


etl_task.run(main)
