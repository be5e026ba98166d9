// bernoulli, multinomial, poisson and normal. bernoulli and normal are comparisons and
// arithmetic on rand / randn, so they run on either device; multinomial and poisson draw
// on the host in the generator's order (a tensor on a GPU goes there and back).
#include "kiln/ops/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/rng.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

std::vector<double> host_values(const Tensor& t) { return t.detach().to(Device::cpu()).to_vector<double>(); }

// A tensor of `values` in dtype, on device.
Tensor from_host(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  return from_vector(values).reshape(shape).to(dtype).to(device);
}

// With replacement: the class whose cumulative weight first exceeds a uniform point of
// the total (a class of weight 0 never does).
void draw_with_replacement(const double* w, std::int64_t k, std::int64_t n, Generator& g, std::int64_t* out) {
  std::vector<double> cumulative(static_cast<std::size_t>(k));
  double total = 0.0;
  std::int64_t last = 0;
  for (std::int64_t c = 0; c < k; ++c) {
    total += w[c];
    cumulative[static_cast<std::size_t>(c)] = total;
    if (w[c] > 0) last = c;
  }
  for (std::int64_t s = 0; s < n; ++s) {
    const double point = g.uniform() * total;
    const auto c = std::upper_bound(cumulative.begin(), cumulative.end(), point) - cumulative.begin();
    out[s] = std::min<std::int64_t>(c, last);  // a product rounded up to the total
  }
}

// Without replacement: each class waits an exponential time of rate w (E / w with E ~
// Exp(1)); the first n to arrive, in order of arrival, are distributed as n successive
// draws that each take a class from the weights of those not yet drawn.
void draw_without_replacement(const double* w, std::int64_t k, std::int64_t n, Generator& g,
                              std::int64_t* out) {
  std::vector<std::pair<double, std::int64_t>> arrivals(static_cast<std::size_t>(k));
  for (std::int64_t c = 0; c < k; ++c) {
    const double wait = -std::log1p(-g.uniform());  // Exp(1); 1 - u lies in (0, 1]
    arrivals[static_cast<std::size_t>(c)] = {w[c] > 0 ? wait / w[c] : std::numeric_limits<double>::infinity(),
                                             c};
  }
  std::partial_sort(arrivals.begin(), arrivals.begin() + n, arrivals.end());
  for (std::int64_t s = 0; s < n; ++s) out[s] = arrivals[static_cast<std::size_t>(s)].second;
}

// A Poisson(rate) count. Below 10 by multiplying uniforms until their product drops under
// exp(-rate); from 10 on by Hormann's transformed rejection with squeeze (PTRS, 1993),
// whose expected number of tries stays near 1.1 for every rate.
double poisson_count(double rate, Generator& g) {
  if (rate == 0) return 0;
  if (rate < 10) {
    const double limit = std::exp(-rate);
    double product = g.uniform(), count = 0;
    while (product > limit) {
      product *= g.uniform();
      ++count;
    }
    return count;
  }
  const double root = std::sqrt(rate), log_rate = std::log(rate);
  const double b = 0.931 + 2.53 * root, a = -0.059 + 0.02483 * b;
  const double inverse_alpha = 1.1239 + 1.1328 / (b - 3.4), v_r = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const double u = g.uniform() - 0.5, v = g.uniform();
    const double us = 0.5 - std::abs(u);
    const double k = std::floor((2 * a / us + b) * u + rate + 0.43);
    if (us >= 0.07 && v <= v_r) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + std::log(inverse_alpha) - std::log(a / (us * us) + b) <=
        -rate + k * log_rate - std::lgamma(k + 1))
      return k;
  }
}

void check_probabilities(const char* op, const Tensor& p) {
  detail::check_floating(op, p);
  KILN_CHECK(p.numel() == 0 || all(ge(p.detach(), 0.0) & le(p.detach(), 1.0)).item() != 0, op,
             ": probabilities of shape ", fmt(p.shape()), " must each lie in [0, 1] (and not be NaN)");
}

}  // namespace

