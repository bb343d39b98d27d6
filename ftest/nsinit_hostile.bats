#!/usr/bin/env bats
# A rootfs is someone else's tree: whatever symlinks, fifos or fake /proc files it holds,
# nothing outside it may change, be read or be run. Each test builds a rootfs of its own with
# one trap in it, and compares a host directory ($T/host) before and after.
load nsinit_helpers

setup() {
	T=$(mktemp -d /tmp/lc-ftest.XXXXXX)
	chmod 755 "$T"
	STATE=$T/state
	mkdir -p "$T/out" "$STATE"
	ID=ft$$n${BATS_TEST_NUMBER}
	cd "$T" || return 1
	RFS=$T/rootfs
	make_rootfs "$RFS"
	# the host directory the traps point at
	mkdir -p "$T/host"
	echo secret >"$T/host/keep"
	echo victim >"$T/host/victim"
	echo ptmx >"$T/host/ptmx"
	ln -s "$T/host/victim" "$T/host/null"
	printf 'evil:x:4242:4242::/:/bin/sh\n' >"$T/host/passwd"
	chmod 600 "$T/host/keep" "$T/host/victim" "$T/host/passwd"
	BEFORE=$(snapshot "$T/host")
}

host_unchanged() {
	local now
	now=$(snapshot "$T/host")
	[ "$now" = "$BEFORE" ] || {
		diff <(echo "$BEFORE") <(echo "$now") >&2
		echo "the host directory changed" >&2
		return 1
	}
}

@test "hostile rootfs: /dev an absolute symlink to a host directory gets no node or link there" {
	rmdir "$RFS/dev"
	ln -s "$T/host" "$RFS/dev"
	mkdir -p "$RFS$T/host" # where the symlink leads inside the rootfs
	mkconfig
	run nsinit exec --config config.json --id "$ID" -- /bin/sh -c 'ls /dev/; stat -c %t:%T /dev/null'
	echo "$output"
	host_unchanged
	[ "$status" -eq 0 ]
	[[ "$output" == *urandom* ]]
	[ "${lines[-1]}" = 1:3 ]
	assert_gone "$ID"
}

@test "hostile rootfs: /dev a ../ symlink out of the rootfs gets no node or link there" {
	rmdir "$RFS/dev"
	ln -s ../host "$RFS/dev"
	mkdir -p "$RFS/host"
	mkconfig
	run nsinit exec --config config.json --id "$ID" -- /bin/ls /dev/
	echo "$output"
	host_unchanged
	[ "$status" -eq 0 ]
	[[ "$output" == *zero* ]]
}

@test "hostile rootfs: a device node that is a symlink to a host file is replaced, never followed" {
	ln -s "$T/host/victim" "$RFS/dev/null"
	ln -s "$T/host/victim" "$RFS/dev/fuse"
	# no /dev tmpfs: the nodes are made in the rootfs's own /dev, over what stands there
	mkconfig '
c["mounts"] = [m for m in c["mounts"] if not m["destination"].startswith("/dev")]
c["linux"]["devices"] = [
    {"type": "c", "path": "/dev/null", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0},
    {"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438, "uid": 1000, "gid": 1000}]'
	run nsinit exec --config config.json --id "$ID" -- /bin/stat -c '%F %t:%T %a %u' /dev/null /dev/fuse
	echo "$output"
	host_unchanged
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "character special file 1:3 666 0" ]
	[ "${lines[1]}" = "character special file a:e5 666 1000" ]
}

@test "hostile rootfs: masked and read-only paths that are symlinks out act inside the rootfs" {
	ln -s "$T/host" "$RFS/secret"
	ln -s ../host "$RFS/rodir"
	mkdir -p "$RFS$T/host" "$RFS/host"
	echo inside >"$RFS$T/host/inroot"
	echo inside >"$RFS/host/inroot"
	mkconfig '
c["root"]["readonly"] = False
c["linux"]["maskedPaths"].append("/secret")
c["linux"]["readonlyPaths"].append("/rodir")'
	run nsinit exec --config config.json --id "$ID" -- /bin/sh -c 'ls -A /secret/ | wc -l; cat /rodir/inroot; touch /rodir/x 2>&1; touch /tmp/rw && echo rw-ok'
	echo "$output"
	host_unchanged
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 0 ]
	[ "${lines[1]}" = inside ]
	[[ "${lines[2]}" == *"Read-only file system"* ]]
	[ "${lines[3]}" = rw-ok ]
}

