"""The reference masks of tests/test_prune.cpp's "masks match torch.nn.utils.prune" case.

usage: python prune_torch_reference.py   (needs PyTorch; run by hand, not by CI)
Two layers get weights from a formula (no randomness), then take a sequence of pruning
calls; after each call the script prints the mask as a string of 0s and 1s in row-major
order. The C++ test makes the same calls on kiln's layers and holds the masks to these.
"""
import math

import torch
import torch.nn.utils.prune as prune


def linear():  # weight (6, 5), as kiln's nn::Linear(5, 6)
    m = torch.nn.Linear(5, 6)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([math.sin(0.7 * i + 0.2) * (1 + 0.05 * i) for i in range(30)]).view(6, 5))
    return m


def conv1d():  # weight (4, 3, 2), as kiln's nn::Conv1d(3, 4, 2)
    m = torch.nn.Conv1d(3, 4, 2)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([math.cos(1.3 * i) * (0.5 + 0.01 * i) for i in range(24)]).view(4, 3, 2))
    return m


def show(name, module):
    print(f'{{"{name}", "{"".join(str(int(v)) for v in module.weight_mask.flatten().tolist())}"}},')


fc = linear()
prune.l1_unstructured(fc, "weight", amount=0.3)
show("linear: l1 0.3", fc)
prune.l1_unstructured(fc, "weight", amount=0.45)
show("linear: then l1 0.45", fc)
prune.ln_structured(fc, "weight", amount=0.34, n=2, dim=1)
show("linear: then ln 0.34, n 2, dim 1", fc)
prune.l1_unstructured(fc, "weight", amount=3)
show("linear: then l1 3", fc)

conv = conv1d()
prune.ln_structured(conv, "weight", amount=0.5, n=1, dim=0)
show("conv1d: ln 0.5, n 1, dim 0", conv)
prune.ln_structured(conv, "weight", amount=1, n=float("inf"), dim=1)
show("conv1d: then ln 1, n inf, dim 1", conv)
prune.l1_unstructured(conv, "weight", amount=0.25)
show("conv1d: then l1 0.25", conv)
prune.ln_structured(conv, "weight", amount=0.5, n=3, dim=-1)
show("conv1d: then ln 0.5, n 3, dim -1", conv)

a, b = linear(), conv1d()
prune.global_unstructured([(a, "weight"), (b, "weight")], pruning_method=prune.L1Unstructured, amount=0.4)
show("global 0.4: linear", a)
show("global 0.4: conv1d", b)
prune.global_unstructured([(a, "weight"), (b, "weight")], pruning_method=prune.L1Unstructured, amount=7)
show("then global 7: linear", a)
show("then global 7: conv1d", b)
