#!/usr/bin/env bats
# Following an app on the Heroku Platform API (hsup start -a APP with HEROKU_ACCESS_TOKEN),
# against a scripted Platform API of the tests' own on 127.0.0.1 (ftest/fake_heroku.py): the
# requests hsup makes, the dynos it runs and with what, and what it does when the API fails.
load helpers
eval "$(declare -f setup | sed '1s/setup/helpers_setup/')"
eval "$(declare -f teardown | sed '1s/teardown/helpers_teardown/')"

TOKEN=tok-5f1e2d3c4b5a69788796a5b4c3d2e1f0

setup() {
	helpers_setup
	unset HSUP_CONTROL_DIR
	rmdir "$T/app" 2>/dev/null || true # -d abspath: the app's slug goes there
	mkdir -p "$T/slug/app"
	printf 'echo "web says $GREETING in $(pwd) token=${HEROKU_ACCESS_TOKEN:-none}"\nexec sleep 1000\n' \
		>"$T/slug/app/web.sh"
	tar -C "$T/slug" -czf "$T/slug1.tgz" ./app
	# in containers (ftest/with-drivers.sh) the app runs on the stack made for the tests
	local stack=heroku-22
	case ${HSUP_TEST_DRIVER:-simple} in libcontainer | docker) stack=host ;; esac
	python3 - "$T" "$TOKEN" "$stack" <<-'EOS'
	import json, sys
	t, token, stack = sys.argv[1:]
	json.dump({"token": token,
	  "app": {"id": "5a7e2f9c-1111-2222-3333-444455556666", "name": "myapp",
	          "stack": {"id": "st-1", "name": stack}},
	  "releases": [{"id": "rel-1", "version": 1, "status": "succeeded", "slug": {"id": "slug-1"}}],
	  "config_vars": {"rel-1": {"GREETING": "hello"}},
	  "slugs": {"slug-1": {"process_types": {"web": "bash web.sh"}, "file": t + "/slug1.tgz"}},
	  "formation": [{"type": "web", "quantity": 1, "command": "bash web.sh", "size": "Standard-1X"}]},
	  open(t + "/api.json", "w"))
	EOS
	python3 "$BATS_TEST_DIRNAME/fake_heroku.py" --mode api --state "$T/api.json" \
		--log "$T/api.log" --port-file "$T/api.port" 2>"$T/fake.err" &
	FAKE_PID=$!
	wait_for '[ -s "$T/api.port" ]'
	API=http://127.0.0.1:$(cat "$T/api.port")
	export HEROKU_ACCESS_TOKEN=$TOKEN
}

teardown() {
	kill "$FAKE_PID" 2>/dev/null || true
	wait "$FAKE_PID" 2>/dev/null || true
	helpers_teardown
}

# Changes the fake API's state: edit 'PYTHON' with the state as d.
edit() {
	python3 - "$T/api.json" "$1" <<-'EOS'
	import json, os, sys
	f, code = sys.argv[1:]
	d = json.load(open(f))
	exec(code)
	json.dump(d, open(f + ".tmp", "w"))
	os.rename(f + ".tmp", f)
	EOS
}

# How many requests the fake API saw for which the Python condition on r holds.
requests() {
	python3 - "$T/api.log" "$1" <<-'EOS'
	import json, sys
	n = 0
	for line in open(sys.argv[1]):
	    r = json.loads(line)
	    if eval(sys.argv[2]):
	        n += 1
	print(n)
	EOS
}

follow() {
	start_hsup start -a myapp --api-url "$API" --poll-interval 0.2 -s "$SOCK" "$@"
}

poller() { # poller FIELD: a field of GET /poller
	api GET /poller | python3 -c "import json,sys; print(json.load(sys.stdin).get('$1'))"
}

# Where each driver runs the app: the slug's tree (abspath: through the app path, a link to
# it), or the container's /app.
app_dir() {
	case ${HSUP_TEST_DRIVER:-simple} in
	libcontainer | docker) echo /app ;;
	*) echo "$T/data/slugs/slug-[0-9a-f]*" ;;
	esac
}

