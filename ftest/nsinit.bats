#!/usr/bin/env bats
# nsinit and libcontainer: isolation seen from inside by the static payload, the lifecycle
# seen from outside, and configs that must be refused.
load nsinit_helpers

@test "nsinit config prints the default spec" {
	run "$NSINIT" config
	[ "$status" -eq 0 ]
	printf '%s' "$output" | python3 -c '
import json, sys
c = json.load(sys.stdin)
ns = sorted(n["type"] for n in c["linux"]["namespaces"])
assert ns == ["ipc", "mount", "network", "pid", "uts"], ns
caps = c["process"]["capabilities"]["bounding"]
assert len(caps) == 14 and "CAP_NET_BIND_SERVICE" in caps and "CAP_SYS_ADMIN" not in caps
assert [m["destination"] for m in c["mounts"]][:3] == ["/proc", "/dev", "/dev/pts"]
assert "/proc/kcore" in c["linux"]["maskedPaths"] and "/proc/sys" in c["linux"]["readonlyPaths"]
assert c["linux"]["seccomp"]["syscalls"][0]["action"] == "SCMP_ACT_ERRNO"
'
}

@test "inside: PID 1, hostname, user, groups, capability sets, no_new_privs, rlimits" {
	mkconfig '
c["hostname"] = "lctest"
p = c["process"]
p["args"] = ["/lctest", "info"]
p["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [2000]}
p["capabilities"] = {"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"],
                     "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
p["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]
p["cwd"] = "/tmp"'
	run nsinit exec --config config.json --id "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field pid)" = 1 ]
	[ "$(field hostname)" = lctest ]
	[ "$(field uid)" = 1000 ]
	[ "$(field gid)" = 1000 ]
	[ "$(field groups)" = 2000 ]
	[ "$(field CapEff)" = 0000000000000020 ]
	[ "$(field CapPrm)" = 0000000000000020 ]
	[ "$(field CapAmb)" = 0000000000000020 ]
	[ "$(field CapBnd)" = 0000000000000021 ]
	[ "$(field NoNewPrivs)" = 1 ]
	[ "$(field Seccomp)" = 2 ]
	[ "$(field nofile)" = 512/1024 ]
	[ "$(field cwd)" = /tmp ]
	assert_gone "$ID"
}

@test "inside: a seccomp rule denies a call with its configured errno, by argument" {
	mkconfig '
c["process"]["args"] = ["/lctest", "getpriority"]
c["linux"]["seccomp"]["syscalls"].append({"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
    "errnoRet": 77, "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]})'
	run nsinit exec --config config.json --id "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"getpriority user=77"* ]]
	[[ "$output" == *"getpriority process=ok"* ]]
	# and the default profile denies what it lists
	run nsinit exec --config config.json --id "$ID" -- /bin/sh -c 'unshare -U true; echo rc=$?'
	[[ "$output" == *"rc=1"* ]]
}

@test "inside: the rootfs and read-only paths refuse writes, masked paths read empty" {
	mkconfig '
c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]})
c["linux"]["readonlyPaths"].append("/etc")
c["process"]["args"] = ["/lctest", "write", "/probe", "write", "/proc/sys/kernel/hostname",
    "write", "/tmp/probe", "read", "/proc/keys", "read", "/proc/timer_list", "read", "/proc/self/status"]'
	run nsinit exec --config config.json --id "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"write /probe=EROFS"* ]]
	[[ "$output" == *"write /proc/sys/kernel/hostname=EROFS"* ]]
	[[ "$output" == *"write /tmp/probe=ok"* ]]
	[[ "$output" == *"read /proc/keys=0 bytes"* ]]
	[[ "$output" == *"read /proc/timer_list=0 bytes"* ]]
	[[ "$output" != *"read /proc/self/status=0 bytes"* ]]
	run nsinit exec --config config.json --id "$ID" -- /bin/sh -c 'ls -A /sys/firmware | wc -l; touch /etc/x'
	[ "${lines[0]}" = 0 ]
	[[ "$output" == *"Read-only file system"* ]]
}

