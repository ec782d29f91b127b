#!/usr/bin/env bash
# Local stand-ins for the images docker-compose.yml names, for machines with no registry (the compose test's):
#   docker.io/library/mongo:7         our FerretDB test server (tools/ferretdb) behind a TCP relay
#   docker.io/library/nginx:1.27      Debian 12's nginx, laid out like the official image
#   docker.io/traefik/whoami:v1.10    a Python echo of the request
#   docker.io/axllent/mailpit:v1.21   an aiosmtpd catcher with Mailpit's message-reading API
# All built on the base stand-in (tools/image/base.sh). Each is rebuilt only when its files change (a hash label).
# Usage: tools/image/standins.sh   (root; cold about 1 min, warm about 1 s)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$(cd "$here/.." && pwd)"
podman="$here/podman"
ca_bundle=/etc/ssl/certs/ca-certificates.crt

"$here/base.sh"
"$tools/ferretdb/build.sh" >/dev/null 2>&1 || "$tools/ferretdb/build.sh"

build() {  # build NAME IMAGE FILES...
  local name="$1" image="$2"
  shift 2
  local digest
  digest="$(cat "$here/standins/$name"/* "$@" | sha256sum | cut -c1-16)"
  if [[ "$("$podman" image inspect --format '{{index .Labels "authsvc.standin"}}' "$image" 2>/dev/null)" == "$digest" ]]; then
    return
  fi
  local mounts=() previous
  previous="$("$podman" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  [[ -s "$ca_bundle" ]] && mounts=(-v "$ca_bundle:$ca_bundle:ro")
  "$podman" build --quiet --pull=never --isolation chroot --format docker "${mounts[@]}" \
    --label "authsvc.standin=$digest" -f "$here/standins/$name/Containerfile" -t "$image" "$tools" >/dev/null
  [[ -z "$previous" ]] || "$podman" rmi "$previous" >/dev/null 2>&1 || true
  echo "built the stand-in $image" >&2
}

build mongo docker.io/library/mongo:7 "$tools/ferretdb/bin/ferretdb-test"
build nginx docker.io/library/nginx:1.27
build whoami docker.io/traefik/whoami:v1.10
build mailpit docker.io/axllent/mailpit:v1.21