# bats test_tags=drivers
@test "poller: the app's release runs from its slug with its config vars; the requests are Heroku's" {
	follow
	wait_for 'grep -q "web says hello" "$T/out"' 30
	grep -q "web.1 *| web says hello in $(app_dir) token=none" "$T/out"
	# every API request: the version 3 Accept, the bearer token; releases asked newest first
	[ "$(requests 'not r["path"].startswith("/blobs") and (r["headers"].get("accept") != "application/vnd.heroku+json; version=3" or r["headers"].get("authorization") != "Bearer '$TOKEN'")')" = 0 ]
	[ "$(requests 'r["path"] == "/apps/myapp/releases" and r["headers"].get("range") == "version ..; max=1, order=desc"')" -ge 1 ]
	for p in /apps/myapp/releases/rel-1/config-vars /apps/myapp/slugs/slug-1 /apps/myapp /apps/myapp/formation; do
		[ "$(requests "r['path'] == '$p'")" -ge 1 ]
	done
	# the blob is fetched once, without the token
	[ "$(requests 'r["path"].startswith("/blobs/slug-1")')" = 1 ]
	[ "$(requests 'r["path"].startswith("/blobs") and "authorization" in r["headers"]')" = 0 ]
	[ "$(dyno_field web.1 State)" = started ]
	# the token is in no argv, no environment and no message
	! grep -q "$TOKEN" "/proc/$HSUP_PID/environ" "/proc/$HSUP_PID/cmdline" "$T/out" "$T/err"
	! grep -q "$TOKEN" "/proc/$(dyno_pid web.1)/environ"
	[ "$(poller applied_version)" = 1 ]
	[ "$(poller last_error)" = None ]
}

@test "poller: an unchanged app costs conditional requests answered 304, on a kept connection" {
	follow
	wait_for '[ "$(requests "r[\"status\"] == 304 and r[\"path\"] == \"/apps/myapp/releases\"")" -ge 5 ]'
	# after the first answer, each poll sends the ETag it was given
	[ "$(requests 'r["path"] == "/apps/myapp/releases" and r["status"] == 200')" = 1 ]
	[ "$(requests 'r["path"] == "/apps/myapp/formation" and r["status"] == 200')" = 1 ]
	[ "$(requests 'r["path"] == "/apps/myapp/releases" and r["status"] == 304 and not r["headers"].get("if-none-match")')" = 0 ]
	# one or two connections serve every poll
	conns=$(python3 -c 'import json,sys; print(len({json.loads(l)["conn"] for l in open(sys.argv[1]) if not json.loads(l)["path"].startswith("/blobs")}))' "$T/api.log")
	[ "$conns" -le 3 ]
	[ "$(poller not_modified)" -ge 10 ]
	# nothing was started again
	[ "$(grep -c 'web.1 started' "$T/err")" = 1 ]
}

# bats test_tags=drivers
@test "poller: a new release with new config restarts the dynos; the slug is not downloaded again" {
	follow
	wait_for 'grep -q "web says hello" "$T/out"'
	edit 'd["releases"].append({"id": "rel-2", "version": 2, "status": "succeeded", "slug": {"id": "slug-1"}}); d["config_vars"]["rel-2"] = {"GREETING": "bonjour"}'
	wait_for 'grep -q "web says bonjour" "$T/out"'
	[ "$(requests 'r["path"].startswith("/blobs")')" = 1 ]
	[ "$(poller applied_version)" = 2 ]
}

# bats test_tags=drivers
@test "poller: a formation change without a release starts and stops only the difference" {
	follow
	wait_for '[ "$(running_dynos)" = web.1 ]'
	pid=$(dyno_pid web.1)
	edit 'd["formation"][0]["quantity"] = 3'
	wait_for '[ "$(running_dynos)" = "web.1 web.2 web.3" ]'
	[ "$(dyno_pid web.1)" = "$pid" ]
	edit 'd["formation"][0]["quantity"] = 1'
	wait_for '[ "$(running_dynos)" = web.1 ]'
	[ "$(dyno_pid web.1)" = "$pid" ]
}

@test "poller: a release with slug null runs the formation's commands; a pending one waits" {
	edit 'd["releases"] = [{"id": "rel-1", "version": 1, "status": "succeeded", "slug": None}]; d["formation"] = [{"type": "worker", "quantity": 1, "command": "echo no code $GREETING; exec sleep 1000"}]'
	follow
	wait_for 'grep -q "worker.1 *| no code hello" "$T/out"'
	[ "$(requests 'r["path"].startswith("/apps/myapp/slugs")')" = 0 ]
	# the next release's release phase runs: nothing changes until it succeeds
	edit 'd["releases"].append({"id": "rel-2", "version": 2, "status": "pending", "slug": None}); d["config_vars"]["rel-2"] = {"GREETING": "v2"}'
	wait_for 'grep -q "release v2 of myapp is pending" "$T/err"'
	sleep 0.5
	! grep -q "no code v2" "$T/out"
	edit 'd["releases"][1]["status"] = "succeeded"'
	wait_for 'grep -q "worker.1 *| no code v2" "$T/out"'
}

