"""datafair: what data-fair's workers share (seed 000): the datasets (schema datafair in
the job's pg_env, made on first use), the change a dataset waits on (current_update),
the journal, and reading CSV files (encoding, delimiter, column types, checks).

A dataset is `created` (never processed), `updated` (a change waits: current_update says
which), `finalized`, or `error` (error: the status and step it failed from, why).  Every
change goes through datafair.mark_updated() in SQL: in the writer's own transaction it
merges the change into current_update and sends one dataset_manager job keyed on the
dataset (a `stately` queue: one waiting and one running per dataset, never two at once;
later changes fold into the waiting one).
"""
import codecs
import csv
import datetime
import hashlib
import os
import re

import psycopg2
import psycopg2.extras
from psycopg2 import sql

STEPS = ("analyze", "validate", "load", "index", "finalize")
TYPES = ("integer", "number", "boolean", "date", "date-time", "string")
SQL_TYPE = {"integer": "bigint", "number": "numeric", "boolean": "boolean", "date": "date",
            "date-time": "timestamptz", "string": "text"}
ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,40}$")
MAX_ERRORS = 100

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS datafair;
CREATE TABLE IF NOT EXISTS datafair.dataset (
  id             text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_]{0,40}$'),
  title          text NOT NULL DEFAULT '',
  kind           text NOT NULL CHECK (kind IN ('file', 'rest', 'remote')),
  dir            text,
  url            text,
  status         text NOT NULL DEFAULT 'created'
                 CHECK (status IN ('created', 'updated', 'finalized', 'error')),
  current_update jsonb,
  change_seq     bigint NOT NULL DEFAULT 0,
  error          jsonb,
  schema         jsonb NOT NULL DEFAULT '[]',
  keys           text[] NOT NULL DEFAULT '{}',
  analysis       jsonb,
  file           jsonb,
  running_step   text,
  etag           text,
  remote_sha256  text,
  row_count      bigint,
  stats          jsonb,
  updated_on     timestamptz NOT NULL DEFAULT now(),
  finalized_on   timestamptz);
CREATE TABLE IF NOT EXISTS datafair.journal (
  id          bigserial PRIMARY KEY,
  dataset_id  text NOT NULL,
  event       text NOT NULL,
  data        jsonb,
  at          timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX IF NOT EXISTS journal_dataset ON datafair.journal (dataset_id, id);

-- A change to dataset p_id: merged into current_update, the dataset `updated`, and a
-- dataset_manager job sent for it, all in the caller's transaction.
CREATE OR REPLACE FUNCTION datafair.mark_updated(p_id text, p_change jsonb)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE datafair.dataset
     SET current_update = CASE WHEN status = 'error'
                               THEN coalesce(error->'current_update', '{}') || p_change
                               ELSE coalesce(current_update, '{}') || p_change END,
         status = CASE WHEN status = 'created' THEN 'created' ELSE 'updated' END,
         error = NULL, change_seq = change_seq + 1, updated_on = now()
   WHERE id = p_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no dataset %', p_id USING ERRCODE = 'no_data_found';
  END IF;
  PERFORM etl.send('dataset_manager', jsonb_build_object('dataset', p_id),
                   jsonb_build_object('singleton_key', p_id));
END
$fn$;

-- REST datasets: rows written by any client (SQL, the API) move the dataset to updated.
CREATE OR REPLACE FUNCTION datafair.rows_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM datafair.mark_updated(TG_TABLE_NAME, '{"rows": true}');
  RETURN NULL;
END
$fn$;
"""


def connect():
    """A connection to the job's pg_env (a libpq service), the schema made."""
    conn = psycopg2.connect(service=os.environ.get("ETL_PG_ENV") or None)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT to_regprocedure('datafair.rows_changed()') IS NOT NULL")
        if not cur.fetchone()[0]:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('datafair schema'))")
            cur.execute(SCHEMA)
    return conn


def check_id(ds):
    if not isinstance(ds, str) or not ID.match(ds):
        raise ValueError(f"dataset id {ds!r}: lower-case letters, digits and _, 1 to 41")
    return ds


