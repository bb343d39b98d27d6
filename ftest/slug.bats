#!/usr/bin/env bats
# Slugs, driven from outside through build/slugtool (the slug library's calls): a slug made
# with tar unpacked whole from a path, a file:// URL and http://; malicious slugs refused with
# the entry named and nothing written outside the target; kill -9 in the middle of an unpack
# leaving only a temporary that the cleanup removes; removal that follows no link.
load helpers

SLUGTOOL=${SLUGTOOL:-$(dirname "$HSUP")/slugtool}

slugtool() { "$SLUGTOOL" "$@"; }

# type, mode, mtime and link target of everything under $1, sorted (what a tree is made of).
listing() {
	(cd "$1" && find . -mindepth 1 -printf '%p %y %m %T@ %l\n' | sort)
}

# The host as the test can see it change: a directory beside the target, and /etc/passwd.
host_state() {
	listing "$T/outside"
	stat -c '%n %s %Y %h %i' /etc/passwd
}

# Writes a gzipped tar to $1 from python3 tarfile entries given on stdin as lines:
#   file NAME DATA | dir NAME | sym NAME TARGET | hard NAME TARGET | fifo NAME | chr NAME
#   mode NAME OCTAL DATA (a file with a mode)
mktar() {
	python3 -c '
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w:gz", format=tarfile.GNU_FORMAT) as t:
    for line in sys.stdin:
        kind, name, *rest = line.rstrip("\n").split(" ", 2)
        ti = tarfile.TarInfo(name)
        ti.mtime = 1000000000
        data = b""
        if kind == "file":
            data = rest[0].encode()
        elif kind == "mode":
            ti.mode = int(rest[0], 8)
            data = rest[1].encode() if len(rest) > 1 else b""
        elif kind == "dir":
            ti.type = tarfile.DIRTYPE
        elif kind == "sym":
            ti.type, ti.linkname = tarfile.SYMTYPE, rest[0]
        elif kind == "hard":
            ti.type, ti.linkname = tarfile.LNKTYPE, rest[0]
        elif kind == "fifo":
            ti.type = tarfile.FIFOTYPE
        elif kind == "chr":
            ti.type = tarfile.CHRTYPE
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
' "$1"
}

setup_app() {
	mkdir -p "$T/src/app/bin" "$T/src/app/lib/deep" "$T/slugs" "$T/outside"
	chmod 700 "$T/slugs"
	echo host >"$T/outside/file"
	printf '#!/bin/sh\necho hi\n' >"$T/src/app/bin/run"
	chmod 4755 "$T/src/app/bin/run"
	echo data >"$T/src/app/lib/deep/data"
	chmod 640 "$T/src/app/lib/deep/data"
	ln "$T/src/app/lib/deep/data" "$T/src/app/hardlink"
	ln -s bin/run "$T/src/app/run"
	ln -s ../../bin "$T/src/app/lib/deep/bin"
	chmod 2775 "$T/src/app/lib"
	# tar keeps whole seconds
	find "$T/src/app" -exec touch -h -d @1500000000 {} +
	touch -h -d '2001-02-03 04:05:06' "$T/src/app/run" "$T/src/app/bin/run" "$T/src/app/lib/deep"
	tar -C "$T/src" -czf "$T/slug.tgz" ./app
}

@test "a slug made with tar unpacks whole from a path and a file:// URL" {
	setup_app
	run slugtool unpack "$T/slug.tgz" "$T/slugs" v1
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"2 files, 4 directories, 2 symbolic links, 1 hard links"*"2 stripped"* ]]
	chmod u-s "$T/src/app/bin/run" # the setuid and setgid bits are removed
	chmod g-s "$T/src/app/lib"
	diff <(listing "$T/src/app") <(listing "$T/slugs/v1")
	[ "$(stat -c %i "$T/slugs/v1/hardlink")" = "$(stat -c %i "$T/slugs/v1/lib/deep/data")" ]
	[ "$(stat -c %U "$T/slugs/v1/bin/run")" = "$(id -un)" ]
	run slugtool unpack "file://$T/slug.tgz" "$T/slugs" v2
	[ "$status" -eq 0 ]
	diff <(listing "$T/src/app") <(listing "$T/slugs/v2")
	run slugtool unpack "file://$T/slug.tgz" "$T/slugs" v2
	[ "$output" = "already unpacked" ]
	run slugtool list "$T/slugs"
	[ "$output" = "$(printf 'v1\nv2')" ]
	run slugtool unpack "$T/missing.tgz" "$T/slugs" v3
	[ "$status" -eq 1 ]
	[[ "$output" == *"slug $T/missing.tgz: open $T/missing.tgz: No such file or directory"* ]]
}

