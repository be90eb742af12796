#!/usr/bin/env bash
# The peer comparison of issue 5, end to end:
#   1. a Python virtual environment in benches/peers/.venv (numpy, torch, jax[cpu] from PyPI),
#   2. vle's reference results (examples/peer_reference.rs) and the numerical agreement check
#      of the torch and jax implementations against them (f64 and f32) — timing only after it,
#   3. `cargo bench --bench kernels` (criterion; skip with VLE_SKIP_BENCH=1 to reuse
#      target/criterion), the peers' timings (f32, 1 thread) and the GEMM peak (1 and 2 threads),
#   4. the table: sample-steps per second, vle/peer ratios, GFLOP/s.
#
# Environment: VLE_PIN (default "taskset -c 0"; empty to not pin) runs the single-threaded
# timings of both sides on one core; PEER_DTYPE (default f32); PEER_MIN_TIME (seconds per case,
# default 3); VLE_BENCH_QUICK=1 shortens criterion's measurements. criterion's results are read
# from $CRITERION_HOME, else $CARGO_TARGET_DIR/criterion, else target/criterion.
set -euo pipefail
cd "$(dirname "$0")/../.."
PEERS=benches/peers
VENV=$PEERS/.venv
PY=$VENV/bin/python
RESULTS=$PEERS/results
mkdir -p "$RESULTS"

if ! command -v taskset >/dev/null; then
    : "${VLE_PIN:=}"
fi
PIN=${VLE_PIN-taskset -c 0}

if ! [ -x "$PY" ] || ! "$PY" -c 'import numpy, torch, jax' 2>/dev/null; then
    echo "== creating $VENV"
    python3 -m venv "$VENV"
    "$PY" -m pip install --upgrade pip
    # PyPI only (the CPU wheel index may be unreachable): the default torch wheel, large.
    "$PY" -m pip install numpy torch "jax[cpu]"
fi

echo "== machine"
echo "nproc: $(nproc)"
grep -m1 'model name' /proc/cpuinfo || true
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pinning: ${PIN:-none}"

echo "== reference results (vle, f64)"
cargo run --release --example peer_reference -- "$PEERS/reference.npz"

echo "== agreement check"
"$PY" "$PEERS/peers.py" --check --reference "$PEERS/reference.npz"

if [ "${VLE_SKIP_BENCH:-0}" != 1 ]; then
    echo "== cargo bench --bench kernels"
    $PIN cargo bench --bench kernels
fi

echo "== peers: timings"
$PIN "$PY" "$PEERS/peers.py" --time --dtype "${PEER_DTYPE:-f32}" --min-time "${PEER_MIN_TIME:-3}" \
    --threads 1 --json "$RESULTS/peers.json"

echo "== GEMM peak"
"$PY" "$PEERS/peers.py" --gemm --json "$RESULTS/gemm.json"

echo "== comparison"
"$PY" "$PEERS/compare.py" --criterion "${CRITERION_HOME:-${CARGO_TARGET_DIR:-target}/criterion}" --peers "$RESULTS/peers.json" \
    --gemm "$RESULTS/gemm.json"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
