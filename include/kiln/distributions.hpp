// Probability distributions with PyTorch's torch.distributions interface: Normal,
// Bernoulli and Categorical, each with a batch of parameters (broadcast together), and
// their KL divergences. Everything is composed of differentiable ops, so it runs on the
// parameters' device and gradients reach the parameters through log_prob, entropy,
// kl_divergence and Normal's rsample (the reparameterisation trick).
//
//   distributions::Normal q(mu, logstd.exp());                  // the encoder's posterior
//   const Tensor z = q.rsample();                               // differentiable in mu, logstd
//   const Tensor kl = distributions::kl_divergence(q, distributions::Normal(zeros_like(mu), ones_like(mu)));
//
//   distributions::Categorical policy = distributions::Categorical::from_logits(scores);
//   const Tensor action = policy.sample();                      // int64, no gradient
//   const Tensor loss = -(policy.log_prob(action) * advantage).mean();
//
// Samples are drawn from kiln's generator (kiln::manual_seed), so they repeat for a seed.
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln::distributions {

// N(loc, scale^2), elementwise; loc and scale broadcast to the batch shape, scale > 0.
class Normal {
public:
  Normal(Tensor loc, Tensor scale);
  const Shape& batch_shape() const { return batch_shape_; }
  // sample_shape + batch_shape draws: sample() carries no gradient, rsample() is
  // loc + scale * eps, differentiable in both.
  Tensor sample(const Shape& sample_shape = {}) const;
  Tensor rsample(const Shape& sample_shape = {}) const;
  Tensor log_prob(const Tensor& value) const;  // -(x - loc)^2 / (2 scale^2) - log scale - log(2 pi) / 2
  Tensor entropy() const;                      // 1/2 + log(2 pi) / 2 + log scale
  Tensor cdf(const Tensor& value) const;       // erfc(-(x - loc) / (scale sqrt 2)) / 2
  Tensor icdf(const Tensor& p) const;          // loc + scale sqrt 2 erfinv(2 p - 1)
  Tensor mean() const { return loc; }
  Tensor stddev() const { return scale; }
  Tensor variance() const;
  Tensor loc, scale;  // both of the batch shape

private:
  Shape batch_shape_;
};

// Bernoulli(p): 1 with probability p. Made from probabilities or, more stably, from logits
// (p = sigmoid(logits)); log_prob and entropy work from the logits either way
// (probabilities are clamped into [eps, 1 - eps] of their dtype to make them).
class Bernoulli {
public:
  static Bernoulli from_probs(const Tensor& probs);
  static Bernoulli from_logits(const Tensor& logits);
  const Shape& batch_shape() const { return batch_shape_; }
  Tensor sample(const Shape& sample_shape = {}) const;  // 0 / 1 in the parameters' dtype
  Tensor log_prob(const Tensor& value) const;           // x logits - softplus(logits)
  Tensor entropy() const;                               // softplus(logits) - p logits
  Tensor mean() const { return probs; }
  Tensor variance() const;
  Tensor probs, logits;

private:
  Bernoulli(Tensor probs, Tensor logits);
  Shape batch_shape_;
};

// Categorical over the last dimension's K classes (its batch shape is the rest). Made from
// probabilities (normalised to sum 1) or logits (any scale; log_softmax normalises them).
class Categorical {
public:
  static Categorical from_probs(const Tensor& probs);
  static Categorical from_logits(const Tensor& logits);
  const Shape& batch_shape() const { return batch_shape_; }
  std::int64_t num_classes() const { return logits.size(-1); }
  // sample_shape + batch_shape class indices, int64 (the inverse of the CDF at a uniform draw).
  Tensor sample(const Shape& sample_shape = {}) const;
  // log p[value]; value (int64) broadcasts against the batch shape.
  Tensor log_prob(const Tensor& value) const;
  Tensor entropy() const;  // -sum p log p (a class of probability 0 adds 0)
  Tensor probs, logits;    // logits normalised: log_softmax of what was given

private:
  Categorical(Tensor probs, Tensor logits);
  Shape batch_shape_;
};

// KL(p || q), of the broadcast batch shape, differentiable in both sides' parameters:
//   Normal:      log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2
//   Bernoulli:   p (log p - log q) + (1 - p) (log(1 - p) - log(1 - q)), from the logits
//   Categorical: sum_k p_k (log p_k - log q_k)
Tensor kl_divergence(const Normal& p, const Normal& q);
Tensor kl_divergence(const Bernoulli& p, const Bernoulli& q);
Tensor kl_divergence(const Categorical& p, const Categorical& q);

}  // namespace kiln::distributions