@test "a slug downloads over http, in a network namespace of its own" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	command -v python3 >/dev/null || skip "python3 is not installed"
	setup_app
	cat >"$T/http.sh" <<-EOF
		set -e
		ip link set lo up
		cd "$T"
		python3 -m http.server 18080 --bind 127.0.0.1 >/dev/null 2>&1 &
		for i in \$(seq 100); do
			python3 -c 'import socket; socket.create_connection(("127.0.0.1", 18080))' 2>/dev/null && break
			sleep 0.05
		done
		rc=0
		"$SLUGTOOL" unpack http://127.0.0.1:18080/slug.tgz "$T/slugs" v1 || rc=\$?
		"$SLUGTOOL" unpack 'http://user:pw@127.0.0.1:18080/nothere.tgz?sig=secret' "$T/slugs" v2 || true
		kill %1
		exit \$rc
	EOF
	run unshare -n bash "$T/http.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"unpacked"*"downloaded"* ]]
	[[ "$output" == *"slug http://***@127.0.0.1:18080/nothere.tgz?...: download failed"*"404"* ]]
	[[ "$output" != *secret* ]]
	chmod u-s "$T/src/app/bin/run"
	chmod g-s "$T/src/app/lib"
	diff <(listing "$T/src/app") <(listing "$T/slugs/v1")
	[ ! -e "$T/slugs/v2" ]
}

# Each malicious slug: refused naming the entry, the host unchanged, nothing left in slugs/.
refused() { # refused NAME MESSAGE < entries
	mktar "$T/$1.tgz"
	local before
	before=$(host_state)
	run slugtool unpack "$T/$1.tgz" "$T/slugs" "$1"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"slug $T/$1.tgz: entry \"$2"*"refused"* ]]
	[ "$(host_state)" = "$before" ]
	[ -z "$(ls -A "$T/slugs")" ]
}

@test "malicious slugs are refused with the entry named, and nothing is written outside" {
	mkdir -p "$T/slugs" "$T/outside"
	echo host >"$T/outside/file"
	refused dotdot './app/../../outside/file": a ".." component' <<-EOF
		file ./app/../../outside/file pwned
	EOF
	refused absolute "$T/outside/file\": an absolute name" <<-EOF
		file $T/outside/file pwned
	EOF
	refused symlink-out './app/l": a symbolic link to an absolute path' <<-EOF
		sym ./app/l $T/outside
		file ./app/l/file pwned
	EOF
	refused symlink-climb './app/d/l": a symbolic link leading out' <<-EOF
		dir ./app/d
		sym ./app/d/l ../../outside
	EOF
	refused symlink-then-file './app/l/file": a component of its path is a symbolic link' <<-EOF
		dir ./app/sub
		sym ./app/l sub
		file ./app/l/file through
	EOF
	refused hardlink-passwd './app/pw": a hard link to "/etc/passwd"' <<-EOF
		hard ./app/pw /etc/passwd
		file ./app/pw pwned
	EOF
	refused hardlink-passwd-rel './app/pw": a hard link to "./app/../../../../etc/passwd"' <<-EOF
		hard ./app/pw ./app/../../../../etc/passwd
	EOF
	refused hardlink-later './app/pw": a hard link to "./app/later", not a regular file extracted before it' <<-EOF
		hard ./app/pw ./app/later
		file ./app/later x
	EOF
	refused fifo './app/fifo": a FIFO' <<-EOF
		fifo ./app/fifo
	EOF
	refused device './app/null": a character device' <<-EOF
		chr ./app/null
	EOF
	refused outside-app './lib/x": outside ./app/' <<-EOF
		file ./app/ok fine
		file ./lib/x x
	EOF
}

