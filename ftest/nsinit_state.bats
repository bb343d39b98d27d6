#!/usr/bin/env bats
# The state root: what a killed create leaves, containers on any filesystem.
load nsinit_helpers

@test "create killed at any point leaves what list shows and delete --force removes" {
	# each id its own default group, lc-<id>
	mkconfig 'c["process"]["args"] = ["/bin/sleep", "1000"]; del c["linux"]["cgroupsPath"]'
	local i id pid left=0
	for i in $(seq 0 25); do
		id=$ID-k$i
		# the binary itself, not the nsinit function: $! must be the process killed
		"$NSINIT" --root "$STATE" create --config config.json --id "$id" \
			>"$T/log" 2>&1 </dev/null &
		pid=$!
		sleep "$(printf '0.%03d' "$i")"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		if [ -e "$STATE/$id" ]; then
			left=$((left + 1))
			nsinit list >"$T/list"
			grep -q "^$id	" "$T/list" || {
				echo "kill after $i ms: $id left in the state root but not listed" >&2
				ls -la "$STATE/$id" >&2
				return 1
			}
			run nsinit delete --force --id "$id"
			echo "$i ms: $(grep "^$id	" "$T/list") -> delete: $status $output"
			[ "$status" -eq 0 ]
		fi
		# every trace is gone: state, cgroups, processes (the init waits with our argv)
		assert_gone "$id"
		wait_for '! pgrep -f -- "--id $id\$" >/dev/null'
		# and the id can be used again
		nsinit create --config config.json --id "$id" >"$T/log" 2>&1 </dev/null ||
			{ cat "$T/log"; return 1; }
		nsinit delete --force --id "$id"
		assert_gone "$id"
	done
	echo "$left of 26 kills left a container behind"
	[ "$left" -gt 0 ]
}

@test "a state directory without state.json is listed as stopped and deleted" {
	mkdir -p "$STATE/$ID"
	touch "$STATE/$ID/state.json.tmp.123"
	run nsinit list
	echo "$output"
	[[ "$output" == *"$ID	0	stopped"* ]]
	run nsinit delete --id "$ID"
	[ "$status" -eq 0 ]
	assert_gone "$ID"
}

@test "list shows containers on a filesystem that reports DT_UNKNOWN (ext4 without filetype)" {
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is not installed"
	truncate -s 16M "$T/img"
	mkfs.ext4 -q -O ^filetype "$T/img"
	mkdir "$T/mnt"
	mount -o loop "$T/img" "$T/mnt" || skip "cannot loop-mount an ext4 image here"
	STATE=$T/mnt/state
	mkconfig 'c["process"]["args"] = ["/bin/sleep", "1000"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	pid=$(state_field "$ID" pid)
	# the filesystem really reports no type: what list must cope with
	python3 -c 'import ctypes, os, sys
# readdir through libc: d_type of every entry
libc = ctypes.CDLL(None, use_errno=True)
class Dirent(ctypes.Structure):
    _fields_ = [("ino", ctypes.c_ulong), ("off", ctypes.c_long), ("reclen", ctypes.c_ushort),
                ("type", ctypes.c_ubyte), ("name", ctypes.c_char * 256)]
libc.opendir.restype = ctypes.c_void_p
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
d = libc.opendir(sys.argv[1].encode())
while True:
    e = libc.readdir(d)
    if not e:
        break
    if e.contents.name == sys.argv[2].encode():
        sys.exit(0 if e.contents.type == 0 else 3)
sys.exit(4)' "$STATE" "$ID" || skip "this filesystem reports the entries' type after all"
	run nsinit list
	echo "$output"
	[[ "$output" == *"$ID	$pid	running"* ]]
	nsinit delete --force --id "$ID"
	assert_gone "$ID" "$pid"
	umount "$T/mnt"
}

teardown() {
	nsinit_teardown_state
	mountpoint -q "$T/mnt" 2>/dev/null && umount "$T/mnt"
	cd / && rm -rf "$T"
}
