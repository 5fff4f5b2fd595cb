#!/usr/bin/env python3
"""openapi_check.py DOC METHOD PATH STATUS BODY_FILE: exit 0 when the body (JSON) is what
the OpenAPI document DOC says METHOD PATH answers with STATUS (its schema, validated by
python3-jsonschema), else 1 with why on stderr.  For the API tests."""
import json
import sys

import warnings

import jsonschema

warnings.simplefilter("ignore", DeprecationWarning)


def main():
    doc_path, method, path, status, body_path = sys.argv[1:6]
    with open(doc_path) as f:
        doc = json.load(f)
    op = doc.get("paths", {}).get(path, {}).get(method.lower())
    if op is None:
        print(f"openapi: {method} {path} is not in the document", file=sys.stderr)
        return 1
    resp = op.get("responses", {}).get(status) or op.get("responses", {}).get("default")
    if resp is None:
        print(f"openapi: {method} {path} documents no {status} answer", file=sys.stderr)
        return 1
    schema = resp.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        print(f"openapi: {method} {path} {status} has no JSON schema", file=sys.stderr)
        return 1
    with open(body_path) as f:
        body = json.load(f)
    resolver = jsonschema.RefResolver.from_schema(doc)
    v = jsonschema.Draft202012Validator(schema, resolver=resolver)
    errors = sorted(v.iter_errors(body), key=lambda e: list(e.path))
    for e in errors[:5]:
        print(f"openapi: {method} {path} {status}: at {list(e.path)}: {e.message}",
              file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
