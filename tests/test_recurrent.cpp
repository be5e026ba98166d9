// Recurrent layers: RNN, LSTM and GRU and their cells against their gate equations written
// as loops, through layers, directions and batch layouts; their gradients; and the module's
// PyTorch names, initialisation and errors.
#include <cmath>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

enum class Kind { RNNTanh, RNNReLU, LSTM, GRU };

double sigmoid_of(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// One layer and direction of a cell over x (L, N, in), in plain loops over doubles. h and c
// (N, H) hold the initial state and are left holding the final one. Returns (L, N, H).
Tensor direction_by_loops(Kind kind, const Tensor& x, const nn::RecurrentWeights& weights, Tensor& h,
                          Tensor& c, bool reverse) {
  const auto f64 = [](const Tensor& t) {
    return t.defined() ? t.detach().to(kFloat64).contiguous() : Tensor();
  };
  const Tensor w_ih = f64(weights.weight_ih), w_hh = f64(weights.weight_hh);
  const Tensor b_ih = f64(weights.bias_ih), b_hh = f64(weights.bias_hh);
  const std::int64_t length = x.size(0), batch = x.size(1), hs = h.size(1);
  Tensor out = zeros({length, batch, hs}, kFloat64);
  for (std::int64_t s = 0; s < length; ++s) {
    const std::int64_t t = reverse ? length - 1 - s : s;
    Tensor h_next = zeros({batch, hs}, kFloat64), c_next = zeros({batch, hs}, kFloat64);
    for (std::int64_t n = 0; n < batch; ++n)
      for (std::int64_t j = 0; j < hs; ++j) {
        // Gate block g's row j: its input part and its hidden part, each with its bias.
        const auto from_input = [&](std::int64_t g) {
          double acc = b_ih.defined() ? b_ih.at<double>({g * hs + j}) : 0.0;
          for (std::int64_t k = 0; k < x.size(2); ++k)
            acc += w_ih.at<double>({g * hs + j, k}) * x.at<double>({t, n, k});
          return acc;
        };
        const auto from_hidden = [&](std::int64_t g) {
          double acc = b_hh.defined() ? b_hh.at<double>({g * hs + j}) : 0.0;
          for (std::int64_t k = 0; k < hs; ++k)
            acc += w_hh.at<double>({g * hs + j, k}) * h.at<double>({n, k});
          return acc;
        };
        const auto gate = [&](std::int64_t g) { return from_input(g) + from_hidden(g); };
        const double h_prev = h.at<double>({n, j});
        double value = 0;
        if (kind == Kind::RNNTanh)
          value = std::tanh(gate(0));
        else if (kind == Kind::RNNReLU)
          value = std::max(gate(0), 0.0);
        else if (kind == Kind::LSTM) {
          const double cell =
              sigmoid_of(gate(1)) * c.at<double>({n, j}) + sigmoid_of(gate(0)) * std::tanh(gate(2));
          c_next.at<double>({n, j}) = cell;
          value = sigmoid_of(gate(3)) * std::tanh(cell);
        } else {
          const double r = sigmoid_of(gate(0)), z = sigmoid_of(gate(1));
          const double candidate = std::tanh(from_input(2) + r * from_hidden(2));
          value = (1 - z) * candidate + z * h_prev;
        }
        h_next.at<double>({n, j}) = value;
      }
    h = h_next;
    if (kind == Kind::LSTM) c = c_next;
    out[t].copy_(h);
  }
  return out;
}

std::shared_ptr<nn::RecurrentLayer> make_layer(Kind kind, const nn::RecurrentOptions& o) {
  if (kind == Kind::LSTM) return std::make_shared<nn::LSTM>(o);
  if (kind == Kind::GRU) return std::make_shared<nn::GRU>(o);
  return std::make_shared<nn::RNN>(nn::RecurrentOptions(o).nonlinearity(
      kind == Kind::RNNReLU ? nn::RNNNonlinearity::ReLU : nn::RNNNonlinearity::Tanh));
}

// The layer's forward with initial states, whatever its kind.
nn::RecurrentOutput run(nn::RecurrentLayer& layer, const Tensor& x, const Tensor& h0, const Tensor& c0,
                        const std::vector<std::int64_t>& lengths = {}) {
  if (auto* lstm = dynamic_cast<nn::LSTM*>(&layer)) return lstm->forward(x, h0, c0, lengths);
  if (auto* gru = dynamic_cast<nn::GRU*>(&layer)) return gru->forward(x, h0, lengths);
  return dynamic_cast<nn::RNN&>(layer).forward(x, h0, lengths);
}

const char* kind_name(Kind kind) {
  return kind == Kind::LSTM      ? "LSTM"
         : kind == Kind::GRU     ? "GRU"
         : kind == Kind::RNNTanh ? "RNN tanh"
                                 : "RNN relu";
}

}  // namespace

