#!/usr/bin/env bash
# Soak: the Fashion-MNIST example for EPOCHS epochs (default 20), then its memory per epoch from
# metrics.csv (resident at the epoch's end, and the peak so far, which a batch job's memory
# request must cover) and their growth from epoch 2 to the last. Exits non-zero when either grew
# by 5% or more. Not a CI test (about 15 minutes on 2 cores); the figures go to docs/reliability.md.
# Usage: scripts/bench/soak.sh [EPOCHS] [extra fit arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs=${1:-20}
shift || true
scripts/build.sh >/dev/null
/usr/bin/python3 scripts/prepare-fashion-mnist.py >/dev/null
run=runs/soak/$(date +%Y%m%d-%H%M%S)
build/apps/dltrain/dltrain -q fit specs/fashion_mnist.yaml --set train.epochs="$epochs" --run-dir "$run" "$@"
/usr/bin/python3 - "$run/metrics.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("epoch  rss_mb  peak_rss_mb")
for r in rows:
    print("%5s %7.1f %12.1f" % (r["epoch"], float(r["rss_mb"]), float(r["peak_rss_mb"])))
base, last = rows[1], rows[-1]
growth = {k: float(last[k]) / float(base[k]) - 1 for k in ("rss_mb", "peak_rss_mb")}
print("growth from epoch 2 to %s: resident %+.1f%%, peak %+.1f%%" % (last["epoch"], 100 * growth["rss_mb"],
                                                                      100 * growth["peak_rss_mb"]))
sys.exit(1 if max(growth.values()) >= 0.05 else 0)
PY
