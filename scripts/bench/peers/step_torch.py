#!/usr/bin/python3
"""PyTorch eager peer of `dltrain bench step`: the same model and batch on synthetic data, the
training step as a PyTorch user writes it (zero_grad, forward, cross-entropy, backward, step,
loss.item() as a progress bar reads it). Prints the median samples/s over repeats."""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_models import MODELS  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", choices=sorted(MODELS))
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    build, channels, classes, optimizer = MODELS[args.model]
    model = build().train()
    opt = optimizer(model.parameters())
    x = torch.randn(args.batch, channels, args.size, args.size)
    y = torch.randint(0, classes, (args.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        rates.append(args.batch * args.steps / (time.perf_counter() - start))
    rates.sort()
    print("torch %s eager: %.1f samples/s" % (torch.__version__, rates[len(rates) // 2]))


if __name__ == "__main__":
    main()
