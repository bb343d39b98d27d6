#!/usr/bin/env python3
"""Serves the files of a directory on 127.0.0.1 for ftest/stacks.bats, and misbehaves on
request. Usage: stacks_server.py ROOT LOG PORT_FILE

Every request's path is appended to LOG. The first path component says how to answer:
  /plain/NAME      the file
  /slow/NAME       the file in 64 KiB pieces, 20 ms apart
  /truncate/NAME   announces the whole file, sends half of it and closes the connection
  /stall/NAME      announces the whole file, sends half of it and then nothing
  /redirect/URL    a 302 to URL (the rest of the path, as it is)
The port it listens on is written to PORT_FILE once it listens."""
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, LOG, PORT_FILE = sys.argv[1:4]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        with open(LOG, "a") as log:
            log.write(self.path + "\n")
        mode, _, rest = self.path.lstrip("/").partition("/")
        if mode == "redirect":
            self.send_response(302)
            self.send_header("Location", rest)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = os.path.join(ROOT, os.path.basename(rest))
        if not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode in ("truncate", "stall"):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            if mode == "stall":
                time.sleep(3600)
            self.close_connection = True
        elif mode == "slow":
            for i in range(0, len(data), 65536):
                self.wfile.write(data[i : i + 65536])
                self.wfile.flush()
                time.sleep(0.02)
        else:
            self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