@test "poller: 500s, resets and a 429 are retried and the release is not lost" {
	follow
	wait_for 'grep -q "web says hello" "$T/out"'
	# the new release's config vars fail twice, then the connection is reset once
	edit 'd["faults"] = [{"id": "cv", "path": "releases/rel-2/config-vars", "times": 2, "status": 500}, {"id": "rs", "path": "releases/rel-2/config-vars", "times": 1, "reset": True}, {"id": "rl", "path": "/formation$", "times": 1, "status": 429, "retry_after": 1}]'
	edit 'd["releases"].append({"id": "rel-2", "version": 2, "status": "succeeded", "slug": {"id": "slug-1"}}); d["config_vars"]["rel-2"] = {"GREETING": "again"}'
	wait_for 'grep -q "web says again" "$T/out"' 30
	curl -s "$API/_fake/counts" | python3 -c "import json,sys; assert json.load(sys.stdin) == {\"cv\": 2, \"rs\": 1, \"rl\": 1}"
	grep -q "HTTP 500" "$T/err"
	grep -q "rate limit is reached (429)" "$T/err"
	[ "$(poller applied_version)" = 2 ]
	[ "$(poller failures)" = 0 ]
}

@test "poller: 401, 403 and 404 are said in plain words and the dynos run on" {
	follow
	wait_for '[ "$(running_dynos)" = web.1 ]'
	pid=$(dyno_pid web.1)
	edit 'd["token"] = "another"'
	wait_for 'grep -q "the Heroku API refused the access token (401): check HEROKU_ACCESS_TOKEN" "$T/err"'
	edit 'd["token"] = "'$TOKEN'"; d["faults"] = [{"id": "f", "path": "^/apps/myapp/releases$", "status": 403}]'
	wait_for 'grep -q "the access token may not read app myapp (403)" "$T/err"'
	edit 'd["faults"] = []; d["app"]["name"] = "renamed"'
	wait_for 'grep -q "no app \"myapp\" (404)" "$T/err"'
	[ "$(dyno_pid web.1)" = "$pid" ]
	[ "$(poller last_error)" != None ]
	! grep -q "$TOKEN" "$T/err" "$T/out"
}

@test "poller: a cut download is resumed; a slug whose SHA-256 is wrong is refused" {
	dd if=/dev/urandom of="$T/slug/app/blob" bs=1k count=300 2>/dev/null
	tar -C "$T/slug" -czf "$T/slug1.tgz" ./app
	edit 'd["faults"] = [{"id": "cut", "path": "^/blobs/", "times": 1, "truncate": 100000}]'
	follow
	wait_for 'grep -q "web says hello" "$T/out"' 30
	[ "$(requests 'r["path"].startswith("/blobs") and r["headers"].get("range") == "bytes=100000-"')" = 1 ]
	cmp "$T/slug/app/blob" "$(ls -d "$T"/data/slugs/slug-*)/blob"
	# a second slug, served with the wrong checksum
	cp "$T/slug1.tgz" "$T/slug2.tgz"
	edit 'd["slugs"]["slug-2"] = {"process_types": {}, "file": "'"$T"'/slug2.tgz", "checksum": "SHA256:" + "0" * 64}; d["releases"].append({"id": "rel-2", "version": 2, "status": "succeeded", "slug": {"id": "slug-2"}}); d["config_vars"]["rel-2"] = {}'
	wait_for 'grep -q "slug slug-2: its SHA-256 is [0-9a-f]*, the API says 0000" "$T/err"' 20
	[ "$(poller applied_version)" = 1 ]
	[ ! -e "$T/data/api-slugs/slug-2.tgz" ]
	[ "$(dyno_field web.1 State)" = started ]
}

