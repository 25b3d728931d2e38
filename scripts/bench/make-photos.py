#!/usr/bin/python3
"""Builds the pipeline benchmark's image folder: photo-sized JPEGs (500x375 unless --size says
otherwise) cut by seeded crops from real photographs in Debian's mate-backgrounds package
(nature/*.jpg), one class per source photograph. Idempotent: does nothing when the folder is
complete.

Usage: make-photos.py OUT_DIR [--count N] [--size W H] [--deb-cache DIR]
"""
import argparse
import glob
import os
import random
import subprocess
import tempfile

from PIL import Image


def source_photos(cache):
    os.makedirs(cache, exist_ok=True)
    root = os.path.join(cache, "mate-backgrounds")
    photos = sorted(glob.glob(os.path.join(root, "usr/share/backgrounds/mate/nature/*.jpg")))
    if photos:
        return photos
    debs = glob.glob(os.path.join(cache, "mate-backgrounds_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", "mate-backgrounds"], cwd=cache, check=True)
        debs = glob.glob(os.path.join(cache, "mate-backgrounds_*.deb"))
    subprocess.run(["dpkg-deb", "-x", debs[0], root], check=True)
    return sorted(glob.glob(os.path.join(root, "usr/share/backgrounds/mate/nature/*.jpg")))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=2048)
    parser.add_argument("--size", type=int, nargs=2, default=[500, 375], metavar=("W", "H"))
    parser.add_argument("--deb-cache", default=os.path.expanduser("~/.cache/dltrain/debs"))
    args = parser.parse_args()

    width, height = args.size
    marker = os.path.join(args.out, ".complete-%d-%dx%d" % (args.count, width, height))
    if os.path.exists(marker):
        print("make-photos: %s is ready" % args.out)
        return
    photos = source_photos(args.deb_cache)
    rng = random.Random(1234)
    sources = [Image.open(p).convert("RGB") for p in photos]
    for i in range(args.count):
        k = i % len(sources)
        img = sources[k]
        # A seeded crop of 40-100% of the photo's width at 4:3, scaled to the size.
        w = int(img.width * rng.uniform(0.4, 1.0))
        h = min(int(w * 3 / 4), img.height)
        w = int(h * 4 / 3)
        x = rng.randint(0, img.width - w)
        y = rng.randint(0, img.height - h)
        crop = img.crop((x, y, x + w, y + h)).resize((width, height), Image.BILINEAR)
        folder = os.path.join(args.out, os.path.splitext(os.path.basename(photos[k]))[0])
        os.makedirs(folder, exist_ok=True)
        crop.save(os.path.join(folder, "%05d.jpg" % i), quality=90)
    open(marker, "w").close()
    print("make-photos: wrote %d images from %d photographs to %s" % (args.count, len(sources), args.out))


if __name__ == "__main__":
    main()
