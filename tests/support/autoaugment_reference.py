"""Holds dltrain's RandAugment/TrivialAugmentWide ops to torchvision's on uint8 tensors.
Usage: autoaugment_reference.py DIR. DIR holds the inputs (<name>.bin), dltrain's results
(case-<i>.bin), cases.tsv (i, input, op, magnitude, interpolation, fill or "-") and tables.tsv
(space, bins, height, width, op, signed, magnitudes...). A .bin is int32 height, width, channels
then the uint8 pixels (H x W x C). Prints one line per op (cases, largest difference, share of
pixels that differ) and each table or case out of tolerance; exits 1 if any."""
import os
import sys

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import autoaugment

# dltrain follows torchvision's float32 arithmetic step by step, so the results are the same
# pixels here. Elsewhere a float sum in another order (torch's sgemm without FMA, say) may land
# a tie at a half or a truncation boundary on the other side: a level off (a pixel off for a
# nearest warp) at a few pixels, which the shares allow.
WARPS = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}
MAX_SHARE = {"nearest": 0.005, "bilinear": 0.005, "colour": 0.002}


def read(path):
    h, w, c = np.fromfile(path, dtype=np.int32, count=3)
    return np.fromfile(path, dtype=np.uint8, offset=12).reshape(h, w, c)


def main(folder):
    failures = []
    orders = {}  # (space, bins, height, width): dltrain's op order, and torchvision's
    for line in open(os.path.join(folder, "tables.tsv")):
        space, bins, height, width, op, signed, *values = line.rstrip("\n").split("\t")
        bins, height, width = int(bins), int(height), int(width)
        if space == "rand_augment":
            table = autoaugment.RandAugment()._augmentation_space(bins, (height, width))
        else:
            table = autoaugment.TrivialAugmentWide()._augmentation_space(bins)
        orders.setdefault((space, bins, height, width), ([], list(table.keys())))[0].append(op)
        magnitudes, ref_signed = table[op]
        ref = [float(v) for v in magnitudes.reshape(-1)] if magnitudes.ndim > 0 else []
        ours = [float(v) for v in values]
        if ref_signed != (signed == "1") or len(ref) != len(ours) or not np.allclose(ref, ours, rtol=1e-6, atol=1e-6):
            failures.append(f"{space} bins {bins} {op}: torchvision {ref} signed {ref_signed}, dltrain {ours} {signed}")
    for (space, bins, _, _), (ours, ref) in orders.items():
        if ours != ref:
            failures.append(f"{space} bins {bins}: dltrain's ops {ours}, torchvision's {ref}")
    stats = {}
    for line in open(os.path.join(folder, "cases.tsv")):
        index, source, op, magnitude, interpolation, fill = line.rstrip("\n").split("\t")
        image = torch.from_numpy(read(os.path.join(folder, source + ".bin"))).permute(2, 0, 1).contiguous()
        fill_values = None if fill == "-" else [float(v) for v in fill.split(",")]
        if fill_values is not None and len(fill_values) == 1:
            fill_values = fill_values * image.shape[0]
        mode = InterpolationMode.BILINEAR if interpolation == "bilinear" else InterpolationMode.NEAREST
        ref = autoaugment._apply_op(image, op, float(magnitude), mode, fill_values).permute(1, 2, 0).numpy()
        ours = read(os.path.join(folder, f"case-{index}.bin"))
        diff = np.abs(ref.astype(np.int32) - ours.astype(np.int32))
        share = float((diff > 0).mean())
        kind = interpolation if op in WARPS else "colour"
        limit = MAX_SHARE[kind]
        level_off = kind != "nearest" and diff.max() > 1
        key = (op, kind)
        count, largest, most = stats.get(key, (0, 0, 0.0))
        stats[key] = (count + 1, max(largest, int(diff.max())), max(most, share))
        if share > limit or level_off:
            failures.append(f"case {index} ({source} {op} {magnitude} {interpolation} fill {fill}): "
                            f"{share:.4%} of pixels differ (at most {limit:.2%}), largest {diff.max()}")
    for (op, kind), (count, largest, most) in sorted(stats.items()):
        print(f"{op:12s} {kind:8s} {count:3d} cases: largest difference {largest:3d}, "
              f"at most {most:.4%} of pixels differ")
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
