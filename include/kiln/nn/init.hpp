// nn::init: fill a parameter in place with one of the standard initialisations,
// with torch.nn.init's names, fans and gains.
//
//   nn::Linear fc(784, 256);
//   nn::init::kaiming_normal_(fc.weight, 0.0, nn::init::FanMode::FanIn, nn::init::Nonlinearity::ReLU);
//   nn::init::zeros_(fc.bias);
//
// Each function draws from kiln's generator (kiln::manual_seed) on the host, then copies
// the values into the tensor wherever it lives, so a parameter on a GPU gets the same
// values as on the CPU for the same seed. Filling is not recorded by autograd. The
// tensor must be floating point; a tensor with no elements is left as it is.
#pragma once

#include <cstdint>
#include <optional>

#include "kiln/core/tensor.hpp"

namespace kiln::nn::init {

enum class Nonlinearity { Linear, Conv, Sigmoid, Tanh, ReLU, LeakyReLU, SELU };
enum class FanMode { FanIn, FanOut };

// The gain that keeps activations' variance steady through the nonlinearity:
// 1 (Linear, Conv, Sigmoid), 5/3 (Tanh), sqrt 2 (ReLU), sqrt(2 / (1 + slope^2))
// (LeakyReLU; `param` is the negative slope, 0.01 when absent), 3/4 (SELU).
double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param = std::nullopt);

// For a weight (out, in, k1, k2, ...): fan_in = in * k1 * k2 ..., fan_out = out * k1 * k2 ...
// (a Linear weight is (out, in), a Conv2d weight (out, in / groups, kh, kw)).
// Needs at least 2 dimensions.
struct Fans {
  std::int64_t fan_in;
  std::int64_t fan_out;
};
Fans calculate_fans(const Tensor& t);

Tensor uniform_(Tensor t, double low = 0.0, double high = 1.0);  // U(low, high)
Tensor normal_(Tensor t, double mean = 0.0, double std = 1.0);   // N(mean, std^2)
Tensor constant_(Tensor t, double value);
// N(mean, std^2) restricted to [a, b] (torch.nn.init.trunc_normal_, e.g. a ViT's std 0.02
// weights): drawn by the inverse of the normal CDF over [CDF(a), CDF(b)], so never rejected.
Tensor trunc_normal_(Tensor t, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0);
// A (semi-)orthogonal matrix of t viewed as (size(0), the rest), times gain
// (torch.nn.init.orthogonal_, Saxe et al. 2013): the Q of a Gaussian matrix's QR with R's
// diagonal positive, so W W^T = gain^2 I (rows <= columns) or W^T W = gain^2 I.
Tensor orthogonal_(Tensor t, double gain = 1.0);
// The identity matrix (2-D t; ones on the diagonal of a non-square one).
Tensor eye_(Tensor t);
Tensor zeros_(Tensor t);
Tensor ones_(Tensor t);

// Glorot & Bengio: U(-b, b) with b = gain sqrt(6 / (fan_in + fan_out)), or
// N(0, s^2) with s = gain sqrt(2 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor t, double gain = 1.0);
Tensor xavier_normal_(Tensor t, double gain = 1.0);

// He et al.: s = gain / sqrt(fan) with gain = calculate_gain(nonlinearity, a) and fan the
// fan_in or fan_out of `mode`; U(-sqrt(3) s, sqrt(3) s), or N(0, s^2). `a` is the negative
// slope of a LeakyReLU (ignored for the other nonlinearities).
Tensor kaiming_uniform_(Tensor t, double a = 0.0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);
Tensor kaiming_normal_(Tensor t, double a = 0.0, FanMode mode = FanMode::FanIn,
                       Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);

}  // namespace kiln::nn::init
