#!/usr/bin/python3
"""cove_process: a CoVE validation app's processing (seed 002, libcoveweb2's pipeline)
for Open Contracting release packages.  Payload {"url": URL (http, https, file) or
"file": PATH or "content": TEXT, "name", "dir": the app's files folder (etl-api's
--files), "sample": false, "sample_size": 1000, "key": cache key (the job's id),
"expire_days": 7, "versions": {step: version} (stands in for a code change)}.

The upload is fetched into DIR/JOB_ID/, then the steps run on the libetl steps cache
(etl_task.run_steps: keyed on the key, the step's version, the steps it reads and the
input's SHA-256), each with its own progress bar:

  sample                     sample mode: the first releases, the rest never read
  was_json_uploaded          JSON: parsed, a release package
  convert_spreadsheet_to_json  CSV: unflattened into a release package
  get_schema                 the data reader's schema and version, once for the others
  convert_json_to_spreadsheets  JSON: flattened into releases.csv
  additional_fields          fields the schema does not have
  validate                   JSON Schema (draft 4), errors grouped by path
  statistics                 counts, tags, dates, award values by currency

The FINAL payload is get_context: what the results page shows (etl-api's web view,
#/cove/JOB_ID).  Data that is not JSON or CSV fails the job for good (the error page).
"""
import hashlib
import os
import shutil
import tempfile
import urllib.request

import psycopg2

import cove
import etl_task