@test "the caps on size and entries stop a decompression bomb" {
	mkdir -p "$T/slugs" "$T/src/app"
	head -c 50000000 /dev/zero >"$T/src/app/zeros"
	tar -C "$T/src" -czf "$T/bomb.tgz" ./app
	[ "$(stat -c %s "$T/bomb.tgz")" -lt 1000000 ]
	run slugtool unpack --max-bytes 10000000 "$T/bomb.tgz" "$T/slugs" v1
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *'entry "./app/zeros": the slug would unpack to more than 10000000 bytes: refused'* ]]
	run slugtool unpack --max-entries 1 "$T/bomb.tgz" "$T/slugs" v1
	[ "$status" -eq 1 ]
	[[ "$output" == *'entry "./app/zeros": the slug has more than 1 entries: refused'* ]]
	[ -z "$(ls -A "$T/slugs")" ]
}

@test "kill -9 while unpacking leaves only a temporary, which the cleanup removes" {
	mkdir -p "$T/slugs" "$T/src/app/many"
	for i in $(seq 2000); do echo "$i" >"$T/src/app/many/f$i"; done
	head -c 20000000 /dev/urandom >"$T/src/app/big"
	tar -C "$T/src" -czf "$T/big.tgz" ./app
	# Stops itself (SIGSTOP) after 1000 entries: killed there, mid-unpack, whatever the speed.
	"$SLUGTOOL" unpack --stop-after 1000 "$T/big.tgz" "$T/slugs" v1 &
	local pid=$!
	wait_for '[ "$(cut -d" " -f3 /proc/$pid/stat 2>/dev/null)" = T ]'
	[ ! -e "$T/slugs/v1" ]
	ls -A "$T/slugs" | grep -q '^\.slug-tmp-'
	# Alive, it holds its temporary: the cleanup leaves it alone.
	run slugtool clean "$T/slugs"
	[ "$output" = "removed 0" ]
	ls -A "$T/slugs" | grep -q '^\.slug-tmp-'
	kill -KILL "$pid"
	wait "$pid" || true
	[ ! -e "$T/slugs/v1" ]
	run slugtool list "$T/slugs"
	[ -z "$output" ]
	run slugtool clean "$T/slugs"
	[ "$output" = "removed 1" ]
	[ -z "$(ls -A "$T/slugs")" ]
	# And the slug unpacks whole afterwards.
	run slugtool unpack "$T/big.tgz" "$T/slugs" v1
	[ "$status" -eq 0 ]
	cmp "$T/src/app/big" "$T/slugs/v1/big"
	[ "$(ls "$T/slugs/v1/many" | wc -l)" -eq 2000 ]
}

@test "removing a tree follows no link and enters no mount point" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a mount namespace"
	mkdir -p "$T/slugs/t/a/b" "$T/outside/keep"
	echo host >"$T/outside/file"
	ln -s "$T/outside" "$T/slugs/t/out"
	ln -s "$T/outside" "$T/slugs/t/a/b/out"
	ln "$T/outside/file" "$T/slugs/t/a/hard"
	local before
	before=$(host_state)
	run slugtool remove-tree "$T/slugs" t
	[ "$status" -eq 0 ]
	[ ! -e "$T/slugs/t" ]
	[ "$(host_state)" = "$before" ]
	# A mount inside the tree (the host's outside/ bound there) is refused, not emptied.
	mkdir -p "$T/slugs/m/mnt"
	run unshare -m --propagation private sh -c \
		"mount --bind '$T/outside' '$T/slugs/m/mnt' && '$SLUGTOOL' remove-tree '$T/slugs' m"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"m/mnt"*"a mount point: not entered"* ]]
	[ "$(host_state)" = "$before" ]
	run slugtool remove "$T/slugs" m
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$T/slugs")" ]
}
