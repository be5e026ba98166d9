"""The reference trajectories of tests/test_optim.cpp's "adaptive optimizers" case.

usage: python optim_torch_reference.py   (needs PyTorch; run by hand, not by CI)
Five float64 parameters start at P0 and take STEPS steps of each optimizer, the
gradient at step k being 2 (p - C) + 0.3 sin(k j) for element j = 1 .. 5 (a quadratic
pull toward C plus a wobble). Prints each configuration's parameters after the last
step; the C++ test holds kiln's to these numbers.
"""
import math

import torch

torch.set_default_dtype(torch.float64)  # step counts and NAdam's momentum product in float64

P0 = [0.5, -1.5, 2.0, 0.0, -0.25]
C = [1.0, -1.0, 0.5, 2.0, 0.0]
STEPS = 30

CONFIGS = [
    ("Adagrad", torch.optim.Adagrad, dict(lr=0.1)),
    ("Adagrad, lr_decay 0.05, weight_decay 0.1, initial_accumulator_value 0.5",
     torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adamax", torch.optim.Adamax, dict(lr=0.05)),
    ("Adamax, betas (0.8, 0.99), weight_decay 0.1", torch.optim.Adamax,
     dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
    ("NAdam", torch.optim.NAdam, dict(lr=0.05)),
    ("NAdam, weight_decay 0.1", torch.optim.NAdam, dict(lr=0.05, weight_decay=0.1)),
    ("NAdam, decoupled weight_decay 0.1, momentum_decay 0.01", torch.optim.NAdam,
     dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, momentum_decay=0.01)),
    ("RAdam", torch.optim.RAdam, dict(lr=0.05)),
    ("RAdam, betas (0.9, 0.9), weight_decay 0.1", torch.optim.RAdam,
     dict(lr=0.05, betas=(0.9, 0.9), weight_decay=0.1)),
    ("RAdam, decoupled weight_decay 0.1", torch.optim.RAdam,
     dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
]

for name, cls, kwargs in CONFIGS:
    p = torch.tensor(P0, requires_grad=True)
    opt = cls([p], **kwargs)
    for k in range(1, STEPS + 1):
        with torch.no_grad():
            p.grad = torch.tensor([2 * (p[j].item() - C[j]) + 0.3 * math.sin(k * (j + 1)) for j in range(5)])
        opt.step()
    print(f"{name}: {{{', '.join(repr(v) for v in p.tolist())}}}")
