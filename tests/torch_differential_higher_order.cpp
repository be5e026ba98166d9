// The differential test against PyTorch, continued: second derivatives. Each case records
// the first gradient of <f(inputs), u> on both sides (kiln::grad and torch::autograd::grad
// with create_graph), then backpropagates <gradient, w> and compares the gradients that
// reach the inputs: the backward rules' own backward, op by op and in a network.
#include "torch_differential.hpp"

using namespace differential;

namespace {

int compared_twice = 0;

void compare_second(const std::string& name, const std::vector<Both>& in, const KernelK& fk,
                    const KernelT& ft, double rtol = 1e-9) {
  const auto [ks, ts, description] = sides_of(in);
  INFO(name << " on " << description);
  const KT ok = fk(ks);
  const TT ot = ft(ts);
  if (!agree(ok, ot, name + " forward", rtol, 1e-11)) return;
  const Both u = leaf(sizes_of(ok), -1, 1, false);
  const std::vector<KT> kg = kiln::grad({ok}, ks, {u.k}, {.allow_unused = true, .create_graph = true});
  const std::vector<TT> tg = torch::autograd::grad({ot}, ts, {u.t}, true, true, true);
  KT ksum;
  TT tsum;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const bool kd = kg[i].defined(), td = tg[i].defined();
    if (!kd || !td) {
      CHECK_MESSAGE(kd == td, name << ": only one side has a first gradient for input " << i);
      continue;
    }
    if (!agree(kg[i], tg[i], name + " first gradient of input " + std::to_string(i), rtol * 10, 1e-10))
      return;
    const Both w = leaf(sizes_of(kg[i]), -1, 1, false);
    if (kg[i].requires_grad()) ksum = ksum.defined() ? ksum + kiln::sum(kg[i] * w.k) : kiln::sum(kg[i] * w.k);
    if (tg[i].requires_grad()) tsum = tsum.defined() ? tsum + (tg[i] * w.t).sum() : (tg[i] * w.t).sum();
  }
  if (!tsum.defined()) {
    CHECK_MESSAGE(!ksum.defined(), name << ": kiln's first gradient depends on the inputs, torch's does not");
    return;
  }
  REQUIRE_MESSAGE(ksum.defined(), name << ": kiln's first gradient does not depend on the inputs");
  const std::vector<KT> k2 = kiln::grad({ksum}, ks, {}, {.allow_unused = true});
  const std::vector<TT> t2 = torch::autograd::grad({tsum}, ts, {}, false, false, true);
  ++compared_twice;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const TT t = t2[i].defined() ? t2[i] : torch::zeros_like(ts[i]);
    const KT k = k2[i].defined() ? k2[i] : kiln::zeros_like(ks[i]).detach();
    agree(k, t, name + " second gradient of input " + std::to_string(i), rtol * 100, 1e-9);
  }
}

template <class Body>
void twice_in_both_precisions(std::uint64_t seed, int count, Body body) {
  in_both_precisions(seed, count, [&] {
    const int before = compared_twice;
    body();
    if (compared_twice > before) ++compared;  // in_both_precisions counts the cases that ran
  });
}

}  // namespace