TEST_CASE("RNN, LSTM and GRU: the gate equations through layers, directions and batch layouts") {
  manual_seed(70);
  for (Kind kind : {Kind::RNNTanh, Kind::RNNReLU, Kind::LSTM, Kind::GRU}) {
    CAPTURE(kind_name(kind));
    const std::int64_t length = 5, batch = 3, in = 4, hs = 6;
    auto layer = make_layer(kind, nn::RecurrentOptions(in, hs).num_layers(2).bidirectional(true));
    const Tensor x = rand64({length, batch, in}), h0 = rand64({4, batch, hs}), c0 = rand64({4, batch, hs});
    const bool lstm = kind == Kind::LSTM;
    const nn::RecurrentOutput got =
        run(*layer, x.to(kFloat32), h0.to(kFloat32), lstm ? c0.to(kFloat32) : Tensor());

    // Layer 0 forward and reverse from x, their outputs joined; layer 1 the same from those.
    Tensor input = x;
    std::vector<Tensor> h_n, c_n;
    for (std::int64_t l = 0; l < 2; ++l) {
      std::vector<Tensor> outputs;
      for (std::int64_t d = 0; d < 2; ++d) {
        Tensor h = h0[2 * l + d].clone(), c = c0[2 * l + d].clone();
        outputs.push_back(direction_by_loops(kind, input, layer->weights[2 * l + d], h, c, d == 1));
        h_n.push_back(h);
        c_n.push_back(c);
      }
      input = cat(outputs, 2);
    }
    REQUIRE(got.output.shape() == Shape{length, batch, 2 * hs});
    check_same(got.output, input, 1e-5);
    check_same(got.h_n, stack(h_n, 0), 1e-5);
    if (lstm)
      check_same(got.c_n, stack(c_n, 0), 1e-5);
    else
      CHECK(!got.c_n.defined());
    // The final forward state is the output's last step; the reverse one its first.
    check_same(got.h_n[2], got.output[length - 1].narrow(1, 0, hs), 0);
    check_same(got.h_n[3], got.output[0].narrow(1, hs, hs), 0);

    // batch_first: the same numbers in (N, L, features); one sequence without a batch.
    auto first =
        make_layer(kind, nn::RecurrentOptions(in, hs).num_layers(2).bidirectional(true).batch_first(true));
    first->load_state_dict(layer->state_dict());
    const nn::RecurrentOutput got_first =
        run(*first, x.to(kFloat32).transpose(0, 1), h0.to(kFloat32), lstm ? c0.to(kFloat32) : Tensor());
    check_same(got_first.output, got.output.transpose(0, 1), 1e-6);
    check_same(got_first.h_n, got.h_n, 1e-6);
    const nn::RecurrentOutput one = run(*layer, x.to(kFloat32).select(1, 1), h0.to(kFloat32).select(1, 1),
                                        lstm ? c0.to(kFloat32).select(1, 1) : Tensor());
    check_same(one.output, got.output.select(1, 1), 1e-6);
    check_same(one.h_n, got.h_n.select(1, 1), 1e-6);
    // Undefined initial states are zeros; forward(x) is the output alone.
    const Tensor zero_states = zeros({4, batch, hs});
    check_same(run(*layer, x.to(kFloat32), Tensor(), Tensor()).output,
               run(*layer, x.to(kFloat32), zero_states, lstm ? zero_states : Tensor()).output, 0);
    check_same(layer->forward(x.to(kFloat32)), run(*layer, x.to(kFloat32), Tensor(), Tensor()).output, 0);
  }
}

