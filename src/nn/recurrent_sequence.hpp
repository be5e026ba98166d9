// The recurrent cells' step, and one layer-direction's walk over a whole sequence as a
// single autograd node with its own backward through time.
#pragma once

#include <functional>

#include "kiln/core/tensor.hpp"
#include "kiln/nn/recurrent.hpp"

namespace kiln::nn::detail {

enum class CellKind { RNNTanh, RNNReLU, LSTM, GRU };

inline std::int64_t gate_count(CellKind kind) {
  return kind == CellKind::LSTM ? 4 : kind == CellKind::GRU ? 3 : 1;
}

// One step from the input's projection xw = x W_ihᵀ + b_ih, (N, G H), and the state h
// (and c), with what the backward reads. Recorded by autograd when its inputs need
// gradients (the cells use it so); the sequence below runs it without recording.
struct StepValues {
  Tensor h, c;       // the new state (c: LSTM only)
  Tensor sigmoids;   // the sigmoid gates side by side: LSTM i, f; GRU r, z
  Tensor candidate;  // LSTM tanh(g); GRU n
  Tensor out_gate;   // LSTM σ(o)
  Tensor tanh_c;     // LSTM tanh(c')
  Tensor hidden_n;   // GRU h W_hnᵀ + b_hn
  Tensor unprojected;  // LSTM with a projection: σ(o) tanh(c'), which W_hr turns into h
};
StepValues cell_step(CellKind kind, const Tensor& xw, const Tensor& h, const Tensor& c, const Tensor& w_hh,
                     const Tensor& b_hh);

// Runs one layer in one direction over xw (L, N, G H) from h0 (and c0), each (N, H), or h0
// (N, P) with an LSTM's projection w_hr (P, H) (undefined for none). One autograd node: its
// backward walks the steps in reverse, giving the gradients of xw, h0, c0, w_hh, b_hh and
// w_hr.
// keep (L, N, 1), of xw's dtype, or undefined for all ones: where it is 0 (a step past a
// sequence's end) the state stays as it was, so the forward direction ends each sequence
// at its own last step and the reverse one starts there.
struct SequenceOutput {
  Tensor steps;        // (L, N, H or P): the state h after each step, in time order
  Tensor final_state;  // (N, H): the final c (LSTM) or h
};
// xw_again recomputes xw from the layer's input as recorded ops, for a backward pass that
// records (create_graph), which walks the sequence again; without it the node keeps xw.
SequenceOutput run_sequence(CellKind kind, const Tensor& xw, const Tensor& h0, const Tensor& c0,
                            const Tensor& w_hh, const Tensor& b_hh, bool reverse,
                            const Tensor& keep = Tensor(), const Tensor& w_hr = Tensor(),
                            const std::function<Tensor()>& xw_again = {});

}  // namespace kiln::nn::detail
