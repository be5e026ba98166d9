// RNN, LSTM and GRU layers and cells: the gate equations of one step, shared by both,
// and the walk over layers, directions and time.
#include "kiln/nn/recurrent.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "kiln/core/factories.hpp"
#include "kiln/nn/init.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/nn/recurrent_sequence.hpp"

namespace kiln::nn {

namespace {

using detail::CellKind;

CellKind cell_kind(bool lstm, bool gru, RNNNonlinearity act) {
  return lstm                           ? CellKind::LSTM
         : gru                          ? CellKind::GRU
         : act == RNNNonlinearity::ReLU ? CellKind::RNNReLU
                                        : CellKind::RNNTanh;
}

// U(−1/√H, 1/√H) for every parameter, as PyTorch's recurrent layers.
void init_uniform(const std::vector<Tensor*>& tensors, std::int64_t hidden) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  for (Tensor* t : tensors)
    if (t->defined()) init::uniform_(*t, -bound, bound);
}

void check_sizes(const char* name, std::int64_t input_size, std::int64_t hidden_size) {
  KILN_CHECK(input_size > 0 && hidden_size > 0, name, ": input_size ", input_size, " and hidden_size ",
             hidden_size, " must be positive");
}

}  // namespace

// ---- RNN, LSTM, GRU ---------------------------------------------------------------------

const char* RecurrentLayer::name() const {
  return cell_ == Cell::LSTM ? "LSTM" : cell_ == Cell::GRU ? "GRU" : "RNN";
}

RecurrentLayer::RecurrentLayer(const RecurrentOptions& o, Cell cell) : options(o), cell_(cell) {
  const char* name = this->name();
  check_sizes(name, o.input_size(), o.hidden_size());
  KILN_CHECK(o.num_layers() > 0, name, ": num_layers ", o.num_layers(), " must be positive");
  KILN_CHECK(o.dropout() >= 0 && o.dropout() < 1, name, ": dropout ", o.dropout(), " must be in [0, 1)");
  KILN_CHECK(cell == Cell::RNN || o.nonlinearity() == RNNNonlinearity::Tanh, name,
             ": the nonlinearity option is the plain RNN's; ", name, " has its own gates");
  KILN_CHECK(o.proj_size() == 0 || cell == Cell::LSTM, name, ": proj_size is the LSTM's only");
  KILN_CHECK(o.proj_size() >= 0 && o.proj_size() < o.hidden_size(), name, ": proj_size ", o.proj_size(),
             " must be in 0 .. hidden_size - 1 = ", o.hidden_size() - 1, " (0: no projection)");
  const std::int64_t h = o.hidden_size(), out = o.proj_size() ? o.proj_size() : h;  // h's width
  const std::int64_t g =
      detail::gate_count(cell_kind(cell == Cell::LSTM, cell == Cell::GRU, o.nonlinearity()));
  const std::int64_t directions = o.bidirectional() ? 2 : 1;
  // Reserved up front: the parameters bind to these members, which must not move.
  weights.reserve(static_cast<std::size_t>(o.num_layers() * directions));
  for (std::int64_t layer = 0; layer < o.num_layers(); ++layer)
    for (std::int64_t d = 0; d < directions; ++d) {
      const std::string suffix = "_l" + std::to_string(layer) + (d == 1 ? "_reverse" : "");
      const std::int64_t in = layer == 0 ? o.input_size() : directions * out;
      RecurrentWeights& w = weights.emplace_back();
      register_parameter("weight_ih" + suffix, w.weight_ih, empty({g * h, in}));
      register_parameter("weight_hh" + suffix, w.weight_hh, empty({g * h, out}));
      if (o.bias()) {
        register_parameter("bias_ih" + suffix, w.bias_ih, empty({g * h}));
        register_parameter("bias_hh" + suffix, w.bias_hh, empty({g * h}));
      }
      if (o.proj_size()) register_parameter("weight_hr" + suffix, w.weight_hr, empty({out, h}));
    }
  reset_parameters();
}

void RecurrentLayer::reset_parameters() {
  for (RecurrentWeights& w : weights)
    init_uniform({&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh, &w.weight_hr}, options.hidden_size());
}