@test "poller: hostile answers are refused with what is wrong, and hsup does not grow" {
	edit 'd["releases"] = [{"id": "../../etc", "version": 1, "status": "succeeded", "slug": None}]'
	follow
	wait_for 'grep -q "release id: ../../etc is not an id" "$T/err"'
	edit 'd["releases"] = [{"id": "rel-1", "version": 1, "status": "succeeded", "slug": None}]; d["config_vars"]["rel-1"] = {"BAD NAME": "x"}'
	wait_for 'grep -q "release v1 of myapp from the Heroku API is refused" "$T/err"'
	# a 20 MB answer is not read whole
	edit 'd["config_vars"]["rel-1"] = {"BIG": "x" * 20000000}; d["releases"].append({"id": "rel-2", "version": 2, "status": "succeeded", "slug": None}); d["config_vars"]["rel-2"] = d["config_vars"]["rel-1"]'
	wait_for 'grep -q "larger than" "$T/err"' 20
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$HSUP_PID/status")
	[ "$rss" -lt 60000 ]
	[ "$(running_dynos)" = "" ]
}

@test "poller: without -a, or with an app name that is not one, hsup says so and exits 2" {
	run "$HSUP" start --api-url "$API"
	[ "$status" = 2 ]
	[[ "$output" == *"HEROKU_ACCESS_TOKEN is set: name the app to follow with -a APP"* ]]
	run "$HSUP" start -a ../x --api-url "$API"
	[ "$status" = 2 ]
	[[ "$output" == *'-a "../x" is not an app name'* ]]
	run "$HSUP" start -a myapp --api-url "ftp://x"
	[ "$status" = 2 ]
	[[ "$output" == *"must be an http or https URL"* ]]
	# a credential in a URL is never printed
	run "$HSUP" start -a myapp --api-url "ftp://user:s3cret@x/"
	[ "$status" = 2 ]
	[[ "$output" == *'--api-url "ftp://***@x/" must be an http or https URL'* ]]
	[[ "$output" != *s3cret* ]]
}

@test "poller: hsup run takes the app's config from the API once" {
	run timeout 20 "$HSUP" run -a myapp --api-url "$API" -- 'echo "run sees $GREETING"'
	[ "$status" = 0 ]
	[[ "$output" == *"run sees hello"* ]]
}

@test "poller: after kill -9 in the middle of a download, the next hsup resumes it" {
	dd if=/dev/urandom of="$T/slug/app/blob" bs=1k count=300 2>/dev/null
	tar -C "$T/slug" -czf "$T/slug1.tgz" ./app
	edit 'd["faults"] = [{"id": "cut", "path": "^/blobs/", "truncate": 120000}]'
	follow
	wait_for 'grep -q "download of slug slug-1" "$T/err"'
	kill -KILL "$HSUP_PID"
	wait "$HSUP_PID" 2>/dev/null || true
	[ "$(stat -c %s "$T/data/api-slugs/slug-1.tgz.part")" = 120000 ]
	edit 'd["faults"] = []'
	follow
	wait_for 'grep -q "web says hello" "$T/out"' 30
	[ "$(requests 'r["path"].startswith("/blobs") and r["headers"].get("range") == "bytes=120000-"')" -ge 1 ]
	cmp "$T/slug/app/blob" "$(ls -d "$T"/data/slugs/slug-*)/blob"
	[ ! -e "$T/data/api-slugs/slug-1.tgz.part" ]
}

@test "poller: a low RateLimit-Remaining slows polling to once a minute" {
	follow
	wait_for '[ "$(poller applied_version)" = 1 ]'
	edit 'd["ratelimit_remaining"] = 40'
	wait_for '[ "$(poller ratelimit_remaining)" = 40 ]'
	wait_for '[ "$(poller state)" = idle ]'
	[ "$(poller next_poll_in_ms)" -gt 30000 ]
	n=$(requests 'r["path"] == "/apps/myapp/releases"')
	sleep 1
	[ "$(requests 'r["path"] == "/apps/myapp/releases"')" = "$n" ]
}

@test "poller: hsup status says which app is followed and how it goes" {
	follow
	wait_for '[ "$(poller applied_version)" = 1 ]'
	run "$HSUP" -s "$SOCK" status
	[ "$status" = 0 ]
	[[ "$output" == *"following myapp on $API (idle): release v1 applied, last poll 20"* ]]
	edit 'd["faults"] = [{"id": "f", "path": "^/apps/myapp/releases$", "status": 503}]'
	wait_for '[ "$(poller failures)" -ge 1 ]'
	run "$HSUP" -s "$SOCK" status
	[[ "$output" == *"failing ("*" in a row): GET /apps/myapp/releases: HTTP 503: fault"* ]]
}

