#!/usr/bin/env bash
# Benchmark: one HTTP/1.1 hop through `meshctl proxy` (release build) side by side with
# HAProxy and nginx configured as equivalent reverse proxies, and with no proxy at all
# (direct), in one run, against an nginx upstream serving a 1 kB body; plus two meshctl
# proxies in a row as two meshed pods use them (`pair`: plaintext, `mtls`: mutual TLS 1.3
# between them; both proxies on the one proxy core, figures are the pair's). Per row:
#   (a) max RPS (wrk, 32 keep-alive connections) with the proxy pinned to one core;
#   (b) p50 / p99 / p99.9 latency at a fixed 1,000 RPS (oha, latency-corrected);
#   (c) proxy RSS idle and at 1,000 RPS, and CPU seconds per 1,000 requests.
# It prints a table with ratios against direct; it never fails on a figure.
#
# Usage: bench/proxy.sh
#   MESHCTL_BIN=path   skip the release build
#   BENCH_SECONDS=10   length of each load run
#   BENCH_REPEAT=1     runs per row; the best is kept (use 3 on a machine others are using)
#   BENCH_ROWS="direct meshctl pair mtls haproxy nginx"   rows to run (direct always first;
#                      also tapidle, tapall: meshctl with a /tap reader, see start_tap;
#                      trace0, trace100: meshctl exporting spans, see start_trace;
#                      workers2: meshctl with --workers 2 on both cores)
#   BENCH_MEASURE=cost  per-request instructions, allocations, syscalls (see below)
#   BENCH_MEASURE=soak  BENCH_SOAK_SECONDS (600) at BENCH_SOAK_RPS (2,000) through the mtls
#                      pair: errors, and RSS at the start and the end
#
# Rows: each row NAME is a function start_NAME that starts what the row measures and sets
#   TARGET          host:port the load generators call,
#   MEASURED_PIDS   processes whose RSS and CPU are the row's (empty: nothing measured),
# and records every process it started with `started PID` (stopped after the row).
# To add a row, define start_NAME below and add NAME to ROWS; `spawn_on_proxy_cpu CMD...` starts a process on the proxies' core.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=(direct meshctl pair mtls haproxy nginx)
read -r -a ROWS <<<"${BENCH_ROWS:-${ROWS[*]}}"
seconds="${BENCH_SECONDS:-10}"
repeat="${BENCH_REPEAT:-1}"
tools="${MESHCTL_BENCH_TOOLS:-$HOME/.cache/meshctl/bench}"

# --- tools ---------------------------------------------------------------------------------
missing=()
for t in wrk haproxy nginx taskset python3; do
    command -v "$t" >/dev/null || missing+=("$t")
done
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "installing wrk haproxy nginx-light (Debian packages)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk haproxy nginx-light python3 >&2
    else
        echo "missing: ${missing[*]}; install them (Debian: apt-get install wrk haproxy nginx-light)" >&2
        exit 1
    fi
fi
oha="$tools/bin/oha"
if [[ ! -x "$oha" ]]; then
    echo "building oha into $tools (once)" >&2
    cargo install --quiet --locked --root "$tools" oha >&2
fi
bin="${MESHCTL_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --release --quiet --bin meshctl
    bin="${CARGO_TARGET_DIR:-target}/release/meshctl"
fi

work="$(mktemp -d)"
PIDS_TO_STOP=()
started() { PIDS_TO_STOP+=("$1"); }
stop_started() {
    local pid
    for pid in "${PIDS_TO_STOP[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS_TO_STOP[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS_TO_STOP=()
}
trap 'stop_started; stop_upstream; rm -rf "$work"' EXIT

# CPU placement on a 2-core machine: proxies on the last core; the upstream and the load
# generators share the first. One core: no pinning.
ncpu=$(nproc)
if ((ncpu >= 2)); then
    proxy_cpu=$((ncpu - 1))
    load_cpus="0-$((ncpu - 2))"
else
    proxy_cpu=0
    load_cpus=0
