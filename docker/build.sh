#!/bin/sh
# `make docker`: hsup's image built from this tree by the Docker daemon of DOCKER_HOST.
#   docker/build.sh IMAGE BASE
# A BASE named hsup-base:SUITE is made by docker/base.sh when the daemon lacks it (no registry
# needed); any other (debian:bookworm) is pulled as docker build pulls a base.
set -eu
image=$1 base=$2
cd "$(dirname "$0")/.."
docker=${DOCKER:-docker}
case $base in
hsup-base:*)
	$docker image inspect "$base" >/dev/null 2>&1 || docker/base.sh "$base" "${base#hsup-base:}"
	;;
esac
exec $docker build -f docker/Dockerfile --build-arg BASE="$base" -t "$image" .