Tensor RecurrentLayer::forward(const Tensor& input) { return run(input, Tensor(), Tensor(), {}).output; }

RecurrentOutput RecurrentLayer::run(const Tensor& input, const Tensor& h0, const Tensor& c0,
                                    const std::vector<std::int64_t>& lengths) {
  const char* name = this->name();
  const RecurrentOptions& o = options;
  const std::int64_t directions = o.bidirectional() ? 2 : 1, hs = o.hidden_size();
  const std::int64_t states = o.num_layers() * directions;
  KILN_CHECK((input.dim() == 3 || input.dim() == 2) && input.size(-1) == o.input_size(), name,
             ": input of shape ", fmt(input.shape()), " must be ",
             o.batch_first() ? "(N, length, " : "(length, N, ", o.input_size(), "), or (length, ",
             o.input_size(), ") for one sequence");
  const bool batched = input.dim() == 3;
  // Time first from here on: (L, N, in).
  Tensor x = !batched ? input.unsqueeze(1) : o.batch_first() ? input.transpose(0, 1) : input;
  const std::int64_t length = x.size(0), n = x.size(1);
  KILN_CHECK(length > 0, name, ": input of shape ", fmt(input.shape()), " has no steps");
  KILN_CHECK(cell_ == Cell::LSTM || !c0.defined(), name, ": only an LSTM has a cell state c0");
  KILN_CHECK(h0.defined() == c0.defined() || cell_ != Cell::LSTM, name,
             ": give both h0 and c0, or neither (zeros)");
  // h's width is proj_size with a projection, c's always hidden_size.
  const auto initial = [&](const Tensor& given, const char* what, std::int64_t width,
                           const char* width_name) {
    if (!given.defined()) return zeros({states, n, width}, x.dtype(), x.device());
    const Shape state_shape = batched ? Shape{states, n, width} : Shape{states, width};
    KILN_CHECK(given.shape() == state_shape, name, ": ", what, " of shape ", fmt(given.shape()), " must be ",
               fmt(state_shape), " (num_layers", directions == 2 ? " * 2" : "", ", ", batched ? "N, " : "",
               width_name, ")");
    return batched ? given : given.unsqueeze(1);
  };
  // Where each sequence still runs: (L, N, 1), 1 before its length and 0 after; undefined
  // when every sequence fills the length.
  Tensor keep;
  if (!lengths.empty()) {
    KILN_CHECK(batched && static_cast<std::int64_t>(lengths.size()) == n, name, ": ", lengths.size(),
               " lengths for an input of shape ", fmt(input.shape()),
               "; give one per sequence of the batch (", n, ")");
    std::vector<double> ones_before(static_cast<std::size_t>(length * n));
    bool padded = false;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t len = lengths[static_cast<std::size_t>(i)];
      KILN_CHECK(len >= 1 && len <= length, name, ": length ", len, " of sequence ", i, " must be in 1 .. ",
                 length, ", the input's length");
      padded = padded || len < length;
      for (std::int64_t t = 0; t < len; ++t) ones_before[static_cast<std::size_t>(t * n + i)] = 1;
    }
    if (padded) keep = from_vector(ones_before, {length, n, 1}).to(x.dtype()).to(x.device());
  }
  const Tensor h_init =
      o.proj_size() ? initial(h0, "h0", o.proj_size(), "proj_size") : initial(h0, "h0", hs, "hidden_size");
  const Tensor c_init = cell_ == Cell::LSTM ? initial(c0, "c0", hs, "hidden_size") : Tensor();

  std::vector<Tensor> h_last, c_last;
  for (std::int64_t layer = 0; layer < o.num_layers(); ++layer) {
    std::vector<Tensor> outputs;
    for (std::int64_t d = 0; d < directions; ++d) {
      const std::int64_t index = layer * directions + d;
      const RecurrentWeights& w = weights[static_cast<std::size_t>(index)];
      const std::int64_t g = w.weight_ih.size(0);
      // The input's part of every step at once: one GEMM over (L N) rows.
      const auto project = [x, length, n, g, w_ih = w.weight_ih, b_ih = w.bias_ih] {
        return linear(x.reshape({length * n, x.size(2)}), w_ih, b_ih).reshape({length, n, g});
      };
      const Tensor xw = project();
      // h after each step, and the final c (LSTM) or h.
      const detail::SequenceOutput run =
          detail::run_sequence(cell_kind(cell_ == Cell::LSTM, cell_ == Cell::GRU, o.nonlinearity()), xw,
                               h_init[index], c_init.defined() ? c_init[index] : Tensor(), w.weight_hh,
                               w.bias_hh, d == 1, keep, w.weight_hr, project);
      outputs.push_back(keep.defined() ? run.steps * keep : run.steps);  // 0 past each sequence's end
      h_last.push_back(run.steps[d == 0 ? length - 1 : 0]);
      if (cell_ == Cell::LSTM) c_last.push_back(run.final_state);
    }
    x = directions == 2 ? cat(outputs, 2) : outputs[0];
    if (layer + 1 < o.num_layers() && o.dropout() > 0) x = dropout(x, o.dropout(), is_training());
  }
  RecurrentOutput out;
  out.output = !batched ? x.squeeze(1) : o.batch_first() ? x.transpose(0, 1) : x;
  out.h_n = batched ? stack(h_last, 0) : stack(h_last, 0).squeeze(1);
  if (!c_last.empty()) out.c_n = batched ? stack(c_last, 0) : stack(c_last, 0).squeeze(1);
  return out;
}

