// The CNN and graph pieces on the GPU against the CPU: convolution (1-D, 2-D, transposed), pooling,
// batch, layer and group norm, attention, the Transformer encoder and decoder, recurrent layers, dropout,
// where, indexing, embeddings, CSR SpMM, graph attention and device RNG.
#include <doctest/doctest.h>

#include <functional>

#include "kiln/kiln.hpp"
#include "tests/cuda/cuda_parity.hpp"
#include "tests/helpers.hpp"

namespace kiln::test {

TEST_CASE("cuda: conv2d (stride, padding, dilation, groups), forward and backward") {
  manual_seed(21);
  struct Case {
    Shape x, w;
    Pair stride, padding, dilation;
    std::int64_t groups;
  };
  const Case cases[] = {
      {{2, 3, 9, 8}, {4, 3, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1},
      {{3, 4, 10, 7}, {6, 2, 3, 2}, {2, 1}, {1, 0}, {1, 2}, 2},
      {{1, 1, 28, 28}, {32, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1},
  };
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-10 : 1e-4;
    for (const Case& c : cases) {
      const Tensor b = randn({c.w[0]}, dt);
      parity([c](const auto& v) { return conv2d(v[0], v[1], v[2], c.stride, c.padding, c.dilation, c.groups); },
             {randn(c.x, dt), randn(c.w, dt), b}, tol);
    }
  }
}

TEST_CASE(
    "cuda: conv_transpose2d (stride, padding, output_padding, dilation, groups), forward and backward") {
  manual_seed(23);
  struct Case {
    Shape x, w;
    Pair stride, padding, output_padding, dilation;
    std::int64_t groups;
  };
  const Case cases[] = {
      {{2, 4, 7, 7}, {4, 3, 2, 2}, {2, 2}, {0, 0}, {0, 0}, {1, 1}, 1},  // a decoder's 2x upsampling
      {{3, 4, 5, 6}, {4, 3, 3, 2}, {2, 1}, {1, 0}, {1, 0}, {1, 2}, 2},
      {{1, 3, 6, 6}, {3, 2, 3, 3}, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 1},
  };
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-10 : 1e-4;
    for (const Case& c : cases) {
      const Tensor b = randn({c.w[1] * c.groups}, dt);
      parity(
          [c](const auto& v) {
            return conv_transpose2d(v[0], v[1], v[2], c.stride, c.padding, c.output_padding, c.groups,
                                    c.dilation);
          },
          {randn(c.x, dt), randn(c.w, dt), b}, tol);
    }
  }
}

TEST_CASE("cuda: conv1d and 1-D pooling, forward and backward") {
  manual_seed(24);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-10 : 1e-4;
    parity([](const auto& v) { return conv1d(v[0], v[1], v[2], 2, 1, 2, 2); },
           {randn({3, 4, 17}, dt), randn({6, 2, 3}, dt), randn({6}, dt)}, tol);
    parity([](const auto& v) { return max_pool1d(v[0], 3, 2, 1); }, {randn({2, 3, 10}, dt)}, tol);
    parity([](const auto& v) { return avg_pool1d(v[0], 2); }, {randn({2, 3, 10}, dt)}, tol);
  }
}

TEST_CASE("cuda: conv2d and conv_transpose2d on an empty batch") {
  const Tensor x = zeros({0, 2, 5, 5}).to(gpu).requires_grad_();
  const Tensor w = ones({3, 2, 3, 3}).to(gpu).requires_grad_(),
               wt = ones({2, 3, 3, 3}).to(gpu).requires_grad_();
  const Tensor y = conv2d(x, w, Tensor(), {1, 1}, {1, 1}), yt = conv_transpose2d(x, wt);
  CHECK(y.shape() == Shape{0, 3, 5, 5});
  CHECK(yt.shape() == Shape{0, 3, 7, 7});
  (sum(y) + sum(yt)).backward();
  check_values(w.grad().to(Device::cpu()), std::vector<double>(w.numel(), 0.0));
  check_values(wt.grad().to(Device::cpu()), std::vector<double>(wt.numel(), 0.0));
  CHECK(x.grad().shape() == x.shape());
}

TEST_CASE("cuda: upsample_nearest2d, forward and backward") {
  manual_seed(24);
  for (DType dt : {kFloat64, kFloat32}) {
    parity(
        [](const auto& v) {
          return upsample_nearest2d(v[0], {2, 2});
        },
        {randn({2, 3, 5, 4}, dt)}, tol_for(dt));
    parity(
        [](const auto& v) {
          return upsample_nearest2d(v[0], {1, 3});
        },
        {randn({1, 2, 3, 3}, dt)}, tol_for(dt));
  }
}

TEST_CASE("cuda: pad's modes, interpolate, pixel_shuffle, unfold and fold, forward and backward") {
  manual_seed(25);
  for (DType dt : {kFloat64, kFloat32}) {
    const Tensor x = randn({2, 3, 5, 4}, dt);
    for (PadMode mode : {PadMode::reflect, PadMode::replicate, PadMode::circular})
      parity([mode](const auto& v) { return pad(v[0], {1, 3, 2, 1}, mode); }, {x}, tol_for(dt));
    for (bool corners : {false, true}) {
      parity(
          [corners](const auto& v) {
            return interpolate(v[0], {9, 7}, Interpolation::bilinear, corners);
          },
          {x}, tol_for(dt));
      parity(
          [corners](const auto& v) {
            return interpolate(v[0], {3, 2}, Interpolation::bilinear, corners);
          },
          {x}, tol_for(dt));
    }
    parity([](const auto& v) { return interpolate(v[0], {7, 3}); }, {x}, tol_for(dt));
    parity([](const auto& v) { return pixel_shuffle(v[0], 2); }, {randn({2, 8, 3, 2}, dt)}, tol_for(dt));
    parity([](const auto& v) { return pixel_unshuffle(v[0], 2); }, {randn({2, 2, 4, 6}, dt)}, tol_for(dt));
    parity([](const auto& v) { return unfold(v[0], {2, 3}, {2, 1}, {1, 0}, {2, 1}); }, {x}, tol_for(dt));
    parity(
        [](const auto& v) {
          return fold(v[0], {5, 4}, {2, 2}, {1, 1}, {1, 1}, {2, 1});
        },
        {randn({2, 12, 15}, dt)}, tol_for(dt));
  }
}

TEST_CASE("cuda: max and average pooling, forward and backward") {
  manual_seed(22);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-10 : 1e-5;
    const Tensor x = randn({2, 3, 8, 9}, dt);
    parity([](const auto& v) { return max_pool2d(v[0], {2, 2}); }, {x}, tol);
    parity([](const auto& v) { return max_pool2d(v[0], {3, 3}, {2, 2}, {1, 1}); }, {x}, tol);  // overlapping, padded
    parity([](const auto& v) { return avg_pool2d(v[0], {2, 2}); }, {x}, tol);
    parity([](const auto& v) { return avg_pool2d(v[0], {3, 2}, {1, 2}, {1, 1}); }, {x}, tol);
    // Adaptive: global, equal windows, and overlapping ones (the window-mean products).
    parity([](const auto& v) { return adaptive_avg_pool2d(v[0], {1, 1}); }, {x}, tol);
    parity([](const auto& v) { return adaptive_avg_pool2d(v[0], {4, 3}); }, {x}, tol);
    parity([](const auto& v) { return adaptive_avg_pool2d(v[0], {3, 5}); }, {x}, tol);
  }
}