def fetch(p, folder):
    """The upload as DIR/JOB/original.{json,csv}: {name, kind, size, sha256, file}."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fetch-")
    with os.fdopen(fd, "wb") as out:
        if isinstance(p.get("content"), str):
            out.write(p["content"].encode("utf-8"))
            name = p.get("name") or "upload"
        elif isinstance(p.get("file"), str):
            with open(p["file"], "rb") as f:
                shutil.copyfileobj(f, out)
            name = p.get("name") or os.path.basename(p["file"])
        elif isinstance(p.get("url"), str):
            with urllib.request.urlopen(p["url"], timeout=60) as r:
                shutil.copyfileobj(r, out)
            name = p.get("name") or os.path.basename(p["url"].rstrip("/")) or "download"
        else:
            os.unlink(tmp)
            raise etl_task.BadInput('cove_process wants "url", "file" or "content"')
    kind = cove.sniff(tmp)
    dest = os.path.join(folder, "original." + kind)
    os.replace(tmp, dest)
    os.chmod(dest, 0o644)
    h = hashlib.sha256()
    with open(dest, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return {"name": name, "kind": kind, "size": os.path.getsize(dest), "sha256": h.hexdigest(),
            "file": os.path.basename(dest)}


class App:
    """What the steps share: the upload, its folder, the data read once."""

    def __init__(self, p, folder, upload):
        self.p, self.folder, self.upload = p, folder, upload
        self.sample_mode = bool(p.get("sample"))
        self._data = None
        self._schema = None

    def path(self, name):
        return os.path.join(self.folder, name)

    def data(self, run):
        if self._data is None:
            if "convert_spreadsheet_to_json" in run.results:
                name = run.results["convert_spreadsheet_to_json"]["file"]
            elif "sample" in run.results:
                name = run.results["sample"]["file"]
            else:
                name = self.upload["file"]
            try:
                self._data = cove.load_json(self.path(name))
            except ValueError as e:
                raise etl_task.BadInput(f"{self.upload['name']} is not JSON: {e}") from e
        return self._data

    def schema(self):
        if self._schema is None:
            self._schema = cove.Schema()
        return self._schema


def is_json(run):
    return run.arg.upload["kind"] == "json"


def s_sample(run):
    app = run.arg
    kept, more = cove.sample(app.path(app.upload["file"]), int(app.p.get("sample_size", 1000)),
                             app.path("sample.json"))
    return {"file": "sample.json", "kept": kept, "more": more}


def s_was_json(run):
    d = run.arg.data(run)
    if not isinstance(d, dict) or not isinstance(d.get("releases"), list):
        raise etl_task.BadInput(f"{run.arg.upload['name']}: not a release package "
                                "(an object with a \"releases\" array)")
    return {"releases": len(d["releases"]), "version": d.get("version")}


def s_csv_to_json(run):
    app = run.arg
    pkg = cove.unflatten(app.path(app.upload["file"]), app.schema())
    with open(app.path("unflattened.json"), "w", encoding="utf-8") as f:
        f.write(cove.dumps(pkg))
    return {"file": "unflattened.json", "releases": len(pkg["releases"])}


def s_get_schema(run):
    app = run.arg
    s = app.schema()
    with open(s.path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return {"schema": os.path.basename(s.path), "title": s.doc.get("title"),
            "schema_sha256": sha, "data_version": app.data(run).get("version")}


def s_json_to_csv(run):
    app = run.arg
    cols, rows = cove.flatten(app.data(run))
    cove.write_csv(app.path("releases.csv"), cols, rows)
    return {"file": "releases.csv", "columns": len(cols), "rows": len(rows)}


def s_additional(run):
    return cove.additional_fields(run.arg.data(run), run.arg.schema())


def s_validate(run):
    groups = cove.validate(run.arg.data(run), run.arg.schema())
    return {"error_count": sum(g["count"] for g in groups), "errors": groups}


def s_statistics(run):
    return cove.statistics(run.arg.data(run))


READS = ("sample", "convert_spreadsheet_to_json", "get_schema")
STEPS = [
    etl_task.Step("sample", 1, s_sample,
                  applicable=lambda run: run.arg.sample_mode and is_json(run)),
    etl_task.Step("was_json_uploaded", 1, s_was_json, reads=("sample",), applicable=is_json),
    etl_task.Step("convert_spreadsheet_to_json", 1, s_csv_to_json,
                  applicable=lambda run: not is_json(run)),
    etl_task.Step("get_schema", 1, s_get_schema, reads=("sample", "convert_spreadsheet_to_json")),
    etl_task.Step("convert_json_to_spreadsheets", 1, s_json_to_csv, reads=("sample",),
                  applicable=is_json),
    etl_task.Step("additional_fields", 1, s_additional, reads=READS),
    etl_task.Step("validate", 1, s_validate, reads=READS),
    etl_task.Step("statistics", 1, s_statistics, reads=READS),
]


def get_context(app, out):
    """What the results page shows."""
    r = out["results"]
    downloads = [{"name": app.upload["file"], "label": "the data as uploaded"}]
    for step, label in (("sample", "the sample"), ("convert_spreadsheet_to_json", "as JSON"),
                        ("convert_json_to_spreadsheets", "as a spreadsheet (CSV)")):
        if step in r:
            downloads.append({"name": r[step]["file"], "label": label})
    return {"upload": app.upload, "sample": r.get("sample"),
            "schema": r.get("get_schema"),
            "error_count": r["validate"]["error_count"], "errors": r["validate"]["errors"],
            "additional_fields": r["additional_fields"], "statistics": r["statistics"],
            "downloads": downloads, "expire_days": app.p.get("expire_days", 7),
            "steps": {k: out[k] for k in ("ran", "cached", "skipped")}}


def main(initial, etl):
    p = initial.get("payload") or {}
    if not isinstance(p.get("dir"), str):
        raise etl_task.BadInput('cove_process wants "dir", the app\'s files folder')
    job = os.environ.get("ETL_JOB_ID") or "run"
    folder = os.path.join(p["dir"], job)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    etl_task.progress(0, 1, "fetch", force=True)
    try:
        upload = fetch(p, folder)
    except OSError as e:
        raise etl_task.BadInput(f"could not fetch the data: {e}") from e
    etl_task.progress(1, 1, "fetch", force=True)
    app = App(p, folder, upload)
    conn = psycopg2.connect(service=os.environ.get("ETL_PG_ENV") or None)
    out = etl_task.run_steps(conn, str(p.get("key") or job), upload["sha256"], STEPS,
                             versions=p.get("versions"), arg=app)
    conn.close()
    return get_context(app, out)


etl_task.run(main)