Tensor bernoulli(const Tensor& p) {
  check_probabilities("bernoulli", p);
  NoGradGuard no_grad;
  return lt(rand(p.shape(), p.dtype(), p.device()), p.detach()).to(p.dtype());
}

Tensor bernoulli(const Tensor& x, double p) {
  detail::check_floating("bernoulli", x);
  KILN_CHECK(p >= 0 && p <= 1, "bernoulli: probability ", p, " must lie in [0, 1]");
  NoGradGuard no_grad;
  return lt(rand(x.shape(), x.dtype(), x.device()), p).to(x.dtype());
}

Tensor multinomial(const Tensor& probs, std::int64_t num_samples, bool replacement) {
  detail::check_floating("multinomial", probs);
  KILN_CHECK((probs.dim() == 1 || probs.dim() == 2) && probs.size(-1) >= 1, "multinomial: probs of shape ",
             fmt(probs.shape()), " must be (classes) or (rows, classes) with at least one class");
  KILN_CHECK(num_samples >= 0, "multinomial: num_samples = ", num_samples, " must be >= 0");
  const std::int64_t k = probs.size(-1), rows = probs.dim() == 2 ? probs.size(0) : 1;
  const std::vector<double> w = host_values(probs);
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* row = w.data() + r * k;
    std::int64_t nonzero = 0;
    for (std::int64_t c = 0; c < k; ++c) {
      KILN_CHECK(std::isfinite(row[c]) && row[c] >= 0, "multinomial: weight ", row[c], " (row ", r,
                 ", class ", c, ") must be finite and >= 0");
      nonzero += row[c] > 0;
    }
    KILN_CHECK(nonzero > 0, "multinomial: row ", r, " of probs (shape ", fmt(probs.shape()),
               ") has no positive weight to draw from");
    KILN_CHECK(replacement || num_samples <= nonzero, "multinomial: ", num_samples,
               " draws without replacement from row ", r, ", which has only ", nonzero,
               " classes of positive weight; draw fewer or pass replacement = true");
  }
  Shape shape{num_samples};
  if (probs.dim() == 2) shape.insert(shape.begin(), rows);
  Tensor out = Tensor::empty(shape, kInt64);
  std::int64_t* o = out.data_ptr<std::int64_t>();
  Generator& g = default_generator();
  for (std::int64_t r = 0; r < rows; ++r)
    (replacement ? draw_with_replacement : draw_without_replacement)(w.data() + r * k, k, num_samples, g,
                                                                     o + r * num_samples);
  return out.to(probs.device());
}

Tensor poisson(const Tensor& rates) {
  detail::check_floating("poisson", rates);
  std::vector<double> counts = host_values(rates);
  Generator& g = default_generator();
  for (double& c : counts) {
    KILN_CHECK(std::isfinite(c) && c >= 0, "poisson: rate ", c, " must be finite and >= 0");
    c = poisson_count(c, g);
  }
  return from_host(counts, rates.shape(), rates.dtype(), rates.device());
}

Tensor normal(const Tensor& mean, const Tensor& std) {
  detail::check_floating("normal", mean);
  detail::check_same_dtype_device("normal", {mean, std});
  KILN_CHECK(std.numel() == 0 || all(ge(std.detach(), 0.0)).item() != 0, "normal: std of shape ",
             fmt(std.shape()), " must be >= 0 everywhere (and not NaN)");
  const Shape shape = broadcast_shapes(mean.shape(), std.shape(), "normal");
  NoGradGuard no_grad;
  return mean.detach() + std.detach() * randn(shape, mean.dtype(), mean.device());
}

Tensor normal(const Tensor& mean, double std) { return normal(mean, full_like(mean, std)); }

Tensor normal(double mean, const Tensor& std) { return normal(full_like(std, mean), std); }

Tensor normal(double mean, double std, const Shape& shape, DType dtype, Device device) {
  KILN_CHECK(std >= 0, "normal: std = ", std, " must be >= 0");
  return normal(full(shape, mean, dtype, device), std);
}

}  // namespace kiln