@test "poller: the API is reached through http_proxy; TLS is verified" {
	# the fake API stands in for a proxy: it sees the absolute URL of each request
	http_proxy=$API start_hsup start -a myapp --api-url http://api.invalid --poll-interval 0.2
	wait_for '[ "$(requests "r[\"path\"].startswith(\"http://api.invalid/apps/myapp/\")")" -ge 2 ]'
	kill "$HSUP_PID"
	wait "$HSUP_PID" || true
	HSUP_PID=
	# an API whose certificate no CA of the system signed is refused
	openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 \
		-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
	python3 - "$T" <<-'EOS' &
	import http.server, ssl, sys
	t = sys.argv[1]
	srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	ctx.load_cert_chain(t + "/cert.pem", t + "/key.pem")
	srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
	open(t + "/tls.port.tmp", "w").write(str(srv.server_address[1]))
	__import__("os").rename(t + "/tls.port.tmp", t + "/tls.port")
	srv.serve_forever()
	EOS
	TLS_PID=$!
	wait_for '[ -s "$T/tls.port" ]'
	start_hsup start -a myapp --api-url "https://127.0.0.1:$(cat "$T/tls.port")" --poll-interval 0.2
	wait_for 'grep -q "Heroku API: GET /apps/myapp/.*: SSL certificate problem: self.signed certificate" "$T/err"'
	kill "$TLS_PID"
	wait "$TLS_PID" 2>/dev/null || true
}

@test "poller: one hsup at a time follows an app; the next after kill -9 stops the dead one's dynos" {
	follow
	wait_for '[ "$(running_dynos)" = web.1 ]'
	first=$HSUP_PID
	old=$(dyno_pid web.1)
	run "$HSUP" start -a myapp --api-url "$API" --poll-interval 0.2
	[ "$status" = 1 ]
	[[ "$output" == *"another hsup (pid $first) is supervising app myapp of $API: two would run every dyno twice"* ]]
	# another app, or the same app on another API, is another source
	ls "$HSUP_STATE_DIR" | grep -q '^api-[0-9a-f]*\.lock$'
	kill -KILL "$first"
	wait "$first" 2>/dev/null || true
	follow
	wait_for 'grep -q "the hsup before this one (pid $first) died leaving 1 dynos running" "$T/err"'
	wait_for 'proc_dead "$old"'
	wait_for '[ "$(running_dynos)" = web.1 ]'
	[ "$(dyno_pid web.1)" != "$old" ]
}

@test "poller: an API that does not answer in HSUP_API_TIMEOUT is tried again" {
	edit 'd["faults"] = [{"id": "slow", "path": "^/apps/myapp/releases$", "times": 1, "delay": 4}]'
	HSUP_API_TIMEOUT=1 follow
	wait_for 'grep -q "Heroku API: GET /apps/myapp/releases: Operation timed out after 1[0-9]* milliseconds" "$T/err"'
	wait_for 'grep -q "web says hello" "$T/out"' 20
	[ "$(poller failures)" = 0 ]
	run env HSUP_API_TIMEOUT=0 "$HSUP" start -a myapp --api-url "$API"
	[ "$status" = 2 ]
	[[ "$output" == *'HSUP_API_TIMEOUT "0" must be a number of seconds from 0.1 to 86400'* ]]
}

@test "poller: hsup build -a APP builds the app's current release; an API that keeps failing fails it" {
	run "$HSUP" build -a myapp --api-url "$API"
	[ "$status" = 0 ]
	[[ "$output" == *"built release v1 with the simple driver"* ]]
	[ -e "$(ls -d "$T"/data/slugs/slug-*)/web.sh" ]
	[ "$(requests 'r["path"].startswith("/blobs")')" = 1 ]
	edit 'd["token"] = "another"'
	run timeout 30 "$HSUP" build -a myapp --api-url "$API"
	[ "$status" = 1 ]
	[[ "$output" == *"build: the Heroku API refused the access token (401)"* ]]
}

@test "poller: a Retry-After of days is believed for an hour at most" {
	edit 'd["faults"] = [{"id": "rl", "path": "^/apps/myapp/releases$", "times": 1, "status": 429, "retry_after": 500000}]'
	follow
	wait_for '[ "$(poller failures)" = 1 ]'
	wait_for '[ "$(poller state)" = idle ]'
	next=$(poller next_poll_in_ms)
	[ "$next" -gt 3500000 ] && [ "$next" -le 3600000 ]
}
