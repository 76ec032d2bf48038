#!/usr/bin/env bash
# The controller at scale (tests/cluster/controller_bench.rs): 1,000 Services with 10
# endpoints each in a real kube-apiserver, 1,000 subscribed proxies, endpoint changes one at a
# time. Prints the time for a change to reach every proxy (p50/p99), the controller's RSS and
# CPU per change, and one proxy's config size. Release build; never fails on a figure.
# BENCH_SERVICES, BENCH_ENDPOINTS, BENCH_PROXIES, BENCH_CHANGES override the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/cluster/build-testbin.sh >/dev/null
cargo test --release --test cluster controller_at_scale -- --ignored --nocapture 2>&1 |
  grep -E '^(BENCH|created|controller ready|[0-9]+ proxies subscribed|change [0-9]+:)'