TEST_CASE("cuda: batch norm in training and evaluation, running statistics included") {
  manual_seed(23);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-9 : 1e-4;
    const Tensor x = randn({6, 4, 5, 5}, dt) * 2.0 + 1.0, w = randn({4}, dt), b = randn({4}, dt);
    const Tensor rm_cpu = zeros({4}, dt), rv_cpu = ones({4}, dt);
    const Tensor rm_gpu = rm_cpu.to(gpu), rv_gpu = rv_cpu.to(gpu);
    parity([&](const auto& v) {
      const bool on_gpu = v[0].device().is_cuda();
      return batch_norm(v[0], on_gpu ? rm_gpu : rm_cpu, on_gpu ? rv_gpu : rv_cpu, v[1], v[2], true, 0.1, 1e-5);
    }, {x, w, b}, tol);
    // parity ran each side once: the running statistics moved the same way.
    check_same(rm_gpu.to(Device::cpu()), rm_cpu, tol);
    check_same(rv_gpu.to(Device::cpu()), rv_cpu, tol);
    parity([&](const auto& v) {
      const bool on_gpu = v[0].device().is_cuda();
      return batch_norm(v[0], on_gpu ? rm_gpu : rm_cpu, on_gpu ? rv_gpu : rv_cpu, v[1], v[2], false, 0.1, 1e-5);
    }, {x, w, b}, tol);
    parity([](const auto& v) { return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5); },
           {randn({8, 3}, dt)}, tol);
    // Channels long enough to be summed in slices (25 here, as in the Fashion CNN's
    // first batch norm), and more channels than a grid's second dimension holds.
    parity([](const auto& v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true, 0.1, 1e-5); },
           {randn({128, 8, 28, 28}, dt) * 3.0 - 2.0, randn({8}, dt), randn({8}, dt)}, tol);
    parity([](const auto& v) { return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5); },
           {randn({5, 70000}, dt)}, tol);
  }
}

TEST_CASE("cuda: layer norm over one and two trailing dimensions, with and without weight and bias") {
  manual_seed(29);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-9 : 1e-4;
    parity([](const auto& v) { return layer_norm(v[0], {7}, v[1], v[2]); },
           {randn({6, 7}, dt) * 2.0 + 1.0, randn({7}, dt), randn({7}, dt)}, tol);
    parity([](const auto& v) { return layer_norm(v[0], {3, 4}, v[1], v[2], 1e-3); },
           {randn({2, 5, 3, 4}, dt), randn({3, 4}, dt), randn({3, 4}, dt)}, tol);
    parity([](const auto& v) { return layer_norm(v[0], {300}); }, {randn({4, 300}, dt) - 3.0}, tol);
  }
}

namespace {
// A module's output on the GPU against its CPU twin's, then every parameter's gradient
// after the same random upstream gradient.
void check_module_parity(const nn::Module& on_cpu, const Tensor& out_cpu, const nn::Module& on_gpu,
                         const Tensor& out_gpu) {
  check_same(out_gpu.to(Device::cpu()), out_cpu, 1e-5);
  const Tensor upstream = randn(out_cpu.shape());
  out_cpu.backward(upstream);
  out_gpu.backward(upstream.to(gpu));
  const auto cpu_params = on_cpu.named_parameters(), gpu_params = on_gpu.named_parameters();
  REQUIRE(cpu_params.size() == gpu_params.size());
  for (std::size_t i = 0; i < cpu_params.size(); ++i) {
    CAPTURE(cpu_params[i].first);
    check_same(gpu_params[i].second.grad().to(Device::cpu()), cpu_params[i].second.grad(), 1e-4);
  }
}
}  // namespace

TEST_CASE("cuda: scaled_dot_product_attention and MultiheadAttention match the CPU") {
  manual_seed(31);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-9 : 1e-4;
    const Tensor q = randn({2, 3, 5, 4}, dt), k = randn({2, 3, 6, 4}, dt), v = randn({2, 3, 6, 2}, dt);
    parity([](const auto& a) { return scaled_dot_product_attention(a[0], a[1], a[2]); }, {q, k, v}, tol);
    parity([](const auto& a) { return scaled_dot_product_attention(a[0], a[1], a[2], Tensor(), 0.0, true); },
           {q, k.narrow(2, 0, 5), v.narrow(2, 0, 5)}, tol);
    Tensor keep = ones({5, 6}, kUInt8);
    keep.narrow(1, 2, 1).fill_(0.0);  // key 2 hidden from every query
    parity([](const auto& a) { return scaled_dot_product_attention(a[0], a[1], a[2], a[3]); },
           {q, k, v, keep}, tol);
    parity([](const auto& a) { return scaled_dot_product_attention(a[0], a[1], a[2], a[3]); },
           {q, k, v, randn({3, 1, 6}, dt)}, tol);
  }
  // The module, moved to the GPU: the same output and parameter gradients, with masks.
  nn::MultiheadAttention on_cpu(8, 2), on_gpu(8, 2);
  on_gpu.load_state_dict(on_cpu.state_dict());
  on_gpu.to(gpu);
  const Tensor x = randn({4, 3, 8}),
               padding = tensor<std::uint8_t>({{0, 0, 0, 1}, {0, 0, 0, 0}, {0, 1, 1, 0}});
  const Tensor ignore = triu(ones({4, 4}, kUInt8), 1);
  const Tensor out_cpu = on_cpu.forward(x, x, x, padding, ignore);
  const Tensor out_gpu = on_gpu.forward(x.to(gpu), x.to(gpu), x.to(gpu), padding.to(gpu), ignore.to(gpu));
  check_module_parity(on_cpu, out_cpu, on_gpu, out_gpu);
  // Key and value widths of their own, bias_k / bias_v and a zero key: the masks widened on the device.
  const auto wide = nn::MultiheadAttentionOptions(8, 2).kdim(5).vdim(3).add_bias_kv(true).add_zero_attn(true);
  nn::MultiheadAttention wide_cpu(wide), wide_gpu(wide);
  wide_gpu.load_state_dict(wide_cpu.state_dict());
  wide_gpu.to(gpu);
  const Tensor key = randn({4, 3, 5}), value = randn({4, 3, 3});
  const Tensor wide_out_cpu = wide_cpu.forward(x, key, value, padding, ignore);
  const Tensor wide_out_gpu =
      wide_gpu.forward(x.to(gpu), key.to(gpu), value.to(gpu), padding.to(gpu), ignore.to(gpu));
  check_module_parity(wide_cpu, wide_out_cpu, wide_gpu, wide_out_gpu);
}

TEST_CASE("cuda: a Transformer encoder matches the CPU, output and parameter gradients") {
  manual_seed(33);
  const auto o = nn::TransformerEncoderLayerOptions(8, 2).dim_feedforward(16).dropout(0.0).norm_first(true);
  nn::TransformerEncoder on_cpu(o, 2, true), on_gpu(o, 2, true);
  on_gpu.load_state_dict(on_cpu.state_dict());
  on_gpu.to(gpu);
  const Tensor x = randn({5, 3, 8}),
               padding = tensor<std::uint8_t>({{0, 0, 0, 1, 1}, {0, 0, 0, 0, 0}, {0, 1, 0, 0, 0}});
  const Tensor causal = triu(ones({5, 5}, kUInt8), 1);
  const Tensor out_cpu = on_cpu.forward(x, causal, padding);
  const Tensor out_gpu = on_gpu.forward(x.to(gpu), causal.to(gpu), padding.to(gpu));
  check_module_parity(on_cpu, out_cpu, on_gpu, out_gpu);
}

