#!/usr/bin/env bash
# Benchmarks dltrain side by side with its Python peers on this machine, same data and cores,
# and writes the tables into docs/benchmarks.md (between the bench markers; notes around them
# stay; the distributed section's into docs/distributed.md).
# Usage: scripts/bench/run.sh [pipeline] [step] [e2e] [distributed]   (default: all four)
# Peers: PyTorch from Debian's python3-torch/torchvision; TensorFlow (tensorflow-cpu) from PyPI
# in a cached virtual environment (~/.cache/dltrain/tf-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
sections=${*:-pipeline step e2e distributed}
workers=${DLTRAIN_BENCH_WORKERS:-2}
threads=$(nproc)

scripts/setup.sh --python >/dev/null
scripts/build.sh >/dev/null
dltrain=${DLTRAIN_BUILD_DIR:-build}/apps/dltrain/dltrain
venv=${DLTRAIN_TF_VENV:-$HOME/.cache/dltrain/tf-venv}
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c "import tensorflow" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q tensorflow-cpu
fi
scripts/bench/make-photos.py data/bench/photos >/dev/null
/usr/bin/python3 scripts/prepare-fashion-mnist.py >/dev/null

rate() { grep -oE '[0-9.]+ (images/s|samples/s)|samples/s +[0-9.]+' | grep -oE '[0-9]+\.[0-9]+' | head -1; }
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
today=$(date -u +%Y-%m-%d)

# write_table NAME COMMAND TABLE [FILE]: replaces the section's block in FILE (docs/benchmarks.md)
# (or appends it) with the date, machine, command and table.
write_table() {
  python3 - "${4:-docs/benchmarks.md}" "$1" "$today" "$machine" "$2" "$3" <<'PY'
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
}

