#!/usr/bin/env python3
"""etag_server: a small HTTP server for the tests, serving the files of a folder with an
ETag (their SHA-256) and answering If-None-Match with 304, as a real file server or CDN
does.  Usage: etag_server.py DIR LOGFILE; prints "port N" once listening; each request
is logged as "STATUS PATH" to LOGFILE.
"""
import hashlib
import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def note(self, status):
        with open(self.server.logfile, "a") as f:
            f.write(f"{status} {self.path}\n")

    def do_GET(self):
        name = os.path.basename(self.path.split("?")[0])
        path = os.path.join(self.server.root, name)
        if not name or not os.path.isfile(path):
            self.send_error(404)
            self.note(404)
            return
        body = open(path, "rb").read()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            self.note(304)
            return
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.note(200)


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.root, srv.logfile = sys.argv[1], sys.argv[2]
    print(f"port {srv.server_address[1]}", flush=True)
    srv.serve_forever()


main()