namespace {
// The layer with its weights replaced by in[first], in[first + 1], ... in registration order.
void use_weights(nn::RecurrentLayer& layer, const In& in, std::size_t first) {
  for (nn::RecurrentWeights& w : layer.weights) {
    w.weight_ih = in[first++];
    w.weight_hh = in[first++];
    if (layer.options.bias()) {
      w.bias_ih = in[first++];
      w.bias_hh = in[first++];
    }
    if (layer.options.proj_size()) w.weight_hr = in[first++];
  }
}
In with_weights(In in, const nn::Module& m) {
  for (const Tensor& p : m.parameters()) in.push_back(rand64(p.shape()) * 0.5);
  return in;
}
}  // namespace

TEST_CASE("RNN, LSTM and GRU: a padded batch with lengths gives each sequence's own run, and its gradients") {
  manual_seed(76);
  const std::vector<std::int64_t> lengths{5, 2, 4, 1};
  for (Kind kind : {Kind::RNNTanh, Kind::RNNReLU, Kind::LSTM, Kind::GRU}) {
    CAPTURE(kind_name(kind));
    const bool lstm = kind == Kind::LSTM;
    auto layer = make_layer(kind, nn::RecurrentOptions(3, 4).num_layers(2).bidirectional(true));
    const Tensor x = randn({5, 4, 3}).requires_grad_(), h0 = randn({4, 4, 4}), c0 = randn({4, 4, 4});
    const Tensor up = randn({5, 4, 8}), up_h = randn({4, 4, 4}), up_c = randn({4, 4, 4});
    const nn::RecurrentOutput got = run(*layer, x, h0, lstm ? c0 : Tensor(), lengths);
    Tensor loss = sum(got.output * up) + sum(got.h_n * up_h);
    if (lstm) loss = loss + sum(got.c_n * up_c);
    loss.backward();
    std::vector<Tensor> batched_grads;
    for (const Tensor& p : layer->parameters()) batched_grads.push_back(p.grad().clone());
    layer->zero_grad();
    // Each sequence alone, cut to its length: the same outputs, states and input gradients,
    // zeros past its end; the parameters' gradients add up over the sequences.
    for (std::int64_t i = 0; i < 4; ++i) {
      CAPTURE(i);
      const std::int64_t len = lengths[static_cast<std::size_t>(i)];
      const Tensor xi = x.detach().narrow(0, 0, len).narrow(1, i, 1).clone().requires_grad_();
      const nn::RecurrentOutput alone =
          run(*layer, xi, h0.narrow(1, i, 1), lstm ? c0.narrow(1, i, 1) : Tensor());
      check_same(got.output.narrow(0, 0, len).narrow(1, i, 1), alone.output, 1e-5);
      if (len < 5) CHECK(max(abs(got.output.narrow(0, len, 5 - len).narrow(1, i, 1))).item() == 0);
      check_same(got.h_n.narrow(1, i, 1), alone.h_n, 1e-5);
      if (lstm) check_same(got.c_n.narrow(1, i, 1), alone.c_n, 1e-5);
      Tensor loss_i =
          sum(alone.output * up.narrow(0, 0, len).narrow(1, i, 1)) + sum(alone.h_n * up_h.narrow(1, i, 1));
      if (lstm) loss_i = loss_i + sum(alone.c_n * up_c.narrow(1, i, 1));
      loss_i.backward();
      check_same(x.grad().narrow(0, 0, len).narrow(1, i, 1), xi.grad(), 1e-4);
      if (len < 5) CHECK(max(abs(x.grad().narrow(0, len, 5 - len).narrow(1, i, 1))).item() == 0);
    }
    const std::vector<Tensor> params = layer->parameters();
    for (std::size_t p = 0; p < params.size(); ++p) check_same(batched_grads[p], params[p].grad(), 1e-4);
    // Lengths that fill the input change nothing.
    check_same(run(*layer, x, h0, lstm ? c0 : Tensor(), {5, 5, 5, 5}).output,
               run(*layer, x, h0, lstm ? c0 : Tensor()).output, 0);
  }
  nn::GRU gru(nn::GRUOptions(3, 4).batch_first(true));
  KILN_CHECK_GRAD(
      [&](const In& in) {
        use_weights(gru, in, 2);
        const nn::RecurrentOutput out = gru.forward(in[0], in[1], {3, 1});
        return cat({out.output.flatten(), out.h_n.flatten()});
      },
      with_weights({rand64({2, 3, 3}), rand64({1, 2, 4})}, gru));
  nn::LSTM lstm(nn::LSTMOptions(3, 2).bidirectional(true));
  KILN_CHECK_GRAD(
      [&](const In& in) {
        use_weights(lstm, in, 3);
        const nn::RecurrentOutput out = lstm.forward(in[0], in[1], in[2], {2, 4, 1});
        return cat({out.output.flatten(), out.h_n.flatten(), out.c_n.flatten()});
      },
      with_weights({rand64({4, 3, 3}), rand64({2, 3, 2}), rand64({2, 3, 2})}, lstm));
  const Tensor x = randn({5, 2, 3});
  CHECK_THROWS_WITH_AS(
      gru.forward(x, Tensor(), {3}),
      doctest::Contains("GRU: 1 lengths for an input of shape (5, 2, 3); give one per sequence of the "
                        "batch (5)"),
      Error);
  CHECK_THROWS_WITH_AS(gru.forward(x, Tensor(), {2, 0, 1, 2, 2}),
                       doctest::Contains("GRU: length 0 of sequence 1 must be in 1 .. 2, the input's length"),
                       Error);
  CHECK_THROWS_WITH_AS(gru.forward(randn({2, 3}), Tensor(), {2}),
                       doctest::Contains("1 lengths for an input of shape (2, 3)"), Error);
}

