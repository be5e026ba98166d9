// Weight and spectral normalisation (kiln/nn/weight_norms.hpp) and the module hooks that
// run them: the functions against their definitions, float64 gradchecks, the parameters
// and buffers a module gets, recomputation at each call, state dicts, removal, errors.
#include <cmath>
#include <vector>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// The 2-norm of each slice of v along dim 0, by loops (v contiguous, rows of v.numel() / rows).
std::vector<double> row_norms(const Tensor& v) {
  const auto x = v.contiguous().to_vector<double>();
  const std::int64_t rows = v.size(0), cols = v.numel() / rows;
  std::vector<double> out(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (std::int64_t c = 0; c < cols; ++c) s += x[r * cols + c] * x[r * cols + c];
    out[r] = std::sqrt(s);
  }
  return out;
}

double largest_singular_value(const Tensor& w) { return svdvals(w.to(kFloat64)).to_vector<double>()[0]; }

// A module whose parameter is not bound to a member: it cannot be normalised.
struct Unbound : nn::Module {
  Unbound() { register_parameter("weight", ones({2, 2})); }
  std::string description() const override { return "Unbound()"; }
};

}  // namespace

TEST_CASE("weight_norm_weight is g v / |v| per slice, and its gradcheck") {
  manual_seed(1);
  const Tensor v = rand64({4, 3, 2}), g = rand64({4, 1, 1});
  const Tensor w = nn::weight_norm_weight(v, g, 0);
  const auto norms = row_norms(v);
  const auto vv = v.to_vector<double>(), gv = g.to_vector<double>();
  std::vector<double> expected(vv.size());
  for (std::size_t i = 0; i < vv.size(); ++i) expected[i] = gv[i / 6] * vv[i] / norms[i / 6];
  check_same(w, Tensor(from_vector(expected, v.shape())), 1e-12);
  CHECK(nn::norm_except_dim(v, 0).shape() == Shape{4, 1, 1});
  CHECK(nn::norm_except_dim(v, 1).shape() == Shape{1, 3, 1});
  CHECK(nn::norm_except_dim(v, -1).shape() == Shape{1, 1, 2});
  CHECK(nn::norm_except_dim(v, std::nullopt).dim() == 0);
  // dim 1: the norm of each column slice; no dim: one norm for all.
  check_same(
      nn::weight_norm_weight(v, ones({1, 3, 1}, kFloat64), 1).transpose(0, 1).contiguous().reshape({3, 8}),
      Tensor(normalize(v.transpose(0, 1).contiguous().reshape({3, 8}), 2, 1)), 1e-12);
  check_same(nn::weight_norm_weight(v, scalar_tensor(2.0, kFloat64), std::nullopt),
             v * (2.0 / norm(v).item<double>()), 1e-12);
  for (const std::optional<std::int64_t> dim :
       {std::optional<std::int64_t>(0), std::optional<std::int64_t>(2), std::optional<std::int64_t>()}) {
    Tensor gd = rand64(nn::norm_except_dim(v, dim).shape());
    KILN_CHECK_GRAD([dim](const In& in) { return nn::weight_norm_weight(in[0], in[1], dim); },
                    {v.clone().requires_grad_(), gd.requires_grad_()});
  }
  CHECK_THROWS_WITH_AS(nn::weight_norm_weight(v, rand64({3}), 0),
                       doctest::Contains("one value per slice along dim"), Error);
  CHECK_THROWS_WITH_AS(nn::norm_except_dim(v, 3), doctest::Contains("dim 3 is out of range"), Error);
}

