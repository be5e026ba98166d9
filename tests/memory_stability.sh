#!/usr/bin/env bash
# Memory stability of whole training runs: peak RSS (VmHWM) may grow by less than
# 5 % after epoch 2. 20 epochs of mlp_fashion; 200 of vgae_cora when Cora is there.
# usage: tests/memory_stability.sh EXAMPLES_DIR CORA_DIR
set -euo pipefail
examples="$1"
cora="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Prints the growth of the last column (peak_rss_mb) from epoch 2 to the end, and
# fails when it reaches 5 %.
check() {
  python3 - "$1" "$2" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[2])))
rss = [float(r["peak_rss_mb"]) for r in rows]
growth = (rss[-1] - rss[1]) / rss[1]
print(f"{sys.argv[1]}: {len(rss)} epochs, peak RSS {rss[1]:.1f} MiB after epoch 2, {rss[-1]:.1f} MiB at the end "
      f"(+{100 * growth:.2f} %)")
sys.exit(0 if growth < 0.05 else 1)
PY
}

if [ -d /usr/share/datasets/fashion-mnist ]; then
  "$examples/mlp_fashion" --epochs 20 --metrics "$tmp/mlp.csv" > "$tmp/mlp.log"
  check mlp_fashion "$tmp/mlp.csv"
else
  echo "mlp_fashion: Fashion-MNIST absent, skipped"
fi
if [ -f "$cora/cora.content" ]; then
  "$examples/vgae_cora" --data "$cora" --epochs 200 --metrics "$tmp/vgae.csv" > "$tmp/vgae.log"
  check vgae_cora "$tmp/vgae.csv"
else
  echo "vgae_cora: $cora absent, skipped"
fi
