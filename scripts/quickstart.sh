#!/usr/bin/env bash
# The newcomer's first command: installs the dependencies, builds dltrain, turns Debian's
# Fashion-MNIST package into an image folder, trains the default example on it and prints the
# test accuracy. Extra arguments go to `dltrain fit` (e.g. --set train.epochs=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
DLTRAIN_BUILD_TARGET=dltrain scripts/build.sh   # the tests are scripts/test.sh's business
dltrain=${DLTRAIN_BUILD_DIR:-build}/apps/dltrain/dltrain

"$dltrain" --version
scripts/prepare-fashion-mnist.py data/fashion_mnist
run_dir=runs/FashionMNIST/quickstart-$(date +%Y%m%d-%H%M%S)
start=$(date +%s)
"$dltrain" fit specs/fashion_mnist.yaml --run-dir "$run_dir" "$@"
echo
echo "quickstart: trained in $(( $(date +%s) - start )) s; test-split accuracy of the last epoch's weights:"
"$dltrain" -q eval specs/fashion_mnist.yaml --weights "$run_dir" --split val "$@" | grep accuracy