TEST_CASE("spectral_norm_weight: the power iteration finds sigma, gradcheck with fixed vectors") {
  manual_seed(2);
  const Tensor w = rand64({6, 4});
  Tensor u = normalize(rand64({6}), 2, 0), v = normalize(rand64({4}), 2, 0);
  Tensor out = nn::spectral_norm_weight(w, u, v, 0, 200);
  CHECK(std::abs(largest_singular_value(out) - 1.0) < 1e-9);
  // u, v are now the top singular vectors: sigma = u^T W v is the largest singular value.
  CHECK(std::abs(sum(u * matmul(w, v.unsqueeze(1)).squeeze(1)).item<double>() - largest_singular_value(w)) <
        1e-9);
  // Without steps the vectors stay as they are and sigma is u^T W v with them.
  const Tensor u0 = normalize(rand64({6}), 2, 0), v0 = normalize(rand64({4}), 2, 0);
  Tensor uk = u0.clone(), vk = v0.clone();
  const double sigma = sum(u0 * matmul(w, v0.unsqueeze(1)).squeeze(1)).item<double>();
  check_same(nn::spectral_norm_weight(w, uk, vk, 0, 0), w / sigma, 1e-12);
  check_same(uk, u0, 0);
  // A 4-D weight seen along dim 1: (3, 2*5*2) rows.
  const Tensor w4 = rand64({2, 3, 5, 2});
  Tensor u4 = normalize(rand64({3}), 2, 0), v4 = normalize(rand64({20}), 2, 0);
  const Tensor fixed_u = u4.clone(), fixed_v = v4.clone();
  KILN_CHECK_GRAD(
      [&](const In& in) {
        Tensor a = fixed_u.clone(), b = fixed_v.clone();
        return nn::spectral_norm_weight(in[0], a, b, 1, 0);
      },
      {w4.clone().requires_grad_()});
  Tensor u_bad = rand64({4});
  CHECK_THROWS_WITH_AS(nn::spectral_norm_weight(w, u_bad, v, 0, 1),
                       doctest::Contains("must be vectors of (6) and (4)"), Error);
  CHECK_THROWS_WITH_AS(nn::spectral_norm_weight(w, u, v, 0, -1), doctest::Contains("n_power_iterations"),
                       Error);
}

TEST_CASE("nn::weight_norm on a Linear: parameters, the same outputs, recomputed after a step") {
  manual_seed(3);
  auto fc = std::make_shared<nn::Linear>(5, 3);
  const Tensor x = randn({4, 5});
  const Tensor before = (*fc)(x).detach();
  const Tensor w0 = fc->weight.detach().clone();
  nn::weight_norm(fc);
  std::vector<std::string> names;
  for (const auto& [n, _] : fc->named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"bias", "weight_g", "weight_v"});
  const auto params = fc->state_dict();
  CHECK(params.at("weight_g").shape() == Shape{3, 1});
  check_same(params.at("weight_g").reshape({3}), Tensor(from_vector(row_norms(w0), {3})), 1e-6);
  check_same(params.at("weight_v"), w0, 0);
  check_same((*fc)(x), before, 1e-6);

  // Gradients reach g and v through the recomputed weight.
  auto g = params.at("weight_g"), v = params.at("weight_v");
  const Tensor target = randn({4, 3});
  mse_loss((*fc)(x), target).backward();
  const Tensor gv = v.detach().clone().requires_grad_(), gg = g.detach().clone().requires_grad_();
  mse_loss(linear(x, nn::weight_norm_weight(gv, gg, 0), fc->bias.detach()), target).backward();
  check_same(g.grad(), gg.grad(), 1e-6);
  check_same(v.grad(), gv.grad(), 1e-6);

  optim::SGD opt(fc->parameters(), optim::SGDOptions(0.5));
  opt.step();
  const Tensor after = (*fc)(x);
  check_same(after, linear(x, nn::weight_norm_weight(v.detach(), g.detach(), 0), fc->bias.detach()), 1e-6);
  check_same(fc->weight, nn::weight_norm_weight(v.detach(), g.detach(), 0), 1e-6);
  CHECK(max(abs(after - before)).item<double>() > 1e-3);
}

TEST_CASE("nn::weight_norm: state dicts, dims, removal") {
  manual_seed(4);
  auto a = nn::weight_norm(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 4, 3)), "weight", 1);
  CHECK(a->state_dict().at("weight_g").shape() == Shape{1, 2, 1, 1});
  auto b = nn::weight_norm(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 4, 3)), "weight", 1);
  b->load_state_dict(a->state_dict());
  check_same(b->weight, a->weight, 0);  // refreshed by the load, before any call
  const Tensor x = randn({1, 2, 6, 6});
  check_same((*b)(x), (*a)(x), 0);

  const Tensor w = a->weight.detach().clone();
  nn::remove_weight_norm(*a);
  std::vector<std::string> names;
  for (const auto& [n, _] : a->named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"bias", "weight"});
  check_same(a->weight, w, 0);
  CHECK(a->weight.requires_grad());
  // The weight is the parameter again: changing it changes the output.
  {
    NoGradGuard no_grad;
    a->weight.mul_(2.0);
  }
  check_same((*a)(x), conv2d(x, w * 2.0, a->bias.detach()), 1e-5);

  auto whole = nn::weight_norm(std::make_shared<nn::Linear>(3, 2), "weight", std::nullopt);
  CHECK(whole->state_dict().at("weight_g").dim() == 0);
  CHECK(std::abs(whole->state_dict().at("weight_g").item<double>() -
                 norm(whole->state_dict().at("weight_v")).item<double>()) < 1e-6);
}

