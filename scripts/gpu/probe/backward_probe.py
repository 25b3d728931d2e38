#!/usr/bin/python3
"""backward_probe.cpp's twin in Python: the same nets and modes (--net conv|linear, --cudnn
on|off, --path autograd|direct, --crash), forward and backward on the GPU (the CPU without one).
scripts/gpu/run.sh runs it beside the C++ probe, and under LD_DEBUG to list which copies of the
CUDA and C++ runtime libraries a Python process loads and binds to."""
import argparse
import ctypes
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--net", choices=["conv", "linear"], default="conv")
parser.add_argument("--cudnn", choices=["on", "off"], default="on")
parser.add_argument("--path", choices=["autograd", "direct"], default="autograd")
parser.add_argument("--crash", action="store_true", help="segfault inside the backward while cuDNN is on, on purpose")
mode = parser.parse_args()


def crash_here():
    if torch.backends.cudnn.enabled:
        ctypes.string_at(0)


torch.backends.cudnn.enabled = mode.cudnn == "on"
device = "cuda" if torch.cuda.is_available() else "cpu"
print(f"device {device}, net {mode.net}, cudnn {mode.cudnn}, path {mode.path}", flush=True)
x = torch.randn(16, 3, 32, 32, device=device)
if mode.path == "autograd":
    if mode.net == "conv":
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                            nn.Flatten(), nn.Linear(8, 4))
    else:
        net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 64), nn.ReLU(), nn.Linear(64, 4))
    net = net.to(device)
    y = torch.randint(0, 4, (16,), device=device)
    print("forward", flush=True)
    loss = F.cross_entropy(net(x), y)
    if mode.crash:
        loss.register_hook(lambda grad: crash_here())
    print("backward (autograd)", flush=True)
    loss.backward()
    norm = sum(p.grad.norm().item() for p in net.parameters())
    print(f"loss {loss.item():.6g}", flush=True)
else:
    with torch.no_grad():
        if mode.net == "conv":
            w, b = torch.randn(8, 3, 3, 3, device=device), torch.randn(8, device=device)
            print("forward (aten.convolution)", flush=True)
            out = torch.ops.aten.convolution(x, w, b, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
            print("backward (aten.convolution_backward)", flush=True)
            grads = torch.ops.aten.convolution_backward(torch.ones_like(out), x, w, [8], [1, 1], [1, 1], [1, 1],
                                                        False, [0, 0], 1, [True, True, True])
            norm = sum(g.norm().item() for g in grads)
        else:
            flat = x.reshape(16, -1)
            w = torch.randn(64, flat.shape[1], device=device)
            print("forward (mm)", flush=True)
            out = flat.mm(w.t())
            print("backward (mm)", flush=True)
            grad_out = torch.ones_like(out)
            norm = grad_out.t().mm(flat).norm().item() + grad_out.mm(w).norm().item()
    if mode.crash:
        crash_here()
if device == "cuda":
    torch.cuda.synchronize()
print(f"backward {'ok' if math.isfinite(norm) else 'NOT FINITE'}, gradient norms sum {norm:.6g}", flush=True)
raise SystemExit(0 if math.isfinite(norm) else 1)