TEST_CASE("RNNCell, LSTMCell and GRUCell: one step as defined, with and without a batch") {
  manual_seed(71);
  const Tensor x = rand64({1, 3, 4}), h = rand64({3, 5}), c = rand64({3, 5});
  for (Kind kind : {Kind::RNNTanh, Kind::RNNReLU, Kind::LSTM, Kind::GRU}) {
    CAPTURE(kind_name(kind));
    for (bool bias : {true, false}) {
      const auto o = nn::RecurrentCellOptions(4, 5).bias(bias).nonlinearity(
          kind == Kind::RNNReLU ? nn::RNNNonlinearity::ReLU : nn::RNNNonlinearity::Tanh);
      std::shared_ptr<nn::RecurrentCell> cell;
      Tensor got_h, got_c, got_unbatched;
      const Tensor x32 = x[0].to(kFloat32), h32 = h.to(kFloat32), c32 = c.to(kFloat32);
      if (kind == Kind::LSTM) {
        auto lstm = std::make_shared<nn::LSTMCell>(o);
        const nn::LSTMState next = lstm->forward(x32, {h32, c32});
        got_h = next.h;
        got_c = next.c;
        got_unbatched = lstm->forward(x32[2], {h32[2], c32[2]}).c;
        check_same(lstm->forward(x32), lstm->forward(x32, {zeros({3, 5}), zeros({3, 5})}).h, 0);
        cell = lstm;
      } else if (kind == Kind::GRU) {
        auto gru = std::make_shared<nn::GRUCell>(o);
        got_h = gru->forward(x32, h32);
        got_unbatched = gru->forward(x32[2], h32[2]);
        check_same(gru->forward(x32), gru->forward(x32, zeros({3, 5})), 0);
        cell = gru;
      } else {
        auto rnn = std::make_shared<nn::RNNCell>(o);
        got_h = rnn->forward(x32, h32);
        got_unbatched = rnn->forward(x32[2], h32[2]);
        check_same(rnn->forward(x32), rnn->forward(x32, zeros({3, 5})), 0);
        cell = rnn;
      }
      CHECK(cell->parameters().size() == (bias ? 4u : 2u));
      Tensor h_state = h.clone(), c_state = c.clone();
      const nn::RecurrentWeights w{cell->weight_ih, cell->weight_hh, cell->bias_ih, cell->bias_hh, Tensor()};
      direction_by_loops(kind, x, w, h_state, c_state, false);
      check_same(got_h, h_state, 1e-5);
      if (kind == Kind::LSTM) {
        check_same(got_c, c_state, 1e-5);
        check_same(got_unbatched, got_c[2], 1e-6);
      } else {
        check_same(got_unbatched, got_h[2], 1e-6);
      }
    }
  }
}