std::string RecurrentLayer::description() const {
  std::ostringstream os;
  os << name() << '(' << options.input_size() << ", " << options.hidden_size();
  if (options.num_layers() != 1) os << ", num_layers=" << options.num_layers();
  if (options.nonlinearity() == RNNNonlinearity::ReLU) os << ", nonlinearity=relu";
  if (!options.bias()) os << ", bias=false";
  if (options.proj_size()) os << ", proj_size=" << options.proj_size();
  if (options.batch_first()) os << ", batch_first=true";
  if (options.dropout() != 0) os << ", dropout=" << options.dropout();
  if (options.bidirectional()) os << ", bidirectional=true";
  os << ')';
  return os.str();
}

// ---- Cells ------------------------------------------------------------------------------

RecurrentCell::RecurrentCell(const RecurrentCellOptions& o, std::int64_t gates, const char* name)
    : options(o), name_(name) {
  check_sizes(name, o.input_size(), o.hidden_size());
  KILN_CHECK(gates == 1 || o.nonlinearity() == RNNNonlinearity::Tanh, name,
             ": the nonlinearity option is RNNCell's; ", name, " has its own gates");
  const std::int64_t h = o.hidden_size();
  register_parameter("weight_ih", weight_ih, empty({gates * h, o.input_size()}));
  register_parameter("weight_hh", weight_hh, empty({gates * h, h}));
  if (o.bias()) {
    register_parameter("bias_ih", bias_ih, empty({gates * h}));
    register_parameter("bias_hh", bias_hh, empty({gates * h}));
  }
  reset_parameters();
}

void RecurrentCell::reset_parameters() {
  init_uniform({&weight_ih, &weight_hh, &bias_ih, &bias_hh}, options.hidden_size());
}

std::string RecurrentCell::description() const {
  std::ostringstream os;
  os << name_ << '(' << options.input_size() << ", " << options.hidden_size();
  if (options.nonlinearity() == RNNNonlinearity::ReLU) os << ", nonlinearity=relu";
  if (!options.bias()) os << ", bias=false";
  os << ')';
  return os.str();
}

namespace {

// A cell's input and state, batched: x (N, in), each state (N, H). Returns whether the
// input had a batch dimension.
bool batch_cell_input(const char* name, const RecurrentCellOptions& o, Tensor& x,
                      std::vector<Tensor*> states) {
  KILN_CHECK((x.dim() == 1 || x.dim() == 2) && x.size(-1) == o.input_size(), name, ": input of shape ",
             fmt(x.shape()), " must be (N, ", o.input_size(), ") or (", o.input_size(), ")");
  const bool batched = x.dim() == 2;
  if (!batched) x = x.unsqueeze(0);
  const Shape want = batched ? Shape{x.size(0), o.hidden_size()} : Shape{o.hidden_size()};
  for (Tensor* s : states) {
    if (!s->defined()) {
      *s = zeros({x.size(0), o.hidden_size()}, x.dtype(), x.device());
      continue;
    }
    KILN_CHECK(s->shape() == want, name, ": a state of shape ", fmt(s->shape()), " must be ", fmt(want),
               " for an input of shape ", fmt(batched ? x.shape() : x.squeeze(0).shape()));
    if (!batched) *s = s->unsqueeze(0);
  }
  return batched;
}

Tensor unbatched(const Tensor& t, bool batched) { return batched ? t : t.squeeze(0); }

}  // namespace

