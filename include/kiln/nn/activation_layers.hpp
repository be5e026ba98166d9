// Activations as layers: nn::ReLU ... nn::PReLU, nn::SELU and kin, nn::Softmax,
// nn::LogSoftmax, nn::Softmin, nn::Softmax2d. (kiln/nn/layers.hpp includes this header.)
#pragma once

#include <string>

#include "kiln/nn/module.hpp"
#include "kiln/ops/activation.hpp"

namespace kiln::nn {

class ReLU : public Module {
public:
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "ReLU()"; }
};
class LeakyReLU : public Module {
public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  double negative_slope;
};
// rrelu: a random slope per negative entry in training, their mean in evaluation.
class RReLU : public Module {
public:
  explicit RReLU(double lower = 1.0 / 8, double upper = 1.0 / 3);
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  double lower, upper;
};
class ELU : public Module {
public:
  explicit ELU(double alpha = 1.0) : alpha(alpha) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  double alpha;
};
class Sigmoid : public Module {
public:
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "Sigmoid()"; }
};
class Tanh : public Module {
public:
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "Tanh()"; }
};
class GELU : public Module {  // exact, or GELU(GeluApproximation::tanh)
public:
  explicit GELU(GeluApproximation approximate = GeluApproximation::none) : approximate(approximate) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  GeluApproximation approximate;
};
class Softplus : public Module {
public:
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "Softplus()"; }
};

class SiLU : public Module {  // x * sigmoid(x)
public:
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "SiLU()"; }
};
class Mish : public Module {  // x tanh(softplus(x))
public:
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "Mish()"; }
};
class Hardsigmoid : public Module {
public:
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "Hardsigmoid()"; }
};
class Hardswish : public Module {
public:
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "Hardswish()"; }
};
class Hardtanh : public Module {
public:
  explicit Hardtanh(double min_val = -1.0, double max_val = 1.0);
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  double min_val, max_val;
};
class ReLU6 : public Module {
public:
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "ReLU6()"; }
};
// A leaky ReLU whose slope is learned (kiln::prelu): one slope, or one per channel.
class PReLU : public Module {
public:
  explicit PReLU(std::int64_t num_parameters = 1, double init = 0.25);
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  Tensor weight;  // (num_parameters)
};

// Layers of a function with no settings: nn::SELU, nn::LogSigmoid, nn::Softsign, nn::Tanhshrink.
template <Tensor (*Fn)(const Tensor&), const char* Name>
class FunctionLayer : public Module {
public:
  Tensor forward(const Tensor& x) override { return Fn(x); }
  std::string description() const override { return Name; }
};
inline constexpr char kSeluName[] = "SELU()", kLogSigmoidName[] = "LogSigmoid()",
                      kSoftsignName[] = "Softsign()", kTanhshrinkName[] = "Tanhshrink()";
using SELU = FunctionLayer<selu, kSeluName>;
using LogSigmoid = FunctionLayer<logsigmoid, kLogSigmoidName>;
using Softsign = FunctionLayer<softsign, kSoftsignName>;
using Tanhshrink = FunctionLayer<tanhshrink, kTanhshrinkName>;

class CELU : public Module {
public:
  explicit CELU(double alpha = 1.0) : alpha(alpha) {}
  Tensor forward(const Tensor& x) override { return celu(x, alpha); }
  std::string description() const override;
  double alpha;
};
class GLU : public Module {  // halves along dim: a sigmoid(b)
public:
  explicit GLU(std::int64_t dim = -1) : dim(dim) {}
  Tensor forward(const Tensor& x) override { return glu(x, dim); }
  std::string description() const override { return "GLU(dim=" + std::to_string(dim) + ")"; }
  std::int64_t dim;
};
class Softshrink : public Module {
public:
  explicit Softshrink(double lambd = 0.5) : lambd(lambd) {}
  Tensor forward(const Tensor& x) override { return softshrink(x, lambd); }
  std::string description() const override;
  double lambd;
};
class Hardshrink : public Module {
public:
  explicit Hardshrink(double lambd = 0.5) : lambd(lambd) {}
  Tensor forward(const Tensor& x) override { return hardshrink(x, lambd); }
  std::string description() const override;
  double lambd;
};
class Threshold : public Module {  // x where x > threshold, else value
public:
  Threshold(double threshold, double value) : threshold(threshold), value(value) {}
  Tensor forward(const Tensor& x) override { return kiln::threshold(x, threshold, value); }
  std::string description() const override;
  double threshold, value;
};

// softmax / log_softmax / softmin along `dim`, as a layer (the last of a Sequential, say).
class Softmin : public Module {
public:
  explicit Softmin(std::int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& x) override { return softmin(x, dim); }
  std::string description() const override { return "Softmin(dim=" + std::to_string(dim) + ")"; }
  std::int64_t dim;
};
class Softmax : public Module {
public:
  explicit Softmax(std::int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "Softmax(dim=" + std::to_string(dim) + ")"; }
  std::int64_t dim;
};
// softmax over the channels of (N, C, H, W) or (C, H, W) images: dim -3.
class Softmax2d : public Module {
public:
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "Softmax2d()"; }
};
class LogSoftmax : public Module {
public:
  explicit LogSoftmax(std::int64_t dim) : dim(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override { return "LogSoftmax(dim=" + std::to_string(dim) + ")"; }
  std::int64_t dim;
};

}  // namespace kiln::nn
