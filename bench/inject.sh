#!/usr/bin/env bash
# Benchmark: `meshctl inject` (release build) over one stream of 10,000 documents: 5,000
# Deployments + 5,000 Services, about 20 MB of YAML. Prints figures; never fails on a time.
# Usage: bench/inject.sh [RUNS]   (MESHCTL_BIN=path skips the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
bin="${MESHCTL_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --release --quiet --bin meshctl
    bin="${CARGO_TARGET_DIR:-target}/release/meshctl"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Realistic documents: comments, labels, env, probes, resources; the Services must come back
# byte for byte, so they cost parsing but no rewriting.
awk -v pairs=5000 'BEGIN {
    for (i = 1; i <= pairs; i++) {
        name = sprintf("svc-%05d", i)
        printf "# %s: the storefront tier, owned by team-%d.\n", name, i % 17
        printf "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n", name
        printf "  namespace: shop-%d\n  labels:\n    app: %s\n    tier: web\n", i % 50, name
        printf "    app.kubernetes.io/part-of: shop\n    app.kubernetes.io/version: \"1.%d.0\"\n", i % 9
        printf "  annotations:\n    description: \"Serves the shop front end for region %d; scaled by HPA.\"\n", i % 7
        printf "spec:\n  replicas: %d\n  revisionHistoryLimit: 5\n", 1 + i % 5
        printf "  selector:\n    matchLabels:\n      app: %s\n", name
        printf "  strategy:\n    type: RollingUpdate\n    rollingUpdate: {maxSurge: 25%%, maxUnavailable: 0}\n"
        printf "  template:\n    metadata:\n      labels:\n        app: %s\n        tier: web\n", name
        printf "      annotations:\n        meshctl.io/skip-outbound-ports: \"3306\"\n"
        printf "        prometheus.io/scrape: \"true\"\n"
        printf "    spec:\n      serviceAccountName: %s\n      terminationGracePeriodSeconds: 30\n", name
        printf "      securityContext:\n        runAsNonRoot: true\n        fsGroup: 2000\n"
        printf "      containers:\n        - name: app\n          image: ghcr.io/example/shop:1.%d.%d\n", i % 9, i % 13
        printf "          args: [\"--listen\", \":8080\", \"--metrics\", \":9090\", \"--log-format=json\"]\n"
        printf "          ports:\n            - name: http\n              containerPort: 8080\n"
        printf "            - name: metrics\n              containerPort: 9090\n"
        printf "          env:\n"
        printf "            - name: DB_HOST\n              value: db-%d.shop.svc.cluster.local\n", i % 11
        printf "            - name: CACHE_URL\n              value: redis://cache.shop.svc:6379/%d\n", i % 16
        printf "            - name: FEATURE_FLAGS\n              value: \"checkout-v2,reviews,search-suggest\"\n"
        printf "            - name: POD_NAME\n              valueFrom:\n                fieldRef: {fieldPath: metadata.name}\n"
        for (e = 1; e <= 8; e++)
            printf "            - name: UPSTREAM_%d_URL\n              value: http://upstream-%d.shop-%d.svc.cluster.local:8080/api/v%d\n", e, e, i % 50, e % 3 + 1
        printf "          readinessProbe:\n            httpGet: {path: /healthz, port: http}\n"
        printf "            periodSeconds: 5\n            failureThreshold: 3\n"
        printf "          livenessProbe:\n            httpGet: {path: /livez, port: http}\n"
        printf "            initialDelaySeconds: 10\n"
        printf "          resources:\n            requests: {cpu: 200m, memory: 128Mi}\n"
        printf "            limits: {memory: 512Mi}\n"
        printf "          volumeMounts:\n            - name: config\n              mountPath: /etc/shop\n              readOnly: true\n"
        printf "        - name: log-shipper\n          image: ghcr.io/example/log-shipper:2.%d.0\n", i % 5
        printf "          args: [\"--input=/var/log/shop\", \"--output=http://logs.observability.svc:9880\"]\n"
        printf "          resources:\n            requests: {cpu: 20m, memory: 32Mi}\n            limits: {memory: 64Mi}\n"
        printf "          volumeMounts:\n            - name: logs\n              mountPath: /var/log/shop\n"
        printf "      volumes:\n        - name: config\n          configMap:\n            name: %s-config\n", name
        printf "        - name: logs\n          emptyDir: {}\n"
        printf "---\n# The Service in front of %s.\n", name
        printf "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: shop-%d\n", name, i % 50
        printf "  labels:\n    app: %s\n    app.kubernetes.io/part-of: shop\n", name
        printf "  annotations:\n    description: \"Load-balanced entry for %s (HTTP and metrics).\"\n", name
        printf "spec:\n  type: ClusterIP\n  selector:\n    app: %s\n", name
        printf "  ports:\n    - name: http\n      port: 80\n      targetPort: http\n      protocol: TCP\n"
        printf "    - name: metrics\n      port: 9090\n      targetPort: metrics\n      protocol: TCP\n"
        printf "  sessionAffinity: None\n"
        if (i < pairs) printf "---\n"
    }
}' >"$work/stream.yaml"

bytes=$(wc -c <"$work/stream.yaml")
docs=$(grep -c '^kind: ' "$work/stream.yaml")
# One checked run: every Deployment injected, every Service passed through.
"$bin" inject "$work/stream.yaml" >"$work/out.yaml" 2>"$work/report"
injected=$(grep -c ' injected$' "$work/report" || true)
skipped=$(grep -c 'skipped: not a workload' "$work/report" || true)
echo "input: $docs documents, $bytes bytes; output: $(wc -c <"$work/out.yaml") bytes;" \
    "$injected injected, $skipped passed through"

# Best and median of RUNS runs of a command line, in ms.
measure() {
    local times=() start end sorted
    for _ in $(seq "$runs"); do
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s%N)
        times+=($(((end - start) / 1000000)))
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    echo "best $(echo "$sorted" | head -n1) ms, median $(echo "$sorted" | sed -n "$(((runs + 1) / 2))p") ms"
}
# Documents are parsed on every core: the one-core run beside it shows what that brings.
echo "inject 10,000 documents, all $(nproc) cores: $(measure "$bin" inject "$work/stream.yaml")"
if command -v taskset >/dev/null; then
    echo "inject 10,000 documents, one core:   $(measure taskset -c 0 "$bin" inject "$work/stream.yaml")"
fi
