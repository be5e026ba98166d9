// Recurrent layers, as torch.nn.RNN, LSTM and GRU and their cells: the same gate
// equations, the same parameters under the same names and shapes, so a PyTorch state dict
// loads as it is. Built from linear, sigmoid, tanh and the elementwise ops, so they run
// (and train) on either device.
//
//   nn::LSTM lstm(nn::LSTMOptions(32, 64).num_layers(2).batch_first(true));
//   auto [out, h_n, c_n] = lstm.forward(x, Tensor(), Tensor());  // x (N, L, 32) -> out (N, L, 64)
//
// The input's projection by weight_ih is one GEMM over the whole sequence; each step then
// adds h W_hhᵀ + b_hh and applies the gates (with H = hidden_size, rows of the weights in
// PyTorch's order):
//   RNN:  h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)            (or relu)
//   LSTM: i, f, g, o = the four H-wide blocks of that sum          (weights (4H, .))
//         c' = σ(f) c + σ(i) tanh(g),  h' = σ(o) tanh(c')
//   GRU:  r, z from the first two blocks of that sum: σ(.)          (weights (3H, .))
//         n = tanh(x_n + r (h W_hnᵀ + b_hn)),  h' = (1 − z) n + z h
// Every parameter starts as U(−1/√H, 1/√H), as in PyTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/nn/module.hpp"
#include "kiln/nn/options.hpp"

namespace kiln::nn {

enum class RNNNonlinearity { Tanh, ReLU };

// The options of RNN, LSTM and GRU (one struct under three names, as the layers share
// them; `nonlinearity` is the plain RNN's only).
struct RecurrentOptions {
  RecurrentOptions(std::int64_t input_size, std::int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}
  KILN_OPTION(std::int64_t, input_size)
  KILN_OPTION(std::int64_t, hidden_size)
  KILN_OPTION(std::int64_t, num_layers)  // stacked: layer l + 1 reads layer l's output
  KILN_OPTION(bool, bias)                // b_ih and b_hh
  KILN_OPTION(bool, batch_first)         // (N, L, features) instead of PyTorch's default (L, N, features)
  KILN_OPTION(double, dropout)           // on each layer's output but the last's, in training only
  KILN_OPTION(bool, bidirectional)       // a second pass from the end; outputs joined: 2 H features
  KILN_OPTION(RNNNonlinearity, nonlinearity)  // RNN only
  // LSTM only: h' = (σ(o) tanh(c')) W_hrᵀ, P = proj_size features (0: no projection)
  KILN_OPTION(std::int64_t, proj_size)
private:
  std::int64_t input_size_, hidden_size_, num_layers_ = 1, proj_size_ = 0;
  bool bias_ = true, batch_first_ = false;
  double dropout_ = 0.0;
  bool bidirectional_ = false;
  RNNNonlinearity nonlinearity_ = RNNNonlinearity::Tanh;
};
using RNNOptions = RecurrentOptions;
using LSTMOptions = RecurrentOptions;
using GRUOptions = RecurrentOptions;

// The options of the cells: one step of one layer.
struct RecurrentCellOptions {
  RecurrentCellOptions(std::int64_t input_size, std::int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}
  KILN_OPTION(std::int64_t, input_size)
  KILN_OPTION(std::int64_t, hidden_size)
  KILN_OPTION(bool, bias)
  KILN_OPTION(RNNNonlinearity, nonlinearity)  // RNNCell only
private:
  std::int64_t input_size_, hidden_size_;
  bool bias_ = true;
  RNNNonlinearity nonlinearity_ = RNNNonlinearity::Tanh;
};
using RNNCellOptions = RecurrentCellOptions;
using LSTMCellOptions = RecurrentCellOptions;
using GRUCellOptions = RecurrentCellOptions;

// One layer-direction's parameters: weight_ih (G H, in), weight_hh (G H, H), bias_ih and
// bias_hh (G H) or undefined, with G = 1 (RNN), 4 (LSTM), 3 (GRU). An LSTM with proj_size
// P has weight_hh (4 H, P) and weight_hr (P, H), which projects each new h.
struct RecurrentWeights {
  Tensor weight_ih, weight_hh, bias_ih, bias_hh, weight_hr;
};

// What a layer returns: the last layer's output at every step, (L, N, D H) (or (N, L, D H)
// with batch_first, (L, D H) for an unbatched input), with D = 2 when bidirectional; and
// each layer-direction's final state, (num_layers D, N, H) in the order layer 0 forward,
// layer 0 reverse, layer 1 forward, ...; c_n is the LSTM's only. With proj_size P, the
// output and h_n have P features in place of H (c_n keeps H), as h0 must.
struct RecurrentOutput {
  Tensor output, h_n, c_n;
};

// RNN, LSTM and GRU: the layers and directions of one cell, parameters named as PyTorch
// names them: weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0 (and weight_hr_l0 with
// proj_size), then weight_ih_l0_reverse, ... for the reverse direction, then _l1 ...
class RecurrentLayer : public Module {
public:
  // The output at every step, from zero initial states.
  Tensor forward(const Tensor& input) override;
  std::string description() const override;
  void reset_parameters();
  RecurrentOptions options;
  std::vector<RecurrentWeights> weights;  // layer l, direction d at l * D + d

protected:
  enum class Cell { RNN, LSTM, GRU };
  RecurrentLayer(const RecurrentOptions& options, Cell cell);
  // input (L, N, in), (N, L, in) or (L, in); h0 and c0 (num_layers D, N, H) or
  // (num_layers D, H), undefined for zeros; lengths as the layers' forward.
  RecurrentOutput run(const Tensor& input, const Tensor& h0, const Tensor& c0,
                      const std::vector<std::int64_t>& lengths);

private:
  const char* name() const;  // "RNN", "LSTM" or "GRU"
  Cell cell_;
};

// Each layer's forward with initial states takes, optionally, `lengths`: each sequence's
// length (N values in 1 .. L) in a batch padded at the end. Past its end a sequence's
// output is 0 and its state is left as it was, so h_n (and c_n) hold the state at its
// last step, and the reverse direction starts from that step: the numbers PyTorch's
// packed sequences (pack_padded_sequence) give.
class RNN : public RecurrentLayer {
public:
  explicit RNN(const RNNOptions& options) : RecurrentLayer(options, Cell::RNN) {}
  RNN(std::int64_t input_size, std::int64_t hidden_size) : RNN(RNNOptions(input_size, hidden_size)) {}
  using RecurrentLayer::forward;
  RecurrentOutput forward(const Tensor& input, const Tensor& h0,
                          const std::vector<std::int64_t>& lengths = {}) {
    return run(input, h0, Tensor(), lengths);
  }
};

class LSTM : public RecurrentLayer {
public:
  explicit LSTM(const LSTMOptions& options) : RecurrentLayer(options, Cell::LSTM) {}
  LSTM(std::int64_t input_size, std::int64_t hidden_size) : LSTM(LSTMOptions(input_size, hidden_size)) {}
  using RecurrentLayer::forward;
  // h0 and c0 both given, or both undefined (zeros).
  RecurrentOutput forward(const Tensor& input, const Tensor& h0, const Tensor& c0,
                          const std::vector<std::int64_t>& lengths = {}) {
    return run(input, h0, c0, lengths);
  }
};

class GRU : public RecurrentLayer {
public:
  explicit GRU(const GRUOptions& options) : RecurrentLayer(options, Cell::GRU) {}
  GRU(std::int64_t input_size, std::int64_t hidden_size) : GRU(GRUOptions(input_size, hidden_size)) {}
  using RecurrentLayer::forward;
  RecurrentOutput forward(const Tensor& input, const Tensor& h0,
                          const std::vector<std::int64_t>& lengths = {}) {
    return run(input, h0, Tensor(), lengths);
  }
};

// The cells: one step, x (N, in) or (in) with the state (N, H) or (H); an undefined state
// is zeros. Parameters weight_ih, weight_hh, bias_ih, bias_hh.
class RecurrentCell : public Module {
public:
  std::string description() const override;
  void reset_parameters();
  RecurrentCellOptions options;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;

protected:
  RecurrentCell(const RecurrentCellOptions& options, std::int64_t gates, const char* name);

private:
  const char* name_;
};

class RNNCell : public RecurrentCell {
public:
  explicit RNNCell(const RNNCellOptions& options) : RecurrentCell(options, 1, "RNNCell") {}
  RNNCell(std::int64_t input_size, std::int64_t hidden_size)
      : RNNCell(RNNCellOptions(input_size, hidden_size)) {}
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()); }
  Tensor forward(const Tensor& x, const Tensor& h);  // h'
};

