#include "kiln/nn/init.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cuda/special_functions.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/rng.hpp"
#include "kiln/ops/elementwise.hpp"

namespace kiln::nn::init {

namespace {
void check_fillable(const Tensor& t, const char* op) {
  KILN_CHECK(t.defined(), "init::", op, ": the tensor is undefined (default-constructed)");
  KILN_CHECK(is_floating(t.dtype()), "init::", op, ": a tensor of shape ", fmt(t.shape()), " and dtype ",
             t.dtype(), "; initialisers fill float32 or float64 tensors");
}

// The draws are made on the host in the tensor's dtype and copied in, so a GPU tensor
// gets the CPU's values for the same seed.
Tensor fill_from(Tensor t, const Tensor& values) {
  NoGradGuard no_grad;
  t.copy_(values);
  return t;
}

void check_gain(double gain, const char* op) {
  KILN_CHECK(std::isfinite(gain) && gain >= 0, "init::", op, ": gain must be finite and >= 0, not ", gain);
}

// Fans of a weight (out, in, k1, k2, ...); the error names the initialiser asking.
Fans fans_of(const Tensor& t, const char* op) {
  KILN_CHECK(t.defined(), "init::", op, ": the tensor is undefined (default-constructed)");
  KILN_CHECK(t.dim() >= 2, "init::", op, ": fan_in and fan_out need a weight of at least 2 dimensions ",
             "(out, in, ...), got shape ", fmt(t.shape()),
             "; use uniform_ or normal_ for a bias or a vector");
  std::int64_t receptive = 1;
  for (std::int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

double fan_for(const Tensor& t, FanMode mode, const char* op) {
  const Fans f = fans_of(t, op);
  return static_cast<double>(mode == FanMode::FanIn ? f.fan_in : f.fan_out);
}
}  // namespace

double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv:
    case Nonlinearity::Sigmoid:
      return 1.0;
    case Nonlinearity::Tanh:
      return 5.0 / 3.0;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: {
      const double slope = param.value_or(0.01);
      KILN_CHECK(std::isfinite(slope), "init::calculate_gain: the LeakyReLU slope must be finite, not ",
                 slope);
      return std::sqrt(2.0 / (1.0 + slope * slope));
    }
    case Nonlinearity::SELU:
      return 0.75;
  }
  throw Error(detail::concat("init::calculate_gain: unknown nonlinearity ", static_cast<int>(nonlinearity)));
}

Fans calculate_fans(const Tensor& t) { return fans_of(t, "calculate_fans"); }

Tensor uniform_(Tensor t, double low, double high) {
  check_fillable(t, "uniform_");
  KILN_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high, "init::uniform_: the range [", low,
             ", ", high, ") must be finite with low <= high");
  if (t.numel() == 0) return t;
  return fill_from(t, rand(t.shape(), t.dtype()) * (high - low) + low);
}

Tensor normal_(Tensor t, double mean, double std) {
  check_fillable(t, "normal_");
  KILN_CHECK(std::isfinite(mean) && std::isfinite(std) && std >= 0, "init::normal_: mean ", mean, " and std ",
             std, " must be finite, std >= 0");
  if (t.numel() == 0) return t;
  return fill_from(t, randn(t.shape(), t.dtype()) * std + mean);
}

Tensor constant_(Tensor t, double value) {
  check_fillable(t, "constant_");
  NoGradGuard no_grad;
  t.fill_(value);
  return t;
}

namespace {
// The standard normal CDF (erf's inverse: erfinv_of, kernels/cuda/special_functions.hpp).
double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
}  // namespace

Tensor trunc_normal_(Tensor t, double mean, double std, double a, double b) {
  check_fillable(t, "trunc_normal_");
  KILN_CHECK(std::isfinite(mean) && std::isfinite(std) && std > 0 && a < b, "init::trunc_normal_: mean ",
             mean, " and std ", std, " must be finite, std > 0, and a ", a, " below b ", b);
  const double lo = normal_cdf((a - mean) / std), hi = normal_cdf((b - mean) / std);
  KILN_CHECK(hi - lo > 1e-12, "init::trunc_normal_: [", a, ", ", b, "] holds no mass of N(", mean, ", ", std,
             "^2) in double precision; move the range nearer the mean");
  std::vector<double> values(static_cast<std::size_t>(t.numel()));
  Generator& gen = default_generator();
  for (double& v : values) {
    const double u = (2 * lo - 1) + (2 * hi - 2 * lo) * gen.uniform();  // U(2 lo - 1, 2 hi - 1), as PyTorch
    v = std::clamp(cuda_kernels::erfinv_of(u) * std * std::sqrt(2.0) + mean, a, b);
  }
  if (values.empty()) return t;
  return fill_from(t, from_vector(values, t.shape()).to(t.dtype()));
}

