#!/usr/bin/env bash
# Builds the OpenTelemetry Collector the tracing tests run (tests/otelcol: the collector's
# OTLP receiver and the contrib file exporter, at the versions go.mod pins) into
# ${MESHCTL_TESTBIN_DIR:-$HOME/.cache/meshctl/testbin}/otelcol-<version>/otelcol.
# Does nothing when it is already there. Needs only `go` and the Go module proxy.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's/^const version = "\(.*\)"$/\1/p' "$here/version.go")"
out="${MESHCTL_TESTBIN_DIR:-$HOME/.cache/meshctl/testbin}/otelcol-${version}"
# Rebuilt when the sources change, not only the version (the stamp is their hash).
stamp="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" "$here/version.go" | sha256sum | cut -d' ' -f1)"
if [ -x "$out/otelcol" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "build-otelcol: $out/otelcol ${version} is there, nothing to do"
  exit 0
fi
command -v go >/dev/null || { echo "build-otelcol: go is not installed (needs Go >= 1.26)" >&2; exit 1; }
mkdir -p "$out"
# Build from a copy: the checkout stays untouched (and may be read-only).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/go.mod" "$here/go.sum" "$here/main.go" "$here/version.go" "$work/"
start=$SECONDS
cd "$work"
echo "build-otelcol: building otelcol ${version} …"
go build -mod=mod -trimpath -ldflags='-s -w' -o "$out/otelcol.tmp" .
mv "$out/otelcol.tmp" "$out/otelcol"
echo "$stamp" >"$out/stamp"
echo "build-otelcol: done in $((SECONDS - start))s: $out/otelcol"