@test "hostile rootfs: a mount destination through a symlink is made inside the rootfs" {
	ln -s "$T/host" "$RFS/mnt"
	mkdir -p "$RFS$T/host"
	mkconfig 'c["mounts"].append({"destination": "/mnt/sub/dir", "type": "tmpfs", "source": "tmpfs"})'
	run nsinit exec --config config.json --id "$ID" -- /bin/sh -c 'touch /mnt/sub/dir/f && echo mounted'
	echo "$output"
	host_unchanged
	[ "$status" -eq 0 ]
	[ "$output" = mounted ]
	[ -d "$RFS$T/host/sub/dir" ]
}

@test "hostile rootfs: a cwd through /proc/self/fd/N never reaches a directory the runtime holds" {
	# the runtime holds the state root, its cache and the container's directory open while
	# it sets the container up: old code let the process start with one of them as its cwd
	local n bad=0
	for n in $(seq 3 16); do
		ln -s /proc/self/fd/$n "$RFS/work$n"
	done
	mkconfig
	for n in $(seq 3 16); do
		run nsinit exec --config config.json --cwd /work$n --id "$ID" -- /bin/sh -c "touch escaped-$n; pwd"
		echo "$n: $output"
		# refused as a magic link, or absent (no such fd)
		[[ "$output" == *"chdir to /work$n: Too many levels of symbolic links"* ||
			"$output" == *"chdir to /work$n: No such file or directory"* ]] || bad=1
	done
	find "$T" -name 'escaped-*'
	[ -z "$(find "$T" -name 'escaped-*')" ]
	[ "$bad" -eq 0 ]
	host_unchanged
	assert_gone "$ID"
}

@test "hostile rootfs: a command that is a symlink to /proc/self/exe is not run" {
	ln -s /proc/self/exe "$RFS/bin/evil"
	mkconfig
	run nsinit exec --config config.json --id "$ID" -- /bin/evil help
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" != *"usage: nsinit"* ]]
	[[ "$output" == *"find executable /bin/evil: Too many levels of symbolic links"* ]]
	# and by a PATH search
	run nsinit exec --config config.json --id "$ID" -- evil help
	[[ "$output" != *"usage: nsinit"* ]]
	[[ "$output" == *"find executable evil: Too many levels of symbolic links"* ]]
	assert_gone "$ID"
}

@test "hostile rootfs: a script whose interpreter is /proc/self/exe is not run" {
	printf '#!/proc/self/exe\n' >"$RFS/evil.sh"
	ln -s /proc/self/exe "$RFS/bin/exe"
	printf '#! /bin/exe help\n' >"$RFS/evil2.sh"
	# two deep: a script whose interpreter is a script with such an interpreter
	printf '#!/evil.sh\n' >"$RFS/evil3.sh"
	chmod 755 "$RFS"/evil*.sh
	mkconfig
	for s in evil.sh evil2.sh evil3.sh; do
		run nsinit exec --config config.json --id "$ID" -- /$s help
		echo "$output"
		[ "$status" -ne 0 ]
		[[ "$output" != *"usage: nsinit"* ]]
		[[ "$output" == *"find the interpreter of /$s: Too many levels of symbolic links"* ]]
	done
	assert_gone "$ID"
}

@test "hostile rootfs: /etc/passwd a symlink to a host file or a fifo is not read" {
	rm "$RFS/etc/passwd"
	ln -s "$T/host/passwd" "$RFS/etc/passwd"
	mkconfig
	run nsinit exec --config config.json --user evil --id "$ID" -- /bin/id -u
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"user evil: not in the container's /etc/passwd"* ]]
	[[ "$output" != *4242* ]]
	# joining a running container reads its passwd the same way
	mkconfig 'c["process"]["args"] = ["/bin/sleep", "1000"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	run nsinit exec --id "$ID" --user evil -- /bin/id -u
	echo "$output"
	[[ "$output" == *"user evil: not in the container's /etc/passwd"* ]]
	nsinit delete --force --id "$ID"
	# a fifo would block the reader for ever
	rm "$RFS/etc/passwd"
	mkfifo "$RFS/etc/passwd"
	mkconfig
	run timeout 20 "$NSINIT" --root "$STATE" exec --config config.json --user app --id "$ID" -- /bin/id -u
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the container's /etc/passwd is not a regular file"* ]]
	host_unchanged
}

