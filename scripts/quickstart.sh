#!/usr/bin/env bash
# The newcomer's first command: installs the dependencies, builds dltrain, and runs it on the
# default example (Fashion-MNIST from Debian's dataset-fashion-mnist package).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
dltrain=${DLTRAIN_BUILD_DIR:-build}/apps/dltrain/dltrain

"$dltrain" --version
"$dltrain" check specs/fashion_mnist.yaml
"$dltrain" summary specs/fashion_mnist.yaml
echo
echo "quickstart: dltrain is built and the Fashion-MNIST model checks out."
echo "quickstart: training (dltrain fit) is not built yet in this version, so the run stops here."