TEST_CASE("torch differential: second derivatives of elementwise ops, with broadcasting") {
  twice_in_both_precisions(91, 20, [] {
    const Sizes s = random_shape(1, 3), p = broadcast_partner(s);
    compare_second(
        "exp, sin, cos, tanh, sigmoid", {leaf(s)},
        [](const auto& a) {
          return kiln::exp(a[0] * 0.5) * kiln::sin(a[0]) + kiln::cos(kiln::tanh(a[0])) +
                 kiln::sigmoid(a[0]) * a[0];
        },
        [](const auto& a) {
          return (a[0] * 0.5).exp() * a[0].sin() + a[0].tanh().cos() + a[0].sigmoid() * a[0];
        });
    compare_second(
        "log, sqrt, pow, reciprocal", {leaf(s, 0.5, 2)},
        [](const auto& a) {
          return kiln::log(a[0]) * kiln::sqrt(a[0]) + kiln::pow(a[0], 2.5) + kiln::reciprocal(a[0]);
        },
        [](const auto& a) { return a[0].log() * a[0].sqrt() + a[0].pow(2.5) + a[0].reciprocal(); });
    compare_second(
        "softplus, silu, gelu, elu, erf, atan", {leaf(s)},
        [](const auto& a) {
          return kiln::softplus(a[0]) * kiln::silu(a[0]) + kiln::gelu(a[0]) + kiln::elu(a[0], 0.7) * a[0] +
                 kiln::erf(a[0]) + kiln::atan(a[0]);
        },
        [](const auto& a) {
          return F::softplus(a[0]) * F::silu(a[0]) + F::gelu(a[0]) +
                 F::elu(a[0], F::ELUFuncOptions().alpha(0.7)) * a[0] + a[0].erf() + a[0].atan();
        });
    compare_second(
        "relu, leaky_relu, abs (times x)", {leaf(s)},
        [](const auto& a) {
          return (kiln::relu(a[0]) + kiln::leaky_relu(a[0], 0.1) + kiln::abs(a[0])) * a[0];
        },
        [](const auto& a) {
          return (a[0].relu() + F::leaky_relu(a[0], F::LeakyReLUFuncOptions().negative_slope(0.1)) +
                  a[0].abs()) *
                 a[0];
        });
    compare_second(
        "add, sub, mul, div", {leaf(s), leaf(p, 0.5, 2)},
        [](const auto& a) { return (a[0] + a[1]) * (a[0] - a[1]) / a[1] + a[0] * a[1] * a[1]; },
        [](const auto& a) { return (a[0] + a[1]) * (a[0] - a[1]) / a[1] + a[0] * a[1] * a[1]; });
    compare_second(
        "pow(a, b), atan2, hypot, maximum", {leaf(s, 0.5, 2), leaf(p, 0.5, 2)},
        [](const auto& a) {
          return kiln::pow(a[0], a[1]) + kiln::atan2(a[0], a[1]) +
                 kiln::hypot(a[0], a[1]) * kiln::maximum(a[0], a[1]);
        },
        [](const auto& a) {
          return a[0].pow(a[1]) + torch::atan2(a[0], a[1]) +
                 torch::hypot(a[0], a[1]) * torch::maximum(a[0], a[1]);
        });
  });
}

