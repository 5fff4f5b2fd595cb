"""cove: the checks of a CoVE validation app (seed 002) for Open Contracting release
packages: reading JSON (whole, or a sample of the first releases without reading the
rest), spreadsheets (CSV) to JSON and back, fields the schema does not have, JSON Schema
validation (Debian's python3-jsonschema, draft 4 as OCDS uses) with errors grouped by
path, and statistics.
"""
import collections
import csv
import datetime
import decimal
import json
import os
import re

import jsonschema

import etl_task

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cove-schema")
SCHEMA_FILE = "release-package-schema.json"
EXAMPLES = 3


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f, parse_float=decimal.Decimal)


def dumps(v):
    """JSON text; decimals as the numbers they are."""
    return etl_task.dumps(v)


def sniff(path):
    """'json' when the file starts (after white space) with { or [, else 'csv'."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if head[:1] in (b"{", b"[") else "csv"


def sample(path, n, out_path):
    """The package's first n releases (and its metadata before them) written to
    out_path, reading no further into the file than they are.  Returns (releases kept,
    whether there were more)."""
    dec = json.JSONDecoder(parse_float=decimal.Decimal)
    with open(path, encoding="utf-8") as f:
        buf = f.read(1 << 20)
        m = re.search(r'"releases"\s*:\s*\[', buf)
        while m is None:
            more = f.read(1 << 20)
            if not more:
                raise ValueError("no \"releases\" array in the package")
            buf += more
            m = re.search(r'"releases"\s*:\s*\[', buf)
        head = buf[:m.start()].rstrip()
        try:
            meta = json.loads(head.rstrip(",") + "}", parse_float=decimal.Decimal) \
                if head.startswith("{") else {}
        except ValueError:
            meta = {}
        pos, rels, more_left = m.end(), [], False
        while True:
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    pos += 1
                if pos < len(buf):
                    break
                chunk = f.read(1 << 20)
                if not chunk:
                    raise ValueError("the releases array never ends")
                buf, pos = buf[pos:] + chunk, 0
            if buf[pos] == "]":
                break
            if len(rels) == n:
                more_left = True
                break
            try:
                obj, end = dec.raw_decode(buf, pos)
            except json.JSONDecodeError:
                chunk = f.read(1 << 20)
                if not chunk:
                    raise
                buf, pos = buf[pos:] + chunk, 0
                continue
            rels.append(obj)
            pos = end
    meta["releases"] = rels
    with open(out_path, "w", encoding="utf-8") as out:
        out.write(dumps(meta))
    return len(rels), more_left


# ---- the schema ------------------------------------------------------------------------

class Schema:
    """The release package schema, its $refs resolved on demand."""

    def __init__(self, path=None):
        self.path = path or os.path.join(SCHEMA_DIR, SCHEMA_FILE)
        with open(self.path, encoding="utf-8") as f:
            self.doc = json.load(f)

    def resolve(self, s):
        while isinstance(s, dict) and "$ref" in s:
            ref = s["$ref"]
            if not ref.startswith("#/definitions/"):
                raise ValueError(f"unsupported $ref {ref}")
            s = self.doc["definitions"][ref[len("#/definitions/"):]]
        return s

    def at(self, path):
        """The schema of a path (segments; list indices as ints), or None."""
        s = self.doc
        for seg in path:
            s = self.resolve(s)
            if isinstance(seg, int):
                s = s.get("items") if isinstance(s, dict) else None
            else:
                s = (s.get("properties") or {}).get(seg) if isinstance(s, dict) else None
            if s is None:
                return None
        return self.resolve(s)


def types_of(s):
    t = (s or {}).get("type", [])
    return set(t if isinstance(t, list) else [t])


# ---- spreadsheets (CSV) ----------------------------------------------------------------

def flatten(pkg):
    """The releases as rows of {path: text}: paths by "/" with array indices
    ("awards/0/value/amount"); arrays of strings joined by ";"."""
    rows, cols = [], {}

    def walk(v, path, row):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, path + [k], row)
        elif isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            put(row, path, ";".join(v))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, path + [str(i)], row)
        elif v is None:
            return
        else:
            put(row, path, v)

    def put(row, path, v):
        key = "/".join(path)
        cols.setdefault(key, None)
        if isinstance(v, bool):
            v = "true" if v else "false"
        row[key] = str(v)

    for r in pkg.get("releases", []):
        row = {}
        walk(r, [], row)
        rows.append(row)
    return list(cols), rows


def write_csv(path, cols, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def _typed(text, s):
    t = types_of(s)
    if "array" in t:
        return text.split(";")
    if "string" in t:
        return text
    if "integer" in t and re.match(r"^-?\d+$", text):
        return int(text)
    if "number" in t:
        try:
            return int(text) if re.match(r"^-?\d+$", text) else decimal.Decimal(text)
        except decimal.InvalidOperation:
            return text
    if "boolean" in t and text in ("true", "false"):
        return text == "true"
    return text


def unflatten(path, schema):
    """A CSV of flattened releases (flatten's shape) as a release package."""
    rels = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            rel = {}
            for key, text in row.items():
                if key is None or text is None or text == "":
                    continue
                segs = [int(s) if s.isdigit() else s for s in key.split("/")]
                cur = rel
                for i, seg in enumerate(segs):
                    last = i == len(segs) - 1
                    nxt = [] if not last and isinstance(segs[i + 1], int) else {}
                    if isinstance(seg, int):
                        while len(cur) <= seg:
                            cur.append({})
                        if last:
                            cur[seg] = _typed(text, schema.at(["releases", 0] + segs))
                        else:
                            if cur[seg] == {} and isinstance(nxt, list):
                                cur[seg] = []
                            cur = cur[seg]
                    else:
                        if last:
                            cur[seg] = _typed(text, schema.at(["releases", 0] + segs))
                        else:
                            cur = cur.setdefault(seg, nxt)
            rels.append(rel)
    return {"version": "1.1", "releases": rels}


# ---- checks ----------------------------------------------------------------------------

def _generic(path):
    return "/".join(str(p) for p in path if not isinstance(p, int))


def additional_fields(pkg, schema):
    """Fields the schema does not have: {generic path: {"count", "examples"}}."""
    found = collections.OrderedDict()

    def walk(v, s, path):
        s = schema.resolve(s) if s is not None else None
        if isinstance(v, dict):
            props = (s or {}).get("properties") or {}
            for k, x in v.items():
                if s is not None and k not in props:
                    g = _generic(path + [k])
                    e = found.setdefault(g, {"count": 0, "examples": []})
                    e["count"] += 1
                    if len(e["examples"]) < EXAMPLES:
                        e["examples"].append("/".join(map(str, path + [k])))
                    continue
                walk(x, props.get(k), path + [k])
        elif isinstance(v, list):
            items = (s or {}).get("items")
            for i, x in enumerate(v):
                walk(x, items, path + [i])

    walk(pkg, schema.doc, [])
    return found


FORMATS = jsonschema.FormatChecker(())
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@FORMATS.checks("date-time")
def _date_time(v):
    if not isinstance(v, str):
        return True
    if not DATETIME.match(v):
        return False
    try:
        datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@FORMATS.checks("uri")
def _uri(v):
    return not isinstance(v, str) or bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$", v))


def _message(e):
    if e.validator == "required":
        m = re.match(r"^'(.+)' is a required property$", e.message)
        return f"'{m.group(1)}' is missing but required" if m else e.message
    if e.validator == "type":
        t = e.validator_value
        return "is not of type " + (" or ".join(t) if isinstance(t, list) else t)
    if e.validator == "enum":
        return "is not one of the codes of its codelist"
    if e.validator == "format":
        return f"is not a valid {e.validator_value}"
    if e.validator in ("minLength", "minItems"):
        return "is too short (empty)"
    if e.validator == "uniqueItems":
        return "has items that are not unique"
    if e.validator == "pattern":
        return f"does not match {e.validator_value}"
    return e.message


def validate(pkg, schema):
    """JSON Schema errors grouped by message and generic path: [{"message", "path",
    "validator", "count", "examples": [{"path", "value"}]}], most frequent first."""
    v = jsonschema.Draft4Validator(schema.doc, format_checker=FORMATS)
    groups = collections.OrderedDict()
    for e in v.iter_errors(pkg):
        path = list(e.absolute_path)
        if e.validator == "required":
            m = re.match(r"^'(.+)' is a required property$", e.message)
            if m:
                path = path + [m.group(1)]
        msg = _message(e)
        key = (msg, _generic(path))
        g = groups.setdefault(key, {"message": msg, "path": key[1], "validator": e.validator,
                                    "count": 0, "examples": []})
        g["count"] += 1
        if len(g["examples"]) < EXAMPLES:
            val = e.instance if e.validator != "required" else None
            if isinstance(val, (dict, list)):
                val = None
            g["examples"].append({"path": "/".join(map(str, path)), "value": val})
    return sorted(groups.values(), key=lambda g: (-g["count"], g["path"], g["message"]))


def statistics(pkg):
    rels = pkg.get("releases") or []
    ocids = collections.Counter(r.get("ocid") for r in rels
                                if isinstance(r, dict) and isinstance(r.get("ocid"), str))
    tags = collections.Counter(t for r in rels if isinstance(r, dict)
                               for t in (r.get("tag") or []) if isinstance(t, str))
    dates = sorted(r["date"] for r in rels if isinstance(r, dict) and _date_time(r.get("date"))
                   and isinstance(r.get("date"), str))
    awards = [a for r in rels if isinstance(r, dict) for a in (r.get("awards") or [])
              if isinstance(a, dict)]
    by_cur = collections.defaultdict(decimal.Decimal)
    for a in awards:
        val = a.get("value") or {}
        amt = val.get("amount") if isinstance(val, dict) else None
        if isinstance(amt, (int, decimal.Decimal)) and not isinstance(amt, bool):
            by_cur[val.get("currency") or "?"] += amt
    parties = {p.get("id") for r in rels if isinstance(r, dict) for p in (r.get("parties") or [])
               if isinstance(p, dict)}
    return {"releases": len(rels), "unique_ocids": len(ocids),
            "duplicate_ocids": sum(1 for c in ocids.values() if c > 1),
            "tags": dict(sorted(tags.items())),
            "first_date": dates[0] if dates else None, "last_date": dates[-1] if dates else None,
            "parties": len(parties), "awards": len(awards),
            "contracts": sum(len(r.get("contracts") or []) for r in rels if isinstance(r, dict)),
            "award_value_by_currency": {k: by_cur[k] for k in sorted(by_cur)}}