TEST_CASE("cuda: a Transformer decoder matches the CPU, output and parameter gradients") {
  manual_seed(34);
  const auto o = nn::TransformerDecoderLayerOptions(8, 2).dim_feedforward(16).dropout(0.0);
  nn::TransformerDecoder on_cpu(o, 2, true), on_gpu(o, 2, true);
  on_gpu.load_state_dict(on_cpu.state_dict());
  on_gpu.to(gpu);
  const Tensor tgt = randn({4, 3, 8}), memory = randn({5, 3, 8});
  const Tensor causal = triu(ones({4, 4}, kUInt8), 1);
  const Tensor memory_padding = tensor<std::uint8_t>({{0, 0, 0, 1, 1}, {0, 0, 0, 0, 0}, {0, 1, 0, 0, 0}});
  const Tensor out_cpu = on_cpu.forward(tgt, memory, causal, Tensor(), Tensor(), memory_padding);
  const Tensor out_gpu =
      on_gpu.forward(tgt.to(gpu), memory.to(gpu), causal.to(gpu), Tensor(), Tensor(), memory_padding.to(gpu));
  check_module_parity(on_cpu, out_cpu, on_gpu, out_gpu);
}

TEST_CASE("cuda: the whole Transformer matches the CPU, with a causal mask made on the device") {
  manual_seed(35);
  const auto o =
      nn::TransformerOptions(8, 2).num_encoder_layers(1).num_decoder_layers(2).dim_feedforward(16).dropout(
          0.0);
  nn::Transformer on_cpu(o), on_gpu(o);
  on_gpu.load_state_dict(on_cpu.state_dict());
  on_gpu.to(gpu);
  const Tensor src = randn({5, 3, 8}), tgt = randn({4, 3, 8});
  const Tensor padding = tensor<std::uint8_t>({{0, 0, 0, 1, 1}, {0, 0, 0, 0, 0}, {0, 1, 0, 0, 0}});
  const Tensor causal_gpu = nn::Transformer::generate_square_subsequent_mask(4, kFloat32, gpu);
  CHECK(causal_gpu.device() == gpu);
  const Tensor out_cpu =
      on_cpu.forward(src, tgt, Tensor(), nn::Transformer::generate_square_subsequent_mask(4), Tensor(),
                     padding, Tensor(), padding);
  const Tensor out_gpu = on_gpu.forward(src.to(gpu), tgt.to(gpu), Tensor(), causal_gpu, Tensor(),
                                        padding.to(gpu), Tensor(), padding.to(gpu));
  check_module_parity(on_cpu, out_cpu, on_gpu, out_gpu);
}

TEST_CASE("cuda: LSTM, GRU and RNN layers match the CPU on a padded batch: output, final states, gradients") {
  manual_seed(32);
  const auto o = nn::RecurrentOptions(3, 4).num_layers(2).bidirectional(true);
  std::vector<std::pair<std::shared_ptr<nn::RecurrentLayer>, std::shared_ptr<nn::RecurrentLayer>>> pairs{
      {std::make_shared<nn::LSTM>(o), std::make_shared<nn::LSTM>(o)},
      {std::make_shared<nn::GRU>(o), std::make_shared<nn::GRU>(o)},
      {std::make_shared<nn::RNN>(nn::RNNOptions(o).nonlinearity(nn::RNNNonlinearity::ReLU)),
       std::make_shared<nn::RNN>(nn::RNNOptions(o).nonlinearity(nn::RNNNonlinearity::ReLU))}};
  const Tensor x = randn({5, 2, 3}), h0 = randn({4, 2, 4}), c0 = randn({4, 2, 4});
  for (auto& [on_cpu, on_gpu] : pairs) {
    CAPTURE(on_cpu->description());
    on_gpu->load_state_dict(on_cpu->state_dict());
    on_gpu->to(gpu);
    nn::RecurrentOutput out_cpu, out_gpu;
    const std::vector<std::int64_t> lengths{5, 3};  // the second sequence padded
    if (auto* lstm = dynamic_cast<nn::LSTM*>(on_cpu.get())) {
      out_cpu = lstm->forward(x, h0, c0, lengths);
      out_gpu = dynamic_cast<nn::LSTM&>(*on_gpu).forward(x.to(gpu), h0.to(gpu), c0.to(gpu), lengths);
    } else if (auto* gru = dynamic_cast<nn::GRU*>(on_cpu.get())) {
      out_cpu = gru->forward(x, h0, lengths);
      out_gpu = dynamic_cast<nn::GRU&>(*on_gpu).forward(x.to(gpu), h0.to(gpu), lengths);
    } else {
      out_cpu = dynamic_cast<nn::RNN&>(*on_cpu).forward(x, h0, lengths);
      out_gpu = dynamic_cast<nn::RNN&>(*on_gpu).forward(x.to(gpu), h0.to(gpu), lengths);
    }
    // Output and final states as one vector, so that the gradients reach through each.
    const auto joined = [](const nn::RecurrentOutput& out) {
      return cat({out.output.flatten(), out.h_n.flatten(),
                  out.c_n.defined() ? out.c_n.flatten() : out.h_n.flatten()});
    };
    check_module_parity(*on_cpu, joined(out_cpu), *on_gpu, joined(out_gpu));
  }
  // An LSTM whose h is projected to 2 features (proj_size): h0 that wide, c0 not.
  const auto po = nn::LSTMOptions(3, 4).num_layers(2).bidirectional(true).proj_size(2);
  nn::LSTM proj_cpu(po), proj_gpu(po);
  proj_gpu.load_state_dict(proj_cpu.state_dict());
  proj_gpu.to(gpu);
  const Tensor ph0 = randn({4, 2, 2});
  const nn::RecurrentOutput pc = proj_cpu.forward(x, ph0, c0, {5, 3});
  const nn::RecurrentOutput pg = proj_gpu.forward(x.to(gpu), ph0.to(gpu), c0.to(gpu), {5, 3});
  check_module_parity(proj_cpu, cat({pc.output.flatten(), pc.h_n.flatten(), pc.c_n.flatten()}), proj_gpu,
                      cat({pg.output.flatten(), pg.h_n.flatten(), pg.c_n.flatten()}));
}

TEST_CASE("cuda: group norm, with and without weight and bias") {
  manual_seed(30);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-9 : 1e-4;
    parity([](const auto& v) { return group_norm(v[0], 2, v[1], v[2]); },
           {randn({3, 6, 5, 4}, dt) * 2.0 + 1.0, randn({6}, dt), randn({6}, dt)}, tol);
    parity([](const auto& v) { return group_norm(v[0], 3, Tensor(), Tensor(), 1e-3); },
           {randn({4, 6, 7}, dt)}, tol);
  }
}

TEST_CASE("cuda: instance_norm with running statistics, prelu and bilinear") {
  manual_seed(32);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-9 : 1e-4;
    const Tensor rm_cpu = zeros({3}, dt), rv_cpu = ones({3}, dt);
    const Tensor rm_gpu = rm_cpu.to(gpu), rv_gpu = rv_cpu.to(gpu);
    parity(
        [&](const auto& v) {
          const bool on_gpu = v[0].device().is_cuda();
          return instance_norm(v[0], on_gpu ? rm_gpu : rm_cpu, on_gpu ? rv_gpu : rv_cpu, v[1], v[2], true,
                               0.2);
        },
        {randn({2, 3, 4, 5}, dt) * 2.0 + 1.0, randn({3}, dt), randn({3}, dt)}, tol);
    check_same(rm_gpu.to(Device::cpu()), rm_cpu, tol);
    check_same(rv_gpu.to(Device::cpu()), rv_cpu, tol);
    parity(
        [&](const auto& v) {
          const bool on_gpu = v[0].device().is_cuda();
          return instance_norm(v[0], on_gpu ? rm_gpu : rm_cpu, on_gpu ? rv_gpu : rv_cpu, Tensor(), Tensor(),
                               false);
        },
        {randn({2, 3, 7}, dt)}, tol);
    parity([](const auto& v) { return prelu(v[0], v[1]); }, {randn({4, 3, 5}, dt), randn({3}, dt)},
           tol_for(dt));
    parity([](const auto& v) { return bilinear(v[0], v[1], v[2], v[3]); },
           {randn({5, 3}, dt), randn({5, 4}, dt), randn({2, 3, 4}, dt), randn({2}, dt)}, tol);
  }
}

