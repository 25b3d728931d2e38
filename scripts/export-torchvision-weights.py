#!/usr/bin/env python3
"""Writes a torchvision model's weights in a file dltrain's `weights:` loads.

    export-torchvision-weights.py MODEL OUTPUT [--pretrained | --seed N] [--format safetensors|pt]

MODEL is a torchvision classification model that dltrain has as a backbone (mobilenet_v2,
resnet18, resnet50). The names stay torchvision's (`features.0.0.weight`), which are dltrain's
names inside a backbone node, so the file loads onto the node as it is:

    - mobilenet_v2: {name: backbone, weights: mobilenet_v2.safetensors}

--pretrained downloads torchvision's ImageNet weights (needs internet); otherwise the weights
are torchvision's own random initialisation under --seed. --reference FILE also writes a
seeded input batch and the model's eval-mode output for it (the parity tests use this).

Runs under a Python with torch and torchvision (Debian: /usr/bin/python3 with python3-torchvision);
safetensors output also needs the `safetensors` package (pip install safetensors), .pt does not.
"""
import argparse
import sys

import torch
import torchvision


def save(tensors, path, fmt):
    if fmt == "pt":
        # A plain dict: LibTorch before 2.6 cannot read the OrderedDict that state_dict() returns.
        torch.save(dict(tensors), path)
        return
    tensors = {name: t.detach().contiguous() for name, t in tensors.items()}
    try:
        from safetensors.torch import save_file
    except ImportError:
        sys.exit("export: safetensors output needs `pip install safetensors` (or use --format pt)")
    save_file(tensors, path)


def randomize_batch_norm(model, generator):
    # Fresh BatchNorm layers hold mean 0, variance 1, scale 1, shift 0: the identity. Random
    # statistics make a parity check exercise them.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.rand(m.num_features, generator=generator) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=generator) * 0.2 - 0.1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=["mobilenet_v2", "resnet18", "resnet50"])
    parser.add_argument("output")
    parser.add_argument("--pretrained", action="store_true", help="torchvision's ImageNet weights (downloads)")
    parser.add_argument("--seed", type=int, default=0, help="random initialisation seed (without --pretrained)")
    parser.add_argument("--format", choices=["safetensors", "pt"], default="safetensors")
    parser.add_argument("--randomize-bn", action="store_true", help="random BatchNorm statistics (for parity tests)")
    parser.add_argument("--reference", help="also write {input, output} of the model in eval mode to this file")
    parser.add_argument("--size", type=int, default=224, help="reference input height and width")
    parser.add_argument("--batch", type=int, default=2, help="reference batch size")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    builder = getattr(torchvision.models, args.model)
    model = builder(weights="DEFAULT") if args.pretrained else builder(weights=None)
    generator = torch.Generator().manual_seed(args.seed + 1)
    if args.randomize_bn:
        randomize_batch_norm(model, generator)
    model.eval()
    save(model.state_dict(), args.output, args.format)
    print(f"wrote {len(model.state_dict())} tensors of {args.model} to {args.output}")

    if args.reference:
        x = torch.randn(args.batch, 3, args.size, args.size, generator=generator)
        with torch.no_grad():
            y = model(x)
        save({"input": x, "output": y}, args.reference, "safetensors")
        print(f"wrote the reference input {list(x.shape)} and output {list(y.shape)} to {args.reference}")


if __name__ == "__main__":
    main()