TEST_CASE("gradcheck: RNN, LSTM and GRU in the input, the initial states and every weight") {
  manual_seed(72);
  for (Kind kind : {Kind::RNNTanh, Kind::RNNReLU, Kind::LSTM, Kind::GRU}) {
    CAPTURE(kind_name(kind));
    // Two layers, both directions, and a layer without biases, batch first.
    auto deep = make_layer(kind, nn::RecurrentOptions(3, 2).num_layers(2).bidirectional(true));
    auto flat = make_layer(kind, nn::RecurrentOptions(2, 3).bias(false).batch_first(true));
    const bool lstm = kind == Kind::LSTM;
    KILN_CHECK_GRAD(
        [&](const In& in) {
          use_weights(*deep, in, 3);
          const nn::RecurrentOutput out = run(*deep, in[0], in[1], lstm ? in[2] : Tensor());
          return cat({out.output.flatten(), out.h_n.flatten(), lstm ? out.c_n.flatten() : out.h_n.flatten()});
        },
        with_weights({rand64({3, 2, 3}), rand64({4, 2, 2}), rand64({4, 2, 2})}, *deep));
    KILN_CHECK_GRAD(
        [&](const In& in) {
          use_weights(*flat, in, 1);
          return flat->forward(in[0]);
        },
        with_weights({rand64({2, 4, 2})}, *flat));
  }
}

TEST_CASE("gradgradcheck: RNN, LSTM and GRU, two layers both ways, padded, and with a projection") {
  // While a walk records, the sequence node walks the steps again in recorded ops.
  manual_seed(74);
  for (Kind kind : {Kind::RNNTanh, Kind::LSTM, Kind::GRU}) {
    CAPTURE(kind_name(kind));
    auto deep = make_layer(kind, nn::RecurrentOptions(2, 2).num_layers(2).bidirectional(true));
    const bool lstm = kind == Kind::LSTM;
    KILN_CHECK_GRADGRAD(
        [&](const In& in) {
          use_weights(*deep, in, 3);
          const nn::RecurrentOutput out = run(*deep, in[0], in[1], lstm ? in[2] : Tensor(), {3, 2});
          return cat({out.output.flatten(), out.h_n.flatten(), lstm ? out.c_n.flatten() : out.h_n.flatten()});
        },
        with_weights({rand64({3, 2, 2}), rand64({4, 2, 2}), rand64({4, 2, 2})}, *deep));
  }
  nn::LSTM projected(nn::LSTMOptions(2, 3).proj_size(2));
  KILN_CHECK_GRADGRAD(
      [&](const In& in) {
        use_weights(projected, in, 1);
        return projected.forward(in[0], Tensor(), Tensor()).output;
      },
      with_weights({rand64({3, 1, 2})}, projected));
  // A gradient penalty through an LSTM equals the one through its cells, step by step.
  nn::LSTM layer(nn::LSTMOptions(3, 4));
  nn::LSTMCell cell(3, 4);
  cell.load_state_dict(std::map<std::string, Tensor>{{"weight_ih", layer.state_dict().at("weight_ih_l0")},
                                                     {"weight_hh", layer.state_dict().at("weight_hh_l0")},
                                                     {"bias_ih", layer.state_dict().at("bias_ih_l0")},
                                                     {"bias_hh", layer.state_dict().at("bias_hh_l0")}});
  const Tensor x = randn({4, 2, 3}).requires_grad_();
  const auto penalty_grad = [&](bool by_cells) {
    Tensor h;
    if (by_cells) {
      nn::LSTMState s;
      for (std::int64_t t = 0; t < 4; ++t) s = cell.forward(x[t], s);
      h = s.h;
    } else {
      h = layer.forward(x, Tensor(), Tensor()).h_n[0];
    }
    const Tensor g = grad(sum(h), {x}, Tensor(), {.create_graph = true})[0];
    nn::Module& m = by_cells ? static_cast<nn::Module&>(cell) : layer;
    return grad(sum(square(g)), {m.parameters()[1]})[0];  // weight_hh
  };
  check_same(penalty_grad(false), penalty_grad(true), 1e-5);
}