if [[ $sections == *pipeline* ]]; then
  echo "pipeline: $workers workers, batch 64, 2048 JPEGs of 500x375 -> 224x224, flip, brightness, contrast, [0, 1]"
  bench=(-q bench data specs/bench/pipeline.yaml --set data.train.workers="$workers")
  shards=(--set 'data.train.source={tar: "data/bench/photo-shards/photos-*.tar"}')
  "$dltrain" -q pack data/bench/photos -o data/bench/photo-shards --shard-size 64MB --overwrite
  "$dltrain" "${bench[@]}" >/dev/null  # warm the page cache: the folder, then the shards
  "$dltrain" "${bench[@]}" "${shards[@]}" >/dev/null
  # Rounds alternate every configuration and peer, so a slow spell of this shared VM hits each;
  # each row is the median over rounds.
  augment='{resize: [224, 224]}, random_flip, {random_brightness: 0.2}, {random_contrast: [0.8, 1.2]}, {scale: 1/255}'
  fast_ops="data.train.ops=[{decode: {dct_method: INTEGER_FAST, fancy_upscaling: false}}, $augment]"
  whole_ops="data.train.ops=[{decode: {fused_resize: false}}, $augment]"
  declare -A rates=() lines=()
  measure() {
    local name=$1 line
    shift
    line=$("$@")
    lines[$name]=$(head -1 <<<"$line")
    rates[$name]+="$(rate <<<"$line") "
  }
  median() { tr ' ' '\n' <<<"${rates[$1]}" | grep . | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
  for ((round = 0; round < ${DLTRAIN_BENCH_ROUNDS:-3}; ++round)); do
    measure ours "$dltrain" "${bench[@]}"
    measure decode_only "$dltrain" "${bench[@]}" --decode-only
    measure gpu_feed "$dltrain" "${bench[@]}" --gpu-feed
    measure ceiling "$dltrain" "${bench[@]}" --set 'data.train.ops=[{resize: [224, 224]}]'
    measure whole "$dltrain" "${bench[@]}" --set "$whole_ops"
    measure fast "$dltrain" "${bench[@]}" --set "$fast_ops"
    measure shards "$dltrain" "${bench[@]}" "${shards[@]}" --set data.train.shuffle=1000
    measure torch /usr/bin/python3 scripts/bench/peers/pipeline_torch.py data/bench/photos --workers "$workers"
    measure tf "$venv/bin/python" scripts/bench/peers/pipeline_tf.py data/bench/photos --workers "$workers"
  done
  ours=$(median ours) decode_only=$(median decode_only) ceiling=$(median ceiling) whole=$(median whole) fast=$(median fast)
  gpu_feed=$(median gpu_feed) from_shards=$(median shards) torch_rate=$(median torch) tf_rate=$(median tf)
  torch_line=${lines[torch]} tf_line=${lines[tf]}
  # Cold page cache, where this machine lets root drop it: every image read from the disk (once).
  cold_folder=0 cold_shards=0
  if sync && { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null; then
    cold_folder=$("$dltrain" "${bench[@]}" --warmup-epochs 0 | rate)
    sync && echo 3 > /proc/sys/vm/drop_caches
    cold_shards=$("$dltrain" "${bench[@]}" "${shards[@]}" --set data.train.shuffle=1000 --warmup-epochs 0 | rate)
  fi
  table=$(python3 - "$ours" "$decode_only" "$gpu_feed" "$ceiling" "$whole" "$fast" "$from_shards" "$cold_folder" \
    "$cold_shards" "$torch_rate" "$tf_rate" "$torch_line" "$tf_line" <<'PY'
import sys
ours, decode_only, gpu_feed, ceiling, whole, fast, shards, cold_folder, cold_shards, torch_rate, tf_rate = map(
    float, sys.argv[1:12])
torch_line, tf_line = sys.argv[12], sys.argv[13]
best = max(torch_rate, tf_rate)
rows = [
    ("dltrain (full pipeline)", ours, "%.2fx the faster peer; %.2fx of decode only" % (ours / best, ours / decode_only)),
    ("dltrain, decode only (the decoder's limit, same threads)", decode_only, ""),
    ("dltrain, full pipeline as a GPU run's loader makes its batches (`bench data --gpu-feed`: 8-bit images, "
     "the colour ops and scaling left for the device)", gpu_feed, "%.2fx of decode only" % (gpu_feed / decode_only)),
    ("dltrain, decode + resize only", ceiling, "full pipeline at %.2fx of it" % (ours / ceiling)),
    ("dltrain, full pipeline, every JPEG decoded whole before the resize (`decode: {fused_resize: false}`)", whole,
     "the fused decode + resize %.2fx it" % (ours / whole)),
    ("dltrain, full pipeline with `decode: {dct_method: INTEGER_FAST, fancy_upscaling: false}`", fast,
     "%.2fx the accurate decode's pipeline" % (fast / ours)),
    ("dltrain, full pipeline from tar shards (`dltrain pack`, 64 MB shards)", shards, "%.2fx the folder" % (shards / ours)),
]
if cold_folder > 0:
    rows.append(("dltrain, full pipeline, cold page cache: folder", cold_folder, ""))
    rows.append(("dltrain, full pipeline, cold page cache: tar shards", cold_shards, "%.2fx the folder" % (cold_shards / cold_folder)))
rows += [
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
  write_table pipeline "scripts/bench/run.sh pipeline" "$table"
fi

if [[ $sections == *pipeline* ]]; then
  # Photos at least twice the target in both dimensions: dltrain decodes them at a reduced DCT
  # scale (1/4 here: 300x225, then resized to 224x224); the peers decode them whole.
  scripts/bench/make-photos.py data/bench/photos-large --count 1024 --size 1200 900 >/dev/null
  echo "pipeline, large photos: $workers workers, batch 64, 1024 JPEGs of 1200x900 -> 224x224, the same ops"
  large=(-q bench data specs/bench/pipeline.yaml --set data.train.workers="$workers"
         --set data.train.source.folder=data/bench/photos-large)
  "$dltrain" "${large[@]}" >/dev/null  # warm the page cache
  rates=() lines=()
  for ((round = 0; round < ${DLTRAIN_BENCH_ROUNDS:-3}; ++round)); do
    measure ours "$dltrain" "${large[@]}"
    measure whole "$dltrain" "${large[@]}" --set "$whole_ops"
    measure torch /usr/bin/python3 scripts/bench/peers/pipeline_torch.py data/bench/photos-large --workers "$workers"
    measure tf "$venv/bin/python" scripts/bench/peers/pipeline_tf.py data/bench/photos-large --workers "$workers"
  done
  ours=$(median ours) whole=$(median whole) torch_rate=$(median torch) tf_rate=$(median tf)
  torch_line=${lines[torch]} tf_line=${lines[tf]}
  table=$(python3 - "$ours" "$whole" "$torch_rate" "$tf_rate" "$torch_line" "$tf_line" <<'PY'
import sys
ours, whole, torch_rate, tf_rate = map(float, sys.argv[1:5])
torch_line, tf_line = sys.argv[5], sys.argv[6]
best = max(torch_rate, tf_rate)
print("| pipeline, 1200x900 photos | images/s | ratio |")
print("|---|---:|---|")
print("| dltrain (full pipeline; JPEGs decoded at 1/4 scale) | %.0f | %.2fx the faster peer |" % (ours, ours / best))
print("| dltrain, every JPEG decoded whole | %.0f | "
      "the DCT-scaled decode %.2fx it |" % (whole, ours / whole))
print("| PyTorch DataLoader + torchvision (%s) | %.0f | dltrain %.2fx |" % (torch_line.split(":")[0], torch_rate, ours / torch_rate))
print("| tf.data (%s) | %.0f | dltrain %.2fx |" % (tf_line.split(":")[0], tf_rate, ours / tf_rate))
PY
)
  echo "$table"
  write_table pipeline-large "scripts/bench/run.sh pipeline" "$table"
fi

if [[ $sections == *step* ]]; then
  rounds=${DLTRAIN_BENCH_ROUNDS:-3}
  echo "training step: synthetic data, $threads threads; $rounds interleaved rounds, each the median of repeats after warm-up"
  # The peer given the process settings dltrain gives itself: its malloc (tcmalloc where the build
  # links it, else glibc's keeping freed memory: util/memory.cpp) and OpenBLAS's OpenMP build
  # (third_party/cmake/DltrainDependencies.cmake).
  tcmalloc=$(ldd "$dltrain" | awk '/libtcmalloc/ {print $3}')
  if [[ -n $tcmalloc ]]; then
    tuned_env=(LD_PRELOAD="$tcmalloc")
  else
    tuned_env=(GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=1073741824)
  fi
  openmp_blas=/usr/lib/$(gcc -print-multiarch)/openblas-openmp
  [[ -e $openmp_blas/libblas.so.3 ]] && tuned_env+=(LD_LIBRARY_PATH="$openmp_blas")
  rows=""
  # peer model, image size, batch, timed steps, repeats, the dltrain spec and its overrides.
  # Batch 1 measures the per-step overhead: its kernels are small, so what surrounds them shows.
  while read -r model size batch steps repeats spec extra; do
    args=(--batch "$batch" --steps "$steps" --repeats "$repeats" --warmup 2)
    # Rounds alternate the four processes, so a slow spell of this shared VM hits each of them;
    # each column is the median over rounds.
    ours=() torch=() tuned=() keras=()
    for ((round = 0; round < rounds; ++round)); do
      ours+=("$("$dltrain" -q --threads "$threads" bench step "$spec" $extra "${args[@]}" | rate)")
      torch+=("$(/usr/bin/python3 scripts/bench/peers/step_torch.py "$model" --size "$size" --threads "$threads" "${args[@]}" | rate)")
      tuned+=("$(env "${tuned_env[@]}" /usr/bin/python3 scripts/bench/peers/step_torch.py "$model" --size "$size" \
        --threads "$threads" "${args[@]}" | rate)")
      keras+=("$("$venv/bin/python" scripts/bench/peers/step_keras.py "$model" --size "$size" --threads "$threads" \
        "${args[@]}" 2>/dev/null | rate)")
    done
    rows+="$model ${size}x$size, batch $batch|${ours[*]}|${torch[*]}|${tuned[*]}|${keras[*]}"$'\n'
    echo "  $model $size batch $batch, samples/s per round: dltrain ${ours[*]}; torch ${torch[*]}; torch, same settings ${tuned[*]}; keras ${keras[*]}"
  done <<'MODELS'
fashion_cnn 28 128 20 5 specs/fashion_mnist.yaml
fashion_cnn 28 1 100 5 specs/fashion_mnist.yaml
miniresnet 64 32 10 5 specs/miniresnet.yaml --set=inputs.image.size=[64,64]
miniresnet 224 32 3 3 specs/miniresnet.yaml
MODELS
  versions="torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), tensorflow $("$venv/bin/python" -c 'import tensorflow as tf; print(tf.__version__)' 2>/dev/null)"
  table=$(python3 - "$rows" "$versions" <<'PY'
import statistics, sys
print("| model | dltrain samples/s | PyTorch eager | PyTorch eager, dltrain's malloc + BLAS | Keras "
      "| dltrain / PyTorch | dltrain / PyTorch, same settings | dltrain / Keras |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for line in sys.argv[1].strip().splitlines():
    name, *columns = line.split("|")
    ours, torch_rate, tuned_rate, keras_rate = (statistics.median(map(float, c.split())) for c in columns)
    print("| %s | %.1f | %.1f | %.1f | %.1f | %.2fx | %.2fx | %.2fx |" % (
        name, ours, torch_rate, tuned_rate, keras_rate, ours / torch_rate, ours / tuned_rate, ours / keras_rate))
print("\nPeers: %s. Each cell is the median of %d interleaved rounds." % (sys.argv[2], len(columns[0].split())))
PY
)
  echo "$table"
  write_table step "scripts/bench/run.sh step" "$table"
fi

if [[ $sections == *e2e* ]]; then
  echo "end to end: one epoch of the Fashion-MNIST example (train 60000, validate 10000): wall time, peak RSS"
  run_dir=$(mktemp -d)
  # "TIME <wall s> <peak RSS KB>" from GNU time, plus the command's own accuracy line.
  measure() { /usr/bin/time -f "TIME %e %M" "$@" 2>&1 | grep -E "^TIME|accuracy" | tr '\n' ' '; }
  ours=$(measure "$dltrain" -q --threads "$threads" fit specs/fashion_mnist.yaml --set train.epochs=1 --run-dir "$run_dir/run")
  ours_acc=$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "val.label.accuracy") c = i} NR == 2 {print $c}' \
    "$run_dir/run/metrics.csv")
  torch_out=$(measure /usr/bin/python3 scripts/bench/peers/fit_torch.py data/fashion_mnist --workers "$workers" --threads "$threads")
  keras_out=$(measure "$venv/bin/python" scripts/bench/peers/fit_keras.py data/fashion_mnist --threads "$threads")
  rm -rf "$run_dir"
  table=$(python3 - "$ours accuracy $ours_acc" "$torch_out" "$keras_out" <<'PY'
import re, sys
def parse(text):
    wall, rss = re.search(r"TIME ([0-9.]+) ([0-9]+)", text).groups()
    accuracy = re.search(r"accuracy ([0-9.]+)", text)
    return float(wall), int(rss) / 1024, float(accuracy.group(1)) if accuracy else float("nan")
rows = [("dltrain fit", parse(sys.argv[1])), ("PyTorch DataLoader + loop (fit_torch.py)", parse(sys.argv[2])),
        ("Keras model.fit on tf.data (fit_keras.py)", parse(sys.argv[3]))]
ours = rows[0][1][0]
faster_peer = min(rows[1][1][0], rows[2][1][0])
print("| one epoch + validation | wall s | peak RSS MB (main process) | val accuracy | ratio |")
print("|---|---:|---:|---:|---|")
for i, (name, (wall, rss, accuracy)) in enumerate(rows):
    ratio = "%.2fx faster than the faster peer" % (faster_peer / ours) if i == 0 else "dltrain %.2fx faster" % (wall / ours)
    print("| %s | %.1f | %.0f | %.4f | %s |" % (name, wall, rss, accuracy, ratio))
PY
)
  echo "$table"
  write_table e2e "scripts/bench/run.sh e2e" "$table"
fi

if [[ $sections == *distributed* ]]; then
  # The same global batch of 64 either way: 1 process with every core, or N processes with one
  # core each (Gloo over loopback), overlapped and after-backward all-reduce; two epochs of
  # MiniResNet on 32x32 synthetic images, the second timed (metrics.csv: time_s, allreduce_s).
  samples=2048
  fit_dp() {  # fit_dp NAME THREADS FIT_ARGS...: samples/s and all-reduce ms/step of epoch 2
    local dir
    dir=$(mktemp -d)
    "$dltrain" -q --threads "$2" fit specs/miniresnet.yaml -c configs/smoke.yaml --set train.epochs=2 \
      --set data.train.source.synthetic.size=$samples --set data.train.shuffle=$samples --run-dir "$dir/run" \
      "${@:3}" >/dev/null
    python3 - "$dir/run/metrics.csv" "$samples" "$1" <<'PY'
import csv, sys
row = list(csv.DictReader(open(sys.argv[1])))[-1]
wait = float(row["allreduce_s"]) * 1000 if "allreduce_s" in row else None
print("%s|%.0f|%s" % (sys.argv[3], int(sys.argv[2]) / float(row["time_s"]), "%.1f" % wait if wait is not None else "-"))
PY
    rm -rf "$dir"
  }
  rows=(
    "$(fit_dp "1 process × $threads threads, batch 64" "$threads" --set data.train.batch=64)"
    "$(fit_dp "$threads processes × 1 thread, batch $((64 / threads)) each, overlapped all-reduce" 1 \
      --set data.train.batch=$((64 / threads)) --set train.distributed.overlap=true --nproc-per-node "$threads")"
    "$(fit_dp "$threads processes × 1 thread, batch $((64 / threads)) each, all-reduce after backward" 1 \
      --set data.train.batch=$((64 / threads)) --set train.distributed.overlap=false --nproc-per-node "$threads")"
  )
  table=$(python3 - "${rows[@]}" <<'PY'
import sys
rows = [r.split("|") for r in sys.argv[1:]]
base = float(rows[0][1])
print("| MiniResNet 32×32, global batch 64 | samples/s | all-reduce wait ms/step | ratio |")
print("|---|---:|---:|---|")
for name, rate, wait in rows:
    print("| %s | %s | %s | %.2fx of 1 process |" % (name, rate, wait, float(rate) / base))
PY
)
  echo "$table"
  write_table distributed "scripts/bench/run.sh distributed" "$table" docs/distributed.md
fi
