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
    args = step_arguments(MODELS, extra=[
        ("--device", {"default": "cpu", "help": "cpu or cuda"}),
        ("--precision", {"default": "fp32", "choices": ["fp32", "bf16"], "help": "bf16: autocast"}),
        ("--channels-last", {"action": "store_true"}),
    ])
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # PyTorch's performance tuning guide: let cuDNN autotune for fixed input sizes (dltrain does).
    torch.backends.cudnn.benchmark = True
    build, channels, classes, optimizer = MODELS[args.model]
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    model = build().train().to(args.device, memory_format=layout)
    opt = optimizer(model.parameters())
    x = torch.randn(args.batch, channels, args.size, args.size, device=args.device).to(memory_format=layout)
    y = torch.randint(0, classes, (args.batch,), device=args.device)
    device_type = torch.device(args.device).type

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        loss.backward()
        opt.step()
        return loss.item()

    sync = torch.cuda.synchronize if device_type == "cuda" else (lambda: None)
    rate = median_rate(step, args, sync)
    print("torch %s eager (%s, %s%s): %.1f samples/s" % (torch.__version__, args.device, args.precision,
                                                          ", channels_last" if args.channels_last else "", rate),
          flush=True)


if __name__ == "__main__":
    main()