struct LSTMState {
  Tensor h, c;
};

class LSTMCell : public RecurrentCell {
public:
  explicit LSTMCell(const LSTMCellOptions& options) : RecurrentCell(options, 4, "LSTMCell") {}
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size)
      : LSTMCell(LSTMCellOptions(input_size, hidden_size)) {}
  Tensor forward(const Tensor& x) override { return forward(x, LSTMState()).h; }
  LSTMState forward(const Tensor& x, const LSTMState& state);  // (h', c')
};

class GRUCell : public RecurrentCell {
public:
  explicit GRUCell(const GRUCellOptions& options) : RecurrentCell(options, 3, "GRUCell") {}
  GRUCell(std::int64_t input_size, std::int64_t hidden_size)
      : GRUCell(GRUCellOptions(input_size, hidden_size)) {}
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()); }
  Tensor forward(const Tensor& x, const Tensor& h);  // h'
};

// Sequences of different lengths (L_i, *) as one padded batch for the layers above
// (torch.nn.utils.rnn.pad_sequence): (L_max, N, *), or (N, L_max, *) with batch_first,
// each sequence followed (or, with pad_left, preceded) by padding_value. Pass the lengths
// to the layer's forward beside it. Differentiable in every sequence.
Tensor pad_sequence(const std::vector<Tensor>& sequences, bool batch_first = false,
                    double padding_value = 0.0, bool pad_left = false);
// The other way (torch.nn.utils.rnn.unpad_sequence): each sequence's first lengths[i]
// steps of a padded batch, as views.
std::vector<Tensor> unpad_sequence(const Tensor& padded, const std::vector<std::int64_t>& lengths,
                                   bool batch_first = false);

}  // namespace kiln::nn
