#!/usr/bin/python3
"""datafair_api: what data-fair's API does to datasets (seed 000), as jobs, so that the
etl CLI and etl-api's send are its clients.  Payload {"op": ..., "dataset": ID, ...}:

  create  {"kind": "file"|"rest"|"remote", "title", "dir" (file, remote: the folder
          datasets live in), "url" (remote), "schema": [{"key", "type", "required"}],
          "keys": [column keys to index]}; a file dataset may come with its upload
  upload  {"file": PATH or "content": TEXT, "name"}: a CSV, or a zip holding one, copied
          into the dataset's folder; the dataset `updated` with currentUpdate.file
  patch   {"patch": {"title", "schema", "keys"}}: a column's type or the keys are
          impactful (the dataset `updated`, with only what the manager must redo); the
          title is not
  rows    {"rows": [{column: value}]}: rows written to a REST dataset (its trigger
          marks the dataset updated, as for rows written by SQL)

Each change and its dataset_manager job are one transaction (datafair.mark_updated).
"""
import os
import shutil
import tempfile
import zipfile

import psycopg2
from psycopg2 import sql

import datafair
import etl_task


def folder(d):
    path = os.path.join(d["dir"], d["id"])
    os.makedirs(path, mode=0o755, exist_ok=True)
    return path


def store_upload(d, p):
    """The upload as a CSV file in the dataset's folder: {path, name, sha256, size}."""
    dest = folder(d)
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=".upload-")
    with os.fdopen(fd, "wb") as out:
        if isinstance(p.get("content"), str):
            out.write(p["content"].encode("utf-8"))
            name = p.get("name") or "upload.csv"
        elif isinstance(p.get("file"), str):
            with open(p["file"], "rb") as f:
                shutil.copyfileobj(f, out)
            name = p.get("name") or os.path.basename(p["file"])
        else:
            os.unlink(tmp)
            raise etl_task.BadInput('upload wants "file": PATH or "content": TEXT')
    if zipfile.is_zipfile(tmp):
        with zipfile.ZipFile(tmp) as z:
            members = [m for m in z.infolist() if m.filename.lower().endswith(".csv")
                       and not m.is_dir()]
            if len(members) != 1:
                os.unlink(tmp)
                raise etl_task.BadInput(f"{name}: a zip must hold exactly one .csv file "
                                        f"({len(members)} here)")
            fd2, tmp2 = tempfile.mkstemp(dir=dest, prefix=".upload-")
            with z.open(members[0]) as src, os.fdopen(fd2, "wb") as out:
                shutil.copyfileobj(src, out)
        os.unlink(tmp)
        tmp, name = tmp2, os.path.basename(members[0].filename)
    sha = datafair.sha256_of(tmp)
    path = os.path.join(dest, sha[:16] + ".csv")
    os.replace(tmp, path)
    os.chmod(path, 0o644)
    return {"path": path, "name": name, "sha256": sha, "size": os.path.getsize(path)}


def check_schema(schema):
    if not isinstance(schema, list):
        raise etl_task.BadInput("schema: a list of {key, type, required}")
    for c in schema:
        if not isinstance(c, dict) or not isinstance(c.get("key"), str) or \
                not datafair.ID.match(c["key"]) or c.get("type") not in datafair.TYPES:
            raise etl_task.BadInput(f"schema: {c!r}: key [a-z0-9_], type one of "
                                    f"{', '.join(datafair.TYPES)}")
    return schema


def op_create(conn, p, ds):
    kind = p.get("kind", "file")
    if kind not in ("file", "rest", "remote"):
        raise etl_task.BadInput("kind: file, rest or remote")
    schema = check_schema(p.get("schema", []))
    keys = p.get("keys", [])
    if kind != "rest" and not isinstance(p.get("dir"), str):
        raise etl_task.BadInput(f"a {kind} dataset wants \"dir\", the folder datasets live in")
    if kind == "remote" and not isinstance(p.get("url"), str):
        raise etl_task.BadInput("a remote dataset wants \"url\"")
    if kind == "rest" and not schema:
        raise etl_task.BadInput("a rest dataset wants its schema")
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO datafair.dataset (id, title, kind, dir, url, schema, keys) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    (ds, p.get("title", ds), kind, p.get("dir"), p.get("url"),
                     datafair.J(schema), keys))
        if cur.rowcount == 0:
            return {"dataset": ds, "created": False}
        datafair.journal(cur, ds, "created", {"kind": kind})
        if kind == "rest":
            t = datafair.table(ds)
            cols = [sql.SQL("{} {}{}").format(sql.Identifier(c["key"]),
                                              sql.SQL(datafair.SQL_TYPE[c["type"]]),
                                              sql.SQL(" NOT NULL" if c.get("required") else ""))
                    for c in schema]
            cur.execute(sql.SQL("CREATE TABLE {} ({})").format(t, sql.SQL(", ").join(cols)))
            cur.execute(sql.SQL("CREATE TRIGGER rows_changed AFTER INSERT OR UPDATE OR DELETE "
                                "OR TRUNCATE ON {} FOR EACH STATEMENT "
                                "EXECUTE FUNCTION datafair.rows_changed()").format(t))
            cur.execute("SELECT datafair.mark_updated(%s, '{}')", (ds,))
    if kind == "file" and ("file" in p or "content" in p):
        op_upload(conn, p, ds)
    return {"dataset": ds, "created": True}


