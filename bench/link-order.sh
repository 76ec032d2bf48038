#!/usr/bin/env bash
# Regenerates link-order.txt: the functions `meshctl proxy` runs (start-up, a plaintext hop, an
# mTLS hop between two proxies, the admin endpoints), for the linker to place together.
# The kernel maps a binary's code in 64 kB blocks around each page an instruction is fetched
# from, so with these functions spread over the 14 MB of code an idle proxy had 7 MB of code
# resident; placed together, 2 MB (build.rs passes the file to the linker).
#
# Usage: bench/link-order.sh   (needs valgrind and python3; builds release: its profile keeps
#   the symbol table, and the names must be those of that profile; MESHCTL_BIN=path skips it)
# Stale entries are harmless (the linker skips names it does not find): regenerate when the
# proxy's code has changed a lot, and check the idle RSS with bench/proxy.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in valgrind python3 curl; do
    command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done
bin="${MESHCTL_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --release --quiet --bin meshctl
    bin="${CARGO_TARGET_DIR:-target}/release/meshctl"
fi
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() {
    local _
    for _ in $(seq 600); do
        curl -fsS -o /dev/null "http://$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing answers on $1" >&2
    return 1
}

upstream=$(free_port)
python3 -m http.server "$upstream" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
pids+=($!)
"$bin" certs create --trust-domain cluster.local --out "$work/pki/ca" >/dev/null
for who in a b; do
    "$bin" certs issue --identity "spiffe://cluster.local/ns/order/sa/$who" \
        --ca-dir "$work/pki/ca" --out "$work/pki/$who" >/dev/null
done
identity() { echo "identity: { roots: \"$work/pki/$1/roots.pem\", cert: \"$work/pki/$1/cert.pem\", key: \"$work/pki/$1/key.pem\" }"; }

# A -> B (mTLS) -> upstream, and A -> upstream in plaintext; both proxies under callgrind.
a_out=$(free_port) b_in=$(free_port) a_admin=$(free_port) b_admin=$(free_port)
cat >"$work/b.yaml" <<EOF
$(identity b)
listeners: { outbound: "127.0.0.1:$(free_port)", inbound: "127.0.0.1:$b_in", admin: "127.0.0.1:$b_admin" }
inbound: { appPort: $upstream }
EOF
cat >"$work/a.yaml" <<EOF
$(identity a)
listeners: { outbound: "127.0.0.1:$a_out", inbound: "127.0.0.1:$(free_port)", admin: "127.0.0.1:$a_admin" }
services:
  - name: meshed
    authorities: ["meshed:$a_out"]
    backends: [{ name: b, endpoints: [{ addr: "127.0.0.1:$b_in", identity: "spiffe://cluster.local/ns/order/sa/b" }] }]
  - name: plain
    authorities: ["127.0.0.1:$a_out"]
    backends: [{ name: up, endpoints: [{ addr: "127.0.0.1:$upstream" }] }]
EOF
for who in b a; do
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/$who.out" \
        "$bin" proxy --config "$work/$who.yaml" --log-level warn >/dev/null 2>&1 &
    pids+=($!)
done
wait_http "127.0.0.1:$b_admin/ready"
wait_http "127.0.0.1:$a_admin/ready"
for _ in $(seq 20); do
    curl -fsS -o /dev/null "http://127.0.0.1:$a_out/"
    curl -fsS -o /dev/null -H "Host: meshed:$a_out" "http://127.0.0.1:$a_out/"
done
for admin in "$a_admin" "$b_admin"; do
    for path in metrics "stats?window=1m" config live; do
        curl -fsS -o /dev/null "http://127.0.0.1:$admin/$path"
    done
done
# SIGTERM: the proxies drain and exit; callgrind then writes its files.
kill -TERM "${pids[1]}" "${pids[2]}"
wait "${pids[1]}" "${pids[2]}" 2>/dev/null || true

# The functions of meshctl's own binary that ran.
python3 - "$work/a.out" "$work/b.out" "$(basename "$bin")" >link-order.txt <<'EOF'
import re, sys
*files, binary = sys.argv[1:]
print("# Functions `meshctl proxy` runs, placed together by the linker: written by bench/link-order.sh.")
seen = set()
for path in files:
    objects, functions, current = {}, {}, None
    for line in open(path):
        line = line.rstrip("\n")
        m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                objects[m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                current = objects.get(m.group(2), "")
            continue
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line)
        if not m:
            continue
        if m.group(3):
            functions[m.group(2)] = m.group(3)
        name = functions[m.group(2)].split("'")[0]
        if m.group(1) == "fn" and current.endswith("/" + binary) and not name.startswith(("0x", "(")):
            seen.add(name)
# Sorted: the order inside the group does not matter, and a regenerated file diffs small.
print("\n".join(sorted(seen)))
EOF
echo "link-order.txt: $(($(wc -l <link-order.txt) - 1)) functions" >&2
