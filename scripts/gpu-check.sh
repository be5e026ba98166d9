#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU (the reference is an H200 with
# CUDA 13 and PyTorch, offline): build kiln with CUDA for sm_90, run the CUDA
# tests, then time on the GPU, in one run: MLP, CNN and CNN+BN training epochs
# against the same networks in PyTorch, the trained models quantized
# (quantize_fashion), VGAE on Cora, bench/cuda_bench (copy bandwidth, q4_0 GEMV, int8
# GEMM, spmm, edge_softmax, scans, topk, argsort) and a GAE epoch on a power-law graph
# (bench/graph_scale). Writes summary.md, results.json, steps.log and logs.tar.gz
# (every log and CSV) into OUTDIR.
# Dependencies come from .gpu-deps (scripts/gpu-deps.sh) when the machine lacks them.
#
#   scripts/gpu-check.sh OUTDIR            (about 5 minutes on an H200)
set -uo pipefail
out="${1:?usage: scripts/gpu-check.sh OUTDIR}"
deadline=$((SECONDS + 470))
mkdir -p "$out/logs"
top="$(cd "$out" && pwd)"
out="$top/logs"  # every log goes here; summary.md, results.json and logs.tar.gz at the top
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { echo "[gpu-check $(date +%T)] $*" | tee -a "$top/steps.log"; }
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
nvidia-smi --query-gpu=name --format=csv,noheader > "$out/gpu_name.txt" 2>/dev/null || true