Tensor RNNCell::forward(const Tensor& x, const Tensor& h) {
  Tensor xb = x, hb = h;
  const bool batched = batch_cell_input("RNNCell", options, xb, {&hb});
  const CellKind kind = cell_kind(false, false, options.nonlinearity());
  return unbatched(
      detail::cell_step(kind, linear(xb, weight_ih, bias_ih), hb, Tensor(), weight_hh, bias_hh).h, batched);
}

LSTMState LSTMCell::forward(const Tensor& x, const LSTMState& state) {
  KILN_CHECK(state.h.defined() == state.c.defined(), "LSTMCell: give both h and c, or neither (zeros)");
  Tensor xb = x;
  LSTMState s = state;
  const bool batched = batch_cell_input("LSTMCell", options, xb, {&s.h, &s.c});
  const detail::StepValues next =
      detail::cell_step(CellKind::LSTM, linear(xb, weight_ih, bias_ih), s.h, s.c, weight_hh, bias_hh);
  return {unbatched(next.h, batched), unbatched(next.c, batched)};
}

Tensor GRUCell::forward(const Tensor& x, const Tensor& h) {
  Tensor xb = x, hb = h;
  const bool batched = batch_cell_input("GRUCell", options, xb, {&hb});
  return unbatched(
      detail::cell_step(CellKind::GRU, linear(xb, weight_ih, bias_ih), hb, Tensor(), weight_hh, bias_hh).h,
      batched);
}

Tensor pad_sequence(const std::vector<Tensor>& sequences, bool batch_first, double padding_value,
                    bool pad_left) {
  KILN_CHECK(!sequences.empty(), "pad_sequence: no sequences");
  std::int64_t longest = 0;
  for (const Tensor& s : sequences) {
    KILN_CHECK(s.dim() >= 1 && s.dim() == sequences[0].dim() &&
                   std::equal(s.shape().begin() + 1, s.shape().end(), sequences[0].shape().begin() + 1),
               "pad_sequence: sequences of shapes ", fmt(sequences[0].shape()), " and ", fmt(s.shape()),
               " must be (L_i, *) with the same trailing sizes");
    longest = std::max(longest, s.size(0));
  }
  std::vector<Tensor> padded;
  for (const Tensor& s : sequences) {
    std::vector<std::int64_t> pads(static_cast<std::size_t>(2 * s.dim()), 0);  // last dim first
    const std::int64_t missing = longest - s.size(0);
    pads[pads.size() - (pad_left ? 2 : 1)] = missing;
    padded.push_back(pad(s, pads, padding_value));
  }
  return stack(padded, batch_first ? 0 : 1);
}

std::vector<Tensor> unpad_sequence(const Tensor& padded, const std::vector<std::int64_t>& lengths,
                                   bool batch_first) {
  const std::int64_t batch_dim = batch_first ? 0 : 1, time_dim = 1 - batch_dim;
  KILN_CHECK(padded.dim() >= 2 && padded.size(batch_dim) == static_cast<std::int64_t>(lengths.size()),
             "unpad_sequence: a batch of shape ", fmt(padded.shape()), " with ", lengths.size(),
             " lengths; give one length per sequence along dim ", batch_dim);
  std::vector<Tensor> out;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    KILN_CHECK(lengths[i] >= 0 && lengths[i] <= padded.size(time_dim), "unpad_sequence: length ", lengths[i],
               " of sequence ", i, " is not in 0 .. ", padded.size(time_dim));
    out.push_back(padded.select(batch_dim, static_cast<std::int64_t>(i)).narrow(0, 0, lengths[i]));
  }
  return out;
}

}  // namespace kiln::nn
