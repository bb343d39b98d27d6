#!/bin/sh
# The entry point of hsup's image: makes the container fit for container dynos
# (-d libcontainer), then becomes hsup:
#   hsup -d libcontainer -s $HSUP_CONTROL_SOCKET ARGS...     (ARGS: `start` by default)
# hsup is PID 1: it reaps the orphans of its dynos, `docker stop`'s SIGTERM reaches it and it
# stops every dyno, and the container's exit status is hsup's. What it prepares:
#   - a cgroup namespace of its own (`unshare --cgroup` when Docker gave none), and the cgroup
#     filesystems writable, so that hsup makes its dynos' groups under the container's group
#     (and on a hybrid host the v2 hierarchy, which Docker leaves out, mounted beside them)
#   - /proc/sys/net writable (hsup sets ip_forward in the container's network namespace)
#   - /dev/loop-control and /dev/loopN, when the runtime did not pass them (the device cgroup
#     must allow them: --device-cgroup-rule)
#   - /run a fresh tmpfs, as at boot, with /run/netns
set -eu

say() { echo "hsup-entry: $*" >&2; }
die() {
	say "$*"
	exit 125
}

# The cgroup paths of this process, one a line (v1 hierarchies and v2's "0::").
own_cgroups() { cut -d: -f3 /proc/self/cgroup; }

if [ -z "${HSUP_ENTRY_CGROUPNS:-}" ] && own_cgroups | grep -qv '^/$'; then
	# Docker's cgroup mounts show the container's own groups: in a cgroup namespace rooted
	# there, the paths of /proc/self/cgroup lead into them
	HSUP_ENTRY_CGROUPNS=1 exec unshare --cgroup "$0" "$@" ||
		die "cannot make a cgroup namespace (does the container have CAP_SYS_ADMIN?)"
fi
unset HSUP_ENTRY_CGROUPNS

# mountinfo's mount points under /sys/fs/cgroup of type $1 (cgroup, cgroup2), one a line
cgroup_mounts() {
	awk -v t="$1" '{ for (i = 7; $i != "-"; i++) ; if ($(i + 1) == t && $5 ~ "^/sys/fs/cgroup") print $5 }' \
		/proc/self/mountinfo
}

writable() { # writable MOUNT_POINT: remounted read-write if it is read-only
	[ -w "$1" ] || mount -o remount,bind,rw "$1" || die "cannot make $1 writable"
}

cgroups_v2_only() {
	writable /sys/fs/cgroup
}

cgroups_v1() {
	for m in $(cgroup_mounts cgroup) $(cgroup_mounts cgroup2); do
		writable "$m"
	done
	# Docker mounts no v2 hierarchy beside the v1 ones of a hybrid host: mounted, hsup finds
	# the hierarchies it finds on the host
	if [ -z "$(cgroup_mounts cgroup2)" ] && grep -q '^0::' /proc/self/cgroup; then
		if mkdir -p /sys/fs/cgroup/unified 2>/dev/null ||
			{ mount -o remount,rw /sys/fs/cgroup && mkdir -p /sys/fs/cgroup/unified; }; then
			mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup/unified ||
				say "cannot mount the cgroup v2 hierarchy: dynos are tracked with the v1 freezer"
		fi
	fi
}

prepare_cgroups() {
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
		cgroups_v2_only
	elif [ -n "$(cgroup_mounts cgroup)" ]; then
		cgroups_v1
	else
		say "no cgroup filesystem under /sys/fs/cgroup: hsup will track dynos by process group"
	fi
}

prepare_sysctl() {
	[ ! -w /proc/sys/net/ipv4/ip_forward ] || return 0
	if ! mount --bind /proc/sys/net /proc/sys/net ||
		! mount -o remount,bind,rw /proc/sys/net; then
		die "cannot make /proc/sys/net writable"
	fi
}

# Loop devices for the stacks: the kernel may hand out any number (LOOP_CTL_GET_FREE makes a
# new one when none is free), so nodes are made well past the highest the host has now.
prepare_loop() {
	[ -e /dev/loop-control ] || mknod -m 660 /dev/loop-control c 10 237 ||
		die "cannot make /dev/loop-control (the container needs CAP_MKNOD, or --device /dev/loop-control)"
	high=0
	for d in /sys/block/loop*; do
		n=${d#/sys/block/loop}
		case $n in '' | *[!0-9]*) continue ;; esac
		[ "$n" -le "$high" ] || high=$n
	done
	last=$((high + 64))
	i=0
	while [ "$i" -le "$last" ]; do
		[ -e "/dev/loop$i" ] || mknod -m 660 "/dev/loop$i" b 7 "$i" ||
			die "cannot make /dev/loop$i (the container needs CAP_MKNOD)"
		i=$((i + 1))
	done
}

prepare_run() {
	[ "$(stat -f -c %T /run)" = tmpfs ] ||
		mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run || die "cannot mount a tmpfs on /run"
	mkdir -p /run/netns /run/lock
}

check_data_dir() {
	data=${HSUP_DATA_DIR:-/var/lib/hsup}
	mkdir -p "$data"
	[ "$(stat -f -c %T "$data")" != overlayfs ] ||
		say "$data is on the image's overlay filesystem, where dynos' /app cannot be made: give it a volume (-v)"
	[ -z "${HSUP_STACK_MANIFEST:-}" ] || [ -e "$HSUP_STACK_MANIFEST" ] ||
		say "no stack manifest at $HSUP_STACK_MANIFEST: put the stacks in the volume of ${HSUP_STACK_MANIFEST%/*}"
}

prepare_cgroups
prepare_sysctl
prepare_loop
prepare_run
check_data_dir
exec hsup -d libcontainer -s "${HSUP_CONTROL_SOCKET:-/etc/hsup/hsup.sock}" "$@"
