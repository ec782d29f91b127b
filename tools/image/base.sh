#!/usr/bin/env bash
# A local stand-in for the Dockerfile's base image, for machines that reach Debian's mirror and PyPI but no image
# registry: Debian 12's own python3 (3.11, like python:3.11-slim), bootstrapped with debootstrap and imported under
# the fully qualified name podman gives `python:3.11-slim`, so `FROM ${PYTHON_IMAGE}` resolves with --pull=never.
#
# Usage: tools/image/base.sh    (root; a no-op when the image exists)
# Cached twice: the image in podman's store, and its tarball in $AUTHSVC_IMAGE_CACHE (default /var/cache/authsvc-image),
# which re-imports in seconds when the store was reset. Cold: 1-3 min (70 s on an idle machine).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
podman="$here/podman"
image="docker.io/library/python:3.11-slim"
cache="${AUTHSVC_IMAGE_CACHE:-/var/cache/authsvc-image}"
tarball="$cache/python-3.11-slim-standin.tar"

if "$podman" image exists "$image"; then
  exit 0
fi
mkdir -p "$cache"
if [[ ! -s "$tarball" ]]; then
  root="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$root"' EXIT
  echo "bootstrapping the stand-in for $image (about 70 s, once)" >&2
  debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates,netbase,tzdata \
    bookworm "$root" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # Like the official image: no apt lists or caches in the layer.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
  mv -f "$tarball.tmp" "$tarball"
fi
"$podman" import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  "$tarball" "$image" >/dev/null
echo "imported $image from $tarball" >&2
