#!/bin/sh
# A Debian stack: debootstrap (minbase) from the host's own apt source into OUT_DIR/debian-tree,
# made fit for a stack (no device nodes, no apt caches, /app, relative links only), then built
# into OUT_DIR/debian-SUITE-VERSION.img.gz with its entry in OUT_DIR/manifest.yml; the tree is
# removed once built.
#   stacks/tool/debian.sh HSUP_STACK OUT_DIR VERSION [SUITE [MIRROR]]
# Needs root and debootstrap; takes minutes (`make stack-debian` runs it).
set -eu
tool=$1 out=$2 version=$3 suite=${4:-} mirror=${5:-}
PATH=$PATH:/usr/sbin:/sbin

die() {
	echo "debian.sh: $*" >&2
	exit 1
}

# "SUITE MIRROR" of the host's first Debian source that is not the security archive: from
# deb822 files (/etc/apt/sources.list.d/*.sources), else from sources.list lines.
host_source() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
		function flush() {
			if (!found && enabled && types ~ /(^| )deb( |$)/ && uri != "" && uri !~ /security/) {
				split(suites, s, " ")
				print s[1], uri
				found = 1
			}
			types = uri = suites = ""
			enabled = 1
		}
		BEGIN { enabled = 1 }
		/^[ \t]*$/ { flush(); next }
		/^Types:/ { types = $0; sub(/^Types:[ \t]*/, "", types) }
		/^URIs:/ { uri = $2 }
		/^Suites:/ { suites = $0; sub(/^Suites:[ \t]*/, "", suites) }
		/^Enabled:[ \t]*no/ { enabled = 0 }
		END { flush() }' "$f"
	done | head -1 | grep . && return 0
	sed 's/\[[^]]*\]//' /etc/apt/sources.list 2>/dev/null |
		awk '$1 == "deb" && $2 !~ /security/ { print $3, $2; exit }' | grep .
}

[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
if [ -z "$suite" ] || [ -z "$mirror" ]; then
	src=$(host_source) || die "no Debian source in /etc/apt: give SUITE and MIRROR"
	suite=${suite:-${src%% *}}
	mirror=${mirror:-${src#* }}
fi
echo "debian.sh: $suite from $mirror" >&2

tree=$out/debian-tree
mkdir -p "$out"
rm -rf "$tree"
debootstrap --variant=minbase "$suite" "$tree" "$mirror"

# The container gives /dev, /proc and /sys; the stack is mounted nodev anyway.
find "$tree/dev" -mindepth 1 -delete
rm -rf "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/*
mkdir -p "$tree/app" "$tree/etc/profile.d"
chmod 0755 "$tree/app"
"$tool" relink "$tree"
"$tool" build --manifest "$out/manifest.yml" "$tree" "debian-$suite" "$version" "$out"
rm -rf "$tree"
