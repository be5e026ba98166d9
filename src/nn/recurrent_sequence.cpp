// The recurrent cells' step, and a layer-direction's walk over the sequence as one
// autograd node. Recording every step's dozen ops would make the backward pay for each
// step's views of the sequence-wide tensors (a gradient the size of the whole sequence
// per view); the node below keeps each step's gate values and walks back through them.
// A backward pass that records (create_graph) walks the sequence again in recorded ops
// instead, so the layers differentiate to any order without keeping more.
#include "src/nn/recurrent_sequence.hpp"

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::nn::detail {

StepValues cell_step(CellKind kind, const Tensor& xw, const Tensor& h, const Tensor& c, const Tensor& w_hh,
                     const Tensor& b_hh) {
  const std::int64_t hs = w_hh.size(0) / gate_count(kind);  // H (h itself is narrower with a projection)
  StepValues v;
  if (kind == CellKind::GRU) {
    const Tensor hidden = linear(h, w_hh, b_hh);  // r, z, n
    v.hidden_n = hidden.narrow(-1, 2 * hs, hs);
    v.sigmoids = sigmoid(xw.narrow(-1, 0, 2 * hs) + hidden.narrow(-1, 0, 2 * hs));              // r, z
    v.candidate = tanh(xw.narrow(-1, 2 * hs, hs) + v.sigmoids.narrow(-1, 0, hs) * v.hidden_n);  // n
    v.h = v.candidate + v.sigmoids.narrow(-1, hs, hs) * (h - v.candidate);  // (1 − z) n + z h
    return v;
  }
  const Tensor pre = xw + linear(h, w_hh, b_hh);
  if (kind == CellKind::RNNTanh)
    v.h = tanh(pre);
  else if (kind == CellKind::RNNReLU)
    v.h = relu(pre);
  else {  // LSTM: i, f, g, o
    v.sigmoids = sigmoid(pre.narrow(-1, 0, 2 * hs));
    v.candidate = tanh(pre.narrow(-1, 2 * hs, hs));
    v.out_gate = sigmoid(pre.narrow(-1, 3 * hs, hs));
    v.c = v.sigmoids.narrow(-1, hs, hs) * c + v.sigmoids.narrow(-1, 0, hs) * v.candidate;
    v.tanh_c = tanh(v.c);
    v.h = v.out_gate * v.tanh_c;
  }
  return v;
}

namespace {

// One step's gradients, from those of its new state: of the input's projection xw, of
// the hidden projection (h W_hhᵀ + b_hh), of the old state where it reaches it other
// than through that projection (GRU's z h), and of the old cell state (LSTM).
struct StepGrads {
  Tensor xw, hidden, h_direct, c_prev;
};

Tensor sigmoid_slope(const Tensor& s) { return s * (1.0 - s); }  // σ' from σ
Tensor tanh_slope(const Tensor& t) { return 1.0 - t * t; }       // tanh' from tanh

StepGrads step_backward(CellKind kind, const StepValues& v, const Tensor& h_prev, const Tensor& c_prev,
                        const Tensor& dh, const Tensor& dc_next) {
  const std::int64_t hs = dh.size(-1);  // H: dh is the unprojected state's gradient
  StepGrads g;
  if (kind == CellKind::RNNTanh || kind == CellKind::RNNReLU) {
    g.xw = kind == CellKind::RNNTanh ? dh * tanh_slope(v.h) : where(v.h > 0.0, dh, 0.0);
    g.hidden = g.xw;
  } else if (kind == CellKind::LSTM) {
    const Tensor i = v.sigmoids.narrow(-1, 0, hs), f = v.sigmoids.narrow(-1, hs, hs);
    const Tensor dc = dc_next + dh * v.out_gate * tanh_slope(v.tanh_c);
    const Tensor d_sigmoids = cat({dc * v.candidate, dc * c_prev}, -1) * sigmoid_slope(v.sigmoids);
    g.xw = cat({d_sigmoids, dc * i * tanh_slope(v.candidate), dh * v.tanh_c * sigmoid_slope(v.out_gate)}, -1);
    g.hidden = g.xw;
    g.c_prev = dc * f;
  } else {
    const Tensor r = v.sigmoids.narrow(-1, 0, hs), z = v.sigmoids.narrow(-1, hs, hs);
    const Tensor d_n = dh * (1.0 - z) * tanh_slope(v.candidate);  // at n's pre-activation
    const Tensor d_sigmoids =
        cat({d_n * v.hidden_n, dh * (h_prev - v.candidate)}, -1) * sigmoid_slope(v.sigmoids);
    g.xw = cat({d_sigmoids, d_n}, -1);
    g.hidden = cat({d_sigmoids, d_n * r}, -1);
    g.h_direct = dh * z;
  }
  return g;
}

// The walk over the steps: the states h after each step, then the final c (LSTM) or h,
// flat in one tensor. With `steps` and `carried`, each step's values and the state carried
// on after it (the step's own where `keep` is 1, the one before where it is 0) are kept,
// in the order the steps ran. Recorded when grad mode is on and the inputs need gradients.
Tensor walk_sequence(CellKind kind, const Tensor& xw, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                     const Tensor& b_hh, bool reverse, const Tensor& keep, const Tensor& w_hr,
                     std::vector<StepValues>* steps, std::vector<LSTMState>* carried) {
  const std::int64_t length = xw.size(0);
  std::vector<Tensor> states(static_cast<std::size_t>(length));
  Tensor h = h0, c = c0;
  for (std::int64_t s = 0; s < length; ++s) {
    const std::int64_t t = reverse ? length - 1 - s : s;
    StepValues v = cell_step(kind, xw[t], h, c, w_hh, b_hh);
    if (w_hr.defined()) {
      v.unprojected = v.h;
      v.h = matmul(v.h, w_hr.t());
    }
    if (keep.defined()) {
      h = h + keep[t] * (v.h - h);
      if (c.defined()) c = c + keep[t] * (v.c - c);
    } else {
      h = v.h;
      c = v.c;
    }
    states[static_cast<std::size_t>(t)] = h;
    if (steps) {
      steps->push_back(std::move(v));
      carried->push_back({h, c});
    }
  }
  return cat({stack(states, 0).reshape({-1}), (kind == CellKind::LSTM ? c : h).reshape({-1})}, 0);
}

}  // namespace

SequenceOutput run_sequence(CellKind kind, const Tensor& xw, const Tensor& h0, const Tensor& c0,
                            const Tensor& w_hh, const Tensor& b_hh, bool reverse, const Tensor& keep,
                            const Tensor& w_hr, const std::function<Tensor()>& xw_again) {
  const bool record = should_record({xw, h0, c0, w_hh, b_hh, w_hr});
  const std::int64_t length = xw.size(0), n = h0.size(0), h_width = h0.size(-1);
  auto steps = std::make_shared<std::vector<StepValues>>();
  auto carried = std::make_shared<std::vector<LSTMState>>();
  // One tensor holds the node's output; the caller gets views of it.
  Tensor packed;
  {
    NoGradGuard no_grad;
    packed = walk_sequence(kind, xw, h0, c0, w_hh, b_hh, reverse, keep, w_hr, record ? steps.get() : nullptr,
                           record ? carried.get() : nullptr);
  }
  const std::int64_t state_values = length * n * h_width;
  const std::int64_t final_width = kind == CellKind::LSTM ? w_hh.size(0) / 4 : h_width;  // c is H wide
  const auto unpack = [state_values, length, n, h_width, final_width](const Tensor& flat) {
    return SequenceOutput{flat.narrow(0, 0, state_values).reshape({length, n, h_width}),
                          flat.narrow(0, state_values, n * final_width).reshape({n, final_width})};
  };
  if (!record) return unpack(packed);
  // While a walk records (create_graph), the rule walks the sequence again in recorded ops
  // from the graph's inputs (xw recomputed by xw_again, so that the node need not keep it)
  // and takes the gradients with a nested recorded grad(): any order.
  const std::vector<Tensor> inputs = {xw_again ? Tensor() : xw, h0, c0, w_hh, b_hh, w_hr};
  const auto recorded_grads = [kind, reverse, keep, inputs, xw_again](const Tensor& g_flat) {
    std::vector<Tensor> in = inputs;
    if (xw_again) in[0] = xw_again();
    const Tensor again =
        walk_sequence(kind, in[0], in[1], in[2], in[3], in[4], reverse, keep, in[5], nullptr, nullptr);
    return composite_gradients(again, in, g_flat);
  };
  const auto backward = [kind, reverse, steps, carried, keep, unpack, recorded_grads, h0 = h0.detach(),
                         c0 = c0.defined() ? c0.detach() : Tensor(), w_hh = w_hh.detach(),
                         w_hr = w_hr.defined() ? w_hr.detach() : Tensor(),
                         bias = b_hh.defined()](const Tensor& g_flat) {
    if (is_grad_enabled()) return recorded_grads(g_flat);
    const SequenceOutput g = unpack(g_flat);
    const std::int64_t n_steps = static_cast<std::int64_t>(steps->size());
    std::vector<Tensor> d_xw(steps->size()), d_hidden(steps->size()), h_before(steps->size());
    std::vector<Tensor> d_projected(w_hr.defined() ? steps->size() : 0), unprojected(d_projected.size());
    // The final h's gradient (RNN, GRU), or the final c's (LSTM), enters at the last step.
    Tensor dh_carry = kind == CellKind::LSTM ? Tensor() : g.final_state;
    Tensor dc_carry = kind == CellKind::LSTM ? g.final_state : Tensor();
    for (std::int64_t k = n_steps - 1; k >= 0; --k) {
      const std::int64_t t = reverse ? n_steps - 1 - k : k;
      const StepValues& v = (*steps)[static_cast<std::size_t>(k)];
      const Tensor h_prev = k > 0 ? (*carried)[static_cast<std::size_t>(k - 1)].h : h0;
      const Tensor c_prev = k > 0 ? (*carried)[static_cast<std::size_t>(k - 1)].c : c0;
      Tensor dh = dh_carry.defined() ? g.steps[t] + dh_carry : g.steps[t];
      Tensor dc = dc_carry, dh_past, dc_past;  // what skips the step where keep is 0
      if (keep.defined()) {
        dh_past = dh - keep[t] * dh;
        dh = keep[t] * dh;
        if (dc.defined()) {
          dc_past = dc - keep[t] * dc;
          dc = keep[t] * dc;
        }
      }
      if (w_hr.defined()) {  // back through h = m W_hrᵀ to m = σ(o) tanh(c')
        d_projected[static_cast<std::size_t>(t)] = dh;
        unprojected[static_cast<std::size_t>(t)] = v.unprojected;
        dh = matmul(dh, w_hr);
      }
      const StepGrads sg = step_backward(kind, v, h_prev, c_prev, dh, dc);
      d_xw[static_cast<std::size_t>(t)] = sg.xw;
      d_hidden[static_cast<std::size_t>(t)] = sg.hidden;
      h_before[static_cast<std::size_t>(t)] = h_prev;
      dh_carry = matmul(sg.hidden, w_hh);
      if (sg.h_direct.defined()) dh_carry = dh_carry + sg.h_direct;
      if (dh_past.defined()) dh_carry = dh_carry + dh_past;
      dc_carry = dc_past.defined() ? sg.c_prev + dc_past : sg.c_prev;
    }
    const Tensor grad_xw = stack(d_xw, 0);
    const Tensor hidden = kind == CellKind::GRU ? stack(d_hidden, 0) : grad_xw;  // (L, N, G H)
    const std::int64_t rows = hidden.size(0) * hidden.size(1);
    // Σ over steps and samples: W_hh's gradient is hiddenᵀ h_prev, b_hh's the column sums;
    // W_hr's, the projected states' gradients ᵀ the unprojected states.
    const Tensor grad_w =
        matmul(hidden.reshape({rows, hidden.size(2)}).t(), stack(h_before, 0).reshape({rows, h0.size(-1)}));
    Tensor grad_w_hr;
    if (w_hr.defined())
      grad_w_hr = matmul(stack(d_projected, 0).reshape({rows, w_hr.size(0)}).t(),
                         stack(unprojected, 0).reshape({rows, w_hr.size(1)}));
    return Grads{grad_xw, dh_carry, dc_carry, grad_w, bias ? sum(hidden, {0, 1}) : Tensor(), grad_w_hr};
  };
  const char* name = kind == CellKind::LSTM  ? "lstm_sequence"
                     : kind == CellKind::GRU ? "gru_sequence"
                                             : "rnn_sequence";
  attach_grad_fn(packed, name, {xw, h0, c0, w_hh, b_hh, w_hr}, backward, {h0, c0, w_hh, w_hr});
  mark_differentiable_backward(packed);
  return unpack(packed);
}

}  // namespace kiln::nn::detail
