#!/usr/bin/env bash
# There, on a GPU machine (with the tree and .gpu-bundle/ from `scripts/gpu/gather.sh --data`):
# builds dltrain against the machine's LibTorch, measures the training step against the
# machine's PyTorch eager, runs the whole test suite (GPU-only cases included), and trains the
# Fashion-MNIST spec and MiniResNet from a JPEG folder on the GPU. Logs go to OUT_DIR; the
# lines printed (and OUT_DIR/summary.txt) are the summary.
# Usage: scripts/gpu/run.sh OUT_DIR [build] [test] [bench] [fit]   (default: all, in that order;
# about 10 minutes on one H100/H200 with 16 cores, half of it the build)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: scripts/gpu/run.sh OUT_DIR [build] [test] [bench] [fit]}
shift
sections=${*:-build test bench fit}
mkdir -p "$out"
summary=$out/summary.txt
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
elapsed() { echo "$(($(date +%s) - start))s"; }
start=$(date +%s)
export PYTHONUNBUFFERED=1

note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
note "cpu: $(nproc) cores; python3: $(python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)')"

if [[ $sections == *build* ]]; then
  if ! scripts/gpu/build.sh >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    note "build: FAILED after $(elapsed) (see build.log)"
    exit 1
  fi
  note "build: ok in $(elapsed)"
fi
dltrain=build-gpu/apps/dltrain/dltrain
"$dltrain" --version | tee -a "$summary"

# backtrace TAG COMMAND...: where COMMAND crashes (cuda-gdb also debugs host code; the image has
# no plain gdb), the top frames into the summary.
backtrace() {
  local tag=$1; shift
  command -v cuda-gdb >/dev/null || return 0
  timeout 120 cuda-gdb -batch -ex run -ex bt --args "$@" >"$out/backtrace-$tag.txt" 2>&1
  note "  backtrace ($tag): $(grep -m6 '^#[0-9]' "$out/backtrace-$tag.txt" | cut -c1-160 | tr '\n' ' ')"
}
# last_word LOG: what a program said last, or the message of the C++ exception that ended it.
last_word() { { grep -m1 'what():' "$1" || grep -v '^[[:space:]]*$' "$1" | tail -1; } | cut -c1-200; }
# loaded_libs TAG COMMAND...: the CUDA, LibTorch and C++ runtime libraries COMMAND initialises (up
# to a crash), as "name path" lines in OUT_DIR/libs-TAG.txt: which copy of each it loaded.
loaded_libs() {
  local tag=$1; shift
  LD_DEBUG=libs LD_DEBUG_OUTPUT="$out/ld-$tag" timeout 120 "$@" >/dev/null 2>&1
  sed -n 's/.*calling init: //p' "$out/ld-$tag".* 2>/dev/null \
    | grep -E 'cuda|cudnn|cublas|nvrtc|nvJit|nccl|cufft|curand|cusparse|cusolver|torch|c10|stdc\+\+|gomp|gcc_s' \
    | awk -F/ '{print $NF, $0}' | sort -k1,1 -u >"$out/libs-$tag.txt"
  rm -f "$out/ld-$tag".*
}

if [[ $sections == *test* ]]; then
  # A plain LibTorch app first (scripts/gpu/probe, nothing of dltrain's build): if its CUDA
  # backward crashes too, the cause is the machine's LibTorch/CUDA setup, not dltrain's link.
  # Then with what sets dltrain's process apart preloaded: the wheel's CUDA runtime (dltrain's
  # RUNPATH and a Python process pick it; the probe links the toolkit's, as session 3's dltrain
  # builds did) and the shared libstdc++ (dltrain's link puts it ahead of LibTorch's private copy).
  probe=build-gpu-probe/backward_probe
  # cu*: nvidia/cu13/lib in CUDA 13 wheels, nvidia/cuda_runtime/lib in CUDA 12 ones.
  wheel_cudart=$(python3 -c 'import glob, nvidia; print((glob.glob(nvidia.__path__[0] + "/cu*/lib/libcudart.so.*") + [""])[0])' 2>/dev/null)
  if DLTRAIN_SOURCE_DIR=scripts/gpu/probe DLTRAIN_BUILD_DIR=build-gpu-probe scripts/gpu/build.sh >"$out/probe.log" 2>&1; then
    for variant in plain ${wheel_cudart:+wheel-cudart} libstdcxx-first; do
      case $variant in
        plain) preload= ;;
        wheel-cudart) preload=$wheel_cudart ;;
        libstdcxx-first) preload=libstdc++.so.6 ;;
      esac
      LD_PRELOAD=$preload timeout 60 "$probe" >"$out/probe-$variant.log" 2>&1
      status=$?
      note "probe ($variant${preload:+: $preload preloaded}): exit $status, $(last_word "$out/probe-$variant.log")"
      [[ $variant == plain && $status != 0 ]] && backtrace probe "$probe"
    done
  else
    note "probe: build FAILED (see probe.log)"
  fi
  # The GPU-only cases first, then the whole suite (where they run again).
  if ! timeout 120 build-gpu/tests/dltrain_tests "[cuda]" >"$out/cuda-tests.log" 2>&1; then
    cuda_failed=1
    backtrace cuda-tests build-gpu/tests/dltrain_tests "[cuda]"
    # Which copies of the runtimes the tests load where Python (the probe's twin) loads others.
    loaded_libs dltrain build-gpu/tests/dltrain_tests "[cuda]"
    loaded_libs python python3 scripts/gpu/probe/backward_probe.py
    join -a1 -a2 -e - -o 0,1.2,2.2 "$out/libs-dltrain.txt" "$out/libs-python.txt" | awk '$2 != $3 && $1 !~ /^_/' >"$out/libs-diff.txt"
    note "  loaded unlike Python (name, dltrain's copy, Python's; libs-diff.txt): $(head -8 "$out/libs-diff.txt" | tr '\n' ';')"
  fi
  note "cuda tests: $(tail -3 "$out/cuda-tests.log" | tr '\n' ' ') at $(elapsed)"
  DLTRAIN_PYTHON=python3 ctest --test-dir build-gpu -j8 --timeout 120 --output-on-failure >"$out/ctest.log" 2>&1
  note "ctest: $(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -1) at $(elapsed)"
  grep -E '^\s*[0-9]+ - .*\((Failed|Timeout|Exception|SEGFAULT)' "$out/ctest.log" | tee -a "$summary"
