#!/usr/bin/python3
"""PyTorch peer of the pipeline benchmark: ImageFolder (PIL decode) + torchvision transforms
doing decode -> resize 224 -> flip -> brightness -> contrast -> [0, 1] -> batch 64, with a
DataLoader configured as PyTorch's docs recommend for throughput (workers, persistent workers,
prefetching). Prints images/s of the second epoch (the first warms caches and workers)."""
import argparse
import time

import torch
import torchvision
from torchvision import datasets, transforms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    torch.set_num_threads(1)  # the workers do the work; the main process only collates
    transform = transforms.Compose([
        transforms.Resize((224, 224)),
        transforms.RandomHorizontalFlip(),
        transforms.ColorJitter(brightness=0.2, contrast=(0.8, 1.2)),
        transforms.ToTensor(),
    ])
    dataset = datasets.ImageFolder(args.root, transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers,
                                         persistent_workers=True, prefetch_factor=2)
    rates = []
    for epoch in range(2):
        start = time.perf_counter()
        count = 0
        for images, labels in loader:
            count += images.shape[0]
        rates.append(count / (time.perf_counter() - start))
    print("torch %s torchvision %s: %.1f images/s" % (torch.__version__, torchvision.__version__, rates[-1]))


if __name__ == "__main__":
    main()
