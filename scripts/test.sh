#!/usr/bin/env bash
# The newcomer's second command (and what CI runs): installs the dependencies, checks the
# formatting, builds, and runs the whole test suite (unit and end-to-end). Exits non-zero when
# any of them fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python
scripts/format.sh --check
scripts/build.sh
# The Python the tests call: Debian's python3 with its torch and torchvision (the parity tests
# export torchvision models) plus, from PyPI in a cached venv, the real clients of what dltrain
# writes: safetensors (checkpoints), tensorboard (event files), jsonschema (`dltrain schema`),
# onnxruntime (`dltrain export`).
venv=${DLTRAIN_PY_VENV:-$HOME/.cache/dltrain/py-venv}
if ! "$venv/bin/python" -c "import safetensors.torch, torchvision, tensorboard, jsonschema, yaml, onnxruntime" 2>/dev/null; then
  [[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q safetensors tensorboard jsonschema pyyaml onnxruntime
fi
export DLTRAIN_PYTHON="$venv/bin/python"
build_dir=${DLTRAIN_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
# Coverage-guided fuzzing under ASan and UBSan (clang), briefly (the long runs are in
# docs/reliability.md): the committed reproducers of past findings first, then 20 s per harness.
scripts/fuzz.sh "${DLTRAIN_FUZZ_SECONDS:-20}"
