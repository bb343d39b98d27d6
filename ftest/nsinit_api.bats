#!/usr/bin/env bats
# What the libcontainer dyno driver needs of the library: a config built in memory, a network
# namespace made beforehand joined by path, mounts with data strings, idmapped bind mounts, an
# init executable from outside the rootfs, stdio as fds, the exit through a pidfd.
load nsinit_helpers

# The network namespaces these tests make are bind mounts on $T/netns: gone before $T is.
teardown() {
	mountpoint -q "$T/netns" 2>/dev/null && umount "$T/netns"
	nsinit_teardown
}

# A network namespace of the test's own at $T/netns, told apart by lo's MTU.
make_netns() {
	touch "$T/netns"
	unshare --net="$T/netns" true
	nsenter --net="$T/netns" ip link set lo mtu 1234
}

LCAPI=$(readlink -f "$BATS_TEST_DIRNAME/../build/lcapi")

# A rootfs with no program at all: what runs must come from outside.
empty_rootfs() {
	mkdir -p "$T/empty/proc" "$T/empty/sys" "$T/empty/dev"
}

@test "C API: in-memory config, init fd, stdout pipe, pidfd, netns joined by path, tmpfs size=" {
	[ -x "$LCAPI" ] || skip "build/lcapi is not built"
	empty_rootfs
	make_netns
	run "$LCAPI" "$STATE" "$T/empty" "$LCTEST" "$T/netns"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field pid)" = 1 ]
	[ "$(field hostname)" = api ]
	# exec_blocked: the process starts with SIGTERM and SIGUSR1 blocked, no other
	[ "$(field SigBlk)" = 0000000000004200 ]
	[[ " $(field mountpoints) " == *" /scratch "* ]]
	[[ "$output" == *"mtu=1234"* ]]
	[[ "$output" == *"exit=0"* ]]
	[[ "$output" == *"state removed"* ]]
	[ -z "$(ls -A "$STATE" | grep -v '^\.cache$')" ]
}

@test "--init runs an executable from outside the rootfs" {
	empty_rootfs
	mkconfig "c['root']['path'] = '$T/empty'"
	run nsinit exec --config config.json --init "$LCTEST" --id "$ID" -- lctest info
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field pid)" = 1 ]
	[ "$(field SigBlk)" = 0000000000000000 ]
	[ ! -e "$T/empty/lctest" ]
	assert_gone "$ID"
}

@test "an idmapped bind mount shows root's files as the mapped owner" {
	mkdir -p "$T/data"
	echo hi >"$T/data/file"
	mkconfig "
c['mounts'].append({'destination': '/data', 'type': 'bind', 'source': '$T/data',
    'options': ['rbind', 'rw'],
    'uidMappings': [{'containerID': 0, 'hostID': 4000, 'size': 1}],
    'gidMappings': [{'containerID': 0, 'hostID': 4000, 'size': 1}]})"
	run nsinit exec --config config.json --id "$ID" -- /bin/sh -c 'stat -c %u:%g /data/file; cat /data/file'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 4000:4000 ]
	[ "${lines[1]}" = hi ]
	[ "$(stat -c %u:%g "$T/data/file")" = 0:0 ]
	assert_gone "$ID"
}

@test "a network namespace made beforehand is joined by path from the config" {
	make_netns
	mkconfig "
for n in c['linux']['namespaces']:
    if n['type'] == 'network':
        n['path'] = '$T/netns'"
	run nsinit exec --config config.json --id "$ID" -- /bin/cat /sys/class/net/lo/mtu
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = 1234 ]
}