def table(ds):
    """The dataset's table, an identifier (ids are checked, and quoted anyway)."""
    return sql.Identifier("datafair", check_id(ds))


def journal(cur, ds, event, data=None):
    cur.execute("INSERT INTO datafair.journal (dataset_id, event, data) VALUES (%s, %s, %s)",
                (ds, event, J(data) if data is not None else None))


def get(cur, ds):
    cur.execute("SELECT * FROM datafair.dataset WHERE id = %s", (ds,))
    r = cur.fetchone()
    if r is None:
        return None
    return dict(zip([d[0] for d in cur.description], r))


def key_of(name, taken):
    """data-fair's column key from a header name: lower-case ASCII, _ for the rest."""
    k = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_") or "col"
    if k[0].isdigit():
        k = "c_" + k
    k = k[:50]
    base, n = k, 2
    while k in taken:
        k = f"{base}_{n}"
        n += 1
    taken.add(k)
    return k


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


# ---- values and types ----------------------------------------------------------------

INT = re.compile(r"^[-+]?\d{1,18}$")
NUM = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
BOOLS = {"true", "false"}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def fits(v, t):
    """Whether the non-empty text v is a value of type t."""
    if t == "string":
        return True
    if t == "integer":
        return bool(INT.match(v))
    if t == "number":
        return bool(NUM.match(v))
    if t == "boolean":
        return v.lower() in BOOLS
    if t == "date":
        if not DATE.match(v):
            return False
        try:
            datetime.date.fromisoformat(v)
            return True
        except ValueError:
            return False
    if t == "date-time":
        if not DATETIME.match(v):
            return False
        try:
            datetime.datetime.fromisoformat(v.replace("Z", "+00:00").replace(" ", "T"))
            return True
        except ValueError:
            return False
    return False


def widen(t, v):
    """The narrowest type from t on (in TYPES' order, integer widening to number) that
    holds v as well."""
    order = ["integer", "number", "string"] if t in ("integer", "number") else [t, "string"]
    for c in order:
        if fits(v, c):
            return c
    return "string"


def first_type(v):
    for t in TYPES:
        if fits(v, t):
            return t
    return "string"


# ---- reading a CSV file --------------------------------------------------------------

def detect_encoding(path):
    """utf-8 (with or without a BOM) when the whole file decodes, else windows-1252."""
    dec = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as f:
        head = f.read(3)
        f.seek(0)
        try:
            for b in iter(lambda: f.read(1 << 20), b""):
                dec.decode(b)
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return "windows-1252"
    return "utf-8-sig" if head == codecs.BOM_UTF8 else "utf-8"


def detect_delimiter(path, encoding):
    with open(path, encoding=encoding, newline="") as f:
        sample = f.read(65536)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


class Records:
    """The records of a CSV file, each with the physical line it starts on."""

    def __init__(self, path, encoding, delimiter, progress=None):
        self.f = open(path, encoding=encoding, newline="", errors="strict")
        self.size = os.fstat(self.f.fileno()).st_size
        self.r = csv.reader(self.f, delimiter=delimiter, strict=True)
        self.progress = progress

    def __iter__(self):
        start = 1
        n = 0
        for rec in self.r:
            yield start, rec
            start = self.r.line_num + 1
            n += 1
            if self.progress and n % 5000 == 0:
                self.progress(self.f.buffer.tell(), self.size)

    def close(self):
        self.f.close()


def analyze(path, progress=None):
    """{encoding, delimiter, columns: [{key, name, type}], rows} of a CSV file."""
    enc = detect_encoding(path)
    delim = detect_delimiter(path, enc)
    recs = Records(path, enc, delim, progress)
    it = iter(recs)
    try:
        _, header = next(it)
    except StopIteration:
        recs.close()
        raise ValueError("the file is empty: no header line")
    taken = set()
    cols = [{"key": key_of(h, taken), "name": h.strip(), "type": None} for h in header]
    rows = 0
    try:
        for _, rec in it:
            rows += 1
            for c, v in zip(cols, rec):
                if v == "":
                    continue
                c["type"] = first_type(v) if c["type"] is None else widen(c["type"], v)
    except csv.Error as e:
        raise ValueError(f"line {recs.r.line_num}: {e}") from e
    finally:
        recs.close()
    for c in cols:
        c["type"] = c["type"] or "string"
    return {"encoding": enc, "delimiter": delim, "columns": cols, "rows": rows}


