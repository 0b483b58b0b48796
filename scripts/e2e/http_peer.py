#!/usr/bin/env python3
"""The kernel-side HTTP peer of the end-to-end tests.

Serves files from a directory (GET), stores uploads (PUT/POST) there, and logs every request as
"CLIENT <address> <method> <path> <bytes>" so a test can prove the traffic came from the stack.
Usage: http_peer.py ADDRESS PORT DIRECTORY LOGFILE
"""
import http.server
import os
import sys

address, port, root, logfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)

    def record(self, nbytes):
        with open(logfile, "a") as f:
            f.write(f"CLIENT {self.client_address[0]} {self.command} {self.path} {nbytes}\n")

    def do_GET(self):
        path = self.translate_path(self.path)
        self.record(os.path.getsize(path) if os.path.isfile(path) else 0)
        super().do_GET()

    def do_PUT(self):
        length = int(self.headers.get("Content-Length", 0))
        name = os.path.join(root, os.path.basename(self.path))
        remaining = length
        with open(name, "wb") as f:
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                f.write(chunk)
                remaining -= len(chunk)
        self.record(length - remaining)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer((address, port), Handler).serve_forever()
