#!/usr/bin/python3
"""backward_probe.cpp's twin in Python: the same small net, forward and backward on the GPU.
scripts/gpu/run.sh runs both under LD_DEBUG=libs to list which copies of the CUDA and C++
runtime libraries each process loads."""
import torch
import torch.nn as nn
import torch.nn.functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"
print("device", device, flush=True)
net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                    nn.Flatten(), nn.Linear(8, 4)).to(device)
x = torch.randn(16, 3, 32, 32, device=device)
y = torch.randint(0, 4, (16,), device=device)
print("forward", flush=True)
loss = F.cross_entropy(net(x), y)
print("backward", flush=True)
loss.backward()
norm = sum(p.grad.norm().item() for p in net.parameters())
print(f"backward ok, loss {loss.item():.6g}, gradient norms sum {norm:.6g}", flush=True)