TEST_CASE("cuda: l1, smooth L1 and Huber losses, kl_div, cosine_similarity") {
  manual_seed(30);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-10 : 1e-5;
    const Tensor a = randn({5, 6}, dt) * 2.0, b = randn({5, 6}, dt);
    parity([](const auto& v) { return l1_loss(v[0], v[1]); }, {a, b}, tol);
    parity([](const auto& v) { return smooth_l1_loss(v[0], v[1], Reduction::none, 0.8); }, {a, b}, tol);
    parity([](const auto& v) { return huber_loss(v[0], v[1], Reduction::sum, 1.3); }, {a, b}, tol);
    // kl_div from log-probabilities, with a zero target, and as log-targets.
    Tensor probs = softmax(b, 1);
    probs.narrow(0, 1, 1).narrow(1, 2, 1).zero_();
    parity([](const auto& v) { return kl_div(v[0], v[1], Reduction::sum); }, {log_softmax(a, 1), probs}, tol);
    parity([](const auto& v) { return kl_div(v[0], v[1], Reduction::none, true); },
           {log_softmax(a, 1), log_softmax(b, 1)}, tol);
    parity([](const auto& v) { return cosine_similarity(v[0], v[1], 1); }, {a, b.narrow(0, 0, 1)}, tol);
  }
}

TEST_CASE("cuda: kthvalue, median, nanmedian, mode, quantile, roll, diff, the scatter family and cdist") {
  manual_seed(33);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-10 : 1e-5;
    const Tensor x = randn({4, 7}, dt);
    parity([](const auto& v) { return kthvalue(v[0], 3, 1).values; }, {x}, tol);
    parity([](const auto& v) { return median(v[0], 0, true).values; }, {x}, tol);
    const Tensor repeats = floor(x * 1.5);
    parity([](const auto& v) { return mode(v[0], 1).values; }, {repeats}, tol);
    CHECK(mode(repeats.to(gpu), 0).indices.to(Device::cpu()).to_vector<std::int64_t>() ==
          mode(repeats, 0).indices.to_vector<std::int64_t>());
    const Tensor holes = where(x > 1.0, std::nan(""), x);
    parity([](const auto& v) { return nanmedian(v[0], 1).values; }, {holes}, tol);
    CHECK(nanmedian(holes.to(gpu), 0).indices.to(Device::cpu()).to_vector<std::int64_t>() ==
          nanmedian(holes, 0).indices.to_vector<std::int64_t>());
    parity([](const auto& v) { return quantile(v[0], 0.37, 1); }, {x}, tol);
    parity([](const auto& v) { return roll(v[0], {2, -1}, {1, 0}); }, {x}, tol);
    parity([](const auto& v) { return diff(v[0], 2, 1); }, {x}, tol);
    const Tensor idx = randint(0, 4, {4, 5});
    parity(
        [idx](const auto& v) {
          return scatter_add(v[0], 0, v[0].device().is_cuda() ? idx.to(gpu) : idx, v[1]);
        },
        {x, randn({5, 6}, dt)}, tol);
    for (ScatterReduce r : {ScatterReduce::sum, ScatterReduce::mean, ScatterReduce::prod, ScatterReduce::amax,
                            ScatterReduce::amin})
      parity(
          [idx, r](const auto& v) {
            return scatter_reduce(v[0], 0, v[0].device().is_cuda() ? idx.to(gpu) : idx, v[1], r,
                                  r != ScatterReduce::mean);
          },
          {x, randn({5, 6}, dt)}, tol);
    parity([idx](const auto& v) { return scatter(v[0], 0, idx, v[1]); }, {x, randn({5, 6}, dt)}, tol);
    parity(
        [](const auto& v) {
          return index_copy(v[0], 1, tensor<std::int64_t>({6, 1}), v[1]);
        },
        {x, randn({4, 2}, dt)}, tol);
    parity(
        [](const auto& v) {
          return index_fill(v[0], 1, tensor<std::int64_t>({0, 5}).to(gpu), 3.0);
        },
        {x}, tol);
    parity([](const auto& v) { return amax(v[0], {1}, true) + amin(v[0], {0}, true); }, {round(x * 2.0)},
           tol);  // ties
    parity([](const auto& v) { return nanmean(log(v[0]), {1}) + nansum(log(v[0])); }, {x}, tol);
    CHECK(count_nonzero(round(x).to(gpu)).item() == count_nonzero(round(x)).item());
    parity([](const auto& v) { return cdist(v[0], v[1]); }, {randn({30, 3}, dt), randn({5, 3}, dt)}, 1e-4);
    parity([](const auto& v) { return cdist(v[0], v[1], 1.0); }, {randn({3, 3}, dt), randn({5, 3}, dt)}, tol);
    // Indices too, read back.
    check_same(median(x.to(gpu), 1).indices.to(Device::cpu()), median(x, 1).indices, 0);
    check_same(kthvalue(x.to(gpu), 2, 0).indices.to(Device::cpu()), kthvalue(x, 2, 0).indices, 0);
  }
}

TEST_CASE("cuda: likelihood, margin and embedding losses") {
  manual_seed(31);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-10 : 1e-5;
    const Tensor a = randn({5, 6}, dt), b = randn({5, 6}, dt), c = randn({5, 6}, dt);
    const Tensor p = rand({5, 6}, dt) * 0.8 + 0.1, q = rand({5, 6}, dt);
    const Tensor signs = where(rand({5, 6}, dt) < 0.5, 1.0, scalar_tensor(-1.0, dt)),
                 row_signs = signs.select(1, 0);
    parity([](const auto& v) { return binary_cross_entropy(v[0], v[1], v[2]); }, {p, q, rand({6}, dt) + 0.5},
           tol);
    parity([](const auto& v) { return gaussian_nll_loss(v[0], v[1], v[2], true); },
           {a, b, rand({5}, dt) + 0.1}, tol);
    parity([](const auto& v) { return poisson_nll_loss(v[0], v[1], true, true, 1e-8, Reduction::none); },
           {a, floor(q * 4.0)}, tol);
    parity([](const auto& v) { return multilabel_soft_margin_loss(v[0], v[1]); }, {a, q}, tol);
    parity([](const auto& v) { return margin_ranking_loss(v[0], v[1], v[2], 0.2); }, {a, b, signs}, tol);
    parity([](const auto& v) { return hinge_embedding_loss(v[0], v[1], 0.5, Reduction::none); }, {a, signs},
           tol);
    parity([](const auto& v) { return soft_margin_loss(v[0], v[1]); }, {a, signs}, tol);
    parity([](const auto& v) { return cosine_embedding_loss(v[0], v[1], v[2], 0.1); }, {a, b, row_signs},
           tol);
    parity([](const auto& v) { return triplet_margin_loss(v[0], v[1], v[2], 1.0, 2.0, 1e-6, true); },
           {a, b, c}, tol);
    // Class weights and an ignored target, the targets on the device.
    const Tensor classes = tensor<std::int64_t>({0, 5, 2, 5, 1});
    const Tensor class_weights = rand({6}, dt) + 0.5;
    parity(
        [&](const auto& v) {
          const bool on_gpu = v[0].device().is_cuda();
          return cross_entropy(v[0], on_gpu ? classes.to(gpu) : classes, Reduction::mean, 0.1,
                               on_gpu ? class_weights.to(gpu) : class_weights, 5);
        },
        {a}, tol);
  }
}

