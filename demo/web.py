#!/usr/bin/env python3
"""The demo's web process: answers on $PORT and logs each request."""
import http.server
import os
import signal
import sys

DYNO = os.environ.get("DYNO", "web")
GREETING = os.environ.get("GREETING", "Hello")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{GREETING} from {DYNO}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(f"{self.command} {self.path} -> {fmt % args}", flush=True)


def main():
    port = int(os.environ.get("PORT", "5000"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        print("SIGTERM: shutting down", flush=True)


main()
