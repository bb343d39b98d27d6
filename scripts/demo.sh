#!/bin/bash
# make demo: supervises the sample application (demo/) with build/hsup in the foreground.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
demo=$top/build/demo
mkdir -p "$demo/control"
rm -f "$demo/control/"{new,rejected,last_error}
cat >"$demo/control/new" <<JSON
{
  "Version": 1,
  "Name": "demo",
  "Env": {"GREETING": "Hello", "WEB_URL": "http://127.0.0.1:5000/"},
  "Processes": [
    {"Type": "web", "Quantity": 1, "Args": ["exec", "python3", "$top/demo/web.py"]},
    {"Type": "worker", "Quantity": 1, "Args": ["exec", "$top/demo/worker.sh"]}
  ]
}
JSON
cat <<TEXT
hsup demo: a web process answering on \$PORT (5000) and a worker printing a line a second.
In another terminal:
  curl http://127.0.0.1:5000/
  build/hsup -s $demo/hsup.sock status
  build/hsup -s $demo/hsup.sock scale worker=2
  build/hsup -s $demo/hsup.sock restart web
  sed 's/"Hello"/"Bonjour"/' $demo/control/loaded > $demo/control/new
Ctrl-C stops everything.

TEXT
export HSUP_CONTROL_DIR=$demo/control
exec "$top/build/hsup" start -s "$demo/hsup.sock"
