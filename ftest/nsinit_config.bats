#!/usr/bin/env bats
# The config as the runtime spec has it: unknown fields ignored, namespaces not listed shared
# with the host, hooks at their moments of the lifecycle, and the fields engines send.
load nsinit_helpers

# Hooks that record what they were given: the state on stdin into $T/out/KIND.json.
hook() { # hook KIND [SHELL] → a JSON hook object writing to $T/out
	printf '{"path": "/bin/sh", "args": ["sh", "-c", "%s"]}' "${2:-cat > $T/out/$1.json}"
}

json_field() { # json_field FILE KEY
	python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

@test "unknown properties, at the top and nested, are ignored; a known unsupported one is named" {
	mkconfig '
c["futureTopLevel"] = {"a": [1, 2]}
c["process"]["futureProcess"] = "x"
c["linux"]["futureLinux"] = {"b": True}
c["linux"]["resources"]["memory"] = {"futureKnob": 1}
c["mounts"][0]["futureMount"] = 1
c["windows"] = {"layerFolders": []}
c["process"]["args"] = ["/bin/echo", "ran"]'
	run nsinit exec --config config.json --id "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = ran ]
	mkconfig 'c["linux"]["resources"]["rdma"] = {"mlx5_1": {"hcaHandles": 3}}'
	run nsinit exec --config config.json --id "$ID" -- true
	[ "$status" -eq 1 ]
	[[ "$output" == *"unsupported field linux.resources.rdma: the rdma controller is not supported"* ]]
	mkconfig 'c["ociVersion"] = "not-a-version"'
	run nsinit exec --config config.json --id "$ID" -- true
	[ "$status" -eq 1 ]
	[[ "$output" == *"field ociVersion: not-a-version is not a version"* ]]
	assert_gone "$ID"
}

@test "without a mount namespace the container shares the host's mounts, and mounts are refused" {
	RFS=$T/rootfs
	mkdir "$RFS"
	cp -a "$ROOTFS"/. "$RFS"/
	mount -t proc proc "$RFS/proc"
	mkconfig '
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "mount"]
c["mounts"] = []
c["linux"]["maskedPaths"] = []
c["linux"]["readonlyPaths"] = []
c["linux"].pop("devices", None)
c["root"]["readonly"] = False
c["process"]["args"] = ["/bin/readlink", "/proc/self/ns/mnt"]'
	run nsinit exec --config config.json --id "$ID"
	host=$(readlink /proc/self/ns/mnt)
	umount "$RFS/proc"
	[ "$status" -eq 0 ]
	[ "$output" = "$host" ]
	mkconfig '
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "mount"]'
	run nsinit exec --config config.json --id "$ID" -- true
	[ "$status" -eq 1 ]
	[[ "$output" == *"field mounts: needs a mount namespace"* ]]
	assert_gone "$ID"
}

@test "hooks: each kind at its moment, with the state on stdin, in the right namespaces" {
	mkconfig "
c['mounts'].append({'destination': '/out', 'type': 'bind', 'source': '$T/out', 'options': ['rbind', 'rw']})
c['process']['args'] = ['/bin/sleep', '1000']
c['hooks'] = {
 'prestart': [$(hook prestart)],
 'createRuntime': [$(hook createRuntime)],
 'createContainer': [$(hook createContainer "cat > $T/out/createContainer.json; readlink /proc/self/ns/mnt > $T/out/cc.ns")],
 'startContainer': [$(hook startContainer 'cat > /out/startContainer.json; test -x /lctest && echo in-rootfs > /out/sc.where')],
 'poststart': [$(hook poststart)],
 'poststop': [$(hook poststop)],
}"
	nsinit create --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	pid=$(state_field "$ID" pid)
	for k in prestart createRuntime createContainer; do
		[ "$(json_field "$T/out/$k.json" status)" = creating ]
		[ "$(json_field "$T/out/$k.json" pid)" = "$pid" ]
		[ "$(json_field "$T/out/$k.json" id)" = "$ID" ]
	done
	[ "$(json_field "$T/out/createRuntime.json" bundle)" = "$T" ]
	# createContainer ran in the container's mount namespace, before pivot_root
	[ "$(cat "$T/out/cc.ns")" = "$(readlink /proc/$pid/ns/mnt)" ]
	[ "$(cat "$T/out/cc.ns")" != "$(readlink /proc/self/ns/mnt)" ]
	[ ! -e "$T/out/startContainer.json" ]
	[ ! -e "$T/out/poststart.json" ]
	nsinit start --id "$ID"
	# startContainer ran inside the container (after pivot_root: /lctest is its root's)
	[ "$(json_field "$T/out/startContainer.json" status)" = created ]
	[ "$(cat "$T/out/sc.where")" = in-rootfs ]
	[ "$(json_field "$T/out/poststart.json" status)" = running ]
	[ ! -e "$T/out/poststop.json" ]
	nsinit kill --id "$ID" KILL
	wait_for '[ "$(state_field "$ID" status)" = stopped ]'
	nsinit delete --id "$ID"
	[ "$(json_field "$T/out/poststop.json" status)" = stopped ]
	[ "$(json_field "$T/out/poststop.json" id)" = "$ID" ]
	assert_gone "$ID" "$pid"
}

