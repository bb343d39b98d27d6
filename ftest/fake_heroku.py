#!/usr/bin/env python3
"""A scripted stand-in for the Heroku Platform API and for logplex's HTTP input, for the
functional tests in ftest/. Python 3 standard library only.

    fake_heroku.py --mode api|logplex --state STATE.json --log REQUESTS.jsonl \\
                   --port-file PORTFILE [--port PORT]
    fake_heroku.py --selftest

It listens on 127.0.0.1:PORT (0, the default, picks a free port), writes the port number to
PORTFILE once it listens (through PORTFILE.tmp and a rename, so a reader never sees half of
it) and serves HTTP/1.1 with persistent connections until SIGTERM or SIGINT, then exits 0.

STATE.json is read again for every request, so a test steers the server by writing a new
file and renaming it over the old one. A state that cannot be read or parsed (missing,
half-written) is ignored: the last good one stays in force ({} before the first).

REQUESTS.jsonl gets one JSON object per line for each request, written and flushed before
any byte of the answer goes out (whatever a client has seen is already in the log):
  t        time.monotonic() once the request's headers were read (compare two of them)
  conn     the number of the TCP connection it came on, from 1 (equal numbers: keep-alive)
  method, path (with the query string), headers ({lower-case name: value}), body (the
           request body decoded as latin-1, so every byte is kept)
  status   the status sent, or "reset" when the connection was closed without an answer
  faults   (api) the ids of the faults applied to it
  truncated  (api) how many body bytes were sent before the connection was closed
  frames   (logplex POST /logs) the frames of a well-formed body, without their octet
           counts, decoded as UTF-8 (bytes that are not UTF-8 become U+FFFD)
  bad      (logplex POST /logs) why the body was refused with 400
  error    a bug in this server or a state it could not use (answered with 500)

Mode api: a Platform API v3 for one app. STATE.json:
  {"token": "SECRET",
   "app": {"id": "UUID", "name": "myapp", "stack": {"id": "UUID", "name": "heroku-22"}},
   "releases": [{"id": "UUID", "version": 1, "status": "succeeded", "description": "...",
                 "slug": {"id": "UUID"} or null, "current": true}],
   "config_vars": {"RELEASE ID": {"KEY": "VALUE"}},
   "slugs": {"SLUG ID": {"process_types": {"web": "CMD"}, "file": "/abs/slug.tgz",
                         "stack": {"name": "heroku-22"}}},
   "formation": [{"type": "web", "quantity": 1, "command": "bash web.sh",
                  "size": "standard-1X"}],
   "ratelimit_remaining": 4500,
   "faults": [{"id": "f1", "path": "REGEX", "times": 2, ...action...}]}
Objects are answered with Heroku's other fields filled in (created_at, owner, ...) from
values derived from the state, so an unchanged state gives byte-identical answers and
unchanged ETags; any field a state object has overrides the derived one (a slug's "size" or
"checksum" too, to serve a wrong one; its "file" is never shown).

  GET /apps/APP                          the app (APP: its name or id)
  GET /apps/APP/releases                 the releases; Range as Heroku has it:
        "FIELD [START]..[END][; max=N][, order=asc|desc]", FIELD id or version, START
        written "]START" to leave START out, START and END taken in the order asked for
        (with order=desc, START is the highest); without Range: id order, ascending, 200
        at most (max may be 1..1000). 206 and Next-Range when more releases are left,
        else 200; 400 for a Range it cannot parse
  GET /apps/APP/releases/ID-OR-VERSION   one release
  GET /apps/APP/releases/ID-OR-VERSION/config-vars   config_vars[its id], {} if none
  GET /apps/APP/config-vars              the config vars of the highest version
  GET /apps/APP/slugs/SLUG               the slug, with size and "SHA256:hex" checksum of
        its file and blob.url http://127.0.0.1:PORT/blobs/SLUG?sig=RANDOM (new each time)
  GET /apps/APP/formation                the formation
  GET /blobs/SLUG                        the slug's file, no credentials needed, query
        ignored; "Range: bytes=N-", "bytes=N-M" and "bytes=-N" give 206, or 416 past the end
  GET /_fake/counts                      {fault id: times applied}; not logged, no faults
All but /blobs and /_fake want "Authorization: Bearer TOKEN" (else 401 unauthorized) and
"Accept: application/vnd.heroku+json; version=3" (else 400 bad_request), carry
RateLimit-Remaining and Request-Id, and 200/206 carry a strong ETag: an If-None-Match that
names it gets 304 with no body. Unknown apps, releases, slugs and routes get 404 not_found.

Faults are tried, in order, before anything else on every request but /_fake/counts. One
applies when its "path" regex matches the path without its query string (re.search) and it
has been applied fewer than "times" times (no "times": always); each application counts,
per fault id (the position in the list when there is no id), for the life of the server.
  {"delay": 1.5}                  sleep that long, then go on (other faults may apply too)
  {"status": 500}                 answer that status with {"id": "internal", ...}; 429
                                  says "rate_limit" and sets RateLimit-Remaining: 0;
                                  "retry_after": N adds Retry-After; "body" replaces the body
  {"reset": true}                 close the connection without answering
  {"truncate": 1000}              send the real headers but only the first 1000 bytes of
                                  the body, then close the connection
A fault may combine "delay" with one of the others. The first status or reset fault that
applies ends the search.

Mode logplex: logplex's HTTP input. STATE.json (every key optional):
  {"user": "token", "password": "t.SECRET", "statuses": [500, 503], "statuses_epoch": 1,
   "delay": 0, "reset_times": 0}
  POST /logs  the body must be octet-counted RFC 5424 frames ("LEN <190>1 TIMESTAMP HOST APP
        PROCID MSGID SD MSG", LEN the byte length of what follows its space), as many as
        Logplex-Msg-Count says, with Content-Type application/logplex-1.
  In turn: the first "reset_times" requests of the server's life are closed unanswered;
  each request waits "delay" seconds; anything but POST /logs gets 404; with "user" set,
  "Authorization: Basic base64(user:password)" is needed (else 401); a malformed body gets
  400; then the next status of "statuses" is answered, and once they are used up, 204.
  The statuses start over whenever the list or "statuses_epoch" changes, so writing the
  same list with a new epoch replays it.
"""
import argparse
import base64
import binascii
import hashlib
import http.client
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