TEST_CASE("nn::spectral_norm: buffers, sigma converges in training, eval leaves u and v") {
  manual_seed(5);
  auto fc = nn::spectral_norm(std::make_shared<nn::Linear>(8, 6));
  std::vector<std::string> names, buffers;
  for (const auto& [n, _] : fc->named_parameters()) names.push_back(n);
  for (const auto& [n, _] : fc->named_buffers()) buffers.push_back(n);
  CHECK(names == std::vector<std::string>{"bias", "weight_orig"});
  CHECK(buffers == std::vector<std::string>{"weight_u", "weight_v"});
  const auto state = fc->state_dict();
  CHECK(state.at("weight_u").shape() == Shape{6});
  CHECK(state.at("weight_v").shape() == Shape{8});
  CHECK(std::abs(norm(state.at("weight_u")).item<double>() - 1.0) < 1e-6);

  const Tensor x = randn({3, 8});
  for (int i = 0; i < 60; ++i) (*fc)(x);
  CHECK(std::abs(largest_singular_value(fc->weight) - 1.0) < 1e-4);
  check_same(fc->weight * largest_singular_value(state.at("weight_orig")), state.at("weight_orig"), 1e-4);

  fc->eval();
  const Tensor u = state.at("weight_u").clone();
  {
    NoGradGuard no_grad;
    Tensor(state.at("weight_orig")).mul_(3.0);
  }
  const Tensor y = (*fc)(x);
  check_same(state.at("weight_u"), u, 0);
  check_same(y, linear(x, fc->weight.detach(), fc->bias.detach()), 1e-6);
  CHECK(std::abs(largest_singular_value(fc->weight) - 1.0) < 1e-4);  // sigma scales with W

  // ConvTranspose weights are (in, out / groups, kH, kW): the output dim is 1 there.
  auto up = nn::spectral_norm(std::make_shared<nn::ConvTranspose2d>(nn::ConvTranspose2dOptions(4, 6, 3)));
  CHECK(up->state_dict().at("weight_u").shape() == Shape{6});
  CHECK(up->state_dict().at("weight_v").shape() == Shape{36});
  auto conv = nn::spectral_norm(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(4, 6, 3)));
  CHECK(conv->state_dict().at("weight_u").shape() == Shape{6});

  const Tensor before_removal = fc->weight.detach().clone();
  nn::remove_spectral_norm(*fc);
  names.clear();
  for (const auto& [n, _] : fc->named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"bias", "weight"});
  CHECK(fc->named_buffers().empty());
  check_same(fc->weight, before_removal, 1e-6);
}

TEST_CASE("nn::spectral_norm: two calls before one backward keep their own weights") {
  // Each training call steps u and v, so the two calls use different sigmas; the gradient
  // of their sum is the sum of the two calls' gradients, each with its own vectors.
  manual_seed(6);
  auto fc = nn::spectral_norm(std::make_shared<nn::Linear>(4, 3));
  auto state = fc->state_dict();
  Tensor u = state.at("weight_u").clone(), v = state.at("weight_v").clone();
  const Tensor orig = state.at("weight_orig");
  const Tensor x1 = randn({2, 4}), x2 = randn({5, 4});
  const Tensor y1 = (*fc)(x1);
  const Tensor y2 = (*fc)(x2);
  (sum(y1) + sum(square(y2))).backward();

  const Tensor w = orig.detach().clone().requires_grad_();
  const Tensor w1 = nn::spectral_norm_weight(w, u, v, 0, 1);
  const Tensor w2 = nn::spectral_norm_weight(w, u, v, 0, 1);
  CHECK(max(abs(w1 - w2)).item<double>() > 1e-6);  // the sigmas differ
  (sum(linear(x1, w1, fc->bias.detach())) + sum(square(linear(x2, w2, fc->bias.detach())))).backward();
  check_same(orig.grad(), w.grad(), 1e-5);
  check_same(state.at("weight_u"), u, 1e-6);
}

