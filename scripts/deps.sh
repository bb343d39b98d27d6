#!/bin/sh
# Installs the Debian packages hsup builds, tests (docker.io for the docker driver and the
# image, its dockerd started by the tests themselves; containerd, for the runtime under it, and
# bsdutils' script for its tty test; busybox-static for the containers' rootfs), fuzzes (clang with libFuzzer's runtime)
# and benchmarks with, when any is missing; `scripts/deps.sh PKG...` also the packages named.
set -eu
pkgs="build-essential pkg-config libuv1-dev libjansson-dev libcurl4-openssl-dev
libhttp-parser-dev libyaml-dev libcap-dev libseccomp-dev libarchive-dev libmnl-dev nettle-dev zlib1g-dev
libcmocka-dev bats curl procps python3 openssl ca-certificates clang-format ruby-foreman supervisor s6
busybox-static crun runc uidmap util-linux iproute2 iptables criu strace valgrind e2fsprogs debootstrap musl-tools tar
clang libclang-rt-14-dev docker.io containerd bsdutils $*"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		echo "run as root, or install:$missing" >&2; exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
# No service may start as its package is installed (docker.io would start dockerd on the
# host): what needs one starts its own, in namespaces of its own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	$SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing || {
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q --no-install-recommends $missing
}
