#!/usr/bin/env bash
# `make image`: builds the Dockerfile as `docker build -t authsvc:local .` would, with podman and this machine's
# workarounds, all on the command line (the Dockerfile stays standard):
#   --pull=never     the base image is the local stand-in of tools/image/base.sh (no registry here);
#   --isolation chroot   no nested namespaces needed;
#   --format docker  keeps the HEALTHCHECK (the OCI format has none);
#   -v CA bundle     the host's CA bundle over the base's, for the build's RUN steps only (pip and apt behind this
#                    machine's TLS-intercepting proxy); a build-time mount, so nothing of it lands in a layer.
# Usage: tools/image/build.sh [TAG]   (TAG defaults to authsvc:local). Root; cold 2-3 min after the base (apt and pip
# downloads), warm about 10 s.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tag="${1:-authsvc:local}"
ca_bundle=/etc/ssl/certs/ca-certificates.crt

"$here/base.sh"
mounts=()
if [[ -s "$ca_bundle" ]]; then
  mounts=(-v "$ca_bundle:$ca_bundle:ro")
fi
previous="$("$here/podman" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
"$here/podman" build --pull=never --isolation chroot --format docker "${mounts[@]}" -t "$tag" "$root"
# The image this build replaced (its venv layer alone is 130 MB); kept while a container still uses it.
if [[ -n "$previous" && "$previous" != "$("$here/podman" image inspect --format '{{.Id}}' "$tag")" ]]; then
  "$here/podman" rmi "$previous" >/dev/null 2>&1 || true
fi
