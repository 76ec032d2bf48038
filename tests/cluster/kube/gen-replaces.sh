#!/usr/bin/env bash
# Prints the go.mod `replace` lines that k8s.io/kubernetes needs: it requires its staging
# modules (k8s.io/api, …) at v0.0.0 and resolves them with unpublished local replaces, so
# each one is pointed at its published v0.<minor>.<patch> twin. Read from the module cache.
# Usage: gen-replaces.sh v1.34.4
set -euo pipefail
version="${1:?usage: gen-replaces.sh <kubernetes version, e.g. v1.34.4>}"
staging="v0.${version#v1.}"
modfile="$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
[ -f "$modfile" ] || { echo "gen-replaces: no go.mod for k8s.io/kubernetes@${version}" >&2; exit 1; }
awk -v staging="$staging" '
  /^[[:space:]]*k8s\.io\/[^[:space:]]+ v0\.0\.0([[:space:]]|$)/ { print "replace " $1 " => " $1 " " staging }
' "$modfile" | sort -u
