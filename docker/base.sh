#!/bin/sh
# A Debian base image for hsup's image without a registry: debootstrap (minbase) of SUITE with
# every package of docker/packages.sh (compilers and headers too, so that the image builds
# without network), imported into the Docker daemon of DOCKER_HOST as IMAGE.
#   docker/base.sh IMAGE [SUITE [MIRROR]]      as root; about a minute
# SUITE is bookworm by default, MIRROR $DEBIAN_MIRROR or deb.debian.org. With
# HSUP_DOCKER_CACHE=DIR the root filesystem's tarball is kept in DIR (by suite, mirror and
# package list) and imported from there the next time.
set -eu
image=$1 suite=${2:-bookworm} mirror=${3:-${DEBIAN_MIRROR:-http://deb.debian.org/debian}}
here=$(cd "$(dirname "$0")" && pwd)
docker=${DOCKER:-docker}
PATH=$PATH:/usr/sbin:/sbin

die() {
	echo "base.sh: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "debootstrap needs root"
pkgs=$("$here/packages.sh" list build run)
key=$(printf '%s %s %s' "$suite" "$mirror" "$pkgs" | md5sum | cut -c1-12)
cache=${HSUP_DOCKER_CACHE:-}
tarball=${cache:+$cache/base-$suite-$key.tar}

if [ -n "$tarball" ] && [ -s "$tarball" ]; then
	echo "base.sh: $image from $tarball" >&2
	exec $docker import "$tarball" "$image"
fi
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsup-base.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "base.sh: debootstrap $suite from $mirror" >&2
# shellcheck disable=SC2086 # one package a word
debootstrap --variant=minbase --include="$(echo $pkgs | tr ' ' ,)" "$suite" "$tmp/root" \
	"$mirror" >"$tmp/log" 2>&1 || { tail -20 "$tmp/log" >&2; die "debootstrap failed"; }
# Docker gives /dev; what apt downloaded is of no use in the image.
find "$tmp/root/dev" -mindepth 1 -delete
rm -rf "$tmp"/root/var/cache/apt/archives/*.deb "$tmp"/root/var/lib/apt/lists/*
if [ -n "$tarball" ]; then
	mkdir -p "$cache"
	tar -C "$tmp/root" --numeric-owner -cf "$tarball.part" .
	mv "$tarball.part" "$tarball"
	$docker import "$tarball" "$image"
else
	tar -C "$tmp/root" --numeric-owner -c . | $docker import - "$image"
fi