def op_upload(conn, p, ds):
    with conn, conn.cursor() as cur:
        d = datafair.get(cur, ds)
    if d is None or d["kind"] == "rest":
        raise etl_task.BadInput(f"no file dataset {ds}")
    f = store_upload(d, p)
    change = {"file": f}
    if p.get("hold_at"):		# the crash tests' hook
        change["hold_at"] = p["hold_at"]
    with conn, conn.cursor() as cur:
        cur.execute("SELECT datafair.mark_updated(%s, %s)", (ds, datafair.J(change)))
        datafair.journal(cur, ds, "uploaded", {"name": f["name"], "sha256": f["sha256"]})
    return {"dataset": ds, "file": f}


def op_patch(conn, p, ds):
    patch = p.get("patch")
    if not isinstance(patch, dict) or not set(patch) <= {"title", "schema", "keys"}:
        raise etl_task.BadInput('patch wants {"patch": {"title", "schema", "keys"}}')
    with conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM datafair.dataset WHERE id = %s FOR UPDATE", (ds,))
        if cur.fetchone() is None:
            raise etl_task.BadInput(f"no dataset {ds}")
        d = datafair.get(cur, ds)
        change = {}
        if "title" in patch:
            cur.execute("UPDATE datafair.dataset SET title = %s WHERE id = %s", (patch["title"], ds))
        if "schema" in patch:
            new = {c["key"]: c for c in check_schema(patch["schema"])}
            old = {c["key"]: c for c in d["schema"]}
            if set(new) - set(old):
                raise etl_task.BadInput(f"schema: no column {sorted(set(new) - set(old))[0]}")
            merged = [dict(old[k], **new.get(k, {})) for k in old]
            if any(new[k]["type"] != old[k]["type"] or bool(new[k].get("required")) !=
                   bool(old[k].get("required")) for k in new):
                change["schema"] = True
            cur.execute("UPDATE datafair.dataset SET schema = %s WHERE id = %s",
                        (datafair.J(merged), ds))
        if "keys" in patch:
            keys = patch["keys"]
            cols = {c["key"] for c in d["schema"]}
            if not isinstance(keys, list) or any(k not in cols for k in keys):
                raise etl_task.BadInput(f"keys: column keys of the dataset ({', '.join(sorted(cols))})")
            if sorted(keys) != sorted(d["keys"]):
                change["keys"] = True
            cur.execute("UPDATE datafair.dataset SET keys = %s WHERE id = %s", (keys, ds))
        datafair.journal(cur, ds, "patched", {"patch": patch, "impact": sorted(change)})
        if change:
            cur.execute("SELECT datafair.mark_updated(%s, %s)", (ds, datafair.J(change)))
    return {"dataset": ds, "impact": sorted(change)}


def op_rows(conn, p, ds):
    rows = p.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise etl_task.BadInput('rows wants {"rows": [{column: value}]}')
    with conn, conn.cursor() as cur:
        d = datafair.get(cur, ds)
        if d is None or d["kind"] != "rest":
            raise etl_task.BadInput(f"no rest dataset {ds}")
        cur.execute(sql.SQL("INSERT INTO {t} SELECT * FROM jsonb_populate_recordset(NULL::{t}, %s)").format(
            t=datafair.table(ds)), (datafair.J(rows),))
    return {"dataset": ds, "rows": len(rows)}


OPS = {"create": op_create, "upload": op_upload, "patch": op_patch, "rows": op_rows}


def main(initial, etl):
    p = initial.get("payload") or {}
    if p.get("op") not in OPS:
        raise etl_task.BadInput(f"op: one of {', '.join(OPS)}")
    try:
        ds = datafair.check_id(p.get("dataset"))
    except ValueError as e:
        raise etl_task.BadInput(str(e)) from e
    conn = datafair.connect()
    try:
        return OPS[p["op"]](conn, p, ds)
    except (psycopg2.DataError, psycopg2.IntegrityError) as e:
        raise etl_task.BadInput(str(e).strip().splitlines()[0]) from e


etl_task.run(main)