Tensor orthogonal_(Tensor t, double gain) {
  check_fillable(t, "orthogonal_");
  check_gain(gain, "orthogonal_");
  KILN_CHECK(t.dim() >= 2, "init::orthogonal_: needs a tensor of at least 2 dimensions, got shape ",
             fmt(t.shape()));
  if (t.numel() == 0) return t;
  const std::int64_t rows = t.size(0), cols = t.numel() / rows;
  // Orthonormalise the columns of the taller orientation (m >= n) by modified Gram-Schmidt,
  // each column twice over (R's diagonal comes out positive).
  const bool wide = rows < cols;
  const std::int64_t m = wide ? cols : rows, n = wide ? rows : cols;
  const std::vector<double> drawn =
      randn({n, m}, kFloat64).to_vector<double>();  // column j: drawn[j * m ...]
  std::vector<double> q(drawn);
  for (std::int64_t j = 0; j < n; ++j) {
    double* v = q.data() + j * m;
    for (int pass = 0; pass < 2; ++pass)
      for (std::int64_t i = 0; i < j; ++i) {
        const double* u = q.data() + i * m;
        double r = 0;
        for (std::int64_t k = 0; k < m; ++k) r += u[k] * v[k];
        for (std::int64_t k = 0; k < m; ++k) v[k] -= r * u[k];
      }
    double norm2 = 0;
    for (std::int64_t k = 0; k < m; ++k) norm2 += v[k] * v[k];
    const double scale = 1 / std::sqrt(norm2);
    for (std::int64_t k = 0; k < m; ++k) v[k] *= scale;
  }
  for (double& v : q) v *= gain;
  // q holds the n columns of an (m, n) matrix one after another: as a row-major (n, m)
  // matrix it is already the wide orientation; the tall one is its transpose.
  Tensor w = from_vector(q, {n, m});
  if (!wide) w = w.t().contiguous();
  return fill_from(t, w.reshape(t.shape()).to(t.dtype()));
}

Tensor eye_(Tensor t) {
  check_fillable(t, "eye_");
  KILN_CHECK(t.dim() == 2, "init::eye_: needs a 2-D tensor, got shape ", fmt(t.shape()));
  std::vector<double> values(static_cast<std::size_t>(t.numel()), 0.0);
  for (std::int64_t i = 0; i < std::min(t.size(0), t.size(1)); ++i)
    values[static_cast<std::size_t>(i * t.size(1) + i)] = 1.0;
  if (values.empty()) return t;
  return fill_from(t, from_vector(values, t.shape()).to(t.dtype()));
}

Tensor zeros_(Tensor t) { return constant_(t, 0.0); }
Tensor ones_(Tensor t) { return constant_(t, 1.0); }

Tensor xavier_uniform_(Tensor t, double gain) {
  check_fillable(t, "xavier_uniform_");
  check_gain(gain, "xavier_uniform_");
  const Fans f = fans_of(t, "xavier_uniform_");
  if (t.numel() == 0) return t;
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(f.fan_in + f.fan_out));
  return uniform_(t, -bound, bound);
}

Tensor xavier_normal_(Tensor t, double gain) {
  check_fillable(t, "xavier_normal_");
  check_gain(gain, "xavier_normal_");
  const Fans f = fans_of(t, "xavier_normal_");
  if (t.numel() == 0) return t;
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(f.fan_in + f.fan_out)));
}

Tensor kaiming_uniform_(Tensor t, double a, FanMode mode, Nonlinearity nonlinearity) {
  check_fillable(t, "kaiming_uniform_");
  const double fan = fan_for(t, mode, "kaiming_uniform_");
  if (t.numel() == 0) return t;
  const double bound = std::sqrt(3.0) * calculate_gain(nonlinearity, a) / std::sqrt(fan);
  return uniform_(t, -bound, bound);
}

Tensor kaiming_normal_(Tensor t, double a, FanMode mode, Nonlinearity nonlinearity) {
  check_fillable(t, "kaiming_normal_");
  const double fan = fan_for(t, mode, "kaiming_normal_");
  if (t.numel() == 0) return t;
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(fan));
}

}  // namespace kiln::nn::init