TEST_CASE("cuda: where, index_select, gather, embeddings and nll_loss") {
  manual_seed(24);
  const Tensor a = randn({4, 5}), b = randn({5});
  parity([](const auto& v) { return where(gt(v[0], v[1]), v[0], v[1]); }, {a, b}, 1e-6);
  const Tensor idx = tensor<std::int64_t>({3, 0, 3, 1});  // a repeated index: its gradients add up
  parity([idx](const auto& v) { return index_select(v[0], 0, idx.to(v[0].device())); }, {randn({5, 6})}, 1e-5);
  parity([idx](const auto& v) { return index_select(v[0], 1, idx); }, {randn({2, 5, 3})}, 1e-5);
  const Tensor gidx = randint(0, 6, {4, 3});
  parity([gidx](const auto& v) { return gather(v[0], 1, gidx.to(v[0].device())); }, {randn({4, 6})}, 1e-5);
  const Tensor targets = randint(0, 7, {9});
  parity([targets](const auto& v) { return nll_loss(log_softmax(v[0], 1), targets.to(v[0].device())); },
         {randn({9, 7})}, 1e-5);
  parity([](const auto& v) { return embedding(v[0], tensor<std::int64_t>({{1, 2}, {2, 0}})); }, {randn({4, 3})}, 1e-6);
  CHECK_THROWS_WITH_AS(index_select(randn({3, 2}).to(gpu), 0, tensor<std::int64_t>({3})),
                       doctest::Contains("out of range"), Error);
}

TEST_CASE("cuda: indices on the GPU stay there; a bad one is an Error at the next copy to the host") {
  manual_seed(25);
  // Negative indices count from the end; int32 indices work too; gradients of repeats add up.
  const Tensor idx = tensor<std::int64_t>({-1, 0, 4, -5, 2});
  parity([idx](const auto& v) { return index_select(v[0], 0, idx.to(v[0].device())); }, {randn({5, 6})}, 1e-5);
  parity([idx](const auto& v) { return index_select(v[0], 1, idx.to(kInt32).to(v[0].device())); },
         {randn({2, 5, 3})}, 1e-5);
  parity([](const auto& v) { return embedding(v[0], tensor<std::int64_t>({{1, 2}, {2, 0}}).to(v[0].device())); },
         {randn({4, 3})}, 1e-6);
  // The backward reads the caller's int64 index (no copy): changed in place before it
  // runs, it is an Error. An int32 index was converted, so the backward kept its values.
  const Tensor x = randn({4, 2}).to(gpu).requires_grad_();
  Tensor on_gpu = tensor<std::int64_t>({1, 1}).to(gpu);
  const Tensor picked = index_select(x, 0, on_gpu);
  on_gpu.fill_(3.0);
  CHECK_THROWS_WITH_AS(sum(picked).backward(),
                       doctest::Contains("backward: 'index_select' saved a tensor of shape (2) for its gradient, and "
                                         "it was changed in place"),
                       Error);
  Tensor narrow_index = tensor<std::int64_t>({1, 1}).to(kInt32).to(gpu);
  const Tensor picked_again = index_select(x, 0, narrow_index);
  narrow_index.fill_(3.0);
  sum(picked_again).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 0, 2, 2, 0, 0, 0, 0});

  // Out of range: the call returns; the next read-back throws, once; the rows read 0.
  const Tensor w = randn({3, 2}).to(gpu);
  const Tensor bad = index_select(w, 0, tensor<std::int64_t>({0, 3, -4, 2}).to(gpu));
  CHECK_THROWS_WITH_AS(cuda::synchronize(), doctest::Contains("(nor are 1 other entries)"), Error);
  CHECK(bad.to_vector<float>()[2] == 0.0f);  // the report was cleared: this read-back is clean
  const Tensor one_bad = embedding(w, tensor<std::int64_t>({{0}, {5}}).to(gpu));
  CHECK_THROWS_WITH_AS(one_bad.to(Device::cpu()),
                       doctest::Contains("index_select: index 5 (entry 1 of the index) is out of range for a dimension "
                                         "of size 3"),
                       Error);
  CHECK(one_bad.to_vector<float>() == std::vector<float>{w.to_vector<float>()[0], w.to_vector<float>()[1], 0, 0});
}

TEST_CASE("cuda: gather and nll_loss read indices on the GPU; a bad one is an Error at the next copy to the host") {
  manual_seed(27);
  // Along each dimension of a 3-D tensor, from a transposed (strided) x, with negative
  // and repeated indices, int64 and int32; the upstream gradient broadcast (stride 0).
  const Tensor idx = tensor<std::int64_t>({0, -1, 1, 1, -2, 0, 1, 1, -2, 1, 0, 0}).reshape({2, 3, 2});
  for (std::int64_t dim : {0, 1, 2}) {
    parity([idx, dim](const auto& v) { return gather(v[0].transpose(0, 2), dim, idx.to(v[0].device())); },
           {randn({3, 3, 2}, kFloat64)}, 1e-12);
    parity([idx, dim](const auto& v) { return gather(v[0], dim, idx.to(kInt32).to(v[0].device())); },
           {randn({2, 3, 4})}, 1e-6);
  }
  const Tensor gidx = tensor<std::int64_t>({0, -1, 2, 1, -3, 3, 1, 1, -4, 2, 0, 0}).reshape({2, 3, 2});
  parity([gidx](const auto& v) { return gather(v[0], 2, gidx.to(v[0].device())); }, {randn({2, 3, 4})}, 1e-6);
  parity([gidx](const auto& v) { return sum(gather(v[0], 2, gidx.to(v[0].device())), {1}); },
         {randn({2, 5, 4})}, 1e-5);
  const Tensor targets = tensor<std::int64_t>({4, 0, 6, 6, 2});
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
    parity([targets, r](const auto& v) { return nll_loss(log_softmax(v[0], 1), targets.to(v[0].device()), r); },
           {randn({5, 7})}, 1e-5);

  // The backward reads the caller's index: changing it in place first is an Error, as
  // for the losses' targets.
  const Tensor x = randn({2, 3}).to(gpu).requires_grad_();
  Tensor on_gpu = tensor<std::int64_t>({{2}, {0}}).to(gpu);
  const Tensor picked = gather(x, 1, on_gpu);
  on_gpu.fill_(1.0);
  CHECK_THROWS_WITH_AS(sum(picked).backward(), doctest::Contains("backward: 'gather' saved a tensor of shape (2, 1)"),
                       Error);
  for (bool nll : {false, true}) {
    CAPTURE(nll);
    const Tensor logits_gpu = randn({2, 3}).to(gpu).requires_grad_();
    Tensor targets_gpu = tensor<std::int64_t>({0, 2}).to(gpu);
    const Tensor loss_gpu =
        nll ? nll_loss(log_softmax(logits_gpu, 1), targets_gpu) : cross_entropy(logits_gpu, targets_gpu);
    targets_gpu.fill_(1.0);
    CHECK_THROWS_WITH_AS(loss_gpu.backward(), doctest::Contains("was changed in place"), Error);
  }

  // Out of range: the call returns; the next read-back throws, once; the entry reads 0.
  const Tensor w = randn({2, 3}).to(gpu);
  const Tensor bad = gather(w, 1, tensor<std::int64_t>({{0, 3}, {-4, 2}}).to(gpu));
  CHECK_THROWS_WITH_AS(bad.to(Device::cpu()),
                       doctest::Contains("gather: index 3 (entry 1 of the index, in row-major order) is out of range"),
                       Error);
  CHECK(bad.to_vector<float>()[2] == 0.0f);
  // nll_loss takes no negative targets; the sample's loss term reads 0.
  const Tensor logp = log_softmax(randn({3, 4}), 1).to(gpu);
  const Tensor loss = nll_loss(logp, tensor<std::int64_t>({1, -1, 4}).to(gpu), Reduction::none);
  CHECK_THROWS_WITH_AS(cuda::synchronize(),
                       doctest::Contains("nll_loss: target -1 of sample 1 is not a class index in [0, 4) (nor are 1 "
                                         "other targets)"),
                       Error);
  CHECK(loss.to_vector<float>()[2] == 0.0f);
}

