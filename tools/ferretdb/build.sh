#!/usr/bin/env bash
# Build the embedded FerretDB (SQLite backend) test server used by the Python
# test fixtures.
#
# Usage: tools/ferretdb/build.sh [OUTPUT]
#   OUTPUT defaults to tools/ferretdb/bin/ferretdb-test.
# Skips the build when OUTPUT is newer than main.go, go.mod, go.sum and this script.
# Needs Go >= 1.24 and the Go module proxy (first build downloads ~600 MB of modules).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/bin/ferretdb-test}"
case "$out" in
  /*) ;;
  *) out="$PWD/$out" ;;
esac

stale=0
if [[ ! -x "$out" ]]; then
  stale=1
else
  for f in main.go go.mod go.sum build.sh; do
    if [[ "$here/$f" -nt "$out" ]]; then
      stale=1
      break
    fi
  done
fi

if [[ "$stale" == 0 ]]; then
  echo "ferretdb-test is up to date: $out" >&2
  exit 0
fi

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# ferretdb_no_postgresql: only the SQLite backend is linked in (smaller binary).
(cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath \
  -tags ferretdb_no_postgresql -ldflags '-s -w' -o "$tmp" .)
mv -f "$tmp" "$out"
echo "built ferretdb-test: $out" >&2