TEST_CASE("torch differential: second derivatives of reductions, softmax, matmul and indexing") {
  twice_in_both_precisions(92, 20, [] {
    const Sizes s = random_shape(2, 3);
    const auto rank = static_cast<std::int64_t>(s.size());
    const std::int64_t dim = irand(-rank, rank - 1);
    compare_second(
        "softmax, log_softmax, logsumexp", {leaf(s)},
        [=](const auto& a) {
          return kiln::softmax(a[0], dim) * kiln::log_softmax(a[0] * 0.5, dim) +
                 kiln::logsumexp(a[0], {dim}, true);
        },
        [=](const auto& a) {
          return a[0].softmax(dim) * (a[0] * 0.5).log_softmax(dim) + a[0].logsumexp({dim}, true);
        });
    compare_second(
        "sum, mean, norm", {leaf(s)},
        [=](const auto& a) {
          return kiln::square(kiln::sum(a[0], {dim})) + kiln::mean(a[0] * a[0], {dim}) +
                 kiln::norm(a[0], 2.0, {dim}) + kiln::norm(a[0], 3.0, {dim});
        },
        [=](const auto& a) {
          return a[0].sum(dim).square() + (a[0] * a[0]).mean(dim) + a[0].norm(2, dim) + a[0].norm(3, dim);
        });
    compare_second(
        "logcumsumexp, lgamma, digamma, polygamma", {leaf(s)},
        [=](const auto& a) {
          const KT shifted = a[0] + 2.5;  // in [0.5, 4.5)
          return kiln::square(kiln::logcumsumexp(a[0] * 3.0, dim)) +
                 kiln::lgamma(shifted) * kiln::digamma(shifted) + kiln::polygamma(2, shifted);
        },
        [=](const auto& a) {  // in double: torch's float32 backward of a long logcumsumexp loses digits
          const TT x = a[0].to(torch::kDouble), shifted = x + 2.5;
          return ((x * 3.0).logcumsumexp(dim).square() + shifted.lgamma() * shifted.digamma() +
                  torch::polygamma(2, shifted))
              .to(a[0].scalar_type());
        });
    const Both labels = integers({s[0]}, 0, s[1] - 1);
    const double smoothing = coin() ? 0.0 : unif(0, 0.5);
    compare_second(
        "cross_entropy of tanh", {leaf({s[0], s[1]})},
        [=](const auto& a) {
          return kiln::cross_entropy(kiln::tanh(a[0]), labels.k, kiln::Reduction::mean, smoothing);
        },
        [=](const auto& a) {
          return F::cross_entropy(a[0].tanh(), labels.t,
                                  F::CrossEntropyFuncOptions().label_smoothing(smoothing));
        });
    const std::int64_t m = irand(1, 4), k = irand(1, 4), n = irand(1, 4);
    Sizes batch_a = random_shape(0, 2, 3), batch_b = broadcast_partner(batch_a);
    Sizes sa = batch_a, sb = batch_b;
    sa.insert(sa.end(), {m, k});
    sb.insert(sb.end(), {k, n});
    compare_second(
        "tanh(matmul)", {leaf(sa), leaf(sb)},
        [](const auto& a) { return kiln::tanh(kiln::matmul(a[0], a[1])); },
        [](const auto& a) { return torch::matmul(a[0], a[1]).tanh(); });
    const Both index = integers({5}, 0, s[0] - 1);
    compare_second(
        "index_select, transpose, slice, cat", {leaf(s)},
        [=](const auto& a) {
          const KT picked = kiln::index_select(a[0], 0, index.k).transpose(0, -1);
          return kiln::square(
              kiln::cat({picked, picked.slice(0, 0, s.back(), 2) * picked.slice(0, 0, s.back(), 2)}, 0));
        },
        [=](const auto& a) {
          const TT picked = a[0].index_select(0, index.t).transpose(0, -1);
          const TT every_other = picked.slice(0, 0, s.back(), 2);
          return torch::cat({picked, every_other * every_other}, 0).square();
        });
  });
}

TEST_CASE(
    "torch differential: second derivatives of transposed convolution, pooling and the normalisations") {
  twice_in_both_precisions(94, 12, [] {
    const std::int64_t n = irand(1, 3), c = 2 * irand(1, 2), h = irand(4, 7), w = irand(4, 7);
    const Both images = leaf({n, c, h, w});
    const std::int64_t stride = irand(1, 2), pad = irand(0, 1), groups = coin() ? 1 : 2;
    const std::int64_t extra = stride > 1 ? irand(0, 1) : 0, out_per_group = irand(1, 2);
    compare_second(
        "conv_transpose2d", {images, leaf({c, out_per_group, 3, 2}), leaf({out_per_group * groups})},
        [=](const auto& a) {
          return kiln::tanh(
              kiln::conv_transpose2d(a[0], a[1], a[2], {stride, stride}, {pad, 0}, {extra, 0}, groups));
        },
        [=](const auto& a) {
          return torch::tanh(F::conv_transpose2d(a[0], a[1],
                                                 F::ConvTranspose2dFuncOptions()
                                                     .bias(a[2])
                                                     .stride(stride)
                                                     .padding({pad, 0})
                                                     .output_padding({extra, 0})
                                                     .groups(groups)));
        });
    const std::int64_t k = irand(2, 3), pool_stride = irand(1, 2), pool_pad = irand(0, 1);
    const bool ceil = coin(), count_pad = coin();
    compare_second(
        "max_pool2d, avg_pool2d", {images},
        [=](const auto& a) {
          return kiln::square(
                     kiln::max_pool2d(a[0], {k, k}, {pool_stride, pool_stride}, {pool_pad, pool_pad}, ceil)) +
                 kiln::square(kiln::avg_pool2d(a[0], {k, k}, {pool_stride, pool_stride}, {pool_pad, pool_pad},
                                               ceil, count_pad));
        },
        [=](const auto& a) {
          const auto window =
              F::MaxPool2dFuncOptions(k).stride(pool_stride).padding(pool_pad).ceil_mode(ceil);
          const auto average = F::AvgPool2dFuncOptions(k)
                                   .stride(pool_stride)
                                   .padding(pool_pad)
                                   .ceil_mode(ceil)
                                   .count_include_pad(count_pad);
          return F::max_pool2d(a[0], window).square() + F::avg_pool2d(a[0], average).square();
        });
    compare_second(
        "batch_norm, group_norm, layer_norm", {images, leaf({c}), leaf({c}), leaf({h, w})},
        [=](const auto& a) {
          return kiln::tanh(kiln::batch_norm(a[0], KT(), KT(), a[1], a[2], true)) *
                     kiln::group_norm(a[0], c / 2, a[1], a[2]) +
                 kiln::tanh(kiln::layer_norm(a[0], {h, w}, a[3]));
        },
        [=](const auto& a) {
          return torch::tanh(F::batch_norm(
                     a[0], TT(), TT(), F::BatchNormFuncOptions().weight(a[1]).bias(a[2]).training(true))) *
                     F::group_norm(a[0], F::GroupNormFuncOptions(c / 2).weight(a[1]).bias(a[2])) +
                 torch::tanh(F::layer_norm(a[0], F::LayerNormFuncOptions({h, w}).weight(a[3])));
        });
  });
}