HEROKU_ACCEPT = "application/vnd.heroku+json; version=3"
# Heroku accepts variants such as version=3.webhooks as well.
ACCEPT_RE = re.compile(
    r"application/vnd\.heroku\+json\s*;\s*version\s*=\s*3(?:\.[\w-]+)?\s*(?:[;,]|$)", re.I
)
DEFAULT_RATELIMIT = 4500
DEFAULT_PAGE = 200
MAX_PAGE = 1000

# Derived timestamps hang off a fixed instant so that they never change between requests.
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


def stamp(hours=0):
    return (EPOCH + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_id(*parts):
    """A UUID that depends only on its parts: derived objects keep their ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-heroku:" + ":".join(map(str, parts))))


OWNER = {"email": "owner@example.com", "id": stable_id("owner")}


def json_body(obj):
    return (json.dumps(obj, indent=2) + "\n").encode()


class Response:
    """An answer before it is sent: a status, headers and a body held in memory or, for
    blobs, a byte range of a file. reset=True means hanging up instead."""

    def __init__(self, status=0, body=b"", content_type=None, headers=(), file=None,
                 reset=False):
        self.status = status
        self.body = body
        self.headers = list(headers)
        if content_type:
            self.headers.append(("Content-Type", content_type))
        self.file = file  # (path, offset, length)
        self.reset = reset
        self.truncate = None  # send only this many body bytes, then hang up

    def length(self):
        return self.file[2] if self.file else len(self.body)


def text_response(status, message, headers=()):
    return Response(status, (message + "\n").encode(), "text/plain; charset=utf-8", headers)


def api_error(status, error_id, message, headers=()):
    return Response(status, json_body({"id": error_id, "message": message}),
                    "application/json", headers)


class StateFile:
    """STATE.json, read afresh on every request; the last good parse stands in for a file
    that is missing or caught half-written."""

    def __init__(self, path):
        self.path = path
        self.good = {}
        self.lock = threading.Lock()

    def read(self):
        try:
            with open(self.path, "rb") as f:
                state = json.load(f)
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError):
            with self.lock:
                return self.good
        with self.lock:
            self.good = state
        return state


class RequestLog:
    """REQUESTS.jsonl: one JSON object a line, flushed at once so tests can poll it. ASCII
    escapes keep a record on one line whatever bytes a body held."""

    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")
        self.lock = threading.Lock()

    def write(self, record):
        line = json.dumps(record) + "\n"
        with self.lock:
            self.file.write(line)
            self.file.flush()


# --- Heroku's Range header for lists ---

RANGE_RE = re.compile(r"^\s*([A-Za-z_]+)\s+(\]?)([^.\s;,]*)\.\.([^\s;,]*)\s*(?:;(.*))?$")


def parse_range(header, fields):
    """Parses "FIELD [START]..[END][; max=N][, order=asc|desc]"; ValueError says what is
    wrong."""
    spec = {"field": fields[0], "start": None, "exclusive": False, "end": None,
            "end_text": "", "max": DEFAULT_PAGE, "order": "asc"}
    if header is None:
        return spec
    m = RANGE_RE.match(header)
    if not m:
        raise ValueError("expected FIELD [START]..[END][; max=N][, order=asc|desc]")
    field, exclusive, start, end, params = m.groups()
    if field not in fields:
        raise ValueError(f"cannot range over {field!r}, only over {', '.join(fields)}")
    spec.update(field=field, exclusive=bool(exclusive), end_text=end)
    for param in re.split(r"[;,]", params or ""):
        if not param.strip():
            continue
        key, _, value = (s.strip() for s in param.partition("="))
        if key == "max":
            if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
                raise ValueError(f"max must be a number from 1 to {MAX_PAGE}")
            spec["max"] = int(value)
        elif key == "order":
            if value not in ("asc", "desc"):
                raise ValueError("order must be asc or desc")
            spec["order"] = value
        else:
            raise ValueError(f"unknown parameter {key!r}")
    for name, value in (("start", start), ("end", end)):
        if value == "":
            continue
        if field == "version":
            if not value.isdigit():
                raise ValueError(f"{name} of a version range must be a number")
            value = int(value)
        spec[name] = value
    return spec


def range_key(field, obj):
    value = obj.get(field)
    if field == "version":
        return int(value or 0)
    return "" if value is None else str(value)


def apply_range(items, spec):
    """The page of items the range asks for, and whether more are left after it. START
    and END are positions in the order asked for: with order=desc, START is the highest."""
    field, desc = spec["field"], spec["order"] == "desc"
    start, end, exclusive = spec["start"], spec["end"], spec["exclusive"]
    selected = []
    for obj in sorted(items, key=lambda o: range_key(field, o), reverse=desc):
        value = range_key(field, obj)
        if start is not None:
            if desc and (value > start or (exclusive and value == start)):
                continue
            if not desc and (value < start or (exclusive and value == start)):
                continue
        if end is not None and (value < end if desc else value > end):
            continue
        selected.append(obj)
    return selected[: spec["max"]], len(selected) > spec["max"]


# --- logplex framing ---

COUNT_RE = re.compile(rb"([1-9][0-9]{0,8}) ")
PRINT = rb"[\x21-\x7e]"
FRAME_RE = re.compile(
    rb"<(0|[1-9][0-9]{0,2})>1 "
    rb"(-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
    + PRINT + rb"{1,255} "  # hostname
    + PRINT + rb"{1,48} "  # app name
    + PRINT + rb"{1,128} "  # procid
    + PRINT + rb"{1,32} "  # msgid
    rb"(?:-|(?:\[[^\]]*\])+)"  # structured data
    rb"(?: .*)?\Z",
    re.S,
)


def parse_logplex(headers, body):
    """(frames, None) for a well-formed logplex-1 body, else (None, reason)."""
    content_type = headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() != "application/logplex-1":
        return None, f"Content-Type is {content_type!r}, not application/logplex-1"
    frames = []
    pos = 0
    while pos < len(body):
        m = COUNT_RE.match(body, pos)
        if not m:
            return None, f"no octet count at byte {pos}: {body[pos:pos + 40]!r}"
        start = m.end()
        end = start + int(m.group(1))
        if end > len(body):
            return None, (f"frame {len(frames) + 1} announces {m.group(1).decode()} bytes, "
                          f"{len(body) - start} follow")
        frame = body[start:end]
        fm = FRAME_RE.match(frame)
        if not fm or int(fm.group(1)) > 191:
            return None, f"frame {len(frames) + 1} is not RFC 5424 syslog: {frame[:80]!r}"
        frames.append(frame.decode("utf-8", "replace"))
        pos = end
    if not frames:
        return None, "empty body"
    count = headers.get("Logplex-Msg-Count")
    if count is None:
        return None, "no Logplex-Msg-Count header"
    if count.strip() != str(len(frames)):
        return None, f"Logplex-Msg-Count is {count.strip()}, the body has {len(frames)} frames"
    return frames, None


# --- the server ---


class FakeHeroku(ThreadingHTTPServer):
    daemon_threads = True
    # Clients open several connections at once; the default backlog of 5 would drop SYNs.
    request_queue_size = 128

    def __init__(self, mode, state_path, log_path, port=0):
        if mode not in ("api", "logplex"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.state = StateFile(state_path)
        self.log = RequestLog(log_path)
        self.lock = threading.Lock()
        self.connections = itertools.count(1)
        self.fault_counts = {}
        self.digests = {}
        self.logplex_requests = 0
        self.statuses_key = None
        self.statuses_used = 0
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def port(self):
        return self.server_address[1]

    def handle_error(self, request, client_address):
        # Clients that hang up mid-answer are part of what the tests do; anything else is
        # a bug worth a traceback on stderr.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def server_close(self):
        super().server_close()
        self.log.file.close()

    def next_connection(self):
        with self.lock:
            return next(self.connections)

    def take_faults(self, state, path):
        """The faults that apply to a request for path, counted as applied."""
        taken = []
        with self.lock:
            for i, fault in enumerate(state.get("faults") or []):
                if not isinstance(fault, dict):
                    continue
                fault_id = str(fault.get("id", i))
                try:
                    if not re.search(fault.get("path", ""), path):
                        continue
                except re.error as e:
                    print(f"fake_heroku: fault {fault_id}: bad path regex: {e}",
                          file=sys.stderr)
                    continue
                times = fault.get("times")
                if times is not None and self.fault_counts.get(fault_id, 0) >= times:
                    continue
                self.fault_counts[fault_id] = self.fault_counts.get(fault_id, 0) + 1
                taken.append((fault_id, fault))
                if fault.get("reset") or "status" in fault:
                    break  # a request gets one answer
        return taken

    def file_digest(self, path):
        """(size, sha256 hex) of a file, or (None, None) when there is none; cached while
        the file stays the same, as slugs can be large."""
        if not path:
            return None, None
        try:
            st = os.stat(path)
        except OSError:
            return None, None
        key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
        with self.lock:
            if key in self.digests:
                return self.digests[key]
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError:
            return None, None
        result = (st.st_size, digest.hexdigest())
        with self.lock:
            self.digests[key] = result
        return result

    def next_status(self, statuses, epoch):
        """The next status of the logplex queue, or None once it is used up."""
        key = json.dumps([statuses, epoch])
        with self.lock:
            if key != self.statuses_key:
                self.statuses_key = key
                self.statuses_used = 0
            if self.statuses_used >= len(statuses):
                return None
            self.statuses_used += 1
            return int(statuses[self.statuses_used - 1])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-heroku"
    sys_version = ""

    def log_message(self, format, *args):
        pass  # REQUESTS.jsonl is the record; stderr stays for real trouble

    def setup(self):
        super().setup()
        # Headers and body leave in separate writes: without this, Nagle's algorithm holds
        # the body back until the client's delayed ACK, some 40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn_id = self.server.next_connection()

    def do_GET(self):
        self.serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # --- plumbing ---

    def serve(self):
        path = urlsplit(self.path).path
        if self.server.mode == "api" and path == "/_fake/counts":
            with self.server.lock:
                counts = dict(self.server.fault_counts)
            try:
                self.read_body()
            except (ValueError, OSError):
                self.close_connection = True
            self.answer(Response(200, json_body(counts), "application/json"), None)
            return
        record = {"t": time.monotonic(), "conn": self.conn_id, "method": self.command,
                  "path": self.path, "headers": self.header_dict()}
        try:
            body = self.read_body()
        except (ValueError, OSError):
            # Where the next request would start is unknown: answer and hang up.
            record["body"] = ""
            record["bad"] = "unreadable request body"
            self.close_connection = True
            self.answer(text_response(400, "unreadable request body"), record)
            return
        record["body"] = body.decode("latin-1")
        state = self.server.state.read()
        try:
            if self.server.mode == "api":
                response = self.serve_api(state, path, record)
            else:
                response = self.serve_logplex(state, path, body, record)
        except Exception as e:
            traceback.print_exc()
            record["error"] = f"{type(e).__name__}: {e}"
            response = api_error(500, "fake_error", record["error"])
        self.answer(response, record)

    def header_dict(self):
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = headers[name] + ", " + value if name in headers else value
        return headers

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        length = int(length)
        body = self.rfile.read(length)
        if len(body) != length:
            raise ValueError("short body")
        return body

    def answer(self, response, record):
        """Logs the request with its outcome, then sends the answer."""
        if record is not None:
            record["status"] = "reset" if response.reset else response.status
            if response.truncate is not None and not response.reset:
                record["truncated"] = min(response.truncate, response.length())
            self.server.log.write(record)
        if response.reset:
            self.hang_up()
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        # 204 and 304 never have a body, and HTTP forbids a Content-Length on 204 (and on
        # 304 any but the full representation's); every other answer says how long it is.
        bodiless = response.status in (204, 304)
        if not bodiless:
            self.send_header("Content-Length", str(response.length()))
        self.end_headers()
        if bodiless or self.command == "HEAD":
            return
        limit = response.length()
        if response.truncate is not None:
            limit = min(limit, response.truncate)
        sent = self.write_body(response, limit)
        if response.truncate is not None or sent < response.length():
            self.hang_up()

    def write_body(self, response, limit):
        if not response.file:
            self.wfile.write(response.body[:limit])
            return limit
        path, offset, _ = response.file
        sent = 0
        with open(path, "rb") as f:
            f.seek(offset)
            while sent < limit:
                chunk = f.read(min(1 << 16, limit - sent))
                if not chunk:
                    break  # the file shrank since it was measured
                self.wfile.write(chunk)
                sent += len(chunk)
        return sent

    def hang_up(self):
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- mode api ---

    def serve_api(self, state, path, record):
        faults = self.server.take_faults(state, path)
        if faults:
            record["faults"] = [fault_id for fault_id, _ in faults]
        for _, fault in faults:
            if fault.get("delay"):
                time.sleep(float(fault["delay"]))
        truncate = None
        for _, fault in faults:
            if fault.get("reset"):
                return Response(reset=True)
            if "status" in fault:
                return self.fault_response(state, fault)
            if fault.get("truncate") is not None:
                truncate = int(fault["truncate"])
        if path.startswith("/blobs/"):
            response = self.serve_blob(state, unquote(path[len("/blobs/"):]))
        else:
            response = self.serve_platform(state, path)
        response.truncate = truncate
        return response

    def api_headers(self, state, remaining=None):
        if remaining is None:
            remaining = state.get("ratelimit_remaining", DEFAULT_RATELIMIT)
        return [("RateLimit-Remaining", str(remaining)), ("Request-Id", str(uuid.uuid4()))]

    def fault_response(self, state, fault):
        status = int(fault["status"])
        if status == 429:
            headers = self.api_headers(state, remaining=0)
            body = {"id": "rate_limit", "message": "Your account reached the API rate "
                    "limit. Please wait a few minutes before making new requests"}
        else:
            headers = self.api_headers(state)
            body = {"id": "internal", "message": "fault"}
        if "retry_after" in fault:
            headers.append(("Retry-After", str(fault["retry_after"])))
        if "body" in fault:
            body = fault["body"]
        return Response(status, json_body(body), "application/json", headers)

    def ok(self, obj, headers, status=200, extra=()):
        """A JSON answer with its ETag, or 304 when the client already has it."""
        body = json_body(obj)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = headers + list(extra) + [("ETag", etag)]
        if self.etag_matches(etag):
            return Response(304, headers=headers)
        return Response(status, body, "application/json", headers)

    def etag_matches(self, etag):
        wanted = self.headers.get("If-None-Match")
        if not wanted:
            return False
        for tag in wanted.split(","):
            tag = tag.strip()
            if tag == "*" or tag.removeprefix("W/") == etag:
                return True
        return False

    def serve_platform(self, state, path):
        headers = self.api_headers(state)
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if (scheme.lower() != "bearer" or "token" not in state
                or token.strip() != str(state["token"])):
            return api_error(401, "unauthorized", "Invalid credentials provided.", headers)
        if not ACCEPT_RE.search(self.headers.get("Accept", "")):
            return api_error(400, "bad_request", "Please specify a version along with "
                             f"Heroku's API MIME type. For example, `Accept: {HEROKU_ACCEPT}`.",
                             headers)
        parts = [unquote(p) for p in path.split("/")[1:]]
        no_route = api_error(404, "not_found", "The requested API endpoint was not found. "
                             "Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and "
                             "did you include the right version number in the Accept header?",
                             headers)
        if self.command not in ("GET", "HEAD") or len(parts) < 2 or parts[0] != "apps":
            return no_route
        app = state.get("app") or {}
        if not parts[1] or parts[1] not in (app.get("name"), app.get("id")):
            return api_error(404, "not_found", "Couldn't find that app.", headers)
        rest = parts[2:]
        if rest == []:
            return self.ok(app_object(state), headers)
        if rest == ["formation"]:
            return self.ok(formation_objects(state), headers)
        if rest == ["config-vars"]:
            latest = sorted_releases(state)
            config = state.get("config_vars") or {}
            return self.ok(config.get(str(latest[-1].get("id"))) or {} if latest else {},
                           headers)
        if rest == ["releases"]:
            return self.list_releases(state, headers)
        if len(rest) in (2, 3) and rest[0] == "releases":
            release = find_release(state, rest[1])
            if len(rest) == 2 and release is not None:
                return self.ok(release_object(state, release), headers)
            if len(rest) == 3 and rest[2] == "config-vars":
                config = state.get("config_vars") or {}
                if release is not None:
                    return self.ok(config.get(str(release.get("id"))) or {}, headers)
                if rest[1] in config:
                    return self.ok(config[rest[1]], headers)
            if len(rest) == 2 or rest[2] == "config-vars":
                return api_error(404, "not_found", "Couldn't find that release.", headers)
        if len(rest) == 2 and rest[0] == "slugs":
            slug = (state.get("slugs") or {}).get(rest[1])
            if slug is None:
                return api_error(404, "not_found", "Couldn't find that slug.", headers)
            return self.ok(self.slug_object(state, rest[1], slug), headers)
        return no_route

    def list_releases(self, state, headers):
        releases = [release_object(state, r) for r in sorted_releases(state)]
        try:
            spec = parse_range(self.headers.get("Range"), ("id", "version"))
        except ValueError as e:
            return api_error(400, "bad_request", f"Invalid Range header: {e}.", headers)
        page, more = apply_range(releases, spec)
        field = spec["field"]
        extra = [("Accept-Ranges", "id, version")]
        if page:
            extra.append(("Content-Range", f"{field} {page[0][field]}..{page[-1][field]}"))
        if more:
            extra.append(("Next-Range", f"{field} ]{page[-1][field]}..{spec['end_text']}; "
                          f"max={spec['max']}, order={spec['order']}"))
        return self.ok(page, headers, 206 if more else 200, extra)

    def slug_object(self, state, slug_id, slug):
        size, digest = self.server.file_digest(slug.get("file"))
        obj = {
            "blob": {
                "method": "get",
                # A new signature each time, as S3's presigned URLs have.
                "url": f"http://127.0.0.1:{self.server.port}/blobs/{quote(slug_id)}"
                       f"?sig={secrets.token_hex(16)}",
            },
            "buildpack_provided_description": None,
            "checksum": "SHA256:" + digest if digest else None,
            "commit": None,
            "commit_description": None,
            "created_at": stamp(),
            "id": slug_id,
            "process_types": {},
            "size": size,
            "stack": None,
            "updated_at": stamp(),
        }
        obj.update((k, v) for k, v in slug.items() if k != "file")
        stack = dict(obj["stack"] or (state.get("app") or {}).get("stack") or {})
        if stack:
            stack.setdefault("id", stable_id("stack", stack.get("name")))
        obj["stack"] = stack or None
        return obj

    def serve_blob(self, state, slug_id):
        slug = (state.get("slugs") or {}).get(slug_id) or {}
        path = slug.get("file")
        size, digest = self.server.file_digest(path)
        if size is None:
            return text_response(404, "NoSuchKey")
        headers = [("Accept-Ranges", "bytes"), ("ETag", f'"{digest[:32]}"')]
        octets = "application/octet-stream"
        m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", self.headers.get("Range", ""))
        # A Range that is not one well-formed byte range is ignored, as HTTP allows.
        if m and (m[1] or m[2]) and not (m[1] and m[2] and int(m[2]) < int(m[1])):
            if m[1]:
                start, end = int(m[1]), min(int(m[2]) if m[2] else size - 1, size - 1)
            else:
                start, end = max(0, size - int(m[2])), size - 1
            if start >= size or end < start:
                return Response(416, headers=headers + [("Content-Range", f"bytes */{size}")])
            return Response(206, content_type=octets, file=(path, start, end - start + 1),
                            headers=headers + [("Content-Range", f"bytes {start}-{end}/{size}")])
        return Response(200, content_type=octets, file=(path, 0, size), headers=headers)

    # --- mode logplex ---

    def serve_logplex(self, state, path, body, record):
        with self.server.lock:
            self.server.logplex_requests += 1
            number = self.server.logplex_requests
        is_logs = self.command == "POST" and path == "/logs"
        bad = None
        if is_logs:
            frames, bad = parse_logplex(self.headers, body)
            if bad:
                record["bad"] = bad
            else:
                record["frames"] = frames
        if number <= int(state.get("reset_times") or 0):
            return Response(reset=True)
        if state.get("delay"):
            time.sleep(float(state["delay"]))
        if not is_logs:
            return text_response(404, "Not Found")
        if state.get("user") is not None and not self.basic_auth_ok(state):
            return text_response(401, "Unauthorized",
                                 [("WWW-Authenticate", 'Basic realm="logplex"')])
        if bad:
            return text_response(400, bad)
        status = self.server.next_status(list(state.get("statuses") or []),
                                         state.get("statuses_epoch"))
        if status is None:
            return Response(204)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Status"
        return text_response(status, phrase)

    def basic_auth_ok(self, state):
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        expected = f"{state['user']}:{state.get('password', '')}".encode()
        return secrets.compare_digest(given, expected)


# --- Platform API objects, derived from the state ---


def app_ref(state):
    app = state.get("app") or {}
    return {"id": app.get("id"), "name": app.get("name")}


def sorted_releases(state):
    releases = [r for r in state.get("releases") or [] if isinstance(r, dict)]
    return sorted(releases, key=lambda r: int(r.get("version") or 0))


def find_release(state, key):
    for release in sorted_releases(state):
        if str(release.get("id")) == key:
            return release
        if key.isdigit() and int(release.get("version") or 0) == int(key):
            return release
    return None


def app_object(state):
    app = state.get("app") or {}
    name = app.get("name")
    releases = sorted_releases(state)
    obj = {
        "acm": False,
        "archived_at": None,
        "build_stack": app.get("stack"),
        "buildpack_provided_description": None,
        "created_at": stamp(),
        "git_url": f"https://git.heroku.com/{name}.git",
        "id": app.get("id"),
        "internal_routing": None,
        "maintenance": False,
        "name": name,
        "organization": None,
        "owner": OWNER,
        "region": {"id": stable_id("region", "us"), "name": "us"},
        "released_at": stamp(int(releases[-1].get("version") or 0)) if releases else None,
        "repo_size": None,
        "slug_size": None,
        "space": None,
        "stack": app.get("stack"),
        "team": None,
        "updated_at": stamp(),
        "web_url": f"https://{name}.herokuapp.com/",
    }
    obj.update(app)
    return obj


def release_object(state, release):
    version = int(release.get("version") or 0)
    obj = {
        "addon_plan_names": [],
        "app": app_ref(state),
        "created_at": stamp(version),
        "current": False,
        "description": f"Deploy v{version}",
        "id": None,
        "output_stream_url": None,
        "slug": None,
        "status": "succeeded",
        "updated_at": stamp(version),
        "user": OWNER,
        "version": version,
    }
    obj.update(release)
    return obj


def formation_objects(state):
    app = app_ref(state)
    objects = []
    for process in state.get("formation") or []:
        obj = {
            "app": app,
            "command": "",
            "created_at": stamp(),
            "id": stable_id(app["id"], "formation", process.get("type")),
            "quantity": 0,
            "size": "standard-1X",
            "type": None,
            "updated_at": stamp(),
        }
        obj.update(process)
        objects.append(obj)
    return objects


# --- command line ---


def write_port_file(path, port):
    with open(path + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(path + ".tmp", path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="A scripted Heroku Platform API or logplex for the functional tests.")
    parser.add_argument("--mode", choices=("api", "logplex"))
    parser.add_argument("--state", help="the JSON state, read again for every request")
    parser.add_argument("--log", help="where each request is appended as a JSON line")
    parser.add_argument("--port-file", help="where the port is written once listening")
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    parser.add_argument("--selftest", action="store_true", help="test this server and exit")
    args = parser.parse_args(argv)
    if args.selftest:
        if args.mode or args.state or args.log or args.port_file or args.port:
            parser.error("--selftest takes no other arguments")
        return selftest()
    missing = [f"--{name.replace('_', '-')}" for name in ("mode", "state", "log", "port_file")
               if getattr(args, name) is None]
    if missing:
        parser.error("missing " + ", ".join(missing))

    server = FakeHeroku(args.mode, args.state, args.log, args.port)

    def stop(signum, frame):
        # shutdown() waits for serve_forever() to return, so it cannot run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    write_port_file(args.port_file, server.port)
    server.serve_forever()
    server.server_close()
    return 0


# --- self test ---


def selftest():
    tmp = tempfile.mkdtemp(prefix="fake_heroku.")
    app_id = "0b5e7c1a-95a4-4bb4-9ac8-3d2ab0a1c001"
    # Ids sort in another order than versions: the default (id) order must show it.
    rel = {1: "bbbbbbbb-0000-4000-8000-000000000001",
           2: "aaaaaaaa-0000-4000-8000-000000000002",
           3: "cccccccc-0000-4000-8000-000000000003"}
    slug_path = os.path.join(tmp, "slug.tgz")
    slug_data = secrets.token_bytes(300_000)
    with open(slug_path, "wb") as f:
        f.write(slug_data)
    api_state = {
        "token": "SECRET",
        "app": {"id": app_id, "name": "myapp",
                "stack": {"id": "5a0b3a2c-0000-4000-8000-00000000000a", "name": "heroku-22"}},
        "releases": [
            {"id": rel[1], "version": 1, "status": "succeeded", "description": "Deploy 1",
             "slug": {"id": "s1"}, "current": False},
            {"id": rel[2], "version": 2, "status": "succeeded", "description": "Set A",
             "slug": {"id": "s1"}, "current": False},
            {"id": rel[3], "version": 3, "status": "succeeded", "description": "Deploy 2",
             "slug": None, "current": True},
        ],
        "config_vars": {rel[1]: {"A": "1"}, rel[3]: {"A": "3", "B": "x"}},
        "slugs": {"s1": {"process_types": {"web": "bash web.sh"}, "file": slug_path,
                         "stack": {"name": "heroku-22"}}},
        "formation": [{"type": "web", "quantity": 1, "command": "bash web.sh",
                       "size": "standard-1X"}],
    }
    logplex_state = {"user": "token", "password": "t.secret", "statuses": [500, 503]}
    paths = {name: os.path.join(tmp, name) for name in
             ("api.json", "api.jsonl", "logplex.json", "logplex.jsonl")}

    def write_state(path, state):
        with open(path + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(path + ".tmp", path)

    def records(path):
        with open(path) as f:
            return [json.loads(line) for line in f.read().split("\n") if line]

    write_state(paths["api.json"], api_state)
    write_state(paths["logplex.json"], logplex_state)
    api = FakeHeroku("api", paths["api.json"], paths["api.jsonl"])
    logplex = FakeHeroku("logplex", paths["logplex.json"], paths["logplex.jsonl"])
    for server in (api, logplex):
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def connect(server):
        return http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    def get(conn, path, token="SECRET", accept=HEROKU_ACCEPT, **headers):
        h = {}
        if token:
            h["Authorization"] = "Bearer " + token
        if accept:
            h["Accept"] = accept
        h.update(headers)
        conn.request("GET", path, headers=h)
        response = conn.getresponse()
        return response, response.read()

    def set_faults(*faults):
        write_state(paths["api.json"], dict(api_state, faults=list(faults)))

    def counts():
        response, body = get(connect(api), "/_fake/counts", token=None, accept=None)
        return json.loads(body)

    checks = []

    def check(fn):
        checks.append(fn)
        return fn

    @check
    def keep_alive():
        conn = connect(api)
        r1, b1 = get(conn, "/apps/myapp")
        r2, b2 = get(conn, f"/apps/{app_id}")
        r3, b3 = get(conn, "/apps/myapp/formation")
        assert [r.status for r in (r1, r2, r3)] == [200, 200, 200]
        assert json.loads(b1)["name"] == "myapp" and json.loads(b1)["id"] == app_id
        assert b1 == b2 and r1.getheader("ETag") == r2.getheader("ETag")
        assert r1.getheader("RateLimit-Remaining") == "4500"
        assert r1.getheader("Content-Type") == "application/json"
        formation = json.loads(b3)
        assert formation[0]["type"] == "web" and formation[0]["quantity"] == 1
        assert formation[0]["app"] == {"id": app_id, "name": "myapp"}
        _, again = get(connect(api), "/apps/myapp/formation")
        assert again == b3, "derived fields change between requests"
        logged = [r for r in records(paths["api.jsonl"]) if r["path"].endswith("/formation")]
        assert logged[0]["conn"] == records(paths["api.jsonl"])[0]["conn"]
        assert logged[0]["conn"] != logged[1]["conn"]
        assert logged[0]["headers"]["authorization"] == "Bearer SECRET"
        assert logged[0]["status"] == 200 and logged[0]["method"] == "GET"

    @check
    def auth_and_routes():
        conn = connect(api)
        for token in (None, "WRONG"):
            r, b = get(conn, "/apps/myapp", token=token)
            assert r.status == 401 and json.loads(b)["id"] == "unauthorized"
        r, b = get(conn, "/apps/myapp", accept="application/json")
        assert r.status == 400 and json.loads(b)["id"] == "bad_request"
        assert "version=3" in json.loads(b)["message"]
        assert r.getheader("RateLimit-Remaining") == "4500"
        for path in ("/apps/other", "/apps/myapp/releases/9", "/apps/myapp/slugs/nope",
                     "/apps/myapp/dynos", "/account"):
            r, b = get(conn, path)
            assert r.status == 404 and json.loads(b)["id"] == "not_found", path
        r, _ = get(conn, "/apps/myapp")
        assert r.status == 200

    @check
    def releases_range():
        conn = connect(api)
        r, b = get(conn, "/apps/myapp/releases")
        assert r.status == 200 and r.getheader("Next-Range") is None
        assert [x["version"] for x in json.loads(b)] == [2, 1, 3]  # id order
        assert json.loads(b)[0]["app"] == {"id": app_id, "name": "myapp"}
        seen = []
        wanted = "version ..; max=1, order=desc"
        while wanted:
            r, b = get(conn, "/apps/myapp/releases", Range=wanted)
            page = json.loads(b)
            seen += [x["version"] for x in page]
            wanted = r.getheader("Next-Range")
            assert r.status == (206 if wanted else 200)
        assert seen == [3, 2, 1]
        r, b = get(conn, "/apps/myapp/releases", Range="version 2..; max=10")
        assert r.status == 200 and [x["version"] for x in json.loads(b)] == [2, 3]
        r, b = get(conn, "/apps/myapp/releases", Range="version ..; max=2")
        assert r.status == 206 and r.getheader("Next-Range") == "version ]2..; max=2, order=asc"
        r, b = get(conn, "/apps/myapp/releases", Range=f"id ]{rel[2]}..")
        assert r.status == 200 and [x["version"] for x in json.loads(b)] == [1, 3]
        for bad in ("version", "name ..", "version ..; max=0", "version ..; order=up",
                    "version x..", "version ..; limit=3"):
            r, b = get(conn, "/apps/myapp/releases", Range=bad)
            assert r.status == 400 and json.loads(b)["id"] == "bad_request", bad

    @check
    def releases_and_config_vars():
        conn = connect(api)
        r, b = get(conn, "/apps/myapp/releases/2")
        assert r.status == 200 and json.loads(b)["id"] == rel[2]
        r, b = get(conn, f"/apps/myapp/releases/{rel[3]}")
        assert json.loads(b)["version"] == 3 and json.loads(b)["slug"] is None
        assert json.loads(b)["current"] is True
        r, b = get(conn, f"/apps/myapp/releases/{rel[1]}/config-vars")
        assert r.status == 200 and json.loads(b) == {"A": "1"}
        r, b = get(conn, "/apps/myapp/releases/2/config-vars")
        assert r.status == 200 and json.loads(b) == {}
        r, b = get(conn, "/apps/myapp/config-vars")
        assert json.loads(b) == {"A": "3", "B": "x"}

    @check
    def etag_and_304():
        conn = connect(api)
        r, _ = get(conn, "/apps/myapp/releases")
        etag = r.getheader("ETag")
        assert etag and etag.startswith('"') and r.getheader("Content-Length")
        r, b = get(conn, "/apps/myapp/releases", **{"If-None-Match": etag})
        assert r.status == 304 and b == b"" and r.getheader("ETag") == etag
        assert r.getheader("RateLimit-Remaining") == "4500"
        r, b = get(conn, "/apps/myapp/releases", **{"If-None-Match": '"other"'})
        assert r.status == 200 and b
        changed = json.loads(json.dumps(api_state))
        changed["releases"][2]["status"] = "failed"
        write_state(paths["api.json"], changed)
        try:
            r, b = get(conn, "/apps/myapp/releases", **{"If-None-Match": etag})
            assert r.status == 200 and r.getheader("ETag") != etag
        finally:
            write_state(paths["api.json"], api_state)
        statuses = [x["status"] for x in records(paths["api.jsonl"])[-4:]]
        assert statuses == [200, 304, 200, 200], statuses

    @check
    def half_written_state():
        with open(paths["api.json"], "w") as f:
            f.write('{"token": "SEC')
        try:
            r, b = get(connect(api), "/apps/myapp")
            assert r.status == 200 and json.loads(b)["name"] == "myapp"
        finally:
            write_state(paths["api.json"], api_state)

    @check
    def slug_and_blob():
        conn = connect(api)
        r, b = get(conn, "/apps/myapp/slugs/s1")
        slug = json.loads(b)
        assert r.status == 200 and slug["id"] == "s1" and "file" not in slug
        assert slug["size"] == len(slug_data)
        assert slug["checksum"] == "SHA256:" + hashlib.sha256(slug_data).hexdigest()
        assert slug["process_types"] == {"web": "bash web.sh"}
        assert slug["stack"]["name"] == "heroku-22" and slug["stack"]["id"]
        url = urlsplit(slug["blob"]["url"])
        assert slug["blob"]["method"] == "get" and url.port == api.port
        assert url.path == "/blobs/s1" and url.query.startswith("sig=")
        _, b2 = get(conn, "/apps/myapp/slugs/s1")
        assert json.loads(b2)["blob"]["url"] != slug["blob"]["url"]
        blob = connect(api)
        blob.request("GET", url.path + "?" + url.query)
        r = blob.getresponse()
        assert r.status == 200 and r.read() == slug_data
        assert r.getheader("Content-Type") == "application/octet-stream"
        blob.request("GET", url.path + "?sig=again", headers={"Range": "bytes=1000-"})
        r = blob.getresponse()
        assert r.status == 206 and r.read() == slug_data[1000:]
        assert r.getheader("Content-Range") == f"bytes 1000-{len(slug_data) - 1}/{len(slug_data)}"
        blob.request("GET", url.path, headers={"Range": "bytes=10-19"})
        r = blob.getresponse()
        assert r.status == 206 and r.read() == slug_data[10:20]
        blob.request("GET", url.path, headers={"Range": f"bytes={len(slug_data)}-"})
        r = blob.getresponse()
        assert r.status == 416 and r.read() == b""
        assert r.getheader("Content-Range") == f"bytes */{len(slug_data)}"
        blob.request("GET", "/blobs/nope")
        r = blob.getresponse()
        r.read()
        assert r.status == 404

    @check
    def fault_429():
        set_faults({"id": "f429", "path": "/releases$", "times": 1, "status": 429,
                    "retry_after": 2})
        try:
            conn = connect(api)
            r, b = get(conn, "/apps/myapp/releases")
            assert r.status == 429 and r.getheader("Retry-After") == "2"
            assert r.getheader("RateLimit-Remaining") == "0"
            assert json.loads(b)["id"] == "rate_limit"
            r, _ = get(conn, "/apps/myapp/releases")
            assert r.status == 200
            r, _ = get(conn, "/apps/myapp/releases/1")
            assert r.status == 200
            assert counts()["f429"] == 1
        finally:
            set_faults()
        assert not any(x["path"] == "/_fake/counts" for x in records(paths["api.jsonl"]))
        assert records(paths["api.jsonl"])[-3]["faults"] == ["f429"]

    @check
    def fault_reset():
        set_faults({"id": "freset", "path": "/formation$", "times": 1, "reset": True})
        try:
            conn = connect(api)
            r, _ = get(conn, "/apps/myapp")
            assert r.status == 200
            try:
                get(conn, "/apps/myapp/formation")
                raise AssertionError("the connection was answered")
            except (http.client.RemoteDisconnected, ConnectionError):
                pass
            r, _ = get(connect(api), "/apps/myapp/formation")
            assert r.status == 200
        finally:
            set_faults()
        assert [x["status"] for x in records(paths["api.jsonl"])[-2:]] == ["reset", 200]

    @check
    def fault_delay_and_500():
        set_faults({"id": "fslow", "path": "^/apps/myapp$", "times": 1, "delay": 0.3},
                   {"id": "f500", "path": "/config-vars$", "status": 500})
        try:
            conn = connect(api)
            began = time.monotonic()
            r, _ = get(conn, "/apps/myapp")
            assert r.status == 200 and time.monotonic() - began >= 0.3
            began = time.monotonic()
            r, _ = get(conn, "/apps/myapp")
            assert r.status == 200 and time.monotonic() - began < 0.3
            for _ in range(2):
                r, b = get(conn, "/apps/myapp/config-vars")
                assert r.status == 500 and json.loads(b)["id"] == "internal"
            assert counts() == {"f429": 1, "freset": 1, "fslow": 1, "f500": 2}
        finally:
            set_faults()

    @check
    def fault_truncate():
        set_faults({"id": "ftrunc", "path": "^/blobs/", "times": 1, "truncate": 1000})
        try:
            conn = connect(api)
            conn.request("GET", "/blobs/s1?sig=x")
            r = conn.getresponse()
            assert r.getheader("Content-Length") == str(len(slug_data))
            try:
                r.read()
                raise AssertionError("the whole blob came")
            except http.client.IncompleteRead as e:
                assert len(e.partial) == 1000
            conn = connect(api)
            conn.request("GET", "/blobs/s1?sig=y", headers={"Range": "bytes=1000-"})
            r = conn.getresponse()
            assert r.status == 206 and r.read() == slug_data[1000:]
        finally:
            set_faults()
        assert records(paths["api.jsonl"])[-2]["truncated"] == 1000

    def frame(msg, procid="web.1"):
        data = (f"<190>1 2024-01-01T00:00:00.123456+00:00 host app {procid} - - {msg}\n"
                .encode())
        return str(len(data)).encode() + b" " + data

    def post(conn, body, count, auth=("token", "t.secret"),
             content_type="application/logplex-1"):
        headers = {"Content-Type": content_type, "Logplex-Msg-Count": str(count)}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(
                ":".join(auth).encode()).decode()
        conn.request("POST", "/logs", body=body, headers=headers)
        response = conn.getresponse()
        return response, response.read()

    @check
    def logplex_queue():
        conn = connect(logplex)
        body = frame("héllo") + frame("world", "worker.2")
        got = [post(conn, body, 2)[0].status for _ in range(4)]
        assert got == [500, 503, 204, 204], got
        logged = records(paths["logplex.jsonl"])[-4:]
        assert len({x["conn"] for x in logged}) == 1
        assert [x["status"] for x in logged] == got
        assert logged[0]["frames"] == [
            "<190>1 2024-01-01T00:00:00.123456+00:00 host app web.1 - - héllo\n",
            "<190>1 2024-01-01T00:00:00.123456+00:00 host app worker.2 - - world\n"]
        assert logged[0]["body"] == body.decode("latin-1")
        assert logged[0]["headers"]["logplex-msg-count"] == "2"
        assert logged[0]["t"] <= logged[3]["t"]
        write_state(paths["logplex.json"], dict(logplex_state, statuses=[502]))
        assert [post(conn, body, 2)[0].status for _ in range(2)] == [502, 204]
        write_state(paths["logplex.json"], dict(logplex_state, statuses=[502],
                                                statuses_epoch=2))
        assert [post(conn, body, 2)[0].status for _ in range(2)] == [502, 204]

    @check
    def logplex_refusals():
        write_state(paths["logplex.json"], dict(logplex_state, statuses=[503]))
        conn = connect(logplex)
        good = frame("a") + frame("b")
        cases = [
            (good, 3, {}, "Logplex-Msg-Count"),
            (good[:-1], 2, {}, "announces"),
            (good + b"\n", 2, {}, "no octet count"),
            (b"5 <190>1 x", 1, {}, "not RFC 5424"),
            (b"", 0, {}, "empty body"),
            (b"12 <190>1 - - -", 1, {}, "not RFC 5424"),
            (good, 2, {"content_type": "text/plain"}, "Content-Type"),
        ]
        for body, count, kw, reason in cases:
            r, _ = post(conn, body, count, **kw)
            assert r.status == 400, (body, r.status)
            assert reason in records(paths["logplex.jsonl"])[-1]["bad"], reason
        for auth in (None, ("token", "wrong")):
            r, _ = post(conn, good, 2, auth=auth)
            assert r.status == 401
        # Refused requests leave the queue alone.
        assert post(conn, good, 2)[0].status == 503
        assert post(conn, good, 2)[0].status == 204
        conn.request("GET", "/logs")
        r = conn.getresponse()
        r.read()
        assert r.status == 404

    @check
    def command_line():
        state = os.path.join(tmp, "cli.json")
        log = os.path.join(tmp, "cli.jsonl")
        port_file = os.path.join(tmp, "cli.port")
        write_state(state, {"reset_times": 1})
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--mode",
                                 "logplex", "--state", state, "--log", log,
                                 "--port-file", port_file])
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(port_file):
                assert time.monotonic() < deadline, "no port file"
                assert proc.poll() is None, "the server died"
                time.sleep(0.02)
            with open(port_file) as f:
                port = int(f.read())
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                post(conn, frame("x"), 1, auth=None)
                raise AssertionError("the first request was answered")
            except (http.client.RemoteDisconnected, ConnectionError):
                pass
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            assert post(conn, frame("x"), 1, auth=None)[0].status == 204
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert [x["status"] for x in records(log)] == ["reset", 204]

    failed = 0
    for fn in checks:
        try:
            fn()
            print(f"ok   {fn.__name__}")
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}")
            traceback.print_exc(file=sys.stdout)
    for server in (api, logplex):
        server.shutdown()
        server.server_close()
    if not failed:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"files kept in {tmp}")
    print(f"selftest: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