TEST_CASE(
    "cuda: one_hot, tril, triu, repeat, pad, eye and linspace match the CPU; a bad one_hot index is "
    "reported") {
  manual_seed(28);
  for (DType dt : {kFloat32, kFloat64}) {
    parity([](const auto& v) { return tril(v[0]) * 2.0 + triu(v[0], 2); }, {randn({5, 4}, dt)}, tol_for(dt));
    parity([](const auto& v) { return triu(v[0].transpose(1, 2), -1); }, {randn({2, 3, 4}, dt)}, tol_for(dt));
  }
  for (DType dt : {kFloat32, kFloat64}) {
    parity([](const auto& v) { return repeat(v[0].t(), {2, 1, 3}); }, {randn({2, 3}, dt)}, tol_for(dt));
    parity([](const auto& v) { return pad(v[0], {1, 2, 0, 1}, -0.5); }, {randn({2, 3, 4}, dt)}, tol_for(dt));
  }
  CHECK(eye(3, 4, kFloat32, gpu).to_vector<float>() == eye(3, 4).to_vector<float>());
  CHECK(linspace(-1.0, 2.0, 7, kFloat64, gpu).to_vector<double>() ==
        linspace(-1.0, 2.0, 7, kFloat64).to_vector<double>());
  const Tensor ints = randint(-9, 9, {3, 4});
  CHECK(tril(ints.to(gpu), 1).to_vector<std::int64_t>() == tril(ints, 1).to_vector<std::int64_t>());
  // one_hot stays on the GPU (int64 and int32 indices, a strided view, num_classes -1).
  const Tensor labels = randint(0, 6, {4, 5});
  for (const Tensor& l : {labels, labels.t().to(kInt32)}) {
    const Tensor hot = one_hot(l.to(gpu), 7);
    CHECK(hot.device() == gpu);
    CHECK(hot.dtype() == kInt64);
    CHECK(hot.to_vector<std::int64_t>() == one_hot(l, 7).to_vector<std::int64_t>());
    CHECK(one_hot(l.to(gpu)).shape() == one_hot(l).shape());
  }
  // Out of range: the next read-back throws, once; the bad entry reads as class 0.
  const Tensor bad = one_hot(tensor<std::int64_t>({1, 3, 2}).to(gpu), 3);
  CHECK_THROWS_WITH_AS(
      bad.to(Device::cpu()),
      doctest::Contains("one_hot: index 3 (entry 1 of the indices, in row-major order) is not a "
                        "class in [0, 3); found on cuda:0"),
      Error);
  CHECK(bad.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 0, 1, 0, 0, 0, 0, 1});
  const Tensor two_bad = one_hot(tensor<std::int64_t>({-1, 0, 5}).to(gpu), 3);
  CHECK(two_bad.shape() == Shape{3, 3});  // the call returns; the report waits for the host
  CHECK_THROWS_WITH_AS(cuda::synchronize(),
                       doctest::Contains("is not a class in [0, 3) (nor are 1 other entries)"), Error);
  CHECK_THROWS_WITH_AS(one_hot(tensor<std::int64_t>({-3, -2}).to(gpu)),
                       doctest::Contains("every index is negative"), Error);
}

TEST_CASE("cuda: CSR spmm, forward and backward, on a random graph") {
  manual_seed(25);
  std::vector<graph::Edge> edges;
  for (int k = 0; k < 80; ++k) edges.push_back({randint(0, 30, {1}).item<std::int64_t>(), randint(0, 30, {1}).item<std::int64_t>()});
  const graph::CsrMatrix a = graph::normalize_symmetric(graph::CsrMatrix::undirected(30, edges));
  const graph::CsrMatrix directed = graph::CsrMatrix::from_coo(20, 30, {{0, 1}, {0, 29}, {5, 3}, {19, 0}}, {1.5f, -2, 3, 0.5f});
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-7 : 1e-5;  // the CSR values are float32 either way
    parity([&a](const auto& v) { return spmm(a, v[0]); }, {randn({30, 7}, dt)}, tol);
    parity([&directed](const auto& v) { return spmm(directed, v[0]); }, {randn({30, 4}, dt)}, tol);
  }
  // The matrix already on the GPU (and its transpose, for the directed one).
  for (const graph::CsrMatrix* m : {&a, &directed}) {
    const graph::DeviceCsr on_gpu(*m, gpu), on_cpu(*m);
    parity([&](const auto& v) { return spmm(v[0].device().is_cuda() ? on_gpu : on_cpu, v[0]); },
           {randn({m->cols, 6})}, 1e-5);
  }
  CHECK_THROWS_WITH_AS(spmm(graph::DeviceCsr(a, gpu), randn({30, 4})),
                       doctest::Contains("spmm: the sparse matrix is on cuda:0 but X on cpu"), Error);
  graph::CsrMatrix bad = directed;  // checked on the host before it goes up
  bad.col_idx[1] = 30;
  CHECK_THROWS_WITH_AS(spmm(bad, randn({30, 4}).to(gpu)), doctest::Contains("column index 30 (nonzero 1)"), Error);
}

