#!/usr/bin/env bash
# Coverage-guided fuzzing of dltrain's input readers with libFuzzer, under AddressSanitizer and
# UndefinedBehaviorSanitizer (Debian's clang 14): builds tests/fuzz into build-fuzz/, seeds each
# harness's corpus from the repository (specs, overlays, fixtures, small encoded images; the spec
# harness gets a dictionary of every key and kind `dltrain schema` knows), runs each for SECONDS,
# and prints executions, executions per second and coverage per harness. Exits non-zero at the
# first finding, whose input is left in build-fuzz/findings/HARNESS/: commit it under
# tests/fuzz/regressions/HARNESS/ (each run replays those first). Corpora grow between runs in
# build-fuzz/corpus/HARNESS.
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]   (harnesses: spec csv safetensors torch_save decode expr tar)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
harnesses=${*:-spec csv safetensors torch_save decode expr tar}
build=${DLTRAIN_FUZZ_BUILD_DIR:-build-fuzz}
mkdir -p "$build"
# Only what the chosen harnesses link (the spec harness's dictionary also needs the program), so
# CI's four readers do not build the whole of dltrain under the sanitizers.
targets=""
for name in $harnesses; do targets+=" ${name}_fuzz"; done
[[ " $harnesses " == *" spec "* ]] && targets+=" dltrain"
DLTRAIN_BUILD_TARGET=$targets DLTRAIN_BUILD_DIR=$build scripts/build.sh -DDLTRAIN_FUZZ=ON -DDLTRAIN_BUILD_TESTS=OFF \
  -DCMAKE_CXX_COMPILER=clang++-14 > "$build/build.log" 2>&1 || { tail -30 "$build/build.log" >&2; exit 1; }

seeds=$build/seeds
rm -rf "$seeds" && mkdir -p "$seeds"/{spec,csv,safetensors,torch_save,decode,expr,tar}
cp specs/*.yaml configs/*.yaml "$seeds/spec/"
find tests/fixtures/specs -name '*.yaml' -exec cp {} "$seeds/spec/" \;
printf 'image,t0,t1,t2,packed,label\na.png,1,2,3,"4 5",cat\nb.png,0.5,-1,2e3,"1 2",dog\n' > "$seeds/csv/manifest.csv"
printf 'image\tt0\tt1\tt2\tpacked\tlabel\na.png\t1\t2\t3\t4 5\t0\n' > "$seeds/csv/manifest.tsv"
find tests/fixtures/checkpoints -name '*.safetensors' -size -200k -exec cp {} "$seeds/safetensors/" \;
printf '$stride != 1 or channels($in) != $filters' > "$seeds/expr/when"
printf 'filters * 4 // 2 + min(height(in), width(vec))' > "$seeds/expr/value"
printf 'not flag and (p < 0.3 or name == "conv")' > "$seeds/expr/logic"
/usr/bin/python3 - "$seeds" <<'PY'
import sys
from PIL import Image
seeds = sys.argv[1]
picture = Image.new("RGB", (9, 7), (200, 30, 90))
for fmt, ext in [("PNG", "png"), ("JPEG", "jpg"), ("BMP", "bmp"), ("TIFF", "tif"), ("WEBP", "webp")]:
    try:
        picture.save("%s/decode/seed.%s" % (seeds, ext), fmt)
        picture.convert("L").save("%s/decode/gray.%s" % (seeds, ext), fmt)
    except (KeyError, OSError):
        pass
# Tar shards as dltrain pack writes them: image, class and json members.
import io, json, tarfile
for name, fmt in [("plain.tar", ""), ("packed.tar.gz", "gz")]:
    with tarfile.open("%s/tar/%s" % (seeds, name), "w:" + fmt, format=tarfile.USTAR_FORMAT) as shard:
        for key in range(3):
            png = io.BytesIO()
            picture.save(png, "PNG")
            members = [("png", png.getvalue()), ("cls", str(key).encode()),
                       ("json", json.dumps({"size": [key, 0.5]}).encode())]
            for suffix, payload in members:
                info = tarfile.TarInfo("%06d.%s" % (key, suffix))
                info.size = len(payload)
                shard.addfile(info, io.BytesIO(payload))
import torch  # Debian's python3-torch (scripts/setup.sh --python)
torch.save({"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(2, dtype=torch.int64)}, "%s/torch_save/dict.pt" % seeds)
torch.save({"h": torch.ones(3, dtype=torch.float16)}, "%s/torch_save/half.pt" % seeds)
PY
# Every property name and kind the spec language knows, as libFuzzer dictionary entries.
[[ " $harnesses " == *" spec "* ]] && "$build/apps/dltrain/dltrain" schema | /usr/bin/python3 -c '
import json, sys
names = set()
def walk(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                names.update(value)
            walk(value)
    elif isinstance(node, list):
        for item in node:
            walk(item)
walk(json.load(sys.stdin))
for name in sorted(names):
    print("\"%s:\"" % name)
' > "$build/spec.dict"

# A dltrain Error is the expected answer; sanitizer reports are findings, except leaks inside
# LibTorch's own zip reader (tests/fuzz/lsan.supp). The same settings replay the reproducers.
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp
status=0
printf '%-12s %12s %10s %8s %8s\n' harness executions "exec/s" cov ft
for name in $harnesses; do
  corpus=$build/corpus/$name findings=$build/findings/$name
  mkdir -p "$corpus" "$findings"
  extra=(-malloc_limit_mb=2048)
  [[ $name == spec ]] && extra+=(-dict="$build/spec.dict")
  log=$build/fuzz-$name.log
  # First every committed reproducer of an earlier finding, once each.
  if [[ -d tests/fuzz/regressions/$name ]] &&
     ! "$build/tests/fuzz/${name}_fuzz" tests/fuzz/regressions/"$name"/* >"$log" 2>&1; then
    echo "fuzz: $name fails a committed regression case (tests/fuzz/regressions/$name); report in $log" >&2
    tail -40 "$log" >&2
    status=1
    continue
  fi
  if ! "$build/tests/fuzz/${name}_fuzz" "${extra[@]}" -max_total_time="$seconds" -rss_limit_mb=3072 \
       -timeout=20 -print_final_stats=1 -artifact_prefix="$findings/" \
       "$corpus" "$seeds/$name" >"$log" 2>&1; then
    echo "fuzz: $name found a problem; its input is in $findings/ and the report in $log" >&2
    tail -40 "$log" >&2
    status=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-12s %12s %10s %8s %8s\n' "$name" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}"
done
exit $status
