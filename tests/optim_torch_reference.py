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
    ("Adadelta", torch.optim.Adadelta, dict()),
    ("Adadelta, lr 0.5, rho 0.8, eps 1e-4, weight_decay 0.1", torch.optim.Adadelta,
     dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("ASGD", torch.optim.ASGD, dict(lr=0.05)),
    ("ASGD, lambd 0.01, alpha 0.5, t0 10, weight_decay 0.1", torch.optim.ASGD,
     dict(lr=0.05, lambd=0.01, alpha=0.5, t0=10, weight_decay=0.1)),
    ("Rprop", torch.optim.Rprop, dict(lr=0.05)),
    ("Rprop, etas (0.3, 1.5), step_sizes (0.01, 0.2)", torch.optim.Rprop,
     dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(0.01, 0.2))),
]

for name, cls, kwargs in CONFIGS:
    p = torch.tensor(P0, requires_grad=True)
    opt = cls([p], **kwargs)
    for k in range(1, STEPS + 1):
        with torch.no_grad():
            p.grad = torch.tensor([2 * (p[j].item() - C[j]) + 0.3 * math.sin(k * (j + 1)) for j in range(5)])
        opt.step()
    print(f"{name}: {{{', '.join(repr(v) for v in p.tolist())}}}")
    if cls is torch.optim.ASGD:
        print(f"{name}, average: {{{', '.join(repr(v) for v in opt.state[p]['ax'].tolist())}}}")

# The schedules: the rate at the start, then after each of STEPS_LR steps, of SGD at
# lr 0.5 (OneCycleLR without cycling the momentum).
STEPS_LR = 24
S = torch.optim.lr_scheduler
SCHEDULES = [
    ("ConstantLR(0.25, 4)", lambda o: S.ConstantLR(o, factor=0.25, total_iters=4)),
    ("PolynomialLR(7, 2.0)", lambda o: S.PolynomialLR(o, total_iters=7, power=2.0)),
    ("CosineAnnealingWarmRestarts(3, 2, 0.01)", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01)),
    ("CosineAnnealingWarmRestarts(5)", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5)),
    ("OneCycleLR(0.5, 24)", lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=24, cycle_momentum=False)),
    ("OneCycleLR(0.5, 24, linear, pct_start 0.25, div 10, final div 100)",
     lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=24, anneal_strategy="linear", pct_start=0.25,
                            div_factor=10, final_div_factor=100, cycle_momentum=False)),
    ("MultiplicativeLR(0.5 every third epoch, else 0.9)",
     lambda o: S.MultiplicativeLR(o, lambda e: 0.5 if e % 3 == 0 else 0.9)),
    ("OneCycleLR(0.5, 24, three_phase)",
     lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=24, three_phase=True, cycle_momentum=False)),
]
for name, make in SCHEDULES:
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.5)
    schedule = make(opt)
    rates = [opt.param_groups[0]["lr"]]
    for _ in range(STEPS_LR):
        opt.step()
        schedule.step()
        rates.append(opt.param_groups[0]["lr"])
    print(f"{name}: {{{', '.join(repr(r) for r in rates)}}}")

# OneCycleLR cycling the momentum (PyTorch's default): the momentum (SGD's, or Adam's
# beta1) at the start and after each of STEPS_LR steps, then the parameters after those
# steps, with the gradient of the optimizer trajectories above.
CYCLED = [
    ("SGD momentum 0.9, OneCycleLR(0.5, 24)", lambda p: torch.optim.SGD([p], lr=0.5, momentum=0.9),
     lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=24)),
    ("SGD, OneCycleLR(0.5, 24, three_phase, momentum 0.8 to 0.9, linear)", lambda p: torch.optim.SGD([p], lr=0.5),
     lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=24, three_phase=True, base_momentum=0.8, max_momentum=0.9,
                            anneal_strategy="linear")),
    ("Adam, OneCycleLR(0.05, 24)", lambda p: torch.optim.Adam([p], lr=0.05),
     lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=24)),
]
for name, make_opt, make in CYCLED:
    p = torch.tensor(P0, requires_grad=True)
    opt = make_opt(p)
    schedule = make(opt)
    group = opt.param_groups[0]
    momentum = lambda: group["betas"][0] if "betas" in group else group["momentum"]
    momenta = [momentum()]
    for k in range(1, STEPS_LR + 1):
        with torch.no_grad():
            p.grad = torch.tensor([2 * (p[j].item() - C[j]) + 0.3 * math.sin(k * (j + 1)) for j in range(5)])
        opt.step()
        schedule.step()
        momenta.append(momentum())
    print(f"{name}: momenta {{{', '.join(repr(m) for m in momenta)}}}")
    print(f"{name}: parameters {{{', '.join(repr(v) for v in p.tolist())}}}")