fi
on_load_cpus() { taskset -c "$load_cpus" "$@"; }
# Starts CMD... in the background on the proxies' core; $! is CMD's own pid (exec, no
# wrapper shell), so it can be measured and stopped.
# PROXY_WRAP (an array, empty unless a measurement sets it) goes before CMD, e.g. valgrind.
PROXY_WRAP=()
spawn_on_proxy_cpu() { (exec taskset -c "$proxy_cpu" "${PROXY_WRAP[@]}" "$@") & }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (bounded) until something answers HTTP on $1 (host:port[/path]).
wait_http() {
    local _
    for _ in $(seq 200); do
        if curl -fsS -o /dev/null "http://$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "nothing answers on $1" >&2
    return 1
}

# --- the upstream: nginx, one worker, 1 kB body ---------------------------------------------
upstream_port=$(free_port)
body=$(head -c 1024 /dev/zero | tr '\0' 'x')
mkdir -p "$work/upstream"
cat >"$work/upstream/nginx.conf" <<EOF
worker_processes 1;
error_log stderr error;
pid $work/upstream/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$upstream_port reuseport backlog=4096;
        location / { default_type text/plain; return 200 "$body"; }
    }
}
EOF
(exec taskset -c "$load_cpus" nginx -p "$work/upstream" -c "$work/upstream/nginx.conf" -g 'daemon off;') &
upstream_pid=$!
stop_upstream() { kill "$upstream_pid" 2>/dev/null || true; wait "$upstream_pid" 2>/dev/null || true; }
wait_http "127.0.0.1:$upstream_port/"

# --- rows ----------------------------------------------------------------------------------
start_direct() {
    TARGET="127.0.0.1:$upstream_port"
    MEASURED_PIDS=""
}

start_meshctl() {
    local port admin
    port=$(free_port)
    admin=$(free_port)
    cat >"$work/mesh.yaml" <<EOF
listeners: { outbound: "127.0.0.1:$port", inbound: "127.0.0.1:$(free_port)", admin: "127.0.0.1:$admin" }
services:
  - name: upstream
    authorities: ["127.0.0.1:$port"]
    backends: [{ name: nginx, endpoints: [{ addr: "127.0.0.1:$upstream_port" }] }]
EOF
    spawn_on_proxy_cpu "$bin" proxy --config "$work/mesh.yaml" --log-level warn "$@"
    started $!
    MEASURED_PIDS=$!
    TARGET="127.0.0.1:$port"
    MESHCTL_ADMIN="127.0.0.1:$admin"
    wait_http "127.0.0.1:$admin/ready"
}

# meshctl with two worker threads on both cores (`--workers 2`), unpinned: the load
# generator and the upstream share those cores, so its max RPS is what two cores give a
# proxy that competes with them; its CPU column says what it took.
start_workers2() {
    local saved=$proxy_cpu
    proxy_cpu="0-$((ncpu - 1))"
    start_meshctl --workers 2
    proxy_cpu=$saved
}

# The meshctl row with a reader on the admin port's /tap (curl, not measured): `tapidle`
# taps a path no request has (each request is checked against the tap's filters, no event
# is made), `tapall` taps every request (an event each, up to the tap's rate of 1,000/s).
# The `meshctl` row itself is the proxy nobody taps.
start_tap() {
    start_meshctl
    curl -sN "http://$MESHCTL_ADMIN/tap?$1&max_rps=1000&limit=100000" >/dev/null &
    started $!
    sleep 0.2
}
start_tapidle() { start_tap "path=/never"; }
start_tapall() { start_tap "path=/"; }

# The meshctl row with tracing on, exporting OTLP/gRPC to a real OpenTelemetry Collector
# (tests/otelcol, built once by its script; on the load cores, not measured, writing the
# spans to a file): `trace0` samples nothing (each request still reads and gets a
# `traceparent`), `trace100` records and exports a span for every request.
start_trace() {
    local version port _
    bash tests/otelcol/build-otelcol.sh >&2
    version=$(sed -n 's/^const version = "\(.*\)"$/\1/p' tests/otelcol/version.go)
    port=$(free_port)
    cat >"$work/otelcol.yaml" <<EOF
receivers: { otlp: { protocols: { grpc: { endpoint: "127.0.0.1:$port" } } } }
exporters: { file: { path: "$work/spans.jsonl" } }
service:
  telemetry: { metrics: { level: none } }
  pipelines: { traces: { receivers: [otlp], exporters: [file] } }
EOF
    on_load_cpus "${MESHCTL_TESTBIN_DIR:-$HOME/.cache/meshctl/testbin}/otelcol-$version/otelcol" \
        --config "file:$work/otelcol.yaml" >"$work/otelcol.log" 2>&1 &
    started $!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    start_meshctl --tracing-endpoint "127.0.0.1:$port" --tracing-sampling "$1"
}
start_trace0() { start_trace 0; }
start_trace100() { start_trace 1; }

