#!/usr/bin/env bats
# The abspath driver: the Heroku dyno environment on the host, without a container: the
# release's slug unpacked once and the app path pointed at it, the profile scripts, HOME, PATH,
# and the dyno's processes stopped with it as with the simple driver.
load helpers

setup() {
	T=$(mktemp -d /tmp/hsup-abs.XXXXXX)
	CTL=$T/ctl SOCK=$T/sock
	mkdir -p "$CTL" "$T/bin" "$T/slug/app/.profile.d"
	export HSUP_CONTROL_DIR=$CTL HSUP_STATE_DIR=$T/state HSUP_DATA_DIR=$T/data
	export HSUP_APP_PATH=$T/app
	unset HSUP_CONTROL_SOCKET HEROKU_ACCESS_TOKEN
	HSUP_PID=
}

slug_release() { # slug_release PROCESSES [VERSION]
	tar -C "$T/slug" -czf "$T/slug-${2:-1}.tgz" ./app
	printf '{"Version": %s, "Slug": "%s", "Env": {"GREETING": "hi"}, "Processes": %s}\n' \
		"${2:-1}" "$T/slug-${2:-1}.tgz" "$1" >"$CTL/new.tmp"
	mv "$CTL/new.tmp" "$CTL/new"
}

@test "abspath: the slug at the app path, profile scripts, HOME and PATH, cwd the app" {
	echo 'export FROM_PROFILE=yes' >"$T/slug/app/.profile.d/a.sh"
	echo 'one' >"$T/slug/app/version"
	slug_release '[{"Type": "w", "Quantity": 1, "Args": ["echo home=$HOME path=$PATH profile=$FROM_PROFILE greeting=$GREETING version=$(cat version) dyno=$DYNO; exec sleep 100"]}]'
	start_hsup -d abspath start -s "$SOCK"
	wait_for 'grep -q "version=" "$T/out"'
	cat "$T/out"
	# the host's own /etc/profile.d may add to PATH
	grep -q "w.1 *| home=/app path=\(.*:\)\?/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin profile=yes greeting=hi version=one dyno=w.1" "$T/out"
	[ -L "$T/app" ]
	[ "$(cat "$T/app/version")" = one ]
	first=$(readlink "$T/app")
	# a new release with another slug: the app path moves to its tree, the dyno is replaced
	echo 'two' >"$T/slug/app/version"
	slug_release '[{"Type": "w", "Quantity": 1, "Args": ["echo version=$(cat version); exec sleep 100"]}]' 2
	wait_for 'grep -q "version=two" "$T/out"' 20
	[ "$(cat "$T/app/version")" = two ]
	[ "$(readlink "$T/app")" != "$first" ]
	# a third release: the first tree, no longer used, is removed
	echo 'three' >"$T/slug/app/version"
	slug_release '[{"Type": "w", "Quantity": 1, "Args": ["echo version=$(cat version); exec sleep 100"]}]' 3
	wait_for 'grep -q "version=three" "$T/out"' 20
	wait_for '[ ! -e "$first" ]' 20
}

@test "abspath: a release without a slug runs in the app path as it is; with none there it is refused" {
	release '[{"Type": "w", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_hsup -d abspath start -s "$SOCK"
	wait_for '[ -e "$CTL/last_error" ]'
	grep -q "the release has no Slug and $T/app is no directory" "$CTL/last_error"
	! grep -q "w.1" "$T/out"
	# an app already there (an image's /app): the dynos run in it
	mkdir "$T/app"
	echo here >"$T/app/marker"
	release '[{"Type": "w", "Quantity": 1, "Args": ["echo pwd=$(pwd) marker=$(cat marker); exec sleep 100"]}]' null new 2
	wait_for 'grep -q "marker=here" "$T/out"'
	grep -q "w.1 *| pwd=$T/app marker=here" "$T/out"
	[ -d "$T/app" ] && [ ! -L "$T/app" ]
}

@test "abspath: a directory at the app path is not replaced; the release is refused" {
	mkdir "$T/app"
	echo mine >"$T/app/keep"
	slug_release '[{"Type": "w", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_hsup -d abspath start -s "$SOCK"
	wait_for '[ -e "$CTL/last_error" ]'
	grep -q "is not a symbolic link: the abspath driver puts the release there" "$CTL/last_error"
	[ "$(cat "$T/app/keep")" = mine ]
}

@test "abspath: a malicious slug is refused, nothing written outside" {
	evil_slug "$T/evil.tgz"
	printf '{"Version": 1, "Slug": "%s", "Processes": [{"Type": "w", "Quantity": 1, "Args": ["exec sleep 100"]}]}\n' \
		"$T/evil.tgz" >"$CTL/new"
	start_hsup -d abspath start -s "$SOCK"
	wait_for '[ -e "$CTL/last_error" ]'
	grep -q 'entry "./app/../../escaped"' "$CTL/last_error"
	[ ! -e "$T/escaped" ] && [ ! -e "$T/data/escaped" ]
	[ ! -e "$T/app" ]
}

@test "abspath: hsup run gets the dyno environment and exits with the command's status" {
	echo 'export FROM_PROFILE=yes' >"$T/slug/app/.profile.d/a.sh"
	slug_release '[{"Type": "w", "Quantity": 1, "Args": ["true"]}]'
	run "$HSUP" -d abspath run 'echo profile=$FROM_PROFILE home=$HOME; exit 7'
	echo "$output"
	[ "$status" -eq 7 ]
	[[ "$output" == *"profile=yes home=/app"* ]]
}
