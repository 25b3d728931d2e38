#!/usr/bin/python3
"""PyTorch eager peer of `dltrain bench step`: the same model and batch on synthetic data, the
training step as a PyTorch user writes it (zero_grad, forward, cross-entropy, backward, step,
loss.item() as a progress bar reads it). Prints the median samples/s over repeats."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import median_rate, step_arguments  # noqa: E402
from torch_models import MODELS  # noqa: E402


def main():
    args = step_arguments(MODELS)
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

    rate = median_rate(step, args)
    print("torch %s eager: %.1f samples/s" % (torch.__version__, rate))


if __name__ == "__main__":
    main()