fi

# The benchmarks and fits train on the GPU: with the [cuda] cases failing they would only fail
# again, so the device time goes to the diagnostics above instead.
if [[ ${cuda_failed:-0} == 1 ]]; then
  note "bench and fit skipped: the [cuda] cases failed; done in $(elapsed)"
  exit 1
fi

# The training step, dltrain beside PyTorch eager on the same card, MiniResNet 224x224, synthetic data.
step_rate() { grep -oE 'samples/s +[0-9.]+|[0-9.]+ samples/s' | grep -oE '[0-9]+\.[0-9]+' | head -1; }
# DLTRAIN_GPU_BENCH picks configurations (default all four: "64:fp32 64:bf16_cl 256:fp32 256:bf16_cl").
for config in ${DLTRAIN_GPU_BENCH:-64:fp32 64:bf16_cl 256:fp32 256:bf16_cl}; do
  [[ $sections == *bench* ]] || break
  batch=${config%%:*} mode=${config#*:}
  sets=() peer=()
  if [[ $mode == bf16_cl ]]; then
    sets=(--set train.precision=bf16 --set train.channels_last=true)
    peer=(--precision bf16 --channels-last)
  fi
  eager=$("$dltrain" -q bench step specs/miniresnet.yaml --device cuda --batch "$batch" --repeats 3 "${sets[@]}" \
    2>>"$out/bench.log" | step_rate)
  graph=$("$dltrain" -q bench step specs/miniresnet.yaml --device cuda --batch "$batch" --repeats 3 "${sets[@]}" \
    --set train.cuda_graph=true 2>>"$out/bench.log" | step_rate)
  torch=$(python3 scripts/bench/peers/step_torch.py miniresnet --size 224 --batch "$batch" --device cuda --repeats 3 \
    "${peer[@]}" 2>>"$out/bench.log" | step_rate)
  note "step miniresnet 224 batch $batch $mode: dltrain ${eager:-?} (cuda_graph ${graph:-?}) torch eager ${torch:-?} samples/s"
done

[[ $sections == *fit* ]] || { note "done in $(elapsed)"; exit 0; }

# Training on the GPU from real files: Fashion-MNIST (PNG folder) and MiniResNet from JPEGs.
data=.gpu-bundle/data
python3 scripts/prepare-fashion-mnist.py data/fashion_mnist --source "$data/fashion-mnist" >/dev/null
runs=${TMPDIR:-/tmp}/dltrain-gpu-runs  # outside OUT_DIR: only a few files come back from there
rm -rf "$runs" && mkdir -p "$runs"
log=$out/fit.log
"$dltrain" fit specs/fashion_mnist.yaml --set train.epochs=2 --set data.train.workers=12 \
  --run-dir "$runs/fashion" >"$runs/fashion.log" 2>&1
cat "$runs/fashion.log" >>"$log"
note "fit fashion_mnist: $(grep -E 'epoch 2/2 -' "$runs/fashion.log" | tail -1)"
python3 scripts/bench/make-photos.py data/bench/photos --count 2048 --deb-cache "$data/debs" >/dev/null
for batch in 64 256; do
  "$dltrain" fit specs/miniresnet.yaml --set data.train.source.folder=../data/bench/photos \
    --set model.8.linear.out_features=12 --set train.epochs=3 --set data.train.batch="$batch" \
    --set data.train.workers=14 --set train.precision=bf16 --set train.channels_last=true \
    --run-dir "$runs/miniresnet-$batch" >"$runs/miniresnet-$batch.log" 2>&1
  cat "$runs/miniresnet-$batch.log" >>"$log"
  note "fit miniresnet jpeg batch $batch bf16_cl: $(grep -E "epoch 3/3 -" "$runs/miniresnet-$batch.log" | tail -1)"
  note "  $(grep -E '^ *[0-9]+/[0-9]+ .*samples/s' "$runs/miniresnet-$batch.log" | tail -1 | grep -oE '[0-9]+ samples/s')"
done
note "done in $(elapsed)"
