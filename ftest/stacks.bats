#!/usr/bin/env bats
# Stacks, driven from outside through hsup-stack (the tool beside $HSUP): fetching over
# file:// and over http from a server of the test's own on 127.0.0.1, verifying, storing and
# reusing images, refusing what is wrong with nothing left behind, building a stack and
# mounting it read-only once. Mounts happen in mount namespaces the tests make (unshare -m):
# they go when the namespace does, and the loop devices with them.

bats_require_minimum_version 1.5.0

HSUP=${HSUP:-$BATS_TEST_DIRNAME/../build/hsup}
STACK=${HSUP_STACK:-$(dirname "$(readlink -f "$HSUP")")/hsup-stack}

setup() {
	[ -x "$STACK" ] || skip "$STACK is not built (make build/hsup-stack)"
	T=$(mktemp -d /tmp/hsup-stacks.XXXXXX)
	mkdir -p "$T/src" "$T/stacks"
	M=$T/stacks/manifest.yml
	SERVER_PID=
}

teardown() {
	[ -n "${T:-}" ] || return 0
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	# a loop device a failed test left behind (mounts went with their namespace)
	local img dev
	for img in "$T"/stacks/*.img; do
		[ -e "$img" ] || continue
		for dev in $(losetup -n -O NAME -j "$img" 2>/dev/null); do
			losetup -d "$dev" 2>/dev/null || true
		done
	done
	rm -rf "$T"
}

# A random image, gzipped as src/NAME-1.img.gz; its md5 in $MD5.
image() {
	head -c 2000000 /dev/urandom >"$T/src/$1-1.img"
	gzip -n -c "$T/src/$1-1.img" >"$T/src/$1-1.img.gz"
	MD5=$(md5sum <"$T/src/$1-1.img" | cut -d' ' -f1)
}

# The manifest: stack t, version 1, from URL, with md5 MD5 (default $MD5).
manifest() {
	printf -- '- name: t\n  version: 1\n  url: %s\n  md5: %s\n  primary: true\n' \
		"$1" "${2:-$MD5}" >"$M"
}

start_server() {
	local py
	py=$(command -v /usr/bin/python3 python3 | head -1)
	[ -n "$py" ] || skip "python3 is not installed"
	"$py" "$BATS_TEST_DIRNAME/stacks_server.py" "$T/src" "$T/requests" "$T/port" 3>&- &
	SERVER_PID=$!
	for _ in $(seq 200); do
		[ -s "$T/port" ] && break
		sleep 0.05
	done
	[ -s "$T/port" ]
	URL=http://127.0.0.1:$(cat "$T/port")
}

requests() {
	wc -l <"$T/requests" 2>/dev/null || echo 0
}

# Only the manifest and the stack's lock file: nothing else was left behind.
assert_nothing_stored() {
	run ls -A "$T/stacks"
	[ "$output" = "$(printf '.t-1.lock\nmanifest.yml')" ]
}

assert_image_good() {
	cmp "$T/src/t-1.img" "$T/stacks/t-1.img"
}

needs_mounts() {
	[ "$(id -u)" = 0 ] || skip "needs root (loop devices and mounts)"
	[ -e /dev/loop-control ] || skip "no /dev/loop-control"
	unshare -m --propagation private true 2>/dev/null || skip "cannot make a mount namespace"
	command -v mkfs.ext4 >/dev/null || PATH=$PATH:/usr/sbin:/sbin
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is not installed (e2fsprogs)"
}

# Runs the script in a mount namespace of its own.
in_ns() {
	unshare -m --propagation private env STACK="$STACK" T="$T" M="$M" bash -eu -c "$1"
}

# A small real stack: a tree of the host's sh, cat and ls, built into src/, in the manifest.
small_stack() {
	"$STACK" host --no-python --programs sh,cat,ls,echo "$T/tree"
	"$STACK" build --manifest "$M" "$T/tree" t 1 "$T/src" >/dev/null 2>&1
}

@test "fetch over file://: verified and stored, then used as it is" {
	image t
	manifest "file://$T/src/t-1.img.gz"
	run "$STACK" fetch -m "$M" t
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "t-1: fetched" ]
	assert_image_good
	run "$STACK" fetch -m "$M" t
	[ "$status" -eq 0 ]
	[ "$output" = "t-1: already there" ]
	[ "$(stat -c %a "$T/stacks/t-1.img")" = 644 ]
}

@test "fetch over http: verified, stored, and not fetched again (one request)" {
	image t
	start_server
	manifest "$URL/plain/t-1.img.gz"
	run "$STACK" fetch -m "$M" t
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "t-1: fetched" ]
	assert_image_good
	run "$STACK" fetch -m "$M" t
	[ "$output" = "t-1: already there" ]
	[ "$(requests)" -eq 1 ]
}

@test "a wrong md5 is refused with both sums, and nothing is left behind" {
	image t
	start_server
	manifest "$URL/plain/t-1.img.gz" 0123456789abcdef0123456789abcdef
	run "$STACK" fetch -m "$M" t
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"md5 mismatch: the image is $MD5, but $M line 1 says 0123456789abcdef0123456789abcdef; nothing was stored"* ]]
	assert_nothing_stored
}

@test "two processes fetching at once: one request, one good image" {
	image t
	start_server
	manifest "$URL/slow/t-1.img.gz"
	"$STACK" fetch -m "$M" t >"$T/out1" 2>&1 &
	local first=$!
	"$STACK" fetch -m "$M" t >"$T/out2" 2>&1 &
	local second=$!
	wait "$first"
	wait "$second"
	cat "$T/out1" "$T/out2"
	[ "$(sort "$T/out1" "$T/out2")" = "$(printf 't-1: already there\nt-1: fetched')" ]
	[ "$(requests)" -eq 1 ]
	assert_image_good
	run ls -A "$T/stacks"
	[ "$output" = "$(printf '.t-1.lock\nmanifest.yml\nt-1.img')" ]
}

@test "a truncated download is refused, and nothing is left behind" {
	image t
	start_server
	manifest "$URL/truncate/t-1.img.gz"
	run "$STACK" fetch -m "$M" t
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"fetch stack t-1 from $URL/truncate/t-1.img.gz: "*"(the download was cut short)"* ]]
	assert_nothing_stored
}

@test "a server that stalls is given up on, and nothing is left behind" {
	image t
	start_server
	manifest "$URL/stall/t-1.img.gz"
	run "$STACK" fetch --stall-timeout 1 -m "$M" t
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"nothing received for 1 s: the transfer stalled"* ]]
	assert_nothing_stored
}

@test "redirects are followed to http only, never to file://" {
	image t
	start_server
	manifest "$URL/redirect/file://$T/src/t-1.img.gz"
	run "$STACK" fetch -m "$M" t
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"redirects only to http and https"* ]]
	assert_nothing_stored
	manifest "$URL/redirect/$URL/plain/t-1.img.gz"
	run "$STACK" fetch -m "$M" t
	[ "$status" -eq 0 ]
	assert_image_good
}

@test "an HTTP error is refused with its status" {
	image t
	start_server
	manifest "$URL/plain/missing.img.gz"
	run "$STACK" fetch -m "$M" t
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"returned error: 404"* ]]
	assert_nothing_stored
}

@test "fetch shows its progress: bytes, rate, time left" {
	image t
	manifest "file://$T/src/t-1.img.gz"
	"$STACK" fetch --progress -m "$M" t >"$T/out" 2>"$T/err"
	cat -v "$T/err"
	grep -q "t-1: .* of .* (100%), .*/s" "$T/err"
	[ "$(cat "$T/out")" = "t-1: fetched" ]
}