# Two meshctl proxies in a row (client side A -> server side B -> upstream), as two meshed
# pods talk: `pair` in plaintext, `mtls` with mutual TLS 1.3 between them (leaves from
# `meshctl certs create` + `certs issue`). Both proxies share the proxies' core.
issue_bench_identities() {
    [[ -d "$work/pki" ]] && return 0
    "$bin" certs create --trust-domain cluster.local --out "$work/pki/ca" >/dev/null
    local who
    for who in a b; do
        "$bin" certs issue --identity "spiffe://cluster.local/ns/bench/sa/$who" \
            --ca-dir "$work/pki/ca" --out "$work/pki/$who" >/dev/null
    done
}

# start_two_proxies TLS(yes|no): A's outbound is TARGET; B forwards to the upstream.
start_two_proxies() {
    local tls=$1 port b_in a_admin b_admin a_id="" b_id="" peer="" b_pid
    port=$(free_port)
    b_in=$(free_port)
    a_admin=$(free_port)
    b_admin=$(free_port)
    if [[ $tls == yes ]]; then
        issue_bench_identities
        a_id="identity: { roots: \"$work/pki/a/roots.pem\", cert: \"$work/pki/a/cert.pem\", key: \"$work/pki/a/key.pem\" }"
        b_id="identity: { roots: \"$work/pki/b/roots.pem\", cert: \"$work/pki/b/cert.pem\", key: \"$work/pki/b/key.pem\" }"
        peer=", identity: \"spiffe://cluster.local/ns/bench/sa/b\""
    fi
    cat >"$work/pair-b.yaml" <<EOF
$b_id
listeners: { outbound: "127.0.0.1:$(free_port)", inbound: "127.0.0.1:$b_in", admin: "127.0.0.1:$b_admin" }
inbound: { appPort: $upstream_port }
EOF
    cat >"$work/pair-a.yaml" <<EOF
$a_id
listeners: { outbound: "127.0.0.1:$port", inbound: "127.0.0.1:$(free_port)", admin: "127.0.0.1:$a_admin" }
services:
  - name: upstream
    authorities: ["127.0.0.1:$port"]
    backends: [{ name: b, endpoints: [{ addr: "127.0.0.1:$b_in"$peer }] }]
EOF
    spawn_on_proxy_cpu "$bin" proxy --config "$work/pair-b.yaml" --log-level warn
    b_pid=$!
    started "$b_pid"
    spawn_on_proxy_cpu "$bin" proxy --config "$work/pair-a.yaml" --log-level warn
    started $!
    MEASURED_PIDS="$! $b_pid"
    TARGET="127.0.0.1:$port"
    wait_http "127.0.0.1:$b_admin/ready"
    wait_http "127.0.0.1:$a_admin/ready"
}

start_pair() { start_two_proxies no; }
start_mtls() { start_two_proxies yes; }

start_haproxy() {
    local port
    port=$(free_port)
    cat >"$work/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend bench
    bind 127.0.0.1:$port
    default_backend upstream
backend upstream
    server nginx 127.0.0.1:$upstream_port
EOF
    spawn_on_proxy_cpu haproxy -db -f "$work/haproxy.cfg"
    started $!
    MEASURED_PIDS=$!
    TARGET="127.0.0.1:$port"
    wait_http "$TARGET/"
}