TEST_CASE("cuda: index_add, edge_softmax and GATConv match the CPU; a bad index_add index is reported") {
  manual_seed(28);
  const Tensor idx = tensor<std::int64_t>({2, 0, 2, -1, 1, 2});
  for (DType dt : {kFloat64, kFloat32}) {
    parity([&idx](const auto& v) { return index_add(v[0], 0, idx, v[1]); },
           {randn({5, 3}, dt), randn({6, 3}, dt)}, tol_for(dt));
    // The index on the GPU as well, along dimension 1.
    parity([&idx](const auto& v) { return index_add(v[0], 1, idx.to(v[0].device()), v[1]); },
           {randn({2, 5}, dt), randn({2, 6}, dt)}, tol_for(dt));
  }
  const Tensor bad =
      index_add(zeros({3}).to(gpu), 0, tensor<std::int64_t>({0, 7}).to(gpu), ones({2}).to(gpu));
  CHECK_THROWS_WITH_AS(
      bad.to(Device::cpu()),
      doctest::Contains("index_add: index 7 (entry 1 of the index) is out of range for a dimension "
                        "of size 3"),
      Error);
  CHECK(bad.to_vector<float>() == std::vector<float>{1, 0, 0});  // the good entry was added

  std::vector<graph::Edge> edges;
  for (int k = 0; k < 80; ++k)
    edges.push_back({randint(0, 30, {1}).item<std::int64_t>(), randint(0, 30, {1}).item<std::int64_t>()});
  const graph::CsrMatrix a = graph::add_self_loops(graph::CsrMatrix::undirected(30, edges));
  const graph::DeviceCsr on_gpu(a, gpu), on_cpu(a);
  CHECK(on_gpu.row_idx().device() == gpu);
  CHECK(on_gpu.row_idx().to_vector<std::int64_t>() == on_cpu.row_idx().to_vector<std::int64_t>());
  const auto held = [&](const Tensor& t) -> const graph::DeviceCsr& {
    return t.device().is_cuda() ? on_gpu : on_cpu;
  };
  for (DType dt : {kFloat64, kFloat32}) {
    parity([&](const auto& v) { return edge_softmax(held(v[0]), v[0]); }, {randn({a.nnz(), 4}, dt) * 3.0},
           tol_for(dt));
  }
  for (bool concat : {true, false}) {
    nn::GATConv cpu_layer(nn::GATConvOptions(7, 5).heads(3).concat(concat)),
        gpu_layer(nn::GATConvOptions(7, 5).heads(3).concat(concat));
    gpu_layer.load_state_dict(cpu_layer.state_dict());
    gpu_layer.to(gpu);
    parity(
        [&](const auto& v) {
          return (v[0].device().is_cuda() ? gpu_layer : cpu_layer).forward(held(v[0]), v[0]);
        },
        {randn({30, 7})}, 1e-5);
    const auto cpu_params = cpu_layer.named_parameters(), gpu_params = gpu_layer.named_parameters();
    REQUIRE(cpu_params.size() == gpu_params.size());
    for (std::size_t i = 0; i < cpu_params.size(); ++i) {
      INFO("parameter " << cpu_params[i].first);
      check_same(gpu_params[i].second.grad().to(Device::cpu()), cpu_params[i].second.grad(), 1e-5);
    }
  }
}

TEST_CASE("cuda: rand, randn and dropout draw on the device, repeatably per seed, dropout as on the CPU") {
  manual_seed(26);
  const Tensor u = rand({200000}, kFloat32, gpu);
  const Tensor z = randn({200000}, kFloat64, gpu);
  CHECK(u.device() == gpu);
  CHECK(min(u).item() >= 0.0);
  CHECK(max(u).item() < 1.0);
  CHECK(mean(u).item() == doctest::Approx(0.5).epsilon(0.01));
  CHECK(mean(z).item() == doctest::Approx(0.0).scale(1).epsilon(0.01));
  CHECK(var(z).item() == doctest::Approx(1.0).epsilon(0.02));
  manual_seed(26);
  CHECK(rand({200000}, kFloat32, gpu).to_vector<float>() == u.to_vector<float>());

  const Tensor x = ones({100000}).to(gpu).requires_grad_();
  const Tensor y = dropout(x, 0.25, true);
  const double kept = sum(ne(y, zeros_like(y))).item() / 100000.0;
  CHECK(kept == doctest::Approx(0.75).epsilon(0.02));
  CHECK(max(y).item() == doctest::Approx(1 / 0.75));
  sum(y).backward();
  check_same(x.grad(), y.detach(), 1e-6);  // dy/dx is the scaled mask itself

  // One seed, one mask: the GPU's dropout equals the CPU's exactly.
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor v = randn({301, 77}, dt);
    manual_seed(61);
    const Tensor on_cpu = dropout(v, 0.35, true);
    manual_seed(61);
    check_same(dropout(v.to(gpu), 0.35, true).to(Device::cpu()), on_cpu, 0.0);
  }
}

}  // namespace kiln::test

namespace kiln::test {

TEST_CASE("cuda: leaky_relu, clamp, cat and stack") {
  manual_seed(27);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = tol_for(dt);
    const Tensor x = randn({6, 7}, dt);
    parity([](const auto& v) { return leaky_relu(v[0], 0.1); }, {x}, tol);
    parity([](const auto& v) { return clamp(v[0], -0.5, 0.7); }, {x}, tol);
    parity([](const auto& v) { return cat({v[0], v[1]}, 1); }, {x, randn({6, 2}, dt)}, tol);
    parity([](const auto& v) { return stack({v[0], v[1]}, 0); }, {x, randn({6, 7}, dt)}, tol);
  }
}

}  // namespace kiln::test

namespace kiln::test {

TEST_CASE("cuda: composed losses and graph layers match the CPU") {
  manual_seed(28);
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-9 : 1e-5;
    const Tensor a = randn({5, 6}, dt), b = randn({5, 6}, dt);
    parity([](const auto& v) { return mse_loss(v[0], v[1]); }, {a, b}, tol);
    const Tensor labels = randint(0, 2, {5, 6}).to(dt);
    parity([&labels](const auto& v) {
      return binary_cross_entropy_with_logits(v[0], labels.to(v[0].device()), v[1], Reduction::sum);
    }, {a, full({}, 3.0, dt)}, tol);
    parity([](const auto& v) { return nn::gaussian_kl(v[0], v[1]); }, {a, b * 0.1}, tol);
    parity([](const auto& v) { return nn::gaussian_kl(v[0], v[1]); }, {randn({300, 16}, dt), randn({300, 16}, dt)},
           tol);
    // Targets and pos_weight without gradients take the fused kernels: every
    // reduction, pos_weight absent, one value or one per element, logits far out.
    const Tensor wide = cat({randn({4, 6}, dt) * 30.0, a}, 0);
    const Tensor wide_labels = randint(0, 2, {9, 6}).to(dt);
    const Tensor one_weight = full({}, 3.0, dt), weights = rand({9, 6}, dt) * 4.0;
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
      for (const Tensor* w : {static_cast<const Tensor*>(nullptr), &one_weight, &weights}) {
        CAPTURE(static_cast<int>(r));
        CAPTURE(w == nullptr ? 0 : w->numel());
        parity([&](const auto& v) {
          const Device d = v[0].device();
          return binary_cross_entropy_with_logits(v[0], wide_labels.to(d), w ? w->to(d) : Tensor(), r);
        }, {wide}, tol);
      }
    parity([](const auto& v) { return logsumexp(v[0], {1}); }, {a}, tol);
    parity([](const auto& v) { return var(v[0], {0}); }, {a}, tol);
    parity([](const auto& v) { return kiln::std(v[0], {1}, true); }, {a}, tol);
    // A constant row: std 0 and a zero gradient on both devices.
    parity([](const auto& v) { return kiln::std(v[0], {1}, false, 0); }, {full({2, 5}, 1.5, dt)}, tol);
    const Tensor src = tensor<std::int64_t>({0, 1, 4}), dst = tensor<std::int64_t>({2, 2, 3});
    parity([&](const auto& v) { return nn::inner_product_logits(v[0], src, dst); }, {a}, tol);
  }
  // A GCN layer (spmm + linear) as a module moved to the GPU.
  std::vector<graph::Edge> edges{{0, 1}, {1, 2}, {2, 3}, {3, 0}, {1, 3}};
  const graph::CsrMatrix a_hat = graph::normalize_symmetric(graph::CsrMatrix::undirected(4, edges));
  nn::GCNConv cpu_layer(5, 3, true), gpu_layer(5, 3, true);
  gpu_layer.load_state_dict(cpu_layer.state_dict());
  gpu_layer.to(gpu);
  const Tensor x = randn({4, 5});
  check_same(gpu_layer.forward(a_hat, x.to(gpu)).to(Device::cpu()), cpu_layer.forward(a_hat, x), 1e-5);
  // Sparse input features (held on the host, sent up with each call), and the weight's
  // gradient through spmm(X, W^T).
  const graph::CsrMatrix xs =
      graph::CsrMatrix::from_dense(where(gt(x, scalar_tensor(0.0)), x, zeros({4, 5})));
  const Tensor y_gpu = gpu_layer.forward(graph::DeviceCsr(a_hat, gpu), xs),
               y_cpu = cpu_layer.forward(a_hat, xs);
  check_same(y_gpu.to(Device::cpu()), y_cpu, 1e-5);
  const Tensor g = randn({4, 3});
  y_gpu.backward(g.to(gpu));
  y_cpu.backward(g);
  check_same(gpu_layer.weight.grad().to(Device::cpu()), cpu_layer.weight.grad(), 1e-5);
  check_same(gpu_layer.bias.grad().to(Device::cpu()), cpu_layer.bias.grad(), 1e-5);