def merge_schema(declared, detected):
    """The dataset's schema: the declared columns, then those only the file has (with
    the detected type)."""
    keys = {c["key"] for c in declared}
    out = [dict(c) for c in declared]
    out += [{"key": c["key"], "type": c["type"]} for c in detected if c["key"] not in keys]
    return out


def validate(path, analysis, schema, out_path, progress=None):
    """Check every row against schema, writing the rows (UTF-8, the schema's column
    order, "," delimited) to out_path for COPY.  Returns (rows, errors) where errors are
    {"line", "column", "message"} (the first MAX_ERRORS) and their count."""
    by_name = {}
    taken = set()
    recs = Records(path, analysis["encoding"], analysis["delimiter"], progress)
    it = iter(recs)
    errors, count = [], 0

    def err(line, col, msg):
        nonlocal count
        count += 1
        if len(errors) < MAX_ERRORS:
            errors.append({"line": line, "column": col, "message": msg})

    try:
        _, header = next(it)
    except StopIteration:
        recs.close()
        return 0, [{"line": 1, "column": None, "message": "the file is empty"}], 1
    for i, h in enumerate(header):
        by_name[key_of(h, taken)] = i
    for c in schema:
        if c.get("required") and c["key"] not in by_name:
            err(1, c["key"], f"required column '{c['key']}' is missing from the header")
    idx = [by_name.get(c["key"]) for c in schema]
    rows = 0
    with open(out_path, "w", encoding="utf-8", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        try:
            for line, rec in it:
                if rec == []:
                    continue
                rows += 1
                if len(rec) != len(header):
                    err(line, None, f"{len(rec)} fields where the header has {len(header)}")
                    continue
                vals = []
                for c, i in zip(schema, idx):
                    v = rec[i] if i is not None else ""
                    if v == "":
                        if c.get("required"):
                            err(line, c["key"], f"column '{c['key']}' is required")
                        vals.append(None)
                        continue
                    if not fits(v, c["type"]):
                        err(line, c["key"], f"'{v[:40]}' is not {'an' if c['type'][0] in 'aeiou' else 'a'} {c['type']}")
                    vals.append(v)
                w.writerow(["" if v is None else v for v in vals])
        except csv.Error as e:
            err(recs.r.line_num, None, str(e))
        except UnicodeDecodeError as e:
            err(recs.r.line_num, None, f"not {analysis['encoding']}: {e.reason}")
        finally:
            recs.close()
    return rows, errors, count


def stats(cur, ds, schema):
    """Row count and per-column statistics of the dataset's table."""
    t = table(ds)
    parts = [sql.SQL("count(*)")]
    for c in schema:
        col = sql.Identifier(c["key"])
        parts.append(sql.SQL("count({c}), count(DISTINCT {c})").format(c=col))
        if c["type"] in ("integer", "number", "date", "date-time"):
            parts.append(sql.SQL("min({c})::text, max({c})::text").format(c=col))
        else:
            parts.append(sql.SQL("NULL::text, NULL::text"))
    cur.execute(sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(parts), t))
    r = cur.fetchone()
    out, i = {}, 1
    for c in schema:
        s = {"count": r[i], "distinct": r[i + 1]}
        if r[i + 2] is not None:
            s["min"], s["max"] = r[i + 2], r[i + 3]
        out[c["key"]] = s
        i += 4
    return r[0], out


def J(v):
    """v as a jsonb parameter, decimals exact."""
    return psycopg2.extras.Json(v, dumps=json_dumps)


def json_dumps(v):
    """JSON text; a decimal (from the INITIAL) as the number it is."""
    import etl_task
    return etl_task.dumps(v)
