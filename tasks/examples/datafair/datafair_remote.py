#!/usr/bin/python3
"""datafair_remote: data-fair's secondary worker for remote-file datasets (seed 000), run
on a schedule (`etl schedule add remote datafair_remote '*/5 * * * *'`).  Payload {} (every
remote dataset) or {"dataset": ID}.  Each dataset's URL (http, https or file) is fetched
with the ETag it last gave (a 304 is no change); a body whose SHA-256 is the one already
loaded is no change either; a changed one is stored in the dataset's folder and the
dataset `updated` with it, as an upload would.
"""
import hashlib
import os
import tempfile
import urllib.error
import urllib.request


import datafair
import etl_task


def fetch(d):
    """(tmp path, sha256, etag) of the URL's body, or None when unchanged by ETag."""
    req = urllib.request.Request(d["url"])
    if d["etag"]:
        req.add_header("If-None-Match", d["etag"])
    dest = os.path.join(d["dir"], d["id"])
    os.makedirs(dest, mode=0o755, exist_ok=True)
    try:
        resp = urllib.request.urlopen(req, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 304:
            return None
        raise
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=".remote-")
    with resp, os.fdopen(fd, "wb") as out:
        for b in iter(lambda: resp.read(1 << 20), b""):
            h.update(b)
            out.write(b)
        etag = resp.headers.get("ETag")
    return tmp, h.hexdigest(), etag


def main(initial, etl):
    p = initial.get("payload") or {}
    conn = datafair.connect()
    with conn, conn.cursor() as cur:
        if p.get("dataset"):
            cur.execute("SELECT id FROM datafair.dataset WHERE kind = 'remote' AND id = %s",
                        (p["dataset"],))
        else:
            cur.execute("SELECT id FROM datafair.dataset WHERE kind = 'remote' ORDER BY id")
        ids = [r[0] for r in cur.fetchall()]
    out = {"checked": [], "changed": [], "failed": {}}
    for i, ds in enumerate(ids):
        etl_task.progress(i, len(ids), ds)
        with conn, conn.cursor() as cur:
            d = datafair.get(cur, ds)
        out["checked"].append(ds)
        try:
            got = fetch(d)
        except (OSError, ValueError) as e:
            out["failed"][ds] = str(e)
            continue
        if got is None:
            continue
        tmp, sha, etag = got
        if sha == d["remote_sha256"]:
            os.unlink(tmp)
            with conn, conn.cursor() as cur:
                cur.execute("UPDATE datafair.dataset SET etag = %s WHERE id = %s", (etag, ds))
            continue
        path = os.path.join(d["dir"], ds, sha[:16] + ".csv")
        os.replace(tmp, path)
        os.chmod(path, 0o644)
        f = {"path": path, "name": os.path.basename(d["url"]), "sha256": sha,
             "size": os.path.getsize(path)}
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE datafair.dataset SET etag = %s, remote_sha256 = %s WHERE id = %s",
                        (etag, sha, ds))
            cur.execute("SELECT datafair.mark_updated(%s, %s)", (ds, datafair.J({"file": f})))
            datafair.journal(cur, ds, "downloaded", {"url": d["url"], "sha256": sha, "etag": etag})
        out["changed"].append(ds)
    etl_task.progress(len(ids), max(len(ids), 1), "done")
    if out["failed"] and not out["changed"] and len(out["failed"]) == len(ids):
        raise etl_task.Retry(f"every download failed: {out['failed']}")
    return out


etl_task.run(main)