TEST_CASE("torch differential: a gradient penalty through a network, and its Hessian-vector product") {
  in_both_precisions(93, 10, [] {
    const std::int64_t batch = irand(1, 6), features = irand(1, 5), hidden = irand(1, 8);
    const Both x = leaf({batch, features}, -2, 2, false), w1 = leaf({features, hidden}), b1 = leaf({hidden}),
               w2 = leaf({hidden, 1});
    // (|d critic / dx| - 1)^2 with a softplus critic, then its gradient with respect to the weights.
    const KT xk = x.k.detach().requires_grad_();
    const KT critic_k = kiln::sum(kiln::matmul(kiln::softplus(kiln::matmul(xk, w1.k) + b1.k), w2.k));
    const KT dxk = kiln::grad(critic_k, {xk}, KT(), {.create_graph = true})[0];
    const KT penalty_k = kiln::mean(kiln::square(kiln::norm(dxk, 2.0, {1}) - 1.0));
    const TT xt = x.t.detach().requires_grad_();
    const TT critic_t = torch::matmul(F::softplus(torch::matmul(xt, w1.t) + b1.t), w2.t).sum();
    const TT dxt = torch::autograd::grad({critic_t}, {xt}, {}, true, true)[0];
    const TT penalty_t = (dxt.norm(2, 1) - 1.0).square().mean();
    ++compared;
    INFO("gradient penalty, batch " << batch << ", features " << features << ", hidden " << hidden
                                    << (single ? " float32" : " float64"));
    if (!agree(penalty_k, penalty_t, "penalty", 1e-9, 1e-11)) return;
    penalty_k.backward();
    penalty_t.backward();
    agree(w1.k.grad(), w1.t.grad(), "penalty's gradient for w1", 1e-8, 1e-10);
    agree(b1.k.grad(), b1.t.grad(), "penalty's gradient for b1", 1e-8, 1e-10);
    agree(w2.k.grad(), w2.t.grad(), "penalty's gradient for w2", 1e-8, 1e-10);

    // The same penalty for a convolutional critic, random stride and padding.
    const std::int64_t stride = irand(1, 2), pad = irand(0, 1), size = irand(5, 8);
    const Both images = leaf({batch, 2, size, size}, -2, 2, false), k = leaf({3, 2, 3, 3}), kb = leaf({3});
    const KT ik = images.k.detach().requires_grad_();
    const KT conv_k = kiln::sum(kiln::tanh(kiln::conv2d(ik, k.k, kb.k, {stride, stride}, {pad, pad})));
    const KT dik = kiln::grad(conv_k, {ik}, KT(), {.create_graph = true})[0];
    kiln::mean(kiln::square(kiln::norm(dik.flatten(1), 2.0, {1}) - 1.0)).backward();
    const TT it = images.t.detach().requires_grad_();
    const TT conv_t = torch::conv2d(it, k.t, kb.t, stride, pad).tanh().sum();
    const TT dit = torch::autograd::grad({conv_t}, {it}, {}, true, true)[0];
    (dit.flatten(1).norm(2, 1) - 1.0).square().mean().backward();
    agree(k.k.grad(), k.t.grad(), "conv critic's penalty: gradient for the kernel", 1e-8, 1e-10);
    agree(kb.k.grad(), kb.t.grad(), "conv critic's penalty: gradient for the bias", 1e-8, 1e-10);

    // H v of the critic's mean output with respect to w1, against torch's double backward.
    const Both v = leaf({features, hidden}, -1, 1, false);
    const KT hv_k = kiln::hvp(
        [&](const KT& w) {
          return kiln::mean(kiln::matmul(kiln::tanh(kiln::matmul(x.k, w) + b1.k.detach()), w2.k.detach()));
        },
        w1.k.detach(), v.k);
    const TT wt = w1.t.detach().requires_grad_();
    const TT out_t = torch::matmul(torch::tanh(torch::matmul(x.t, wt) + b1.t.detach()), w2.t.detach()).mean();
    const TT g_t = torch::autograd::grad({out_t}, {wt}, {}, true, true)[0];
    const TT hv_t = torch::autograd::grad({(g_t * v.t).sum()}, {wt})[0];
    agree(hv_k, hv_t, "hvp with respect to w1", 1e-8, 1e-10);
  });
}

