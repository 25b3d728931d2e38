#!/usr/bin/python3
"""PyTorch peer of one `dltrain fit specs/fashion_mnist.yaml` epoch: the same residual CNN, data
(the Fashion-MNIST image folders), augmentation (horizontal flip, 2-pixel padded random crop,
[0, 1]), batch, AdamW and cosine schedule, validation on the test split; a DataLoader set up
as PyTorch's docs recommend (worker processes, persistent, prefetching). Prints the epoch's
validation accuracy; time the whole command from outside."""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F
from torchvision import datasets, transforms

sys.path.insert(0, os.path.dirname(__file__))
from torch_models import fashion_cnn  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root", help="the folder holding train/ and test/ (scripts/prepare-fashion-mnist.py)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--epochs", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    gray = transforms.Grayscale(1)
    train_tf = transforms.Compose([gray, transforms.RandomHorizontalFlip(), transforms.RandomCrop(28, padding=2),
                                   transforms.ToTensor()])
    train = datasets.ImageFolder(os.path.join(args.root, "train"), transform=train_tf)
    test = datasets.ImageFolder(os.path.join(args.root, "test"), transform=transforms.Compose([gray, transforms.ToTensor()]))
    loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True, num_workers=args.workers,
                                         persistent_workers=True, prefetch_factor=2)
    val_loader = torch.utils.data.DataLoader(test, batch_size=512, num_workers=args.workers)
    model = fashion_cnn()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    total = args.epochs * len(loader)
    warmup = 0.3 * len(loader)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))))
    for epoch in range(args.epochs):
        model.train()
        for images, labels in loader:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            opt.step()
            schedule.step()
            loss.item()
        model.eval()
        right = count = 0
        with torch.no_grad():
            for images, labels in val_loader:
                right += (model(images).argmax(1) == labels).sum().item()
                count += labels.numel()
        print("torch %s epoch %d: val accuracy %.4f" % (torch.__version__, epoch + 1, right / count))


if __name__ == "__main__":
    main()