  // The features held on the GPU (a DeviceCsr) and dropped there: the mask the CPU
  // draws for the same seed, on the matrix and on the transpose the weight's gradient
  // reads.
  const graph::DeviceCsr xs_gpu(xs, gpu), xs_cpu(xs);
  manual_seed(31);
  const graph::DeviceCsr dropped_gpu = dropout(xs_gpu, 0.5, true);
  manual_seed(31);
  const graph::DeviceCsr dropped_cpu = dropout(xs_cpu, 0.5, true);
  CHECK(dropped_gpu.device() == gpu);
  check_same(dropped_gpu.values().to(Device::cpu()), dropped_cpu.values(), 0.0);
  check_same(dropped_gpu.transpose().values().to(Device::cpu()), dropped_cpu.transpose().values(), 0.0);
  gpu_layer.zero_grad();
  cpu_layer.zero_grad();
  const Tensor h_gpu = gpu_layer.forward(graph::DeviceCsr(a_hat, gpu), dropped_gpu),
               h_cpu = cpu_layer.forward(graph::DeviceCsr(a_hat), dropped_cpu);
  check_same(h_gpu.to(Device::cpu()), h_cpu, 1e-5);
  h_gpu.backward(g.to(gpu));
  h_cpu.backward(g);
  check_same(gpu_layer.weight.grad().to(Device::cpu()), cpu_layer.weight.grad(), 1e-5);
  CHECK_THROWS_WITH_AS(gpu_layer.forward(graph::DeviceCsr(a_hat, gpu), xs_cpu),
                       doctest::Contains("GCNConv: the sparse features are on cpu but the layer on cuda:0"),
                       Error);
}

TEST_CASE("cuda: reparameterize draws eps as randn does, and its gradients are the composite's") {
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-12 : 1e-6;
    const Tensor mu = randn({37, 5}, dt).to(gpu).requires_grad_();
    const Tensor logstd = (randn({37, 5}, dt) * 0.5).to(gpu).requires_grad_();
    manual_seed(71);
    const Tensor eps = randn({37, 5}, dt, gpu);
    manual_seed(71);
    const Tensor z = nn::reparameterize(mu, logstd);
    const Tensor scale = exp(logstd.detach());
    check_same(z.to(Device::cpu()), (mu.detach() + eps * scale).to(Device::cpu()), tol);
    const Tensor up = randn({37, 5}, dt).to(gpu);
    z.backward(up);
    check_same(mu.grad().to(Device::cpu()), up.to(Device::cpu()), 0.0);
    check_same(logstd.grad().to(Device::cpu()), (up * eps * scale).to(Device::cpu()), tol);
  }
}

// The decoder is one kernel each way on the GPU, the CPU's fused loops its reference:
// hubs, repeats and pairs of a node with itself; node numbers from the host or the
// device, negative ones counted from the end, int32 too; an upstream gradient that is
// one value broadcast (sum's backward); rows of 16 and of 40. A bad node number on the
// device scores 0 and is an Error at the next copy to the host, naming src or dst.
TEST_CASE("cuda: inner_product_logits matches the CPU; a bad node number is reported") {
  manual_seed(61);
  Generator gen(62);
  for (const std::int64_t d : {std::int64_t{16}, std::int64_t{40}}) {
    CAPTURE(d);
    std::vector<std::int64_t> s(700), t(700);
    for (std::size_t k = 0; k < s.size(); ++k) {
      const double u = gen.uniform();
      s[k] = static_cast<std::int64_t>(u * u * 90);
      t[k] = k % 13 == 0 ? s[k] : static_cast<std::int64_t>(gen.below(90)) - (k % 3 == 0 ? 90 : 0);
    }
    const Tensor src = from_vector(s), dst = from_vector(t);
    for (const DType dt : {kFloat32, kFloat64}) {
      CAPTURE(dt);
      const Tensor z = randn({90, d}, dt);
      parity([&](const auto& v) { return nn::inner_product_logits(v[0], src, dst); }, {z}, tol_for(dt));
      parity(
          [&](const auto& v) {
            const Device on = v[0].device();
            return sum(nn::inner_product_logits(v[0], src.to(kInt32).to(on), dst.to(on)));
          },
          {z}, tol_for(dt));
    }
  }
  const Tensor z = randn({3, 2}).to(gpu);
  const Tensor bad = nn::inner_product_logits(z, tensor<std::int64_t>({0, 1, 2}).to(gpu),
                                              tensor<std::int64_t>({1, 3, 2}).to(gpu));
  CHECK_THROWS_WITH_AS(
      bad.to(Device::cpu()),
      doctest::Contains("inner_product_logits: dst[1] = 3 is not a node of z (3 nodes, numbered 0 "
                        "to 2, or -3 to -1 from the end)"),
      Error);
  CHECK(bad.to_vector<float>()[1] == 0.0f);  // reported once; this read-back is clean
  (void)nn::inner_product_logits(z, tensor<std::int64_t>({-4, 5}).to(gpu),
                                 tensor<std::int64_t>({0, 0}).to(gpu));
  CHECK_THROWS_WITH_AS(cuda::synchronize(), doctest::Contains("-1 from the end) (nor are 1 other entries)"),
                       Error);
  CHECK_THROWS_WITH_AS(
      nn::inner_product_logits(z, tensor<std::int64_t>({3}), tensor<std::int64_t>({0})),
      doctest::Contains("inner_product_logits: src[0] = 3 is not a node of z (shape (3, 2): 3 "
                        "nodes"),
      Error);
  CHECK_THROWS_WITH_AS(
      nn::inner_product_logits(z, tensor<std::int64_t>({0}).to(gpu), tensor<float>({0}).to(gpu)),
      doctest::Contains("dst must hold int64 or int32 node numbers"), Error);
  // The backward reads the caller's int64 node numbers: changed in place first, an Error.
  const Tensor leaf = randn({3, 2}).to(gpu).requires_grad_();
  Tensor nodes = tensor<std::int64_t>({0, 1}).to(gpu);
  const Tensor logits = nn::inner_product_logits(leaf, nodes, nodes);
  nodes.fill_(2.0);
  CHECK_THROWS_WITH_AS(sum(logits).backward(), doctest::Contains("'inner_product_logits' saved a tensor"),
                       Error);
}

TEST_CASE("cuda: gaussian_kl and reparameterize refuse a backward after their inputs changed in place") {
  const Tensor mu = randn({4, 3}).to(gpu).requires_grad_(), logstd = randn({4, 3}).to(gpu).requires_grad_();
  const Tensor kl = nn::gaussian_kl(mu, logstd), z = nn::reparameterize(mu, logstd);
  logstd.detach().mul_(2.0);
  CHECK_THROWS_WITH_AS(kl.backward(), doctest::Contains("'gaussian_kl' saved a tensor"), Error);
  CHECK_THROWS_WITH_AS(sum(z).backward(), doctest::Contains("'reparameterize' saved a tensor"), Error);
}

}  // namespace kiln::test
