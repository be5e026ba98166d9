// Normal, Bernoulli and Categorical (kiln/distributions.hpp), composed of tensor ops.
#include "kiln/distributions.hpp"

#include <cmath>
#include <limits>
#include <numbers>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln::distributions {

namespace {

// sample_shape followed by batch_shape.
Shape joined(const Shape& sample_shape, const Shape& batch_shape) {
  Shape out = sample_shape;
  out.insert(out.end(), batch_shape.begin(), batch_shape.end());
  return out;
}

void check_parameter(const char* what, const Tensor& t) {
  KILN_CHECK(t.defined(), what, ": the parameter is undefined");
  detail::check_floating(what, t);
}

double dtype_eps(DType dtype) {
  return dtype == kFloat32 ? std::numeric_limits<float>::epsilon() : std::numeric_limits<double>::epsilon();
}

}  // namespace

// ---- Normal ----------------------------------------------------------------------

Normal::Normal(Tensor loc_in, Tensor scale_in) {
  check_parameter("Normal", loc_in);
  check_parameter("Normal", scale_in);
  detail::check_same_dtype_device("Normal", {loc_in, scale_in});
  batch_shape_ = broadcast_shapes(loc_in.shape(), scale_in.shape(), "Normal");
  loc = loc_in.expand(batch_shape_);
  scale = scale_in.expand(batch_shape_);
}

Tensor Normal::rsample(const Shape& sample_shape) const {
  const Tensor eps = randn(joined(sample_shape, batch_shape_), loc.dtype(), loc.device());
  return loc + scale * eps;
}

Tensor Normal::sample(const Shape& sample_shape) const {
  NoGradGuard no_grad;
  return rsample(sample_shape).detach();
}

Tensor Normal::log_prob(const Tensor& value) const {
  const Tensor z = (value - loc) / scale;
  return square(z) * -0.5 - log(scale) - 0.5 * std::log(2 * std::numbers::pi);
}

Tensor Normal::entropy() const { return log(scale) + (0.5 + 0.5 * std::log(2 * std::numbers::pi)); }

Tensor Normal::cdf(const Tensor& value) const {
  return erfc((value - loc) / scale * -std::numbers::sqrt2 / 2) * 0.5;
}

Tensor Normal::icdf(const Tensor& p) const {
  return loc + scale * erfinv(p * 2.0 - 1.0) * std::numbers::sqrt2;
}

Tensor Normal::variance() const { return square(scale); }

// ---- Bernoulli -------------------------------------------------------------------

Bernoulli::Bernoulli(Tensor p, Tensor l)
    : probs(std::move(p)), logits(std::move(l)), batch_shape_(logits.shape()) {}

Bernoulli Bernoulli::from_probs(const Tensor& probs) {
  check_parameter("Bernoulli", probs);
  const double eps = dtype_eps(probs.dtype());
  const Tensor clamped = clamp(probs, eps, 1 - eps);
  return Bernoulli(probs, log(clamped) - log1p(-clamped));
}

Bernoulli Bernoulli::from_logits(const Tensor& logits) {
  check_parameter("Bernoulli", logits);
  return Bernoulli(sigmoid(logits), logits);
}

Tensor Bernoulli::sample(const Shape& sample_shape) const {
  NoGradGuard no_grad;
  const Shape shape = joined(sample_shape, batch_shape_);
  return lt(rand(shape, probs.dtype(), probs.device()), probs.detach().expand(shape)).to(probs.dtype());
}

Tensor Bernoulli::log_prob(const Tensor& value) const { return value * logits - softplus(logits); }

Tensor Bernoulli::entropy() const { return softplus(logits) - probs * logits; }

Tensor Bernoulli::variance() const { return probs * (1.0 - probs); }

// ---- Categorical -----------------------------------------------------------------

Categorical::Categorical(Tensor p, Tensor l)
    : probs(std::move(p)),
      logits(std::move(l)),
      batch_shape_(logits.shape().begin(), logits.shape().end() - 1) {}

Categorical Categorical::from_probs(const Tensor& probs) {
  check_parameter("Categorical", probs);
  KILN_CHECK(probs.dim() >= 1 && probs.size(-1) >= 1,
             "Categorical: probs must have a last dimension of classes, got shape ", fmt(probs.shape()));
  const Tensor normalised = probs / sum(probs, {-1}, /*keepdim=*/true);
  // A class of probability 0 gets the log of the dtype's least normal number, finite, so
  // that no 0 * inf reaches a gradient (it adds 0 to the entropy and the KL).
  const double tiny =
      probs.dtype() == kFloat32 ? std::numeric_limits<float>::min() : std::numeric_limits<double>::min();
  return Categorical(normalised, log(clamp(normalised, tiny, 1.0)));
}

Categorical Categorical::from_logits(const Tensor& logits) {
  check_parameter("Categorical", logits);
  KILN_CHECK(logits.dim() >= 1 && logits.size(-1) >= 1,
             "Categorical: logits must have a last dimension of classes, got shape ", fmt(logits.shape()));
  const Tensor normalised = log_softmax(logits, -1);
  return Categorical(exp(normalised), normalised);
}

Tensor Categorical::sample(const Shape& sample_shape) const {
  NoGradGuard no_grad;
  const std::int64_t k = num_classes();
  const Shape shape = joined(sample_shape, batch_shape_);
  Shape with_classes = shape;
  with_classes.push_back(k);
  // The class is the number of cumulative probabilities below a uniform draw.
  const Tensor cdf = cumsum(probs.detach(), -1).expand(with_classes);
  const Tensor u = rand(shape, probs.dtype(), probs.device()).unsqueeze(-1);
  const Tensor below = sum(lt(cdf, u).to(kInt64), {-1});
  return clamp(below.to(kFloat64), 0.0, static_cast<double>(k - 1)).to(kInt64);
}

Tensor Categorical::log_prob(const Tensor& value) const {
  KILN_CHECK(value.dtype() == kInt64, "Categorical.log_prob: values must be int64 class indices, got ",
             dtype_name(value.dtype()));
  const Shape shape = broadcast_shapes(value.shape(), batch_shape_, "Categorical.log_prob");
  Shape with_classes = shape;
  with_classes.push_back(num_classes());
  Shape index_shape = shape;
  index_shape.push_back(1);
  return gather(logits.expand(with_classes), -1, value.expand(shape).reshape(index_shape).contiguous())
      .squeeze(-1);
}

Tensor Categorical::entropy() const { return -sum(where(probs > 0.0, probs * logits, 0.0), {-1}); }

// ---- KL divergences --------------------------------------------------------------

Tensor kl_divergence(const Normal& p, const Normal& q) {
  const Tensor ratio = square(p.scale / q.scale);
  return (ratio + square((p.loc - q.loc) / q.scale) - 1.0 - log(ratio)) * 0.5;
}

Tensor kl_divergence(const Bernoulli& p, const Bernoulli& q) {
  return p.probs * (logsigmoid(p.logits) - logsigmoid(q.logits)) +
         (1.0 - p.probs) * (logsigmoid(-p.logits) - logsigmoid(-q.logits));
}

Tensor kl_divergence(const Categorical& p, const Categorical& q) {
  KILN_CHECK(p.num_classes() == q.num_classes(), "kl_divergence: the categoricals have ", p.num_classes(),
             " and ", q.num_classes(), " classes; they must have the same");
  return sum(where(p.probs > 0.0, p.probs * (p.logits - q.logits), 0.0), {-1});
}

}  // namespace kiln::distributions