TEST_CASE("weight norms on recurrent weights and through Sequential") {
  manual_seed(7);
  auto lstm = std::make_shared<nn::LSTM>(nn::LSTMOptions(3, 4));
  nn::weight_norm(*lstm, "weight_hh_l0");
  const auto state = lstm->state_dict();
  CHECK(state.count("weight_hh_l0_g") == 1);
  CHECK(state.count("weight_hh_l0") == 0);
  const Tensor x = randn({5, 2, 3});
  sum((*lstm)(x)).backward();
  CHECK(state.at("weight_hh_l0_g").grad().defined());
  CHECK(state.at("weight_hh_l0_v").grad().defined());

  auto fc = std::make_shared<nn::Linear>(3, 2);
  auto model = std::make_shared<nn::Sequential>(
      std::initializer_list<std::shared_ptr<nn::Module>>{fc, std::make_shared<nn::ReLU>()});
  nn::weight_norm(*fc);
  Tensor g = fc->state_dict().at("weight_g");
  {
    NoGradGuard no_grad;
    g.mul_(0.0);
  }
  // The chain calls its children, so the pre-hook sees the zeroed g.
  check_same((*model)(randn({4, 3})), relu(fc->bias.detach().unsqueeze(0).expand({4, 2})), 1e-7);
}

TEST_CASE("spectral_norm on graph layers, called with their graph") {
  manual_seed(8);
  const auto a_hat = graph::normalize_symmetric(graph::CsrMatrix::undirected(4, {{0, 1}, {1, 2}, {2, 3}}));
  auto conv = nn::spectral_norm(std::make_shared<nn::GCNConv>(5, 3));
  const Tensor x = randn({4, 5});
  for (int i = 0; i < 40; ++i) (*conv)(a_hat, x);
  CHECK(std::abs(largest_singular_value(conv->weight) - 1.0) < 1e-4);
  check_same((*conv)(a_hat, x), conv->forward(a_hat, x), 1e-6);
  auto sage = nn::weight_norm(std::make_shared<nn::SAGEConv>(5, 3), "weight_neigh");
  Tensor g = sage->state_dict().at("weight_neigh_g");
  {
    NoGradGuard no_grad;
    g.mul_(0.0);
  }
  const auto mean_adj = graph::normalize_rows(graph::CsrMatrix::undirected(4, {{0, 1}, {1, 2}}));
  const Tensor out = (*sage)(mean_adj, x);
  check_same(out, linear(x, sage->weight_self, sage->bias), 1e-6);  // the neighbours' share is gone
}

TEST_CASE("weight norms refuse what they cannot do") {
  auto fc = std::make_shared<nn::Linear>(3, 2);
  CHECK_THROWS_WITH_AS(nn::weight_norm(*fc, "scale"),
                       doctest::Contains("has no parameter 'scale' (its own: weight, bias)"), Error);
  CHECK_THROWS_WITH_AS(nn::weight_norm(*fc, "weight", 2), doctest::Contains("dim 2 is out of range"), Error);
  nn::weight_norm(*fc);
  CHECK_THROWS_WITH_AS(nn::spectral_norm(*fc), doctest::Contains("already has weight_norm"), Error);
  CHECK_THROWS_WITH_AS(nn::remove_spectral_norm(*fc), doctest::Contains("has no spectral_norm"), Error);
  CHECK_THROWS_WITH_AS(nn::weight_norm(*fc, "weight_g"), doctest::Contains("not bound to a member"), Error);
  nn::SpectralNormOptions bad;
  bad.n_power_iterations = -1;
  CHECK_THROWS_WITH_AS(nn::spectral_norm(*std::make_shared<nn::Linear>(3, 2), "weight", bad),
                       doctest::Contains("n_power_iterations must be >= 0"), Error);
  Unbound unbound;
  CHECK_THROWS_WITH_AS(nn::spectral_norm(unbound), doctest::Contains("not bound to a member"), Error);
}

TEST_CASE("Module hooks: pre-hooks and forward hooks run on calls, not on forward()") {
  nn::Linear fc(3, 2);
  int pre = 0;
  Tensor seen;
  const auto pre_id = fc.register_forward_pre_hook([&](nn::Module&) { ++pre; });
  const auto id = fc.register_forward_hook([&](nn::Module&, Tensor& out) {
    seen = out.detach();
    out = out * 2.0;
  });
  const Tensor x = randn({4, 3});
  const Tensor y = fc(x);
  CHECK(pre == 1);
  check_same(y, seen * 2.0, 0);
  fc.forward(x);
  CHECK(pre == 1);
  fc.remove_hook(id);
  check_same(fc(x), fc.forward(x), 0);
  CHECK(pre == 2);
  fc.remove_hook(pre_id);
  fc.remove_hook(pre_id);  // again: nothing
  fc(x);
  CHECK(pre == 2);
  // Modules of two inputs run them too.
  nn::CosineSimilarity cos;
  int calls = 0;
  cos.register_forward_pre_hook([&](nn::Module&) { ++calls; });
  cos(randn({2, 3}), randn({2, 3}));
  CHECK(calls == 1);
}
