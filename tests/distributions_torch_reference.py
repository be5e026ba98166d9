"""The reference values of tests/test_distributions.cpp's "match torch.distributions" case.

usage: python distributions_torch_reference.py   (needs PyTorch; run by hand, not by CI)
Fixed float64 parameters and values; prints each quantity as a C++ initializer list.
"""
import torch
import torch.distributions as D

torch.set_default_dtype(torch.float64)


def show(name, t):
    print(f'{{"{name}", {{{", ".join(repr(v) for v in t.flatten().tolist())}}}}},')


loc, scale = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([0.5, 1.7, 0.05])
x, p = torch.tensor([0.1, 0.4, 2.02]), torch.tensor([0.1, 0.5, 0.975])
n, m = D.Normal(loc, scale), D.Normal(torch.tensor([0.0, 1.0, 1.9]), torch.tensor([1.0, 0.3, 0.2]))
show("normal log_prob", n.log_prob(x))
show("normal entropy", n.entropy())
show("normal cdf", n.cdf(x))
show("normal icdf", n.icdf(p))
show("normal kl", D.kl_divergence(n, m))

bp = D.Bernoulli(probs=torch.tensor([0.2, 0.7, 0.999]))
bl = D.Bernoulli(logits=torch.tensor([-2.5, 0.3, 8.0]))
k = torch.tensor([1.0, 0.0, 1.0])
show("bernoulli probs log_prob", bp.log_prob(k))
show("bernoulli probs entropy", bp.entropy())
show("bernoulli logits log_prob", bl.log_prob(k))
show("bernoulli logits entropy", bl.entropy())
show("bernoulli kl", D.kl_divergence(bp, bl))

cl = D.Categorical(logits=torch.tensor([[0.1, -1.0, 2.0], [3.0, 0.0, -3.0]]))
cp = D.Categorical(probs=torch.tensor([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]]))
c = torch.tensor([2, 1])
show("categorical logits log_prob", cl.log_prob(c))
show("categorical logits entropy", cl.entropy())
show("categorical probs log_prob", cp.log_prob(c))
show("categorical probs entropy", cp.entropy())
show("categorical kl", D.kl_divergence(cl, cp))