TEST_CASE("torch differential: second derivatives of solve, det, slogdet, cholesky, qr, eigh and svd") {
  twice_in_both_precisions(94, 15, [] {
    const std::int64_t n = irand(1, 4), m = irand(n, 5);
    const Sizes batch = random_shape(0, 1, 3);
    Sizes square_shape = batch, rhs = batch, tall = batch;
    square_shape.insert(square_shape.end(), {n, n});
    rhs.insert(rhs.end(), {n, 2});
    tall.insert(tall.end(), {m, n});
    // torch in float64 (its float32 factorisations lose digits), cast back where `single`.
    const auto wide = [](const TT& t) { return single ? t.to(torch::kDouble) : t; };
    const auto back = [](const TT& t) { return single ? t.to(torch::kFloat) : t; };
    const double shift = static_cast<double>(n);  // far from singular: n on the diagonal
    compare_second(
        "solve, det, slogdet", {leaf(square_shape), leaf(rhs)},
        [&](const auto& a) {
          const KT s = a[0] + kiln::eye(n, -1, a[0].dtype()) * shift;
          return kiln::solve(s, a[1]) *
                 (kiln::det(s) + kiln::slogdet(s).logabsdet).unsqueeze(-1).unsqueeze(-1);
        },
        [&](const auto& a) {
          const TT s = wide(a[0]) + torch::eye(n, wide(a[0]).options()) * shift;
          return back(
              torch::linalg_solve(s, wide(a[1])) *
              (torch::linalg_det(s) + std::get<1>(torch::linalg_slogdet(s))).unsqueeze(-1).unsqueeze(-1));
        });
    compare_second(
        "cholesky of X X^T + n I", {leaf(square_shape)},
        [&](const auto& a) {
          return kiln::cholesky(kiln::matmul(a[0], a[0].transpose(-2, -1)) +
                                kiln::eye(n, -1, a[0].dtype()) * shift);
        },
        [&](const auto& a) {
          const TT x = wide(a[0]);
          return back(torch::linalg_cholesky(torch::matmul(x, x.transpose(-2, -1)) +
                                             torch::eye(n, x.options()) * shift));
        });
    compare_second(
        "qr's R, svd's singular values, eigh's eigenvalues", {leaf(tall)},
        [&](const auto& a) {
          const KT gram = kiln::matmul(a[0].transpose(-2, -1), a[0]);
          return kiln::square(kiln::qr(a[0]).r) + kiln::square(kiln::svd(a[0]).s).unsqueeze(-1) +
                 kiln::eigh(gram).eigenvalues.unsqueeze(-1);
        },
        [&](const auto& a) {
          const TT x = wide(a[0]), gram = torch::matmul(x.transpose(-2, -1), x);
          return back(std::get<1>(torch::linalg_qr(x)).square() +
                      torch::linalg_svdvals(x).square().unsqueeze(-1) +
                      std::get<0>(torch::linalg_eigh(gram)).unsqueeze(-1));
        });
  });
}