@test "manifest errors name the file, the line and the field; an unknown stack names itself" {
	manifest "file://$T/src/t-1.img.gz" not-an-md5
	run "$STACK" fetch -m "$M" t
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$M:4: stack 1 (t): md5: 32 hexadecimal digits expected, found \"not-an-md5\""* ]]
	image t
	manifest "file://$T/src/t-1.img.gz"
	run "$STACK" fetch -m "$M" cedar-14
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"unknown stack \"cedar-14\": $M lists t-1"* ]]
}

@test "a built stack mounts read-only once, shows its tree with relative links only, and runs" {
	needs_mounts
	small_stack
	run in_ns '
		"$STACK" mount -m "$M" t
		mnt=$T/stacks/t-1
		test -z "$(find "$mnt" -type l -lname "/*")"
		find "$mnt" -type l | grep -q .
		test -d "$mnt/app" && test -d "$mnt/etc/profile.d"
		chroot "$mnt" /bin/sh -c "echo hello from the stack"
		if touch "$mnt/x" 2>/dev/null; then echo writable; exit 1; fi
		grep " $mnt " /proc/self/mountinfo'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"mounted $T/stacks/t-1"* ]]
	[[ "$output" == *"hello from the stack"* ]]
	[[ "$output" == *" ro,nosuid,nodev"*" - ext4 /dev/loop"* ]]
}

@test "a mounted stack is found again by a new process, not mounted twice; umount frees it" {
	needs_mounts
	small_stack
	run in_ns '
		"$STACK" mount -m "$M" t
		"$STACK" mount -m "$M" t
		echo "mounts: $(grep -c " $T/stacks/t-1 " /proc/self/mountinfo)"
		echo "loops: $(losetup -n -O NAME -j "$T/stacks/t-1.img" | wc -l)"
		"$STACK" list -m "$M"
		"$STACK" umount -m "$M" t
		echo "after: $(grep -c " $T/stacks/t-1 " /proc/self/mountinfo || true)"
		for i in $(seq 100); do
			[ -z "$(losetup -n -O NAME -j "$T/stacks/t-1.img")" ] && break
			sleep 0.05
		done
		echo "loops after: $(losetup -n -O NAME -j "$T/stacks/t-1.img" | wc -l)"
		"$STACK" umount -m "$M" t'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"mounted $T/stacks/t-1"*"reused $T/stacks/t-1"* ]]
	[[ "$output" == *"mounts: 1"* ]]
	[[ "$output" == *"loops: 1"* ]]
	[[ "$output" == *"t	1	primary	$T/stacks/t-1"* ]]
	[[ "$output" == *"t-1: unmounted"*"after: 0"*"loops after: 0"*"t-1: not mounted"* ]]
	[ ! -e "$T/stacks/t-1" ]
}

@test "a mount point holding something else is refused, and no loop device is left" {
	needs_mounts
	small_stack
	run in_ns '
		mkdir "$T/stacks/t-1"
		mount -t tmpfs other "$T/stacks/t-1"
		"$STACK" mount -m "$M" t || echo "refused: $?"
		echo "loops: $(losetup -n -O NAME -j "$T/stacks/t-1.img" | wc -l)"'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$T/stacks/t-1 is already a mount point, of other (tmpfs), not of $T/stacks/t-1.img"* ]]
	[[ "$output" == *"refused: 1"* ]]
	[[ "$output" == *"loops: 0"* ]]
}

@test "build refuses a tree with an absolute link; relink rewrites it as a relative one" {
	mkdir -p "$T/tree/usr/bin" "$T/tree/bin"
	echo hi >"$T/tree/usr/bin/prog"
	ln -s /usr/bin/prog "$T/tree/bin/prog"
	run "$STACK" build "$T/tree" t 1 "$T/src"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$T/tree/bin/prog -> /usr/bin/prog: an absolute link"* ]]
	[ -z "$(ls -A "$T/src")" ]
	run "$STACK" relink "$T/tree"
	[ "$output" = "1 links rewritten" ]
	[ "$(readlink "$T/tree/bin/prog")" = ../usr/bin/prog ]
	run "$STACK" check "$T/tree"
	[ "$status" -eq 0 ]
	command -v mkfs.ext4 >/dev/null || PATH=$PATH:/usr/sbin:/sbin
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is not installed (e2fsprogs)"
	run "$STACK" build --url https://stacks.example/t-1.img.gz "$T/tree" t 1 "$T/src"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"url: https://stacks.example/t-1.img.gz"* ]]
	[[ "$output" == *"md5: $(zcat "$T/src/t-1.img.gz" | md5sum | cut -d' ' -f1)"* ]]
}
