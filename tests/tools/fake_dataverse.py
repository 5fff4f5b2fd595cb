#!/usr/bin/env python3
"""fake_dataverse.py: a local stand-in for Dataverse's native API, for the dataload tests.
It answers POST /api/datasets/:persistentId/addFiles?persistentId=DOI as Dataverse does
(https://guides.dataverse.org/en/latest/developers/s3-direct-upload-api.html, "To add
multiple Uploaded Files to the Dataset"), and checks each request as the real API would:
the API key (X-Dataverse-key), the dataset's DOI, a multipart/form-data body whose
jsonData field is a JSON array of files, each with a storageIdentifier of the store's
form (file://<hex ms>-<12 hex>) naming a file present in the store at
FILES_DIR/<doi path>/<id> whose MD5 is the checksum given, a fileName and a mimeType.
Every request is logged (one JSON line: what was checked, what was answered).

    fake_dataverse.py --key KEY --doi doi:10.5072/FK2/X --files-dir DIR --log FILE
                      --port-file FILE
"""
import argparse
import email.parser
import email.policy
import hashlib
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse

SID = re.compile(r"^file://([0-9a-f]{10,12}-[0-9a-f]{12})$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--doi", required=True)
    ap.add_argument("--files-dir", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    lock = threading.Lock()
    state = {"next_id": 1000}

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, code, body, checked):
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            with lock, open(a.log, "a") as f:
                f.write(json.dumps({"path": self.path, "status": code, **checked}) + "\n")

        def error(self, code, msg, checked):
            self.answer(code, {"status": "ERROR", "message": msg}, checked)

        def do_POST(self):
            u = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(u.query)
            checked = {"files": 0}
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            if u.path != "/api/datasets/:persistentId/addFiles":
                return self.error(404, "API endpoint does not exist on this server", checked)
            if self.headers.get("X-Dataverse-key") != a.key:
                return self.error(401, "Bad API key", checked)
            if q.get("persistentId") != [a.doi]:
                return self.error(404, "Dataset with Persistent ID %s not found."
                                  % q.get("persistentId"), checked)
            ctype = self.headers.get("Content-Type", "")
            if not ctype.startswith("multipart/form-data"):
                return self.error(400, "want multipart/form-data", checked)
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            fields = {p.get_param("name", header="content-disposition"): p.get_content()
                      for p in msg.iter_parts()}
            try:
                files = json.loads(fields["jsonData"])
            except (KeyError, ValueError) as e:
                return self.error(400, "jsonData: %s" % e, checked)
            if not isinstance(files, list) or not files:
                return self.error(400, "jsonData must be a non-empty array", checked)
            store = os.path.join(a.files_dir, a.doi[len("doi:"):])
            out = []
            for f in files:
                m = SID.match(f.get("storageIdentifier", ""))
                if not m or not f.get("fileName") or not f.get("mimeType"):
                    return self.error(400, "bad file entry %s" % f, checked)
                ck = f.get("checksum") or {}
                path = os.path.join(store, m.group(1))
                try:
                    with open(path, "rb") as fh:
                        md5 = hashlib.md5(fh.read()).hexdigest()
                except OSError as e:
                    return self.error(400, "%s: not in the store (%s)" % (m.group(1), e), checked)
                if ck.get("@type") != "MD5" or ck.get("@value") != md5:
                    return self.error(400, "%s: checksum %s is not the file's" % (m.group(1), ck), checked)
                with lock:
                    state["next_id"] += 1
                    fid = state["next_id"]
                out.append({"storageIdentifier": f["storageIdentifier"], "fileName": f["fileName"],
                            "fileDetails": {"id": fid, "directoryLabel": f.get("directoryLabel", ""),
                                            "checksum": ck, "contentType": f["mimeType"]}})
            checked = {"files": len(out), "ids": [o["fileDetails"]["id"] for o in out],
                       "names": [os.path.join(f.get("directoryLabel", ""), f["fileName"]) for f in files],
                       "mimes": sorted({f["mimeType"] for f in files})}
            self.answer(200, {"status": "OK", "data": {"Files": out, "Result": {
                "Total number of files": len(out),
                "Number of files successfully added": len(out)}}}, checked)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