@test "hostile rootfs: a relative bind source may not leave the bundle through a symlink" {
	ln -s "$T/host" "$RFS/data"
	mkdir -p "$T/shared"
	echo shared >"$T/shared/file"
	mkconfig '
c["root"]["path"] = "rootfs"
c["mounts"].append({"destination": "/data", "type": "bind", "source": "rootfs/data", "options": ["rbind", "ro"]})'
	run nsinit exec --config config.json --id "$ID" -- /bin/ls /data
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"field mounts[7].source: rootfs/data leads out of the bundle"* ]]
	[[ "$output" != *keep* ]]
	mkconfig '
c["root"]["path"] = "rootfs"
c["mounts"].append({"destination": "/data", "type": "bind", "source": "../../../../..'"$T"'/host", "options": ["rbind", "ro"]})'
	run nsinit exec --config config.json --id "$ID" -- /bin/ls /data
	[[ "$output" == *"leads out of the bundle"* ]]
	# relative sources that stay in the bundle work as before
	mkconfig '
c["root"]["path"] = "rootfs"
c["mounts"].append({"destination": "/shared", "type": "bind", "source": "shared", "options": ["rbind", "ro"]})'
	run nsinit exec --config config.json --id "$ID" -- /bin/cat /shared/file
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = shared ]
	host_unchanged
	assert_gone "$ID"
}

@test "hostile rootfs: sysctls are written only into the container's procfs" {
	mkdir -p "$RFS/proc/sys/net/ipv4"
	echo 0 >"$RFS/proc/sys/net/ipv4/ip_forward"
	# no /proc mount: the rootfs's own files stand where procfs would
	mkconfig '
c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/proc"]
c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}'
	run nsinit exec --config config.json --id "$ID" -- /bin/true
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"write sysctl outside procfs: /proc/sys/net/ipv4/ip_forward"* ]]
	[ "$(cat "$RFS/proc/sys/net/ipv4/ip_forward")" = 0 ]
	assert_gone "$ID"
}

@test "hostile rootfs: oom_score_adj is set from the host, not through the rootfs's /proc" {
	mkdir -p "$RFS/proc/self"
	mkfifo "$RFS/proc/self/oom_score_adj"
	mkconfig '
c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/proc"]
c["process"]["oomScoreAdj"] = 123
c["process"]["args"] = ["/bin/sleep", "1000"]'
	# the container keeps the stdio it is given: a file, so that nothing waits on a pipe
	rc=0
	timeout 20 "$NSINIT" --root "$STATE" run --detach --config config.json --id "$ID" \
		>"$T/log" 2>&1 </dev/null || rc=$?
	cat "$T/log"
	[ "$rc" -eq 0 ]
	pid=$(state_field "$ID" pid)
	[ "$(cat "/proc/$pid/oom_score_adj")" = 123 ]
}

@test "the state root: a symlink in it is no container, and delete leaves its target alone" {
	mkdir -p "$T/victim"
	echo '{"id": "evil", "pid": 0, "start_time": 0}' >"$T/victim/state.json"
	echo '{}' >"$T/victim/config.json"
	ln -s "$T/victim" "$STATE/evil"
	run nsinit delete --force --id evil
	echo "$output"
	[ "$status" -ne 0 ]
	[ -f "$T/victim/state.json" ]
	[ -f "$T/victim/config.json" ]
	run nsinit list
	[[ "$output" != *evil* ]]
	rm "$STATE/evil"
}

@test "cgroupsPath: no .. out of the hierarchy" {
	mkconfig 'c["linux"]["cgroupsPath"] = "../../../../../../../..'"$T"'/cg-escape"'
	run nsinit exec --config config.json --id "$ID" -- /bin/true
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"field linux.cgroupsPath"*"are not allowed in it"* ]]
	[ ! -e "$T/cg-escape" ]
	assert_gone "$ID"
}

@test "cgroupsPath: never the root group or the caller's own (delete kills what is in it)" {
	for p in / // ""; do
		mkconfig 'c["linux"]["cgroupsPath"] = "'"$p"'"'
		run nsinit exec --config config.json --id "$ID" -- /bin/true
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"field linux.cgroupsPath"*"names no group of the container's own"* ]]
	done
}