TEST_CASE("LSTM with proj_size: each new h projected by weight_hr, through layers and directions") {
  manual_seed(74);
  // Against the cell's step followed by the projection, written out for one direction.
  nn::LSTM lstm(nn::LSTMOptions(3, 4).proj_size(2));
  const Tensor x = rand64({5, 2, 3}), h0 = rand64({1, 2, 2}), c0 = rand64({1, 2, 4});
  nn::LSTMCell cell(3, 4);
  const nn::RecurrentWeights& w = lstm.weights[0];
  cell.weight_ih = w.weight_ih.detach().to(kFloat64), cell.bias_ih = w.bias_ih.detach().to(kFloat64);
  cell.bias_hh = w.bias_hh.detach().to(kFloat64);
  const Tensor w_hh = w.weight_hh.detach().to(kFloat64), w_hr = w.weight_hr.detach().to(kFloat64);
  CHECK(w_hh.shape() == Shape{16, 2});
  CHECK(w_hr.shape() == Shape{2, 4});
  Tensor h = h0[0], c = c0[0];
  std::vector<Tensor> want;
  for (std::int64_t t = 0; t < 5; ++t) {
    // The cell's step from h (2 features): its hidden product is h W_hhᵀ, so give the cell
    // W_hh padded to 4 columns and h padded with zeros.
    cell.weight_hh = cat({w_hh, zeros({16, 2}, kFloat64)}, 1);
    const nn::LSTMState next = cell.forward(x[t], {cat({h, zeros({2, 2}, kFloat64)}, 1), c});
    h = matmul(next.h, w_hr.t());
    c = next.c;
    want.push_back(h);
  }
  nn::LSTM lstm64(nn::LSTMOptions(3, 4).proj_size(2));
  use_weights(lstm64,
              {w.weight_ih.detach().to(kFloat64), w_hh, w.bias_ih.detach().to(kFloat64),
               w.bias_hh.detach().to(kFloat64), w_hr},
              0);
  const nn::RecurrentOutput got = lstm64.forward(x, h0, c0);
  check_same(got.output, stack(want, 0), 1e-12);
  check_same(got.h_n[0], h, 1e-12);
  check_same(got.c_n[0], c, 1e-12);
  CHECK(got.output.shape() == Shape{5, 2, 2});
  // Two layers, both directions: names, shapes, and the gradients of everything.
  nn::LSTM deep(nn::LSTMOptions(3, 4).proj_size(2).num_layers(2).bidirectional(true));
  const auto state = deep.state_dict();
  CHECK(state.size() == 4 * 5);
  CHECK(state.at("weight_hr_l1_reverse").shape() == Shape{2, 4});
  CHECK(state.at("weight_ih_l1").shape() == Shape{16, 4});  // reads both directions' 2 features
  CHECK(state.at("weight_hh_l0").shape() == Shape{16, 2});
  CHECK(deep.description() == "LSTM(3, 4, num_layers=2, proj_size=2, bidirectional=true)");
  const nn::RecurrentOutput out = deep.forward(randn({5, 2, 3}), Tensor(), Tensor());
  CHECK(out.output.shape() == Shape{5, 2, 4});
  CHECK(out.h_n.shape() == Shape{4, 2, 2});
  CHECK(out.c_n.shape() == Shape{4, 2, 4});
  KILN_CHECK_GRAD(
      [&](const In& in) {
        use_weights(deep, in, 3);
        const nn::RecurrentOutput o = deep.forward(in[0], in[1], in[2], {4, 2});
        return cat({o.output.flatten(), o.h_n.flatten(), o.c_n.flatten()});
      },
      with_weights({rand64({4, 2, 3}), rand64({4, 2, 2}), rand64({4, 2, 4})}, deep));
  CHECK_THROWS_WITH_AS(deep.forward(randn({5, 2, 3}), randn({4, 2, 4}), randn({4, 2, 4})),
                       doctest::Contains("LSTM: h0 of shape (4, 2, 4) must be (4, 2, 2) (num_layers * 2, N, "
                                         "proj_size)"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::LSTM(nn::LSTMOptions(3, 4).proj_size(4)),
                       doctest::Contains("LSTM: proj_size 4 must be in 0 .. hidden_size - 1 = 3"), Error);
  CHECK_THROWS_WITH_AS(nn::GRU(nn::GRUOptions(3, 4).proj_size(2)),
                       doctest::Contains("GRU: proj_size is the LSTM's only"), Error);
}

TEST_CASE("gradcheck: the cells in the input, the state and every weight") {
  manual_seed(73);
  nn::LSTMCell lstm(3, 2);
  nn::GRUCell gru(3, 2);
  nn::RNNCell rnn(3, 2);
  const auto cell_weights = [](nn::RecurrentCell& cell, const In& in) {
    cell.weight_ih = in[2];
    cell.weight_hh = in[3];
    cell.bias_ih = in[4];
    cell.bias_hh = in[5];
  };
  const In base{rand64({2, 3}), rand64({2, 2})};
  KILN_CHECK_GRAD(
      [&](const In& in) {
        cell_weights(lstm, in);
        const nn::LSTMState next = lstm.forward(in[0], {in[1], in[6]});
        return cat({next.h.flatten(), next.c.flatten()});
      },
      [&] {
        In in = with_weights(base, lstm);
        in.push_back(rand64({2, 2}));
        return in;
      }());
  KILN_CHECK_GRAD(
      [&](const In& in) {
        cell_weights(gru, in);
        return gru.forward(in[0], in[1]);
      },
      with_weights(base, gru));
  KILN_CHECK_GRAD(
      [&](const In& in) {
        cell_weights(rnn, in);
        return rnn.forward(in[0], in[1]);
      },
      with_weights(base, rnn));
}

TEST_CASE("Recurrent layers: PyTorch's names and shapes, initialisation, dropout, gradients, errors") {
  manual_seed(74);
  nn::LSTM lstm(nn::LSTMOptions(4, 3).num_layers(2).bidirectional(true));
  const auto state = lstm.state_dict();
  CHECK(state.size() == 16);
  CHECK(state.at("weight_ih_l0").shape() == Shape{12, 4});
  CHECK(state.at("weight_hh_l0_reverse").shape() == Shape{12, 3});
  CHECK(state.at("weight_ih_l1").shape() == Shape{12, 6});  // reads both directions of layer 0
  CHECK(state.at("bias_hh_l1_reverse").shape() == Shape{12});
  CHECK(nn::GRU(4, 3).state_dict().at("weight_ih_l0").shape() == Shape{9, 4});
  CHECK(nn::RNN(nn::RNNOptions(4, 3).bias(false)).state_dict().size() == 2);
  CHECK(nn::GRUCell(4, 3).state_dict().at("bias_hh").shape() == Shape{9});
  // U(−1/√H, 1/√H), and more than a constant.
  for (const auto& named : lstm.named_parameters()) {
    CAPTURE(named.first);
    CHECK(max(abs(named.second)).item() <= 1 / std::sqrt(3.0));
    CHECK(kiln::std(named.second).item() > 0.1);
  }
  CHECK(lstm.description() == "LSTM(4, 3, num_layers=2, bidirectional=true)");
  CHECK(
      nn::RNN(nn::RNNOptions(2, 5).nonlinearity(nn::RNNNonlinearity::ReLU).batch_first(true)).description() ==
      "RNN(2, 5, nonlinearity=relu, batch_first=true)");
  CHECK(nn::GRUCell(nn::GRUCellOptions(2, 5).bias(false)).description() == "GRUCell(2, 5, bias=false)");

  // Every parameter receives a gradient.
  const Tensor x = randn({5, 2, 4});
  sum(lstm(x)).backward();
  for (const auto& named : lstm.named_parameters()) {
    CAPTURE(named.first);
    REQUIRE(named.second.grad().defined());
    CHECK(sum(abs(named.second.grad())).item() > 0);
  }
  // The backward reads the recurrent weights: changing one in place before it is an error.
  lstm.zero_grad();
  const Tensor out = lstm(x);
  {
    NoGradGuard no_grad;
    lstm.weights[1].weight_hh.mul_(0.5);
  }
  CHECK_THROWS_WITH_AS(sum(out).backward(),
                       doctest::Contains("'lstm_sequence' saved a tensor of shape (12, 3)"), Error);
  // Without gradients nothing is kept for a backward, and the numbers are the same.
  const Tensor recorded = lstm(x);
  {
    NoGradGuard no_grad;
    const Tensor inference = lstm(x);
    CHECK(!inference.requires_grad());
    check_same(inference, recorded.detach(), 0);
  }
  // Dropout between layers, in training only.
  nn::GRU dropping(nn::GRUOptions(4, 3).num_layers(2).dropout(0.5)),
      plain(nn::GRUOptions(4, 3).num_layers(2));
  dropping.load_state_dict(plain.state_dict());
  CHECK(max(abs(dropping(x) - plain(x))).item() > 1e-3);
  dropping.eval();
  check_same(dropping(x), plain(x), 0);

  CHECK_THROWS_WITH_AS(
      lstm(randn({5, 2, 3})),
      doctest::Contains("LSTM: input of shape (5, 2, 3) must be (length, N, 4), or (length, 4)"), Error);
  CHECK_THROWS_WITH_AS(lstm.forward(x, zeros({4, 2, 3}), Tensor()),
                       doctest::Contains("give both h0 and c0, or neither"), Error);
  CHECK_THROWS_WITH_AS(
      lstm.forward(x, zeros({2, 2, 3}), zeros({2, 2, 3})),
      doctest::Contains("h0 of shape (2, 2, 3) must be (4, 2, 3) (num_layers * 2, N, hidden_size)"), Error);
  CHECK_THROWS_WITH_AS(lstm(randn({0, 2, 4})), doctest::Contains("has no steps"), Error);
  CHECK_THROWS_WITH_AS(nn::GRU(nn::GRUOptions(4, 3).nonlinearity(nn::RNNNonlinearity::ReLU)),
                       doctest::Contains("GRU: the nonlinearity option is the plain RNN's"), Error);
  CHECK_THROWS_WITH_AS(nn::LSTM(0, 3), doctest::Contains("input_size 0 and hidden_size 3 must be positive"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::LSTMCell(4, 3).forward(randn({2, 4}), {zeros({2, 3}), Tensor()}),
                       doctest::Contains("LSTMCell: give both h and c"), Error);
  CHECK_THROWS_WITH_AS(
      nn::GRUCell(4, 3).forward(randn({2, 4}), zeros({3, 3})),
      doctest::Contains("GRUCell: a state of shape (3, 3) must be (2, 3) for an input of shape (2, 4)"),
      Error);
}

TEST_CASE("LSTM: learns to recall the first element of a sequence") {
  // The target is the first of 6 steps, the others noise: the state must carry it to the end.
  manual_seed(75);
  nn::LSTM lstm(nn::LSTMOptions(1, 16).batch_first(true));
  nn::Linear head(16, 1);
  std::vector<Tensor> params = lstm.parameters();
  for (const Tensor& p : head.parameters()) params.push_back(p);
  optim::Adam opt(params, optim::AdamOptions(0.01));
  const auto loss_on = [&](const Tensor& x) {
    const Tensor last = lstm(x).select(1, 5);     // (N, 16) at the final step
    return mse_loss(head(last), x.select(1, 0));  // recall step 0
  };
  const Tensor held_out = randn({256, 6, 1});
  const double before = loss_on(held_out).item();
  for (int step = 0; step < 400; ++step) {
    opt.zero_grad();
    loss_on(randn({64, 6, 1})).backward();
    opt.step();
  }
  const double after = loss_on(held_out).item();
  INFO("mse before " << before << ", after " << after);
  CHECK(before > 0.5);  // the targets' variance is 1
  CHECK(after < 0.05);
}
