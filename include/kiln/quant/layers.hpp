// Quantized layers and post-training quantization (PTQ) of trained models.
//
//   kiln::quant::QuantConfig config;
//   config.format = kiln::quant::Format::q4_0;
//   config.activations = kiln::quant::Activations::calibrated;   // static scales
//   config.calibration = {batch0, batch1};                          // float inputs of the model
//   auto qmodel = kiln::quant::quantize(model, config);            // model: an nn::Sequential
//   kiln::io::save("model.q4.safetensors", qmodel->state_dict());
//
// quantize() replaces each nn::Linear and nn::Conv2d (groups = 1) of a Sequential,
// nested Sequentials included, by its quantized twin; the other children are
// shared with the float model. A ReLU right after a quantized layer runs inside
// that layer's output stage (its place is kept by a FusedReLU, so keys stay the same),
// and so does a 2x2 / stride-2 max pool right after a quantized convolution (or after
// its fused ReLU), kept by a FusedMaxPool2d. A ReLU that stays float and is followed by
// a max pool runs after the pool instead (MaxPool2dReLU: the same values, fewer of them).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/nn/layers.hpp"
#include "kiln/quant/linear.hpp"

namespace kiln::quant {

// How activations become int8: per row at run time, or with one scale per layer
// measured on calibration data (max |input| / 127).
enum class Activations { dynamic, calibrated };

// What a quantized layer keeps in its state_dict (format in the names):
//   int8:  "weight_int8" (int8, out x in), "weight_scale" (float32, out)
//   q4_0:  "weight_q4_0" (uint8, out x in/32*20: the raw BlockQ4_0 rows)
//   "bias" (float32) when the layer has one; "input_scale" (float32, 1) when calibrated.
class QuantizedLayer : public nn::Module {
public:
  const QuantizedWeight& weight() const { return weight_; }
  Activations activations() const { return activations_; }
  float input_scale() const { return options_.input_scale; }
  bool fused_relu() const { return options_.relu; }
  void set_fused_relu(bool on) { options_.relu = on; }
  bool fused_max_pool() const { return options_.max_pool_2x2; }

  // Calibration: while on, forward() runs the float layer it was made from and
  // records max |input|; stopping sets input_scale = max / 127.
  void begin_calibration();
  void end_calibration();

protected:
  QuantizedLayer(const Tensor& float_weight_2d, const Tensor& bias, Format format, Activations activations);
  void state_loaded() override;
  Tensor observe(const Tensor& x);  // records max|x| while calibrating
  bool calibrating() const { return calibrating_; }
  std::string format_description() const;

  QuantizedWeight weight_;
  Tensor bias_, float_weight_;  // float_weight_: kept only until calibration ends
  LinearOptions options_;

private:
  Activations activations_;
  Tensor values_, scale_, input_scale_;  // the registered buffers
  bool calibrating_ = false;
  float observed_max_ = 0.0f;
};

class Linear : public QuantizedLayer {
public:
  Linear(const nn::Linear& source, Format format, Activations activations = Activations::dynamic);
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
};

class Conv2d : public QuantizedLayer {
public:
  Conv2d(const nn::Conv2d& source, Format format, Activations activations = Activations::dynamic);
  // Pools the output 2x2 with stride 2 inside the output stage (after the ReLU).
  void set_fused_max_pool(bool on) { options_.max_pool_2x2 = on; }
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  nn::Conv2dOptions options;
};

// Stands where a ReLU was fused into the layer before it (or into the max pool after
// it, see MaxPool2dReLU): passes its input on.
class FusedReLU : public nn::Module {
public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string description() const override { return "FusedReLU()"; }
};

// Stands where a 2x2 max pool was fused into the convolution before it.
class FusedMaxPool2d : public nn::Module {
public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string description() const override { return "FusedMaxPool2d()"; }
};

// relu(max_pool2d(x)): stands where a float ReLU -> MaxPool2d pair was. Max commutes with
// ReLU (both are monotone), so pooling first gives the same values while the ReLU
// reads and writes a quarter of them (a 2x2 pool).
class MaxPool2dReLU : public nn::Module {
public:
  explicit MaxPool2dReLU(const nn::PoolOptions& options) : options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string description() const override;
  nn::PoolOptions options;
};

struct LayerChoice {
  bool quantize = true;  // false: keep this layer in float32
  Format format = Format::int8;
  Activations activations = Activations::dynamic;
};

struct QuantConfig {
  Format format = Format::int8;
  Activations activations = Activations::dynamic;
  // Float input batches run through the model to measure static scales (needed
  // when any layer is calibrated).
  std::vector<Tensor> calibration;
  // Per-layer overrides, keyed by the layer's dotted name in the model ("0", "3", "features.1").
  std::map<std::string, LayerChoice> layers;
  // Layers with fewer inputs per output than this (in_features, or in_channels * kh * kw)
  // stay float32 unless `layers` names them: their products are too small for int8 to
  // pay for quantizing and packing (a first convolution on 1-channel images has 9).
  std::int64_t min_inputs = 32;
  bool fuse_relu = true;
  bool fuse_max_pool = true;  // a MaxPool2d(2) (stride 2, no padding) after a quantized conv
  bool pool_before_relu = true;  // a float ReLU -> MaxPool2d pair runs as MaxPool2dReLU
};

// A quantized copy of a trained float model (the float model is left unchanged).
std::shared_ptr<nn::Sequential> quantize(const nn::Sequential& model, const QuantConfig& config = {});

}  // namespace kiln::quant
