"""pelican: what Pelican's workers share (seed 001): the database (schema pelican in the
job's pg_env, made on first use), the dataset's phases and states, and the checks.

Phases, in order: CONTRACTING_PROCESS (item checks), DATASET (dataset checks),
TIME_VARIANCE (time-based checks), CHECKED (reported); each with a state IN_PROGRESS,
OK or FAILED.  Items: IN_PROGRESS until checked, then OK (or FAILED when their check
job failed for good).
"""
import datetime
import os
import re

import psycopg2
import psycopg2.extras

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS pelican;
CREATE TABLE IF NOT EXISTS pelican.dataset (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL,
  source      text NOT NULL,
  ancestor_id bigint REFERENCES pelican.dataset (id),
  phase       text NOT NULL DEFAULT 'CONTRACTING_PROCESS',
  state       text NOT NULL DEFAULT 'IN_PROGRESS',
  size        int NOT NULL DEFAULT 0,
  meta        jsonb NOT NULL DEFAULT '{}',
  extract_job text UNIQUE,
  created_on  timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS pelican.data_item (
  id          bigserial PRIMARY KEY,
  dataset_id  bigint NOT NULL REFERENCES pelican.dataset (id),
  ocid        text,
  data        jsonb NOT NULL,
  state       text NOT NULL DEFAULT 'IN_PROGRESS',
  checks      int NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS data_item_dataset ON pelican.data_item (dataset_id, id);
CREATE TABLE IF NOT EXISTS pelican.item_result (
  dataset_id  bigint NOT NULL,
  item_id     bigint NOT NULL,
  check_name  text NOT NULL,
  passed      bool,
  detail      jsonb,
  PRIMARY KEY (item_id, check_name));
CREATE INDEX IF NOT EXISTS item_result_dataset ON pelican.item_result (dataset_id, check_name);
CREATE TABLE IF NOT EXISTS pelican.dataset_result (
  dataset_id  bigint NOT NULL,
  check_name  text NOT NULL,
  kind        text NOT NULL,
  passed      bool,
  result      jsonb,
  PRIMARY KEY (dataset_id, check_name));
CREATE TABLE IF NOT EXISTS pelican.report (
  dataset_id  bigint PRIMARY KEY,
  report      jsonb NOT NULL,
  created_on  timestamptz NOT NULL DEFAULT now());
"""


def connect():
    """A connection to the job's pg_env (a libpq service), the schema made."""
    conn = psycopg2.connect(service=os.environ.get("ETL_PG_ENV") or None)
    with conn, conn.cursor() as cur:
        # made once, by the first worker: the DDL's table locks would otherwise meet the
        # other workers' open transactions (a deadlock)
        cur.execute("SELECT to_regclass('pelican.report') IS NOT NULL")
        if not cur.fetchone()[0]:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('pelican schema'))")
            cur.execute(SCHEMA)
    return conn


def set_phase(cur, dataset_id, phase, state):
    cur.execute("UPDATE pelican.dataset SET phase = %s, state = %s WHERE id = %s",
                (phase, state, dataset_id))


# ---- the checks ------------------------------------------------------------------

CURRENCIES = {"EUR", "USD", "GBP", "MXN", "COP", "PYG", "UAH", "NGN", "KES", "CHF"}
OCID = re.compile(r"^ocds-[a-z0-9]{6}-\S+$")


def _date(s):
    if not isinstance(s, str):
        return None
    try:
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def _amount_ok(v):
    return isinstance(v, dict) and isinstance(v.get("amount"), (int, float)) and \
        not isinstance(v.get("amount"), bool) and v["amount"] >= 0


def field_checks(r):
    """Field-level checks: {check: (passed, detail)}; None passed = not applicable."""
    out = {}
    out["ocid.format"] = (bool(OCID.match(str(r.get("ocid", "")))), r.get("ocid"))
    out["date.format"] = (_date(r.get("date")) is not None, r.get("date"))
    tv = (r.get("tender") or {}).get("value")
    out["tender.value.amount.non_negative"] = (_amount_ok(tv), (tv or {}).get("amount")) \
        if tv is not None else (None, None)
    out["tender.value.currency.code"] = ((tv or {}).get("currency") in CURRENCIES,
                                         (tv or {}).get("currency")) \
        if tv is not None else (None, None)
    awards = r.get("awards") or []
    bad = [a.get("id") for a in awards if _date(a.get("date")) is None]
    out["awards.date.format"] = (not bad, bad) if awards else (None, None)
    buyer = r.get("buyer") or {}
    out["buyer.id.present"] = (bool(buyer.get("id")), buyer.get("id"))
    return out


def release_checks(r):
    """Compiled-release-level checks: {check: (passed, detail)}."""
    out = {}
    start = _date(((r.get("tender") or {}).get("tenderPeriod") or {}).get("startDate"))
    awards = r.get("awards") or []
    contracts = r.get("contracts") or []
    # coherent dates: tender start <= award <= contract signature
    bad = []
    for a in awards:
        d = _date(a.get("date"))
        if start and d and d < start:
            bad.append(a.get("id"))
    by_award = {a.get("id"): a for a in awards}
    for c in contracts:
        d = _date(c.get("dateSigned"))
        a = by_award.get(c.get("awardID"))
        ad = _date(a.get("date")) if a else None
        if d and ad and d < ad:
            bad.append(c.get("id"))
    out["dates.coherent"] = (not bad, bad) if (awards or contracts) else (None, None)
    # a contract's value is at most its award's
    bad = []
    for c in contracts:
        a = by_award.get(c.get("awardID"))
        cv, av = (c.get("value") or {}).get("amount"), ((a or {}).get("value") or {}).get("amount")
        if isinstance(cv, (int, float)) and isinstance(av, (int, float)) and cv > av:
            bad.append(c.get("id"))
    out["contracts.value.within_award"] = (not bad, bad) if contracts else (None, None)
    # the parties referenced by id exist
    ids = {p.get("id") for p in r.get("parties") or []}
    refs = [(r.get("buyer") or {}).get("id")] + \
        [s.get("id") for a in awards for s in a.get("suppliers") or []]
    missing = [x for x in refs if x and x not in ids]
    out["parties.referenced"] = (not missing, missing)
    return out


def publish(cur, dataset_id, per_job):
    """Publish check jobs for the dataset's items, per_job ids each, in an etl batch that
    ends in pelican_check_dataset (in the caller's transaction).  (batch id, jobs)."""
    cur.execute("INSERT INTO etl.batch (on_finish, data) VALUES "
                "('pelican_check_dataset', jsonb_build_object('dataset_id', %s::bigint)) "
                "RETURNING id", (dataset_id,))
    bid = cur.fetchone()[0]
    cur.execute("SELECT id FROM pelican.data_item WHERE dataset_id = %s ORDER BY id",
                (dataset_id,))
    ids = [r[0] for r in cur.fetchall()]
    jobs = 0
    for i in range(0, len(ids), per_job):
        cur.execute("SELECT id FROM etl.send('pelican_check_item', "
                    "jsonb_build_object('dataset_id', %s::bigint, 'items', %s::bigint[]), "
                    "jsonb_build_object('batch_id', %s::text))",
                    (dataset_id, ids[i:i + per_job], str(bid)))
        jobs += 1
    cur.execute("SELECT etl.batch_close(%s)", (bid,))
    return str(bid), jobs


def send(cur, queue, payload):
    """Send the next worker's job in the caller's transaction."""
    import json
    cur.execute("SELECT id FROM etl.send(%s, %s::jsonb)", (queue, json.dumps(payload)))


def items_in_batches(conn, dataset_id, size=1000, ancestor=False):
    """The dataset's items (id, ocid, data), read in batches by id."""
    last = 0
    while True:
        with conn.cursor() as cur:
            cur.execute("SELECT id, ocid, data FROM pelican.data_item WHERE dataset_id = %s "
                        "AND id > %s ORDER BY id LIMIT %s", (dataset_id, last, size))
            rows = cur.fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def store_dataset_results(cur, dataset_id, kind, results):
    """Store {check: (passed, result)} of one kind (dataset, time) for the dataset."""
    import json
    for name, (passed, res) in results.items():
        cur.execute("INSERT INTO pelican.dataset_result (dataset_id, check_name, kind, "
                    "passed, result) VALUES (%s, %s, %s, %s, %s) ON CONFLICT "
                    "(dataset_id, check_name) DO UPDATE SET passed = EXCLUDED.passed, "
                    "result = EXCLUDED.result", (dataset_id, name, kind, passed,
                                                 json.dumps(res)))