start_nginx() {
    local port master
    port=$(free_port)
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
error_log stderr error;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream app { server 127.0.0.1:$upstream_port; keepalive 64; }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    local global='daemon off;'
    # Under valgrind, one process: callgrind_control cannot reach a forked worker.
    ((${#PROXY_WRAP[@]} == 0)) || global+=' master_process off;'
    spawn_on_proxy_cpu nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g "$global"
    master=$!
    started "$master"
    TARGET="127.0.0.1:$port"
    wait_http "$TARGET/"
    # The master and its worker.
    MEASURED_PIDS="$master $(cat "/proc/$master/task/$master/children" 2>/dev/null || true)"
}

# --- measurements --------------------------------------------------------------------------
# Sums an awk field over /proc files of the pids: `proc_sum FILE AWK_EXPR PID...`.
proc_sum() {
    local file=$1 expr=$2 pid total=0 v
    shift 2
    for pid in "$@"; do
        v=$(awk "$expr" "/proc/$pid/$file" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
rss_kb() { proc_sum status '/^VmRSS:/ { print $2 }' "$@"; }
anon_kb() { proc_sum status '/^RssAnon:/ { print $2 }' "$@"; } # RSS less shared file pages
cpu_ticks() { proc_sum stat '{ print $14 + $15 }' "$@"; } # utime + stime, clock ticks

max_rps() {
    on_load_cpus wrk -t1 -c32 -d"${seconds}s" "http://$TARGET/" |
        awk '/^Requests\/sec:/ { printf "%.0f", $2 }'
}

# Runs oha at 1,000 RPS; prints "p50 p99 p99.9 requests" (ms, ms, ms, count).
fixed_rate() {
    on_load_cpus "$oha" -q 1000 -z "${seconds}s" -c 16 --latency-correction --no-tui \
        --output-format json "http://$TARGET/" >"$work/oha.json"
    python3 - "$work/oha.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = d["latencyPercentiles"]
n = sum(d.get("statusCodeDistribution", {}).values())
print(f'{p["p50"] * 1e3:.3f} {p["p99"] * 1e3:.3f} {p["p99.9"] * 1e3:.3f} {n}')
EOF
}

declare -A RESULT
# One fixed-rate run with the proxy's RSS sampled and its CPU counted: prints
# "p50 p99 p99.9 requests peak_rss_kb cpu_s_per_1k" ("-" for what is not measured).
measured_fixed_rate() {
    local pids=("$@") lat ticks0 sampler
    if ((${#pids[@]} == 0)); then
        echo "$(fixed_rate) - -"
        return
    fi
    ticks0=$(cpu_ticks "${pids[@]}")
    (
        while true; do
            rss_kb "${pids[@]}"
            sleep 0.5
        done
    ) >"$work/rss" &
    sampler=$!
    lat=$(fixed_rate)
    kill "$sampler"
    wait "$sampler" 2>/dev/null || true
    local ticks=$(($(cpu_ticks "${pids[@]}") - ticks0)) requests
    requests=$(echo "$lat" | awk '{ print $4 }')
    echo "$lat $(sort -n "$work/rss" | tail -n1)" \
        "$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$requests" \
            'BEGIN { printf "%.3f", (n > 0) ? t / hz / (n / 1000) : 0 }')"
}

# Starts the row, measures it BENCH_REPEAT times (best max RPS, the fixed-rate run with the
# lowest p99: on a shared machine the best run is the one least disturbed), stops it.
run_row() {
    local row=$1
    TARGET=""
    MEASURED_PIDS=""
    "start_$row"
    # shellcheck disable=SC2086
    local pids=($MEASURED_PIDS)
    sleep 0.5
    local idle="-" anon="-"
    if ((${#pids[@]})); then
        idle=$(rss_kb "${pids[@]}")
        anon=$(anon_kb "${pids[@]}")
    fi
    # Warm up connections and caches, then the runs.
    on_load_cpus wrk -t1 -c32 -d1s "http://$TARGET/" >/dev/null
    local best_rps=0 best_fixed="" rps fixed _
    for _ in $(seq "$repeat"); do
        rps=$(max_rps)
        ((${rps:-0} > best_rps)) && best_rps=$rps
        fixed=$(measured_fixed_rate "${pids[@]}")
        if [[ -z $best_fixed ]] || awk -v a="$fixed" -v b="$best_fixed" \
            'BEGIN { split(a, x, " "); split(b, y, " "); exit !(x[2] < y[2]) }'; then
            best_fixed=$fixed
        fi
    done
    local p50 p99 p999 requests loaded cpu
    read -r p50 p99 p999 requests loaded cpu <<<"$best_fixed"
    RESULT[$row]="$best_rps $p50 $p99 $p999 $requests $idle $anon $loaded $cpu"
    stop_started
}

# --- per-request cost (BENCH_MEASURE=cost) --------------------------------------------------
# Figures a busy machine hardly moves, per request, of the row's processes (all threads):
#   instructions   user-space instructions (valgrind callgrind; the row is restarted under
#                  it, counters zeroed after a warm-up, dumped after the load),
#   CPU us         user + kernel CPU time (perf stat task-clock; the noisiest of these),
#   allocs         heap allocations: malloc + calloc + posix_memalign calls (perf uprobes on
#                  libc), realloc calls apart,
#   syscalls       strace -c.
# Load: BENCH_REQUESTS (default 5,000) requests at a paced 1,000 RPS over 16 keep-alive
# connections (oha; under callgrind 2,000 one at a time on one connection), after a warm-up. Each figure is
# taken BENCH_REPEAT times: the best and the spread (worst over best) are printed; strace
# runs once (it slows the proxy, not its count).
cost_requests="${BENCH_REQUESTS:-5000}"
alloc_fns=(malloc calloc posix_memalign realloc)
PROBES_ADDED=()
# Adds the libc uprobes the allocation counts need (removed when the script exits).
add_malloc_probes() {
    local libc f
    libc=$(ldd "$bin" | awk '/libc\.so\.6/ { print $3 }')
    for f in "${alloc_fns[@]}"; do
        perf probe -l 2>/dev/null | grep -q "probe_libc:$f " && continue
        perf probe -q -x "$libc" --add "$f" 2>/dev/null && PROBES_ADDED+=("probe_libc:$f")
    done
}
remove_malloc_probes() {
    local p
    for p in "${PROBES_ADDED[@]}"; do perf probe -q -d "$p" 2>/dev/null || true; done
}

# Paced load: `paced N RATE` sets PACED to the oha command line (perf stat runs it).
paced() {
    PACED=(taskset -c "$load_cpus" "$oha" -n "$1" -q "$2" -c 16 --no-tui
        --output-format json "http://$TARGET/")
}
answered() {
    python3 -c 'import json, sys; print(sum(json.load(open(sys.argv[1])).get("statusCodeDistribution", {}).values()))' "$1"
}

# One perf run over the paced load: prints "cpu_us mallocs reallocs requests".
perf_run() {
    local pids=$1 events=task-clock f
    for f in "${alloc_fns[@]}"; do
        perf probe -l 2>/dev/null | grep -q "probe_libc:$f " && events+=",probe_libc:$f"
    done
    paced "$cost_requests" 1000
    perf stat -x, -o "$work/perf.csv" -e "$events" -p "$pids" -- "${PACED[@]}" >"$work/oha.json"
    awk -F, -v n="$(answered "$work/oha.json")" '
        $3 == "task-clock" { ms = $1 }
        $3 ~ /^probe_libc:(malloc|calloc|posix_memalign)$/ { a += $1; probed = 1 }
        $3 == "probe_libc:realloc" { r = $1 }
        END { if (!probed) { a = "nan"; r = "nan" }; print ms * 1000, a, r, n }' "$work/perf.csv"
}

# strace -c over one paced load: prints "syscalls requests"; the table stays in $work.
strace_run() {
    local args=() pid tracer
    for pid in "$@"; do args+=(-p "$pid"); done
    strace -c -f -q "${args[@]}" -o "$work/strace.txt" &
    tracer=$!
    sleep 1
    paced "$cost_requests" 1000
    "${PACED[@]}" >"$work/oha.json"
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    awk -v n="$(answered "$work/oha.json")" '$NF == "total" { print $4, n }' "$work/strace.txt"
}

# Per request, the busiest syscalls of the last strace run: "name=calls ...".
strace_top() {
    awk -v n="$1" '$NF != "total" && $4 ~ /^[0-9]+$/ { printf "%s=%.2f\n", $NF, $4 / n }' \
        "$work/strace.txt" | sort -t= -k2 -rn | head -n 6 | tr '\n' ' '
}

# Callgrind runs of a row started under valgrind: prints "instructions requests" per run.
callgrind_runs() {
    local pids=("$@") pid _ total dumps
    for _ in $(seq "$repeat"); do
        for pid in "${pids[@]}"; do callgrind_control -z "$pid" >/dev/null 2>&1; done
        # One connection, one request at a time: each takes the same path (concurrent ones
        # share wakeups by chance, which moves instructions by a few percent).
        taskset -c "$load_cpus" "$oha" -n 2000 -c 1 --no-tui --output-format json \
            "http://$TARGET/" >"$work/oha.json"
        for pid in "${pids[@]}"; do callgrind_control -d "$pid" >/dev/null 2>&1; done
        total=0
        for pid in "${pids[@]}"; do
            # The newest dump of each process (callgrind numbers them .1, .2, ...); a process
            # asleep all along (nginx's master) answers no dump request and ran nothing.
            dumps=$(cd "$work/cg" && ls "out.$pid".* 2>/dev/null | sort -t. -k3 -n | tail -n1)
            [[ -n $dumps ]] || continue
            total=$((total + $(awk '/^totals:/ { print $2 }' "$work/cg/$dumps")))
        done
        echo "$total $(answered "$work/oha.json")"
    done
}

# Best and spread of per-request values: `best_spread COLUMN` over "value... requests" lines.
best_spread() {
    awk -v c="$1" '$NF > 0 && $c != "nan" { v = $c / $NF; if (!n || v < lo) lo = v; if (v > hi) hi = v; n++ }
        END { if (!n) printf "- -"; else if (lo < 0.05) printf "%.1f -", lo
              else printf "%.1f %.1f%%", lo, 100 * (hi - lo) / lo }'
}

cost_row() {
    local row=$1 pids pid_list runs sys instr
    "start_$row"
    # shellcheck disable=SC2206
    pids=($MEASURED_PIDS)
    if ((${#pids[@]} == 0)); then
        stop_started
        return
    fi
    pid_list=$(IFS=,; echo "${pids[*]}")
    taskset -c "$load_cpus" wrk -t1 -c16 -d1s "http://$TARGET/" >/dev/null
    runs=$(for _ in $(seq "$repeat"); do perf_run "$pid_list"; done)
    sys=$(strace_run "${pids[@]}")
    echo "  $row syscalls/request: $(strace_top "${sys#* }")" >&2
    stop_started
    # The same row again under callgrind, for instructions.
    mkdir -p "$work/cg"
    # nginx's worker (another user) writes its own dump there.
    chmod o+x "$work"
    chmod 1777 "$work/cg"
    PROXY_WRAP=(valgrind -q --tool=callgrind "--callgrind-out-file=$work/cg/out.%p")
    "start_$row"
    PROXY_WRAP=()
    # shellcheck disable=SC2206
    pids=($MEASURED_PIDS)
    paced 500 500
    "${PACED[@]}" >/dev/null
    instr=$(callgrind_runs "${pids[@]}" | best_spread 1)
    stop_started
    RESULT[$row]="$instr $(echo "$runs" | best_spread 1)"
    RESULT[$row]+=" $(echo "$runs" | best_spread 2) $(echo "$runs" | best_spread 3)"
    RESULT[$row]+=" $(awk '{ printf "%.2f", $2 ? $1 / $2 : 0 }' <<<"$sys")"
}

# --- soak (BENCH_MEASURE=soak) ---------------------------------------------------------------
# The mTLS pair under a steady load for a long time: every answer must be a 200, and RSS
# must not creep. RSS is sampled after a minute's warm-up (pools and buffers at their size)
# and at the end.
soak() {
    local soak_seconds="${BENCH_SOAK_SECONDS:-600}" rps="${BENCH_SOAK_RPS:-2000}" start_kb end_kb
    start_mtls
    # shellcheck disable=SC2206
    local pids=($MEASURED_PIDS) warm=$((soak_seconds < 120 ? soak_seconds / 4 : 60))
    on_load_cpus "$oha" -q "$rps" -z "${soak_seconds}s" -c 16 --no-tui --output-format json \
        "http://$TARGET/" >"$work/soak.json" &
    local load=$!
    sleep "$warm"
    start_kb=$(rss_kb "${pids[@]}")
    wait "$load"
    end_kb=$(rss_kb "${pids[@]}")
    stop_started
    python3 - "$work/soak.json" "$soak_seconds" "$rps" "$start_kb" "$end_kb" "$warm" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
seconds, rps, start, end, warm = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
codes = d.get("statusCodeDistribution", {})
ok = codes.get("200", 0)
failed = sum(codes.values()) - ok + sum(d.get("errorDistribution", {}).values())
growth = (end - start) / start * 100 if start else 0
print(f"soak: mtls pair, {seconds} s at {rps} RPS: {ok} answered 200, {failed} failed; "
      f"RSS of both proxies {start / 1024:.1f} MB after {warm} s, {end / 1024:.1f} MB at the end "
      f"({growth:+.1f} %)")
PY
}

if [[ ${BENCH_MEASURE:-} == soak ]]; then
    soak
    exit 0
fi

if [[ ${BENCH_MEASURE:-} == cost ]]; then
    for t in perf strace valgrind callgrind_control; do
        command -v "$t" >/dev/null || {
            echo "cost needs perf, strace and valgrind (Debian: apt-get install linux-perf strace valgrind)" >&2
            exit 1
        }
    done
    trap 'stop_started; stop_upstream; remove_malloc_probes; rm -rf "$work"' EXIT
    add_malloc_probes
    echo "meshctl proxy cost per request: $cost_requests requests at 1,000 RPS over 16" \
        "connections, best of $repeat (spread: worst over best); proxies on CPU $proxy_cpu" >&2
    for row in "${ROWS[@]}"; do
        [[ $row == direct ]] && continue
        echo "running: $row" >&2
        cost_row "$row"
    done
    printf '%-10s %12s %7s %9s %7s %9s %7s %9s %7s %10s\n' row "instr/req" spread \
        "CPU us/r" spread "allocs/r" spread "realloc/r" spread "syscalls/r"
    for row in "${ROWS[@]}"; do
        [[ -n ${RESULT[$row]:-} ]] || continue
        # shellcheck disable=SC2086
        printf '%-10s %12s %7s %9s %7s %9s %7s %9s %7s %10s\n' "$row" ${RESULT[$row]}
    done
    echo "(per request, all threads of the row's processes (pair, mtls: both proxies);" \
        "instr: user space, callgrind; CPU: user + kernel; allocs: malloc + calloc +" \
        "posix_memalign)"
    exit 0
fi

echo "meshctl proxy benchmark: ${seconds}s per run, best of $repeat, 1 kB responses, upstream nginx;" \
    "proxies on CPU ${proxy_cpu:-any}, load and upstream on CPU ${load_cpus:-any}" >&2
order=(direct)
for row in "${ROWS[@]}"; do
    [[ $row == direct ]] || order+=("$row")
done
for row in "${order[@]}"; do
    echo "running: $row" >&2
    run_row "$row"
done

read -r d_rps d_p50 d_p99 d_p999 _ <<<"${RESULT[direct]}"
mb() { [[ $1 == - ]] && echo "-" || awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
printf '%-10s %9s %7s %8s %8s %8s %10s %9s %9s %9s %10s\n' \
    row "max RPS" "x dir" "p50 ms" "p99 ms" "p99.9 ms" "p99 +ms" "RSS idle" "anon idl" "RSS 1k" "CPU s/1k"
for row in "${order[@]}"; do
    read -r rps p50 p99 p999 _ idle anon loaded cpu <<<"${RESULT[$row]}"
    ratio=$(awk -v a="$rps" -v b="$d_rps" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    added=$(awk -v a="$p99" -v b="$d_p99" 'BEGIN { printf "%+.3f", a - b }')
    printf '%-10s %9s %7s %8s %8s %8s %10s %9s %9s %9s %10s\n' "$row" "$rps" "$ratio" "$p50" \
        "$p99" "$p999" "$added" "$(mb "$idle")" "$(mb "$anon")" "$(mb "$loaded")" "$cpu"
done
echo "(RSS in MB; anon idl: idle RSS without file-backed pages (the binary's code, shared" \
    "by every process of the same image); CPU s/1k: proxy CPU seconds per 1,000 requests at" \
    "1,000 RPS; direct p50/p99/p99.9: $d_p50/$d_p99/$d_p999 ms)"
