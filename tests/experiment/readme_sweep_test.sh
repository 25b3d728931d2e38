#!/usr/bin/env bash
# The README's experiments section as a user follows it, on real Fashion-MNIST (the first 2,000
# images of each split, 2 epochs of batch 32): the sweep, its runs table (and --csv read by Python's csv),
# a second call that skips finished runs, a failing run named with exit 1, a sweep stopped by
# SIGTERM and resumed by the same command, and the --slurm script run as SLURM runs an array
# task, stopped by SLURM's SIGUSR1 and requeued (`scontrol` is a stand-in that records its call).
# Usage: readme_sweep_test.sh DLTRAIN SOURCE_DIR
set -euo pipefail
dltrain=$1 source=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
/usr/bin/python3 "$source/scripts/prepare-fashion-mnist.py" data/fashion_mnist --limit 2000 >/dev/null
mkdir specs configs && cp "$source/specs/fashion_mnist.yaml" "$source/specs/miniresnet.yaml" specs/
cp "$source/configs/smoke.yaml" configs/

# The README's commands, continuation lines joined.
mapfile -t commands < <(awk '/^```sh$/ {inside = 1; next} /^```$/ {inside = 0; next}
                              inside { line = line $0; if (sub(/\\$/, "", line)) next; print line; line = "" }' \
                              "$source/README.md" | grep -E '^dltrain (sweep|runs) ' | sed -E 's/ +/ /g')
[[ ${#commands[@]} == 3 ]] || { printf 'expected three sweep/runs commands, found:\n%s\n' "${commands[@]}"; exit 1; }
short="--set data.train.batch=32"

# 1. The sweep: four runs, each finished, the table printed at the end.
eval "\"$dltrain\" ${commands[0]#dltrain } $short" > sweep.out 2> sweep.err || { cat sweep.err; exit 1; }
cat sweep.out
[[ $(grep -c ' finished ' sweep.out) == 4 ]]
grep -q 'val.label.accuracy (max)' sweep.out
sweep_dir=$(ls -d runs/FashionMNIST/sweep-*)
[[ -f $sweep_dir/sweep.yaml && -f $sweep_dir/lr=1e-3,decay=0.99/status.json ]]
grep -q 'val.ema.label.accuracy' "$sweep_dir/lr=1e-3,decay=0.99/metrics.csv"

# 2. The runs table, sorted by the EMA weights' accuracy, and as CSV for tools.
eval "\"$dltrain\" ${commands[1]#dltrain }" | tee runs.txt
[[ $(grep -c 'val.ema.label.accuracy (max)' runs.txt) == 4 ]]
"$dltrain" runs runs/FashionMNIST --csv > runs.csv
/usr/bin/python3 - <<'PY'
import csv
rows = list(csv.DictReader(open("runs.csv")))
assert len(rows) == 4, rows
assert all(r["state"] == "finished" and r["epochs_done"] == "2" for r in rows), rows
# Their monitor (keep_best's val.label.accuracy): the raw weights learnt (chance is 0.1).
assert all(r["metric"] == "val.label.accuracy" and 0.5 < float(r["best"]) <= 1 for r in rows), rows
assert {r["run"].split("/")[-1] for r in rows} == {"lr=1e-3,decay=0.99", "lr=1e-3,decay=0.999",
                                                   "lr=3e-3,decay=0.99", "lr=3e-3,decay=0.999"}, rows
PY

# 3. The same command again: nothing to train.
eval "\"$dltrain\" ${commands[0]#dltrain } $short" > again.out 2> again.err
[[ $(grep -c 'finished already' again.err) == 4 ]]

# 4. A run that fails: the sweep goes on, then exits 1 naming it; its folder says why. (A path
# given by --set is relative to the working folder.)
set +e
"$dltrain" sweep specs/fashion_mnist.yaml $short --set train.epochs=1 --dir failing \
  --grid 'data.train.source.folder=[data/fashion_mnist/train, data/nowhere]' > failing.out 2> failing.err
rc=$?
set -e
cat failing.err
[[ $rc == 1 ]]
grep -q 'sweep: 1 of 2 runs failed: folder=data-nowhere' failing.err
grep -q '"state": "failed"' failing/folder=data-nowhere/status.json
grep -q 'image folder not found' failing/folder=data-nowhere/status.json
"$dltrain" runs failing | grep -q 'folder=data-nowhere .* failed'

# 5. SIGTERM to a local sweep: the running run saves and stops, the sweep exits 0; the same
# command resumes it.
long=(specs/miniresnet.yaml -c configs/smoke.yaml --set train.epochs=40 --grid 'train.optimizer.adam.lr=[1e-3]' --dir long)
"$dltrain" sweep "${long[@]}" > long.out 2> long.err &
sweep=$!
for _ in $(seq 300); do grep -qs '"state": "running"' long/lr=1e-3/status.json && break; sleep 0.1; done
sleep 1
kill -TERM $sweep
wait $sweep
grep -q 'stopped by SIGTERM; run the same command again' long.err
grep -q '"state": "stopped"' long/lr=1e-3/status.json
"$dltrain" sweep "${long[@]}" > long2.out 2> long2.err
grep -q 'lr=1e-3 resumed' long2.err
grep -q '"state": "finished"' long/lr=1e-3/status.json
[[ $(tail -1 long/lr=1e-3/metrics.csv | cut -d, -f1) == 40 ]]

# 6. --slurm: the README's script, run as SLURM runs array task 1; SIGUSR1 (SLURM's warning
# before the time limit) saves, stops and requeues the task; the requeued task resumes it.
eval "\"$dltrain\" ${commands[2]#dltrain } --dir slurm --set train.epochs=10 --set data.train.batch=64" > slurm.out
grep -q '^sbatch slurm/sweep.sbatch$' slurm.out
bash -n slurm/sweep.sbatch
grep -q '^#SBATCH --array=0-3%2$' slurm/sweep.sbatch
grep -q '^#SBATCH --gres=gpu:1$' slurm/sweep.sbatch
mkdir bin && printf '#!/bin/sh\necho "$@" >> %s/requeued\n' "$work" > bin/scontrol && chmod +x bin/scontrol
task=(env SLURM_ARRAY_JOB_ID=812 SLURM_ARRAY_TASK_ID=1 PATH="$work/bin:$PATH" bash slurm/sweep.sbatch)
"${task[@]}" > task.out 2>&1 &
job=$!
for _ in $(seq 300); do
  run=$(grep -l '"state": "running"' slurm/*/status.json 2>/dev/null | head -1 || true)
  [[ -n $run ]] && break
  sleep 0.1
done
sleep 1
kill -USR1 $job
wait $job
grep -q '^requeue 812_1$' requeued
grep -q '"state": "stopped"' "$run"
"${task[@]}" >> task.out 2>&1
grep -q 'resumed from' task.out
grep -q '"state": "finished"' "$run"
echo "readme sweep: OK"