# --- dependencies: unpack the carried Debian packages into a private prefix ---------
prefix="$root/.gpu-deps/root"
cmake_extra=()
if [ -d .gpu-deps/debs ]; then
  mkdir -p "$prefix"
  for deb in .gpu-deps/debs/*.deb; do dpkg -x "$deb" "$prefix"; done
  cmake_extra+=("-DCMAKE_PREFIX_PATH=$prefix/usr" "-DZLIB_INCLUDE_DIR=$prefix/usr/include")
  # zlib's shared library comes with almost every system; its headers came above.
  libz="$(ldconfig -p 2>/dev/null | awk '/libz\.so\.1 .*x86-64/ {print $NF; exit}')"
  cmake_extra+=("-DZLIB_LIBRARY=${libz:-$prefix/usr/lib/x86_64-linux-gnu/libz.a}")
fi
fashion=/usr/share/datasets/fashion-mnist
[ -f "$fashion/train-images-idx3-ubyte.gz" ] || fashion="$prefix/usr/share/datasets/fashion-mnist"
cora=""
if [ -f .gpu-deps/cora.tar.gz ]; then
  tar xzf .gpu-deps/cora.tar.gz -C .gpu-deps && cora="$root/.gpu-deps/cora"
elif [ -f ../shared/data/cora/cora.content ]; then
  cora="$(cd ../shared/data/cora && pwd)"
fi
movielens=""
if [ -f .gpu-deps/ml-100k.tar.gz ]; then
  tar xzf .gpu-deps/ml-100k.tar.gz -C .gpu-deps && movielens="$root/.gpu-deps/ml-100k"
elif [ -f ../shared/data/ml-100k/u.data ]; then
  movielens="$(cd ../shared/data/ml-100k && pwd)"
fi

# --- build ---------------------------------------------------------------------------------
build="$root/build-gpu"
log "configure"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DKILN_BLAS=Eigen \
  "${cmake_extra[@]}" > "$out/configure.log" 2>&1 || { log "configure FAILED"; tail -30 "$out/configure.log"; exit 1; }
log "build"
timeout 300 cmake --build "$build" --parallel "$(nproc)" --target kiln_cuda_tests mlp_fashion cnn_fashion vgae_cora \
  quantize_fashion cuda_bench graph_scale mlp_by_hand rnn_fashion vit_fashion gcn_cora gvae_movielens pinn_poisson \
  > "$out/build.log" 2>&1 || { log "build FAILED"; grep -E "error" "$out/build.log" | head -30; exit 1; }

# cuBLAS is opened at run time (dlopen). Where neither the toolkit nor the loader's
# cache holds it, use the copy that PyTorch's wheels carry.
cublas="$(sed -n 's/^CUDA_cublas_LIBRARY:FILEPATH=//p' "$build/CMakeCache.txt")"
if [ ! -f "$cublas" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so'; then
  wheel_lib="$(python3 -c 'import glob, os, site
dirs = {os.path.dirname(p) for d in site.getsitepackages() for p in glob.glob(os.path.join(d, "nvidia", "**", "libcublas*.so*"), recursive=True)}
print(":".join(sorted(dirs)))' 2>/dev/null)"
  if [ -n "$wheel_lib" ]; then
    export LD_LIBRARY_PATH="$wheel_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    log "cuBLAS not in the toolkit; using PyTorch's: $wheel_lib"
  else
    log "cuBLAS found nowhere: matrix products on the GPU will fail"
  fi
fi

# --- tests -----------------------------------------------------------------------------------
log "CUDA tests"
timeout 150 "$build/tests/kiln_cuda_tests" > "$out/cuda_tests.log" 2>&1
echo "$?" > "$out/cuda_tests.rc"
tail -4 "$out/cuda_tests.log"

# --- timings ---------------------------------------------------------------------------------
epochs=4
# The whole check stays under 8 minutes: each step gets at most 2 minutes and what is
# left of the budget (started with the script); a step with no time left is skipped.
run() {  # name, log file, command...
  local name=$1 file=$2; shift 2
  local left=$((deadline - SECONDS))
  if ((left < 10)); then log "$name skipped: the 8-minute budget is spent"; return; fi
  log "$name"
  timeout $((left < 120 ? left : 120)) "$@" > "$out/$file" 2>&1 || log "$name exited $?"
}
run "kiln MLP on cuda" kiln_mlp.log "$build/examples/mlp_fashion" --data "$fashion" --device cuda --epochs $epochs \
  --metrics "$out/kiln_mlp.csv" --save "$out/mlp.safetensors"
run "torch MLP on cuda" torch_mlp.log python3 bench/torch_fashion_gpu.py --data "$fashion" --model mlp --epochs $epochs
run "kiln CNN on cuda" kiln_cnn.log "$build/examples/cnn_fashion" --data "$fashion" --device cuda --epochs $epochs \
  --metrics "$out/kiln_cnn.csv" --save "$out/cnn.safetensors"
run "torch CNN on cuda" torch_cnn.log python3 bench/torch_fashion_gpu.py --data "$fashion" --model cnn --epochs $epochs
run "kiln CNN+BN on cuda" kiln_cnn_bn.log "$build/examples/cnn_fashion" --data "$fashion" --device cuda --batchnorm \
  --epochs $epochs --metrics "$out/kiln_cnn_bn.csv"
run "torch CNN+BN on cuda" torch_cnn_bn.log python3 bench/torch_fashion_gpu.py --data "$fashion" --model cnn \
  --batchnorm --epochs $epochs
if [ -n "$cora" ]; then
  run "kiln VGAE on cuda" kiln_vgae.log "$build/examples/vgae_cora" --data "$cora" --device cuda
  run "kiln VGAE on cpu" kiln_vgae_cpu.log "$build/examples/vgae_cora" --data "$cora" --device cpu
fi
# The other training examples once each on the GPU, so that every one is seen working there.
run "kiln MLP by hand on cuda" kiln_mlp_by_hand.log "$build/examples/mlp_by_hand" --data "$fashion" --device cuda \
  --epochs 1
# Second derivatives on the GPU: a physics-informed network, 1000 steps.
run "kiln PINN (second derivatives) on cuda" kiln_pinn.log "$build/examples/pinn_poisson" --device cuda --steps 1000
run "kiln LSTM by rows on cuda" kiln_rnn.log "$build/examples/rnn_fashion" --data "$fashion" --device cuda --epochs 1
run "kiln Vision Transformer on cuda" kiln_vit.log "$build/examples/vit_fashion" --data "$fashion" --device cuda \
  --epochs 1
[ -n "$cora" ] && run "kiln GCN on cuda" kiln_gcn.log "$build/examples/gcn_cora" --data "$cora" --device cuda --runs 3
[ -n "$cora" ] && run "kiln GAT on cuda" kiln_gat.log "$build/examples/gcn_cora" --data "$cora" --device cuda \
  --model gat --runs 1
[ -n "$movielens" ] && run "kiln graph VAE recommender on cuda" kiln_gvae.log "$build/examples/gvae_movielens" \
  --data "$movielens" --device cuda
run "kiln quantized MLP and CNN on cuda" quantize.log "$build/examples/quantize_fashion" --data "$fashion" \
  --device cuda --mlp "$out/mlp.safetensors" --cnn "$out/cnn.safetensors" --out "$out/quantized" --reps 10
rm -rf "$out/quantized" "$out"/*.safetensors
run "cuda_bench" cuda_bench.log "$build/bench/cuda_bench" --reps 5
run "GAE epoch on a 10M-edge power-law graph on cuda" graph_scale.log "$build/bench/graph_scale" \
  --nodes 1000000 --edges 10000000 --device cuda

log "summary"
python3 - "$out" "$top" <<'PY'
import csv, datetime, json, os, statistics, sys
out, top = sys.argv[1], sys.argv[2]
def result(name):  # the RESULT json of a log, or None
    try:
        lines = [l for l in open(os.path.join(out, name)) if l.startswith("RESULT ")]
        return json.loads(lines[-1][7:]) if lines else None
    except (OSError, ValueError):
        return None
def kiln_epoch(name):  # median seconds of the epochs after the first (start-up excluded)
    try:
        secs = [float(r["seconds"]) for r in csv.DictReader(open(os.path.join(out, name)))]
    except (OSError, KeyError, ValueError):
        return None
    return statistics.median(secs[1:] if len(secs) > 1 else secs) if secs else None
def fmt(v):
    return f"{v:.3f}" if isinstance(v, float) else "n/a"
try:
    rc = int(open(os.path.join(out, "cuda_tests.rc")).read().strip())
except (OSError, ValueError):
    rc = None
r = {"cuda_tests_rc": rc}
lines = ["| measure | kiln | PyTorch | ratio |", "| --- | --- | --- | --- |"]
def row(label, fn):  # one table row; a log that lacks what the row needs does not stop the others
    try:
        fn()
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
        lines.append(f"| {label}: not readable ({type(e).__name__} {e}) | | | |")

for model in ("mlp", "cnn", "cnn_bn"):
    def epochs(model=model):
        k, t, kr = kiln_epoch(f"kiln_{model}.csv"), result(f"torch_{model}.log"), result(f"kiln_{model}.log")
        tt = t["median_epoch_seconds_after_first"] if t else None
        r[model] = {"kiln_epoch_s": k, "torch_epoch_s": tt, "ratio": k / tt if k and tt else None,
                    "kiln_test_acc": kr and kr.get("test_acc"), "torch_test_acc": t and t.get("test_acc"),
                    "torch_version": t and t.get("torch_version")}
        lines.append(f"| {model.upper().replace('_BN', '+BN')} epoch (s, median after the first) | {fmt(k)} | "
                     f"{fmt(tt)} | {fmt(r[model]['ratio'])} |")
    row(f"{model} epochs", epochs)

def vgae():
    v, vc = result("kiln_vgae.log"), result("kiln_vgae_cpu.log")
    if v:
        r["vgae"] = {"cuda_train_s": v["train_seconds"], "cuda_test_auc": v["test_auc"],
                     "cpu_train_s": vc and vc["train_seconds"]}
        cpu = f", CPU {vc['train_seconds']:.2f}" if vc else ""
        lines.append(f"| VGAE on Cora, 200 epochs (s) | {v['train_seconds']:.2f} (AUC {v['test_auc']:.3f}{cpu}) | | |")
row("VGAE", vgae)
for name, label, metric in (("mlp_by_hand", "MLP by hand, 1 epoch", "max_grad_difference"),
                            ("rnn", "LSTM reading rows, 1 epoch", "test_acc"),
                            ("pinn", "PINN, 1000 steps", "relative_l2_error"),
                            ("gcn", "GCN on Cora, 3 runs", "test_acc"),
                            ("gat", "GAT on Cora, 1 run", "test_acc"),
                            ("gvae", "graph VAE on MovieLens-100K", "ndcg_at_10")):
    def example(name=name, label=label, metric=metric):
        e = result(f"kiln_{name}.log")
        r[name] = e and {"cuda_train_s": e["train_seconds"], metric: e[metric]}
        if e:
            lines.append(f"| {label} on the GPU: train seconds ({metric}) | {e['train_seconds']:.2f} "
                         f"({e[metric]:.4g}) | | |")
    row(label, example)

q = result("quantize.log")
if q:
    r["quantized"] = q
    for model in ("mlp", "cnn"):
        def quantized(model=model):
            if model in q:
                lines.append(f"| {model.upper()} batch-256 forward on the GPU, ms (fp32 / int8 / int4) | "
                             + " / ".join(f"{q[model][f]['seconds_b256'] * 1e3:.2f}" for f in ("fp32", "int8", "int4"))
                             + " | | |")
        row(f"quantized {model}", quantized)

b = result("cuda_bench.log")
if b:
    r["bench"] = b
    def gemv():
        warm = b.get("gemv_q4_8192x8192_warm_gb_per_s")
        warm = f"; warm, from L2: {warm:.0f} GB/s" if warm else ""
        lines.append(f"| q4_0 GEMV 8192x8192, weights cold / copy bandwidth | "
                     f"{b['gemv_q4_8192x8192_copy_fraction']:.2f} ({b['gemv_q4_8192x8192_gb_per_s']:.0f} of "
                     f"{b['copy_gb_per_s']:.0f} GB/s{warm}) | | |")
    row("q4_0 GEMV", gemv)
    for key, rows in (("spmm", "10 per row"), ("spmm_powerlaw", "power-law rows")):
        def spmm(key=key, rows=rows):
            vs = b.get(f"{key}_kiln_vs_cusparse")
            if vs:
                lines.append(f"| spmm 1M x 10M nnz ({rows}) x 16, ms (kiln / cuSPARSE) | {b[key + '_kiln_ms']:.3f} / "
                             f"{b[key + '_cusparse_ms']:.3f} ({b[key + '_kiln_gb_per_s']:.0f} GB/s counted) | | "
                             f"{vs:.2f} |")
            else:
                lines.append(f"| spmm 1M x 10M nnz ({rows}) x 16, ms | {b[key + '_kiln_ms']:.3f} | | |")
        row(key, spmm)
    def edge_softmax():
        lines.append(f"| edge_softmax, power-law rows x 8 heads, ms | {b['edge_softmax_powerlaw_ms']:.3f} "
                     f"({b['edge_softmax_powerlaw_gb_per_s']:.0f} GB/s counted) | | |")
    row("edge_softmax", edge_softmax)
    def scans():
        lines.append("| cumsum 16M row / 4096x4096 dim 1 / dim 0, prod / max / softmax 16M row, cross_entropy "
                     "4 x 4M: fraction of copy bandwidth | "
                     + " / ".join(f"{b[k + '_copy_fraction']:.2f}" for k in
                                  ("cumsum_row_16M", "cumsum_4096x4096_dim1", "cumsum_4096x4096_dim0",
                                   "prod_row_16M", "max_row_16M", "softmax_row_16M", "cross_entropy_4x4M"))
                     + " | | |")
    row("scans", scans)
    def topk():
        lines.append(f"| topk 10 of a 2^20 row / of 4096 rows of 4096, us | {b['topk10_row_1M_us']:.0f} / "
                     f"{b['topk10_4096x4096_us']:.0f} | | |")
        lines.append(f"| argsort of a 2^20 row / of 4096 rows of 4096, us | {b['argsort_row_1M_us']:.0f} / "
                     f"{b['argsort_4096x4096_us']:.0f} | | |")
    row("topk", topk)
    for s in (4096, 8192):
        def gemm(s=s):
            lines.append(f"| int8 GEMM {s}^3 TOPS (cuBLASLt / dp4a) | {b[f'gemm_int8_{s}_tops']:.0f} / "
                         f"{b[f'gemm_int8_dp4a_{s}_tops']:.0f} ({b[f'gemm_int8_{s}_peak_fraction']:.2f} of peak) | | |")
        row(f"int8 GEMM {s}", gemm)
    for part, message in (b.get("errors") or {}).items():
        lines.append(f"| cuda_bench part '{part}' failed: {message} | | | |")

g = result("graph_scale.log")
if g:
    r["graph_scale"] = g
    def graph_scale():
        lines.append(f"| GAE on a power-law graph, {g['nodes']:,} nodes, {g['nnz']:,} nonzeros: spmm ms / epoch s | "
                     f"{g['spmm_seconds'] * 1e3:.2f} ({g['spmm_gbps']:.0f} GB/s counted) / {g['epoch_seconds']:.2f} | | |")
    row("graph_scale", graph_scale)

open(os.path.join(top, "results.json"), "w").write(json.dumps(r, indent=1))
try:
    gpu = open(os.path.join(out, "gpu_name.txt")).read().strip().splitlines()[0]
except (OSError, IndexError):
    gpu = (result("torch_mlp.log") or {}).get("gpu")
head = [f"GPU check of {datetime.date.today().isoformat()} on {gpu or 'an unnamed GPU'}",
        f"CUDA tests exit code: {'none, they did not run' if rc is None else rc} (0: all passed)", ""]
summary = "\n".join(head + lines) + "\n"
open(os.path.join(top, "summary.md"), "w").write(summary)
print(summary)
PY
tar czf "$top/logs.tar.gz" -C "$top" logs && rm -rf "$out"
log "done"
