"""The benchmark models in PyTorch eager, layer for layer as dltrain's specs build them:
specs/fashion_mnist.yaml (a residual CNN, 28x28x1) and specs/miniresnet.yaml (the tutorial's
MiniResNet). Keras' `same` padding at stride 2 pads one pixel less than padding=1 on the
top/left; the sizes, parameters and multiply-adds are the same."""
import torch
from torch import nn


class Residual(nn.Module):
    def __init__(self, cin, filters, stride, bias, bn):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, filters, 3, stride, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(filters, **bn)
        self.conv2 = nn.Conv2d(filters, filters, 3, 1, 1, bias=bias)
        self.bn2 = nn.BatchNorm2d(filters, **bn)
        self.shortcut = nn.Conv2d(cin, filters, 1, stride, bias=bias) if stride != 1 or cin != filters else None

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


def fashion_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        Residual(16, 16, 1, False, {}), Residual(16, 32, 2, False, {}), Residual(32, 64, 2, False, {}),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(64, 10))


def miniresnet(classes=1000):
    bn = {"momentum": 0.01, "eps": 0.001}
    return nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3), nn.BatchNorm2d(64, **bn), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        Residual(64, 64, 1, True, bn), Residual(64, 128, 2, True, bn), Residual(128, 256, 2, True, bn),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, classes))


# name -> (builder, channels, classes, optimizer) as the specs configure them
MODELS = {
    "fashion_cnn": (fashion_cnn, 1, 10, lambda p: torch.optim.AdamW(p, lr=3e-3, weight_decay=5e-4)),
    "miniresnet": (miniresnet, 3, 1000, lambda p: torch.optim.Adam(p, lr=1e-3)),
}
