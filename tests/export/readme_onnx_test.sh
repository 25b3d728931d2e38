#!/usr/bin/env bash
# The README's export section as a user follows it: a short real Fashion-MNIST run (the first
# 300 images of each split), the README's `dltrain export` command (with this run's folder), and
# the README's ONNX Runtime snippet, whose class and probability must be dltrain predict's.
# Usage: DLTRAIN_PYTHON=... readme_onnx_test.sh DLTRAIN SOURCE_DIR (scripts/test.sh sets it)
set -euo pipefail
dltrain=$1 source=$2
python=${DLTRAIN_PYTHON:?DLTRAIN_PYTHON is not set: run the tests through scripts/test.sh (it installs onnxruntime)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
/usr/bin/python3 "$source/scripts/prepare-fashion-mnist.py" data/fashion_mnist --limit 300 >/dev/null
cp "$source/specs/fashion_mnist.yaml" spec.yaml
sed -i 's|\.\./data/fashion_mnist|data/fashion_mnist|' spec.yaml
"$dltrain" -q fit spec.yaml --run-dir run --set train.epochs=1 --set data.train.shuffle=300

# The README's export command, its line continuations joined, on this run.
command=$(awk '/^```sh$/ {block = ""; inside = 1; next} /^```$/ {if (inside && block ~ /dltrain export/) print block; inside = 0; next}
               inside {sub(/\\$/, ""); block = block $0}' "$source/README.md")
[[ $command == dltrain\ export* ]] || { echo "no dltrain export command in the README"; exit 1; }
command=${command/specs\/fashion_mnist.yaml/spec.yaml}
command=$(sed -E 's/--weights [^ ]+/--weights run/' <<<"$command")
eval "\"$dltrain\" -q ${command#dltrain }"

awk '/^```python$/ {block = ""; inside = 1; next} /^```$/ {if (inside && block ~ /^# onnx:/) printf "%s", block; inside = 0; next}
     inside {block = block $0 "\n"}' "$source/README.md" > snippet.py
[[ -s snippet.py ]] || { echo "no '# onnx:' Python block in the README"; exit 1; }
read -r onnx_class onnx_p < <("$python" snippet.py)

"$dltrain" -q predict spec.yaml --weights run --input data/fashion_mnist/test/9_Ankle_boot/00000.png --top-k 1 > predicted.csv
IFS=, read -r _ dltrain_class dltrain_p < <(tail -1 predicted.csv)
echo "ONNX Runtime: $onnx_class $onnx_p; dltrain predict: $dltrain_class $dltrain_p"
[[ $onnx_class == "$dltrain_class" ]]
/usr/bin/python3 -c "import sys; sys.exit(abs($onnx_p - $dltrain_p) > 1e-4)"
