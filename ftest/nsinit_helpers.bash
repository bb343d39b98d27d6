# Shared by the nsinit functional tests. The bats process runs in a mount namespace of its own
# (scripts/check.sh starts it under `unshare -m`); each test gets its own state root and
# container ids, and teardown removes every container, cgroup and file it made, even when the
# test failed.

bats_require_minimum_version 1.5.0
load poll

NSINIT=$(readlink -f "${NSINIT:-$BATS_TEST_DIRNAME/../build/nsinit}")
LCTEST=$(readlink -f "${LCTEST:-$BATS_TEST_DIRNAME/../build/lctest}")

# A busybox rootfs with the static payload at /lctest, shared by the tests of a file.
make_rootfs() { # make_rootfs DIR
	local r=$1 a
	mkdir -p "$r"/bin "$r"/proc "$r"/sys "$r"/dev "$r"/etc "$r"/tmp "$r"/run "$r"/out
	cp /bin/busybox "$r"/bin/busybox
	for a in $("$r"/bin/busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
	done
	cp "$LCTEST" "$r"/lctest
	printf 'root:x:0:0:root:/:/bin/sh\napp:x:1000:1000:app:/:/bin/sh\n' >"$r"/etc/passwd
	printf 'root:x:0:\napp:x:1000:\nextra:x:2000:\n' >"$r"/etc/group
}

setup_file() {
	command -v unshare >/dev/null || skip "unshare is not installed"
	# outside the 0700 bats directories: a user namespace's root must reach it
	export ROOTFS=$(mktemp -d /tmp/lc-rootfs.XXXXXX)
	chmod 755 "$ROOTFS"
	make_rootfs "$ROOTFS"
}

teardown_file() {
	[ -n "${ROOTFS:-}" ] && rm -rf "$ROOTFS"
}

setup() {
	T=$(mktemp -d /tmp/lc-ftest.XXXXXX)
	chmod 755 "$T" # a user namespace's root must reach the files it is given
	STATE=$T/state
	mkdir -p "$T/out"
	ID=ft$$n${BATS_TEST_NUMBER}
	cd "$T" || return 1
}

# Every container under the test's root is deleted; no cgroup of ours may be left.
teardown() { nsinit_teardown; }

nsinit_teardown() {
	nsinit_teardown_state
	cd / && rm -rf "$T"
}

# Deletes every container under the test's root and any cgroup of its ids left behind.
nsinit_teardown_state() {
	local id d
	for d in "$STATE"/*/; do
		[ -d "$d" ] || continue
		id=$(basename "$d")
		"$NSINIT" --root "$STATE" delete --force --id "$id" >/dev/null 2>&1 || true
	done
	for d in /sys/fs/cgroup/*/lc-"$ID"* /sys/fs/cgroup/*/*/*/lc-"$ID"*; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
	return 0
}

nsinit() { "$NSINIT" --root "$STATE" "$@"; }

# Writes $T/config.json: the default config with the rootfs ($RFS, else the shared one) and
# the python statements given (run with the config as c), e.g.
# mkconfig 'c["process"]["args"] = ["/lctest", "info"]'.
mkconfig() {
	"$NSINIT" config | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["root"]["path"] = sys.argv[1]
c["linux"]["cgroupsPath"] = "lc-" + sys.argv[2]
exec(sys.argv[3])
json.dump(c, open(sys.argv[4], "w"), indent=1)
' "${RFS:-$ROOTFS}" "$ID" "${1:-pass}" "$T/config.json"
}

# The value of KEY=... in $output.
field() { printf '%s\n' "$output" | sed -n "s/^$1=//p" | head -1; }

state_field() { # state_field ID KEY
	nsinit state --id "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"
}

cgroup_dir() { # cgroup_dir ID CONTROLLER
	nsinit state --id "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['cgroup_paths']['$2'])"
}

# Waits up to $2 seconds (default 10) for the shell condition $1.
wait_for() {
	poll_until "$1" "${2:-10}" && return 0
	echo "timed out waiting for: $1" >&2
	return 1
}

# Nothing of container $1 is left: no state, no cgroup directory, no process with pid $2.
assert_gone() {
	local id=$1 pid=${2:-} d
	[ ! -e "$STATE/$id" ] || { echo "state of $id left" >&2; return 1; }
	for d in /sys/fs/cgroup/*/lc-"$id" /sys/fs/cgroup/*/*/*/lc-"$id"; do
		[ ! -d "$d" ] || { echo "cgroup $d left" >&2; return 1; }
	done
	[ -z "$pid" ] || proc_gone "$pid" || { echo "process $pid left" >&2; return 1; }
}

# The process is gone, or a zombie waiting for a parent outside the container to reap it.
proc_gone() {
	[ ! -d "/proc/$1" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = Z ] ||
		[ ! -d "/proc/$1" ]
}

# What a host directory holds, to compare before and after: every entry with its type, mode,
# owner, size, link target and, for files, a checksum of the contents.
snapshot() { # snapshot DIR
	(cd "$1" && find . -printf '%p %y %m %U:%G %s %l\n' | sort)
	find "$1" -type f -print0 | sort -z | xargs -0 -r md5sum
}
