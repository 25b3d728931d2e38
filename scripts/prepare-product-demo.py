#!/usr/bin/python3
"""Builds the constructed dataset for specs/product_multi_io.yaml from real Fashion-MNIST images.

This is NOT product data: the tutorial's product model (image + 100 text features -> 50-way
category + price) needs a dataset of that shape, and there is none on this machine, so the other
columns are derived from each Fashion-MNIST image by a fixed, documented rule:

  style    = a number 0..4 drawn per row from random.Random(row seed); it is not visible in the
             image and only the text features reveal it.
  text     = 100 binary "word" features t000..t099: 3 of the style's 10 words (50 + 10*style + j)
             plus 4 noise words drawn from all 100.
  category = 5 * fashion_label + style, named "<class>/<style>" (50 categories): the image gives
             the class, the text the style, so the model needs both inputs.
  price    = base[class] * (0.6 + 0.8 * ink) * (1 + 0.25 * style) / 100, where ink is the image's
             mean pixel value / 255: the price in units of $100.

Reads OUT/../fashion_mnist/{train,test}.csv (scripts/prepare-fashion-mnist.py makes them) and
writes OUT/train.csv (the first --train rows of Fashion-MNIST's train split) and OUT/val.csv (the
first --val rows of its test split). Idempotent: existing complete files are kept."""
import argparse
import csv
import os
import random

from PIL import Image, ImageStat

CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]
BASE_PRICE = [15, 40, 35, 50, 80, 30, 25, 60, 45, 70]  # dollars, per Fashion-MNIST class
WORDS, STYLES = 100, 5


def rows(fashion, split, count, seed):
    with open(os.path.join(fashion, split + ".csv")) as f:
        for index, row in enumerate(csv.DictReader(f)):
            if index == count:
                return
            label = int(row["label"].split("_", 1)[0])
            rng = random.Random(seed * 1_000_003 + index)
            style = rng.randrange(STYLES)
            words = set(rng.sample(range(50 + 10 * style, 60 + 10 * style), 3)) | set(rng.sample(range(WORDS), 4))
            image = os.path.join(fashion, row["image"])
            ink = ImageStat.Stat(Image.open(image).convert("L")).mean[0] / 255.0
            price = BASE_PRICE[label] * (0.6 + 0.8 * ink) * (1 + 0.25 * style) / 100
            yield [os.path.join("..", "fashion_mnist", row["image"]), "%s/%d" % (CLASSES[label], style), "%.4f" % price] + [
                "1" if w in words else "0" for w in range(WORDS)]


def write(out, name, fashion, split, count, seed):
    path = os.path.join(out, name)
    if os.path.exists(path):
        with open(path) as f:
            if sum(1 for _ in f) == count + 1:
                return
    temp = path + ".tmp"
    with open(temp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "category", "price"] + ["t%03d" % w for w in range(WORDS)])
        written = 0
        for row in rows(fashion, split, count, seed):
            writer.writerow(row)
            written += 1
    if written != count:
        raise SystemExit("%s has only %d rows; asked for %d" % (split, written, count))
    os.replace(temp, path)
    print("wrote", path, "(%d rows)" % count)


def main():
    parser = argparse.ArgumentParser(description="the constructed product dataset (see the module docstring)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data", "product_demo"))
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--val", type=int, default=1000)
    args = parser.parse_args()
    args.out = os.path.normpath(args.out)
    fashion = os.path.join(os.path.dirname(args.out), "fashion_mnist")
    if not os.path.exists(os.path.join(fashion, "train.csv")):
        raise SystemExit("run scripts/prepare-fashion-mnist.py first (%s/train.csv is missing)" % fashion)
    os.makedirs(args.out, exist_ok=True)
    write(args.out, "train.csv", fashion, "train", args.train, 1)
    write(args.out, "val.csv", fashion, "test", args.val, 2)


if __name__ == "__main__":
    main()
