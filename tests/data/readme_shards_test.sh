#!/usr/bin/env bash
# The README's tar-shard commands as a user follows them, on real Fashion-MNIST (the first 2,000
# images of each split): `dltrain pack` the train folder, train from the shards and from the folder
# with the same seed (the same samples per epoch, the same accuracy within noise), then a shard cut
# short stops training with an error naming it.
# Usage: readme_shards_test.sh DLTRAIN SOURCE_DIR
set -euo pipefail
dltrain=$1 source=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
/usr/bin/python3 "$source/scripts/prepare-fashion-mnist.py" data/fashion_mnist --limit 2000 >/dev/null
mkdir specs && cp "$source/specs/fashion_mnist.yaml" specs/

# The README's two commands, as written (the fit shortened: 3 epochs of batch 32, and its run folder named).
mapfile -t commands < <(awk '/^```sh$/ {inside = 1; next} /^```$/ {inside = 0; next}
                              inside && /^dltrain (pack|fit) .*shards/' "$source/README.md")
[[ ${#commands[@]} == 2 ]] || { echo "expected the README's pack and fit commands, found: ${commands[*]}"; exit 1; }
short="--set train.epochs=3 --set data.train.batch=32"
eval "\"$dltrain\" -q ${commands[0]#dltrain }"
eval "\"$dltrain\" -q ${commands[1]#dltrain } --run-dir from-shards $short"
"$dltrain" -q fit specs/fashion_mnist.yaml --run-dir from-folder $short

accuracy() { tail -1 "$1/metrics.csv" | awk -F, -v col="$(head -1 "$1/metrics.csv" | tr , '\n' | grep -nx val.label.accuracy | cut -d: -f1)" '{print $col}'; }
shards=$(accuracy from-shards) folder=$(accuracy from-folder)
echo "val accuracy after 3 epochs on 2,000 images: from shards $shards, from the folder $folder"
grep -q "2000 samples in 63 batches per epoch" from-shards/train.log
/usr/bin/python3 -c "import sys; sys.exit(not (0.6 < $shards and abs($shards - $folder) < 0.05))"

# A shard cut short: the run stops with exit code 1 and names it.
last=$(ls data/shards/train/train-*.tar | tail -1)
truncate -s 700 "$last"
set +e
"$dltrain" -q fit specs/fashion_mnist.yaml --run-dir damaged --set train.epochs=1 --set data.train.shuffle=100 \
  --set 'data.train.source={tar: "data/shards/train/train-*.tar"}' 2> damaged.err
rc=$?
set -e
cat damaged.err
[[ $rc == 1 ]] && grep -q "$(basename "$last"): the shard is truncated or damaged at member" damaged.err
