#!/bin/sh
# The Debian packages of hsup's image, in one place for the Dockerfile and docker/base.sh:
#   packages.sh list build|run...   the names, one line
#   packages.sh install build|run   installs those the base lacks (apt-get only when some are
#                                   missing, so a base that carries them builds offline)
set -eu
names() {
	for set in "$@"; do
		case $set in
		build) echo gcc make libc6-dev pkg-config libuv1-dev libjansson-dev libcap-dev \
			libseccomp-dev libyaml-dev libmnl-dev nettle-dev zlib1g-dev libhttp-parser-dev \
			libcurl4-openssl-dev libarchive-dev ;;
		# libcurl and libarchive are loaded when first needed (stacks fetched, slugs unpacked);
		# iptables masquerades the dynos' block; util-linux for mount, unshare and mknod
		run) echo libuv1 libjansson4 libcap2 libseccomp2 libyaml-0-2 libmnl0 libnettle8 zlib1g \
			libhttp-parser2.9 libcurl4 libarchive13 iptables util-linux ;;
		*) echo "packages.sh: unknown set \"$set\" (build, run)" >&2; exit 2 ;;
		esac
	done
}
cmd=${1:-}
shift || true
case $cmd in
list) names "$@" | tr '\n' ' ' | sed 's/ $//'; echo ;;
install)
	missing=
	for p in $(names "$@"); do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing="$missing $p"
	done
	[ -n "$missing" ] || exit 0
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
	rm -rf /var/lib/apt/lists/*
	;;
*) echo "usage: packages.sh list|install build|run..." >&2; exit 2 ;;
esac
