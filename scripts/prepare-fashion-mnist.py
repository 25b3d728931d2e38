#!/usr/bin/python3
"""Turns Debian's dataset-fashion-mnist (IDX files in /usr/share/datasets/fashion-mnist) into an
image folder of PNGs per class plus CSV manifests, train and test as the dataset defines them:

  OUT/train/<k>_<class>/<i>.png   OUT/test/<k>_<class>/<i>.png   OUT/train.csv   OUT/test.csv

Class folders are prefixed with the dataset's label index so sorted order keeps the indices.
Idempotent: a complete OUT is left as it is. --limit N keeps the first N images of each split
(for quick tests)."""
import argparse
import gzip
import os
import struct

from PIL import Image

CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return count, rows, cols, data[16:]
    if magic == 2049:
        return count, 0, 0, data[8:]
    raise SystemExit("%s: not an IDX image or label file" % path)


def convert(source, split, prefix, out, limit):
    count, rows, cols, pixels = read_idx(os.path.join(source, "%s-images-idx3-ubyte.gz" % prefix))
    label_count, _, _, labels = read_idx(os.path.join(source, "%s-labels-idx1-ubyte.gz" % prefix))
    assert count == label_count, "image and label counts differ"
    if limit:
        count = min(count, limit)
    lines = ["image,label"]
    for i in range(count):
        k = labels[i]
        folder = "%d_%s" % (k, CLASSES[k])
        relative = os.path.join(split, folder, "%05d.png" % i)
        path = os.path.join(out, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        offset = i * rows * cols
        Image.frombytes("L", (cols, rows), pixels[offset:offset + rows * cols]).save(path, compress_level=1)
        lines.append("%s,%s" % (relative, folder))
    with open(os.path.join(out, split + ".csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default="data/fashion_mnist")
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--limit", type=int, default=0, help="the first N images of each split")
    args = parser.parse_args()
    marker = os.path.join(args.out, ".complete" + ("-%d" % args.limit if args.limit else ""))
    if os.path.exists(marker):
        print("prepare-fashion-mnist: %s is ready" % args.out)
        return
    if not os.path.isdir(args.source):
        raise SystemExit("prepare-fashion-mnist: %s not found; install Debian's dataset-fashion-mnist" % args.source)
    train = convert(args.source, "train", "train", args.out, args.limit)
    test = convert(args.source, "test", "t10k", args.out, args.limit)
    open(marker, "w").close()
    print("prepare-fashion-mnist: %d train and %d test images in %s" % (train, test, args.out))


if __name__ == "__main__":
    main()
