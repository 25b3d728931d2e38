#!/usr/bin/env bash
# Benchmarks dltrain side by side with its Python peers on this machine, same data and cores,
# and writes the tables into docs/benchmarks.md (between the bench markers; notes around them
# stay). Usage: scripts/bench/run.sh [pipeline]   (more sections come with the trainer)
# Peers: PyTorch from Debian's python3-torch/torchvision; TensorFlow (tensorflow-cpu) from PyPI
# in a cached virtual environment (~/.cache/dltrain/tf-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
sections=${1:-pipeline}
workers=${DLTRAIN_BENCH_WORKERS:-2}

scripts/setup.sh --python >/dev/null
scripts/build.sh >/dev/null
dltrain=build/apps/dltrain/dltrain
venv=${DLTRAIN_TF_VENV:-$HOME/.cache/dltrain/tf-venv}
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c "import tensorflow" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q tensorflow-cpu
fi
scripts/bench/make-photos.py data/bench/photos >/dev/null

rate() { grep -oE '[0-9.]+ (images/s|samples/s)|samples/s +[0-9.]+' | grep -oE '[0-9]+\.[0-9]+' | head -1; }
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
today=$(date -u +%Y-%m-%d)

if [[ $sections == *pipeline* ]]; then
  echo "pipeline: $workers workers, batch 64, 2048 JPEGs of 500x375 -> 224x224, flip, brightness, contrast, [0, 1]"
  "$dltrain" -q bench data specs/bench/pipeline.yaml --set data.train.workers="$workers" >/dev/null  # warm the page cache
  ours=$("$dltrain" -q bench data specs/bench/pipeline.yaml --set data.train.workers="$workers" | rate)
  ceiling=$("$dltrain" -q bench data specs/bench/pipeline.yaml --set data.train.workers="$workers" \
    --set 'data.train.ops=[{resize: [224, 224]}]' | rate)
  torch_line=$(/usr/bin/python3 scripts/bench/peers/pipeline_torch.py data/bench/photos --workers "$workers")
  tf_line=$("$venv/bin/python" scripts/bench/peers/pipeline_tf.py data/bench/photos --workers "$workers")
  torch_rate=$(echo "$torch_line" | rate)
  tf_rate=$(echo "$tf_line" | rate)
  table=$(python3 - "$ours" "$ceiling" "$torch_rate" "$tf_rate" "$torch_line" "$tf_line" <<'PY'
import sys
ours, ceiling, torch_rate, tf_rate = map(float, sys.argv[1:5])
torch_line, tf_line = sys.argv[5], sys.argv[6]
best = max(torch_rate, tf_rate)
rows = [
    ("dltrain (full pipeline)", ours, "%.2fx the faster peer" % (ours / best)),
    ("dltrain, decode + resize only (ceiling)", ceiling, "full pipeline at %.2fx of it" % (ours / ceiling)),
    ("PyTorch DataLoader + torchvision (%s)" % torch_line.split(":")[0], torch_rate, "dltrain %.2fx" % (ours / torch_rate)),
    ("tf.data (%s)" % tf_line.split(":")[0], tf_rate, "dltrain %.2fx" % (ours / tf_rate)),
]
print("| pipeline | images/s | ratio |")
print("|---|---:|---|")
for name, r, note in rows:
    print("| %s | %.0f | %s |" % (name, r, note))
PY
)
  echo "$table"
  python3 - docs/benchmarks.md pipeline "$today" "$machine" "scripts/bench/run.sh pipeline" "$table" <<'PY'
import os, re, sys
path, name, day, machine, command, table = sys.argv[1:7]
begin, end = "<!-- bench:%s:begin -->" % name, "<!-- bench:%s:end -->" % name
block = "%s\n%s, %s, `%s`:\n\n%s\n%s" % (begin, day, machine, command, table, end)
text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: block, text, flags=re.S)
else:
    text += "\n" + block + "\n"
open(path, "w").write(text)
PY
fi