@test "inside: /dev has exactly the default nodes and the configured device" {
	mkconfig '
c["linux"]["devices"] = [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 384}]
c["process"]["args"] = ["/lctest", "info"]'
	run nsinit exec --config config.json --id "$ID"
	echo "$output"
	[ "$(field dev)" = "fd full fuse mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero" ]
	run nsinit exec --config config.json --id "$ID" -- /bin/sh -c 'stat -c "%F %t:%T %a" /dev/null /dev/fuse; readlink /dev/ptmx; readlink /dev/fd; echo hi > /dev/null && echo null-ok'
	echo "$output"
	[ "${lines[0]}" = "character special file 1:3 666" ]
	[ "${lines[1]}" = "character special file a:e5 600" ]
	[ "${lines[2]}" = "pts/ptmx" ]
	[ "${lines[3]}" = "/proc/self/fd" ]
	[ "${lines[4]}" = "null-ok" ]
}

@test "inside: no host mount is visible" {
	mkconfig 'c["process"]["args"] = ["/lctest", "info"]'
	run nsinit exec --config config.json --id "$ID"
	echo "$output"
	mps=$(field mountpoints)
	[ "${mps%% *}" = / ]
	for mp in $mps; do
		case "$mp" in
		/ | /proc | /proc/* | /dev | /dev/* | /sys | /sys/*) ;;
		*) echo "unexpected mount point $mp"; return 1 ;;
		esac
	done
	[ "$(printf '%s\n' $mps | grep -c '^/$')" -eq 1 ]
	# and the host's mount table is not what the container has
	! grep -q " $T" /proc/self/mountinfo
}

@test "create waits before exec, start runs it, state follows, delete leaves nothing" {
	mkconfig '
c["mounts"].append({"destination": "/out", "type": "bind", "source": sys.argv[1] + "/../../out", "options": ["rbind", "rw"]})
c["process"]["args"] = ["/bin/sh", "-c", "echo started > /out/marker; exec sleep 1000"]'
	python3 - "$T" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/config.json"))
c["mounts"][-1]["source"] = sys.argv[1] + "/out"
json.dump(c, open(sys.argv[1] + "/config.json", "w"))
PY
	# the container keeps the stdio it was given: files, so that nothing waits on a pipe
	nsinit create --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	[ "$(state_field "$ID" status)" = created ]
	pid=$(state_field "$ID" pid)
	[ "$pid" -gt 1 ]
	[ -d "/proc/$pid" ]
	[ ! -e "$T/out/marker" ]
	[ -f "$STATE/$ID/state.json" ]
	grep -q "\"start_time\"" "$STATE/$ID/state.json"
	run nsinit start --id "$ID"
	[ "$status" -eq 0 ]
	wait_for '[ -e "$T/out/marker" ]'
	[ "$(state_field "$ID" status)" = running ]
	run nsinit start --id "$ID"
	[ "$status" -ne 0 ]
	[[ "$output" == *"already started"* ]]
	run nsinit delete --id "$ID"
	[ "$status" -ne 0 ]
	[[ "$output" == *"running"* ]]
	run nsinit kill --id "$ID" KILL
	[ "$status" -eq 0 ]
	wait_for '[ "$(state_field "$ID" status)" = stopped ]'
	run nsinit delete --id "$ID"
	[ "$status" -eq 0 ]
	assert_gone "$ID" "$pid"
}

@test "delete --force kills every process and leaves no process, mount, cgroup or state" {
	mkconfig 'c["process"]["args"] = ["/bin/sh", "-c", "sleep 1001 & sleep 1002 & exec sleep 1003"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	pid=$(state_field "$ID" pid)
	wait_for '[ "$(nsinit ps --id "$ID" | wc -l)" -eq 3 ]'
	pids=$(nsinit ps --id "$ID")
	mnt=$(readlink "/proc/$pid/ns/mnt")
	run nsinit delete --force --id "$ID"
	[ "$status" -eq 0 ]
	assert_gone "$ID" "$pid"
	for p in $pids; do wait_for "proc_gone $p"; done
	# no process of the host is left in the container's mount namespace
	for p in /proc/[0-9]*; do [ "$(readlink "$p/ns/mnt" 2>/dev/null)" != "$mnt" ]; done
}

@test "kill --all signals every process; the state reports stopped once init is gone" {
	mkconfig 'c["process"]["args"] = ["/bin/sh", "-c", "sleep 1004 & exec sleep 1005"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	wait_for '[ "$(nsinit ps --id "$ID" | wc -l)" -eq 2 ]'
	run nsinit kill --all --id "$ID" KILL
	[ "$status" -eq 0 ]
	wait_for '[ "$(state_field "$ID" status)" = stopped ]'
	[ -z "$(nsinit ps --id "$ID")" ]
}

@test "errors from the container init name the step, the object and errno" {
	mkconfig 'c["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "none"})'
	run nsinit exec --config config.json --id "$ID" -- true
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"mount mounts[7] none on /x: No such device"* ]]
	assert_gone "$ID"
	mkconfig
	run nsinit exec --config config.json --id "$ID" -- /no/such/command
	echo "$output"
	[[ "$output" == *"find executable /no/such/command: No such file or directory"* ]]
	run nsinit exec --config config.json --cwd /nonexistent --id "$ID" -- true
	[[ "$output" == *"chdir to /nonexistent: No such file or directory"* ]]
	assert_gone "$ID"
}

@test "malformed and unsupported configs fail with the field named" {
	mkconfig 'c["linux"]["intelRdt"] = {"closID": "x"}'
	run nsinit exec --config config.json --id "$ID" -- true
	[ "$status" -eq 1 ]
	[[ "$output" == *"unsupported field linux.intelRdt"* ]]
	mkconfig 'c["process"]["capabilities"]["bounding"].append("CAP_TELEPORT")'
	run nsinit exec --config config.json --id "$ID" -- true
	[[ "$output" == *"process.capabilities.bounding[14]: unknown capability CAP_TELEPORT"* ]]
	mkconfig 'c["linux"]["resources"]["memory"] = {"limit": "lots"}'
	run nsinit exec --config config.json --id "$ID" -- true
	[[ "$output" == *"field linux.resources.memory.limit: expected an integer"* ]]
	echo '{"root": ' >config.json
	run nsinit exec --config config.json --id "$ID" -- true
	[[ "$output" == *"config.json: config: line"* ]]
	assert_gone "$ID"
}

@test "the configs runc spec and crun spec write are accepted" {
	for rt in runc crun; do
		command -v $rt >/dev/null || skip "$rt is not installed"
		mkdir -p "$T/$rt" && (cd "$T/$rt" && $rt spec)
		ln -s "$ROOTFS" "$T/$rt/rootfs"
		run nsinit exec --config "$T/$rt/config.json" --id "$ID" -- /lctest info
		echo "$output"
		[ "$status" -eq 0 ]
		[ "$(field hostname)" = $rt ]
		[ "$(field CapBnd)" = 00000000200000a0 ] || [ "$(field CapBnd)" = 0000000020000420 ]
	done
}

@test "a user namespace container sees uid 0, mapped to a high host uid" {
	mkconfig '
c["linux"]["namespaces"].append({"type": "user"})
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
c["process"]["args"] = ["/bin/sh", "-c", "/lctest info; cat /proc/self/uid_map; exec sleep 1006"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/out/log" 2>&1 </dev/null
	pid=$(state_field "$ID" pid)
	wait_for 'grep -q 200000 "$T/out/log"'
	cat "$T/out/log"
	output=$(cat "$T/out/log")
	[ "$(field uid)" = 0 ]
	[ "$(field ppid)" = 1 ]
	[[ "$output" == *"0     200000      65536"* ]] || [[ "$output" == *"0 200000 65536"* ]]
	# seen from the host, the container's root is uid 200000
	[ "$(stat -c %u "/proc/$pid")" = 200000 ]
	[ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" = 200000 ]
	nsinit delete --force --id "$ID"
	assert_gone "$ID" "$pid"
}

@test "inside: sysctls of the container's namespaces, oom_score_adj, domainname" {
	mkconfig '
c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1000"}
c["process"]["oomScoreAdj"] = 500
c["domainname"] = "example.test"
c["linux"]["namespaces"].append({"type": "cgroup"})
c["process"]["args"] = ["/bin/sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/self/oom_score_adj /proc/sys/kernel/domainname; readlink /proc/self/ns/cgroup"]'
	host_fwd=$(cat /proc/sys/net/ipv4/ip_forward) host_shm=$(cat /proc/sys/kernel/shmmni)
	run nsinit exec --config config.json --id "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 1 ]
	[ "${lines[1]}" = 1000 ]
	[ "${lines[2]}" = 500 ]
	[ "${lines[3]}" = example.test ]
	[ "${lines[4]}" != "$(readlink /proc/self/ns/cgroup)" ]
	# the host's own values are untouched
	[ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$host_fwd" ]
	[ "$(cat /proc/sys/kernel/shmmni)" = "$host_shm" ]
	mkconfig 'c["linux"]["sysctl"] = {"kernel.panic": "1"}'
	run nsinit exec --config config.json --id "$ID" -- true
	[[ "$output" == *"linux.sysctl.kernel.panic: not in a namespace the container owns"* ]]
}

@test "ids: 4294967295 ((uid_t)-1) and ids that would wrap to root are refused" {
	mkconfig '
c["process"]["user"] = {"uid": 4294967295, "gid": 4294967295}
c["process"]["args"] = ["/bin/id", "-u"]'
	run nsinit exec --config config.json --id "$ID"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"field process.user.uid: expected an id from 0 to 4294967294"* ]]
	mkconfig 'c["process"]["args"] = ["/bin/id", "-u"]'
	run nsinit exec --config config.json --user 4294967296 --id "$ID"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"user 4294967296: out of range (0 to 4294967294)"* ]]
	run nsinit exec --config config.json --user 1000:4294967295 --id "$ID"
	[[ "$output" == *"group 4294967295: out of range"* ]]
	mkconfig '
c["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [4294967295]}'
	run nsinit exec --config config.json --id "$ID" -- /bin/id
	[[ "$output" == *"field process.user.additionalGids[0]: expected an id"* ]]
	assert_gone "$ID"
}

@test "--user: a passwd line with an empty password field gives its own uid and gid" {
	RFS=$T/rootfs
	make_rootfs "$RFS"
	printf 'nopass::1001:1002::/:/bin/sh\n' >>"$RFS/etc/passwd"
	printf 'staff::50:\n' >>"$RFS/etc/group"
	mkconfig
	run nsinit exec --config config.json --user nopass --id "$ID" -- /bin/sh -c 'echo $(id -u):$(id -g)'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = 1001:1002 ]
	run nsinit exec --config config.json --user nopass:staff --id "$ID" -- /bin/sh -c 'echo $(id -u):$(id -g)'
	[ "$output" = 1001:50 ]
}

@test "hugepageLimits: an array as the OCI spec has it, applied or refused clearly" {
	mkconfig '
c["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4194304}]
c["process"]["args"] = ["/bin/sleep", "1000"]'
	if [ -d /sys/fs/cgroup/hugetlb ]; then
		nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
		[ "$(cat "$(cgroup_dir "$ID" hugetlb)/hugetlb.2MB.limit_in_bytes")" = 4194304 ]
	else
		# this host: the hugetlb controller is on no v1 hierarchy
		run nsinit run --detach --config config.json --id "$ID"
		echo "$output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"linux.resources.hugepageLimits: the hugetlb cgroup controller is not available on this host"* ]]
		assert_gone "$ID"
	fi
	mkconfig 'c["linux"]["resources"]["hugepageLimits"] = {"2MB": 4194304}'
	run nsinit exec --config config.json --id "$ID" -- true
	[[ "$output" == *"field linux.resources.hugepageLimits: expected an array"* ]]
	mkconfig 'c["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "../2MB", "limit": 1}]'
	run nsinit exec --config config.json --id "$ID" -- true
	[[ "$output" == *"hugepageLimits[0].pageSize: ../2MB is not a page size"* ]]
}

@test "a mount without destination, or with a mistyped one, is named by its path" {
	mkconfig 'c["mounts"].append({"type": "tmpfs", "source": "tmpfs"})'
	run nsinit exec --config config.json --id "$ID" -- true
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"field mounts[7].destination: missing"* ]]
	mkconfig 'c["mounts"].append({"destination": 7, "type": "tmpfs", "source": "tmpfs"})'
	run nsinit exec --config config.json --id "$ID" -- true
	[[ "$output" == *"field mounts[7].destination: expected a string"* ]]
	mkconfig 'c["linux"]["devices"] = [{"path": "/dev/fuse", "major": 10, "minor": 229}]'
	run nsinit exec --config config.json --id "$ID" -- true
	[[ "$output" == *"field linux.devices[0].type: missing"* ]]
}

@test "a script runs by its path: its interpreter gets the path as \$0" {
	RFS=$T/rootfs
	make_rootfs "$RFS"
	printf '#!/bin/sh\necho "zero=$0 arg=$1"\n' >"$RFS/script.sh"
	chmod 755 "$RFS/script.sh"
	mkconfig
	run nsinit exec --config config.json --id "$ID" -- /script.sh one
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "zero=/script.sh arg=one" ]
}