@test "hooks: a failing prestart fails create and leaves nothing; a failing poststart warns" {
	mkconfig "
c['hooks'] = {'prestart': [$(hook prestart 'exit 3')], 'poststop': [$(hook poststop)]}"
	run nsinit create --config config.json --id "$ID"
	[ "$status" -eq 1 ]
	[[ "$output" == *"hooks.prestart[0] /bin/sh: exited with status 3"* ]]
	assert_gone "$ID"
	[ "$(json_field "$T/out/poststop.json" status)" = stopped ]
	mkconfig "
c['process']['args'] = ['/bin/echo', 'still ran']
c['hooks'] = {'poststart': [$(hook poststart 'exit 4')]}"
	run nsinit exec --config config.json --id "$ID"
	[ "$status" -eq 0 ]
	[[ "$output" == *"warning: hooks.poststart[0] /bin/sh: exited with status 4"* ]]
	[[ "$output" == *"still ran"* ]]
	assert_gone "$ID"
}

@test "hooks: a hook past its timeout is killed and fails create" {
	mkconfig "
c['hooks'] = {'createRuntime': [{'path': '/bin/sh', 'args': ['sh', '-c', 'echo \$\$ > $T/out/hook.pid; exec sleep 100'], 'timeout': 1}]}"
	start=$(date +%s)
	run nsinit create --config config.json --id "$ID"
	[ "$status" -eq 1 ]
	[ $(($(date +%s) - start)) -lt 5 ]
	[[ "$output" == *"hooks.createRuntime[0] /bin/sh: timed out after 1 s, killed"* ]]
	proc_gone "$(cat "$T/out/hook.pid")"
	assert_gone "$ID"
}

@test "process: umask, scheduler, ioPriority and personality are applied inside" {
	mkconfig '
c["process"]["user"]["umask"] = 0o027
c["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
c["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
c["linux"]["personality"] = {"domain": "LINUX32"}
c["process"]["args"] = ["/bin/sh", "-c", "umask; uname -m; ionice; cut -d\" \" -f19,41 /proc/self/stat"]'
	run nsinit exec --config config.json --id "$ID"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 0027 ]
	[[ "${lines[1]}" == i?86 ]]
	[[ "${lines[2]}" == *"best-effort"*"prio 6"* ]]
	[ "${lines[3]}" = "7 3" ] # nice 7, SCHED_BATCH
	assert_gone "$ID"
}

@test "memory swappiness, OOM killer, kernel limits and blockIO throttles applied; unified refused on v1" {
	[ -d /sys/fs/cgroup/memory ] || skip "no v1 memory controller"
	mkconfig '
c["linux"]["resources"]["memory"] = {"limit": 67108864, "swappiness": 7, "disableOOMKiller": True, "kernelTCP": 8388608}
c["linux"]["resources"]["blockIO"] = {"throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}]}
c["process"]["args"] = ["/bin/sleep", "1000"]'
	nsinit create --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	mem=$(cgroup_dir "$ID" memory)
	[ "$(cat "$mem/memory.swappiness")" = 7 ]
	grep -qx 'oom_kill_disable 1' "$mem/memory.oom_control"
	[ "$(cat "$mem/memory.kmem.tcp.limit_in_bytes")" = 8388608 ]
	if [ -e /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device ]; then
		grep -qx '7:0 1048576' "$(cgroup_dir "$ID" blkio)/blkio.throttle.read_bps_device"
	fi
	nsinit delete --force --id "$ID"
	mkconfig 'c["linux"]["resources"]["unified"] = {"memory.high": "max"}'
	run nsinit exec --config config.json --id "$ID" -- true
	[ "$status" -eq 1 ]
	[[ "$output" == *"field linux.resources.unified: needs cgroup v2"* ]]
	assert_gone "$ID"
}

@test "labels and profiles are accepted where SELinux and AppArmor are absent" {
	[ ! -e /sys/fs/selinux/enforce ] || skip "SELinux is enabled here"
	grep -qs Y /sys/module/apparmor/parameters/enabled && skip "AppArmor is enabled here"
	mkconfig '
c["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0:c1,c2"
c["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0:c1,c2"
c["process"]["apparmorProfile"] = "cri-containerd.apparmor.d"
c["process"]["args"] = ["/bin/echo", "ok"]'
	run nsinit exec --config config.json --id "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
	assert_gone "$ID"
}
