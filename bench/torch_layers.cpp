// kiln against libtorch in one run, layer by layer, forward alone and forward + backward
// (the gradients of every input): conv2d and conv_transpose2d at the Fashion CNN's second
// layer (batch 128, 32 <-> 64 channels on 14x14, 3x3, padding 1), then layers kiln builds
// from other ops: conv1d, conv_transpose1d, max and average pooling with torch's options,
// adaptive average and max pooling with overlapping windows, lp_pool2d, a spatial
// transformer's affine_grid and grid_sample, bilinear and bicubic interpolation,
// local_response_norm, rms_norm, then single ops on large tensors (a transpose's copy,
// pow(x, 2), sort, quantile, nanquantile, cat, norm, flip, roll, masked_select, a
// comparison and where), ctc_loss, conv3d, conv_transpose3d and max_pool3d, Fourier
// transforms (rfft, fft2, stft), group_norm (and, fused like it, layer_norm and
// batch_norm in training), multi-head self-attention, a Transformer encoder layer, LSTM
// and GRU layers over a sequence, and, by grad with create_graph, an LSTM's input
// gradient, a physics-informed network's residual (second derivatives) and a WGAN-GP
// critic's input gradient, without and with layer norm.
// The two libraries take turns, round after round, on the same inputs; each line is the
// median of the rounds.
//
//   ./build/bench/torch_layers [--rounds 15] [--threads 2] [--only adaptive] [--alone kiln|libtorch]
//
// --alone times one library only: the two share the process's malloc heap, so where both
// allocate many mid-sized blocks (the second-derivative rows) one's frees can move the
// other's times; run it once per library to compare them in separate processes.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kiln/kiln.hpp"

namespace {

namespace F = torch::nn::functional;

double milliseconds(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

kiln::Tensor to_kiln(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  kiln::Shape shape(c.sizes().begin(), c.sizes().end());
  kiln::Tensor k = kiln::Tensor::empty(shape);
  std::memcpy(k.data_ptr<float>(), c.data_ptr<float>(), sizeof(float) * static_cast<std::size_t>(c.numel()));
  return k;
}

// One layer on both sides: the same float32 inputs, a function of them in each library.
struct Case {
  std::string name;
  std::vector<torch::Tensor> inputs;
  std::function<torch::Tensor(const std::vector<torch::Tensor>&)> torch_fn;
  std::function<kiln::Tensor(const std::vector<kiln::Tensor>&)> kiln_fn;
};

// Which libraries a run times: both, taking turns (the default), or one alone, so that the
// other's allocations (the two share the process's malloc heap) cannot move its times.
enum class Sides { both, kiln, libtorch };

void run(const Case& c, int rounds, Sides sides) {
  const bool time_kiln = sides != Sides::libtorch, time_torch = sides != Sides::kiln;
  std::vector<kiln::Tensor> kin;
  for (const torch::Tensor& t : c.inputs) kin.push_back(to_kiln(t));
  torch::Tensor up;
  {
    torch::NoGradGuard no_grad;
    up = torch::randn(c.torch_fn(c.inputs).sizes());
  }
  const kiln::Tensor kup = to_kiln(up);
  std::vector<double> tf, kf, tfb, kfb;
  for (int r = 0; r < rounds + 2; ++r) {  // the first two rounds warm up
    double t1 = 0, k1 = 0, t2 = 0, k2 = 0;
    if (time_torch) {
      torch::NoGradGuard no_grad;
      t1 = milliseconds([&] { (void)c.torch_fn(c.inputs); });
    }
    if (time_kiln) {
      kiln::NoGradGuard no_grad;
      k1 = milliseconds([&] { (void)c.kiln_fn(kin); });
    }
    if (time_torch) {
      std::vector<torch::Tensor> tg;
      for (const torch::Tensor& t : c.inputs) tg.push_back(t.clone().requires_grad_());
      t2 = milliseconds([&] { c.torch_fn(tg).backward(up); });
    }
    if (time_kiln) {
      std::vector<kiln::Tensor> kg;
      for (const kiln::Tensor& t : kin) kg.push_back(t.clone().requires_grad_());
      k2 = milliseconds([&] { c.kiln_fn(kg).backward(kup); });
    }
    if (r < 2) continue;
    tf.push_back(t1), kf.push_back(k1), tfb.push_back(t2), kfb.push_back(k2);
  }
  if (sides == Sides::both)
    std::printf(
        "%-34s forward: kiln %7.2f ms, libtorch %7.2f ms, ratio %.2f | forward + backward: kiln %7.2f ms, "
        "libtorch %7.2f ms, ratio %.2f\n",
        c.name.c_str(), median(kf), median(tf), median(kf) / median(tf), median(kfb), median(tfb),
        median(kfb) / median(tfb));
  else
    std::printf("%-34s %s alone: forward %7.2f ms | forward + backward %7.2f ms\n", c.name.c_str(),
                sides == Sides::kiln ? "kiln" : "libtorch", median(time_kiln ? kf : tf),
                median(time_kiln ? kfb : tfb));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 15, threads = 2;
  std::string only;  // run the layers whose name contains this
  Sides sides = Sides::both;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--alone") {
      const std::string side = argv[i + 1];
      if (side != "kiln" && side != "libtorch") {
        std::fprintf(stderr, "--alone takes kiln or libtorch, not %s\n", side.c_str());
        return 2;
      }
      sides = side == "kiln" ? Sides::kiln : Sides::libtorch;
    }
    if (std::string(argv[i]) == "--rounds") rounds = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--threads") threads = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--only") only = argv[i + 1];
  }
  kiln::set_num_threads(threads);
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  using TV = std::vector<torch::Tensor>;
  using KV = std::vector<kiln::Tensor>;
  const std::int64_t embed = 128, heads = 8;
  // ctc_loss: 32 sequences of 150 .. 200 steps over 30 classes (0 the blank), 20 .. 40 labels each.
  std::vector<std::int64_t> ctc_inputs, ctc_lengths, ctc_labels;
  for (std::int64_t b = 0; b < 32; ++b) {
    ctc_inputs.push_back(150 + (b * 37) % 51);
    ctc_lengths.push_back(20 + (b * 13) % 21);
    for (std::int64_t i = 0; i < 40; ++i) ctc_labels.push_back(1 + (b * 7 + i * i * 3) % 29);
  }
  const kiln::Tensor k_ctc_targets = kiln::from_vector(ctc_labels, {32, 40});
  const torch::Tensor t_ctc_targets = torch::tensor(ctc_labels, torch::kLong).reshape({32, 40});
  const torch::Tensor t_ctc_inputs = torch::tensor(ctc_inputs, torch::kLong),
                      t_ctc_lengths = torch::tensor(ctc_lengths, torch::kLong);
  const std::vector<Case> cases{
      {"conv2d 32->64",
       {torch::randn({128, 32, 14, 14}), torch::randn({64, 32, 3, 3}) * 0.05, torch::randn({64})},
       [](const TV& a) { return torch::conv2d(a[0], a[1], a[2], 1, 1); },
       [](const KV& a) {
         return kiln::conv2d(a[0], a[1], a[2], {1, 1}, {1, 1});
       }},
      {"conv_transpose2d 64->32",
       {torch::randn({128, 64, 14, 14}), torch::randn({64, 32, 3, 3}) * 0.05, torch::randn({32})},
       [](const TV& a) { return torch::conv_transpose2d(a[0], a[1], a[2], 1, 1); },
       [](const KV& a) {
         return kiln::conv_transpose2d(a[0], a[1], a[2], {1, 1}, {1, 1});
       }},
      {"conv1d 32->64, k 5, length 256",
       {torch::randn({128, 32, 256}), torch::randn({64, 32, 5}) * 0.05, torch::randn({64})},
       [](const TV& a) { return torch::conv1d(a[0], a[1], a[2], 1, 2); },
       [](const KV& a) { return kiln::conv1d(a[0], a[1], a[2], 1, 2); }},
      {"adaptive_avg_pool2d 14x14 -> 5x5",
       {torch::randn({128, 64, 14, 14})},
       [](const TV& a) {
         return torch::adaptive_avg_pool2d(a[0], {5, 5});
       },
       [](const KV& a) {
         return kiln::adaptive_avg_pool2d(a[0], {5, 5});
       }},
      {"max_pool2d 3x3 s2 p1 ceil, 64x56x56",
       {torch::randn({32, 64, 56, 56})},
       [](const TV& a) {
         return torch::max_pool2d(a[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, true);
       },
       [](const KV& a) {
         return kiln::max_pool2d(a[0], {3, 3}, {2, 2}, {1, 1}, true);
       }},
      {"avg_pool2d 3x3 s2 p1 no pad count",
       {torch::randn({32, 64, 56, 56})},
       [](const TV& a) {
         return torch::avg_pool2d(a[0], {3, 3}, {2, 2}, {1, 1}, false, false);
       },
       [](const KV& a) {
         return kiln::avg_pool2d(a[0], {3, 3}, {2, 2}, {1, 1}, false, false);
       }},
      {"affine_grid + grid_sample, 32x16x64x64",
       {torch::randn({32, 16, 64, 64}),
        torch::eye(3).narrow(0, 0, 2).unsqueeze(0).repeat({32, 1, 1}) + torch::randn({32, 2, 3}) * 0.1},
       [](const TV& a) {
         return F::grid_sample(a[0], F::affine_grid(a[1], {32, 16, 64, 64}, false),
                               F::GridSampleFuncOptions().align_corners(false));
       },
       [](const KV& a) {
         return kiln::grid_sample(a[0], kiln::affine_grid(a[1], {32, 16, 64, 64}));
       }},
      {"adaptive_max_pool2d 14x14 -> 5x5",
       {torch::randn({128, 64, 14, 14})},
       [](const TV& a) {
         return std::get<0>(torch::adaptive_max_pool2d(a[0], {5, 5}));
       },
       [](const KV& a) {
         return kiln::adaptive_max_pool2d(a[0], {5, 5});
       }},
      {"lp_pool2d p 2, 2x2, 64x14x14",
       {torch::randn({128, 64, 14, 14})},
       [](const TV& a) {
         return F::lp_pool2d(a[0], F::LPPool2dFuncOptions(2, {2, 2}).stride({2, 2}));
       },
       [](const KV& a) {
         return kiln::lp_pool2d(a[0], 2, {2, 2});
       }},
      {"conv_transpose1d 64->32, k 4, s 2",
       {torch::randn({128, 64, 128}), torch::randn({64, 32, 4}) * 0.05, torch::randn({32})},
       [](const TV& a) { return torch::conv_transpose1d(a[0], a[1], a[2], 2, 1); },
       [](const KV& a) { return kiln::conv_transpose1d(a[0], a[1], a[2], 2, 1); }},
      {"local_response_norm 5, 64x14x14",
       {torch::randn({128, 64, 14, 14})},
       [](const TV& a) { return F::local_response_norm(a[0], F::LocalResponseNormFuncOptions(5)); },
       [](const KV& a) { return kiln::local_response_norm(a[0], 5); }},
      // libtorch 1.13 has no rms_norm: its peer is the same formula in torch's ops.
      {"rms_norm, 4096 rows of 768",
       {torch::randn({4096, 768}), torch::randn({768})},
       [](const TV& a) { return a[0] * torch::rsqrt(a[0].pow(2).mean({-1}, true) + 1.1920929e-07) * a[1]; },
       [](const KV& a) { return kiln::rms_norm(a[0], {768}, a[1]); }},
      {"interpolate bicubic 64x64 -> 128x128",
       {torch::randn({32, 16, 64, 64})},
       [](const TV& a) {
         return F::interpolate(a[0], F::InterpolateFuncOptions()
                                         .size(std::vector<std::int64_t>{128, 128})
                                         .mode(torch::kBicubic)
                                         .align_corners(false));
       },
       [](const KV& a) {
         return kiln::interpolate(a[0], {128, 128}, kiln::Interpolation::bicubic);
       }},
      {"interpolate bilinear 64x64 -> 128x128",
       {torch::randn({32, 16, 64, 64})},
       [](const TV& a) {
         return F::interpolate(a[0], F::InterpolateFuncOptions()
                                         .size(std::vector<std::int64_t>{128, 128})
                                         .mode(torch::kBilinear)
                                         .align_corners(false));
       },
       [](const KV& a) {
         return kiln::interpolate(a[0], {128, 128}, kiln::Interpolation::bilinear);
       }},
      {"conv3d 16->32, 3x3x3, 8x16x32x32",
       {torch::randn({8, 16, 16, 32, 32}), torch::randn({32, 16, 3, 3, 3}) * 0.05, torch::randn({32})},
       [](const TV& a) { return torch::conv3d(a[0], a[1], a[2], 1, 1); },
       [](const KV& a) {
         return kiln::conv3d(a[0], a[1], a[2], {1, 1, 1}, {1, 1, 1});
       }},
      {"conv_transpose3d 32->16, 2x2x2 s2, 8x32x8x16x16",
       {torch::randn({8, 32, 8, 16, 16}), torch::randn({32, 16, 2, 2, 2}) * 0.05, torch::randn({16})},
       [](const TV& a) { return torch::conv_transpose3d(a[0], a[1], a[2], 2); },
       [](const KV& a) {
         return kiln::conv_transpose3d(a[0], a[1], a[2], {2, 2, 2});
       }},
      {"max_pool3d 2x2x2, 8x32x16x32x32",
       {torch::randn({8, 32, 16, 32, 32})},
       [](const TV& a) { return torch::max_pool3d(a[0], 2); },
       [](const KV& a) {
         return kiln::max_pool3d(a[0], {2, 2, 2});
       }},
      {"rfft, 4096 rows of 1024",
       {torch::randn({4096, 1024})},
       [](const TV& a) { return torch::view_as_real(torch::fft::rfft(a[0])); },
       [](const KV& a) { return kiln::fft::rfft(a[0]); }},
      {"rfft, 1024 rows of 1009 (a prime)",
       {torch::randn({1024, 1009})},
       [](const TV& a) { return torch::view_as_real(torch::fft::rfft(a[0])); },
       [](const KV& a) { return kiln::fft::rfft(a[0]); }},
      {"fft2, 16 complex 256x256 images",
       {torch::randn({16, 256, 256, 2})},
       [](const TV& a) { return torch::view_as_real(torch::fft::fft2(torch::view_as_complex(a[0]))); },
       [](const KV& a) { return kiln::fft::fft2(a[0]); }},
      {"stft, 16 x 1 s at 16 kHz, n_fft 512",  // hop 128, hann window
       {torch::randn({16, 16000})},
       [](const TV& a) {
         return torch::view_as_real(
             torch::stft(a[0], 512, 128, 512, torch::hann_window(512), true, "reflect", false, true, true));
       },
       [](const KV& a) {
         return kiln::stft(a[0], 512,
                           kiln::StftOptions().set_hop_length(128).set_window(kiln::hann_window(512)));
       }},
      {"x.t().contiguous(), 2048 x 1024",
       {torch::randn({2048, 1024})},
       [](const TV& a) { return a[0].t().contiguous(); },
       [](const KV& a) { return a[0].t().contiguous(); }},
      {"pow(x, 2), 4096 rows of 1024",
       {torch::randn({4096, 1024})},
       [](const TV& a) { return a[0].pow(2); },
       [](const KV& a) { return kiln::pow(a[0], 2.0); }},
      {"sort, 2048 rows of 1024",
       {torch::randn({2048, 1024})},
       [](const TV& a) { return std::get<0>(a[0].sort(1)); },
       [](const KV& a) { return kiln::sort(a[0], 1).values; }},
      {"quantile at 0.1 / 0.5 / 0.9 along rows, 2048 rows of 1024",
       {torch::randn({2048, 1024})},
       [](const TV& a) {
         return torch::quantile(a[0], torch::tensor({0.1f, 0.5f, 0.9f}), 1);
       },
       [](const KV& a) {
         return kiln::quantile(a[0], kiln::tensor<float>({0.1f, 0.5f, 0.9f}), 1);
       }},
      {"nanquantile at 0.5 along rows, 2048 rows of 1024",
       {torch::randn({2048, 1024})},
       [](const TV& a) { return torch::nanquantile(a[0], 0.5, 1); },
       [](const KV& a) { return kiln::nanquantile(a[0], 0.5, 1); }},
      {"cat of two 2048 x 1024 along dim 0",
       {torch::randn({2048, 1024}), torch::randn({2048, 1024})},
       [](const TV& a) {
         return torch::cat({a[0], a[1]}, 0);
       },
       [](const KV& a) {
         return kiln::cat({a[0], a[1]}, 0);
       }},
      {"norm along rows, 2048 x 1024",
       {torch::randn({2048, 1024})},
       [](const TV& a) { return a[0].norm(2, 1); },
       [](const KV& a) { return kiln::norm(a[0], 2.0, {1}); }},
      {"flip of the last dim, 2048 x 1024",
       {torch::randn({2048, 1024})},
       [](const TV& a) { return a[0].flip(1); },
       [](const KV& a) { return kiln::flip(a[0], {1}); }},
      {"roll by 3 along the last dim, 2048 x 1024",
       {torch::randn({2048, 1024})},
       [](const TV& a) { return a[0].roll(3, 1); },
       [](const KV& a) { return kiln::roll(a[0], {3}, {1}); }},
      {"masked_select(x, x > 0), 2048 x 1024",
       {torch::randn({2048, 1024})},
       [](const TV& a) { return a[0].masked_select(a[0] > 0); },
       [](const KV& a) { return kiln::masked_select(a[0], kiln::gt(a[0], 0.0)); }},
      {"where(x > 0, x, y), 4096 rows of 1024",
       {torch::randn({4096, 1024}), torch::randn({4096, 1024})},
       [](const TV& a) { return torch::where(a[0] > 0, a[0], a[1]); },
       [](const KV& a) { return kiln::where(kiln::gt(a[0], 0.0), a[0], a[1]); }},
      {"ctc_loss, T 200, N 32, C 30, S 40",
       {torch::randn({200, 32, 30})},
       [&](const TV& a) {
         return F::ctc_loss(torch::log_softmax(a[0], 2), t_ctc_targets, t_ctc_inputs, t_ctc_lengths);
       },
       [&](const KV& a) {
         return kiln::ctc_loss(kiln::log_softmax(a[0], 2), k_ctc_targets, ctc_inputs, ctc_lengths);
       }},
      {"group_norm 8 groups, 64x14x14",
       {torch::randn({128, 64, 14, 14}), torch::randn({64}), torch::randn({64})},
       [](const TV& a) { return torch::group_norm(a[0], 8, a[1], a[2]); },
       [](const KV& a) { return kiln::group_norm(a[0], 8, a[1], a[2]); }},
      {"layer_norm, 4096 rows of 768",
       {torch::randn({4096, 768}), torch::randn({768}), torch::randn({768})},
       [](const TV& a) { return torch::layer_norm(a[0], {768}, a[1], a[2]); },
       [](const KV& a) { return kiln::layer_norm(a[0], {768}, a[1], a[2]); }},
      {"batch_norm (training), 64x14x14",
       {torch::randn({128, 64, 14, 14}), torch::randn({64}), torch::randn({64})},
       [](const TV& a) { return torch::batch_norm(a[0], a[1], a[2], {}, {}, true, 0.1, 1e-5, false); },
       [](const KV& a) { return kiln::batch_norm(a[0], {}, {}, a[1], a[2], true, 0.1, 1e-5); }},
      {"multi-head self-attention",  // (L 64, N 32, E 128), 8 heads
       {torch::randn({64, 32, embed}), torch::randn({3 * embed, embed}) * 0.1,
        torch::randn({3 * embed}) * 0.1, torch::randn({embed, embed}) * 0.1, torch::randn({embed}) * 0.1},
       [](const TV& a) {
         return std::get<0>(F::multi_head_attention_forward(
             a[0], a[0], a[0],
             F::MultiheadAttentionForwardFuncOptions(embed, heads, a[1], a[2], {}, {}, false, 0.0, a[3], a[4])
                 .need_weights(false)));
       },
       [](const KV& a) {
         kiln::nn::MultiheadAttention m(embed, heads);
         m.in_proj_weight = a[1], m.in_proj_bias = a[2], m.out_proj->weight = a[3], m.out_proj->bias = a[4];
         return m.forward(a[0]);
       }},
  };
  // Recurrent layers: L 50 steps, N 32, 64 input features, H 128, one layer.
  const std::int64_t length = 50, batch = 32, features = 64, hidden = 128;
  const auto recurrent = [&](const char* name, std::int64_t gates,
                             std::shared_ptr<kiln::nn::RecurrentLayer> layer, auto torch_fn) {
    return Case{name,
                {torch::randn({length, batch, features}), torch::randn({gates * hidden, features}) * 0.1,
                 torch::randn({gates * hidden, hidden}) * 0.1, torch::randn({gates * hidden}) * 0.1,
                 torch::randn({gates * hidden}) * 0.1},
                [torch_fn](const TV& a) { return torch_fn(a); },
                [layer](const KV& a) {
                  kiln::nn::RecurrentWeights& w = layer->weights[0];
                  w.weight_ih = a[1], w.weight_hh = a[2], w.bias_ih = a[3], w.bias_hh = a[4];
                  return layer->forward(a[0]);
                }};
  };
  std::vector<Case> all = cases;
  all.push_back(recurrent(
      "LSTM, 50 steps, 64 -> 128", 4, std::make_shared<kiln::nn::LSTM>(features, hidden), [](const TV& a) {
        const auto h0 = torch::zeros({1, batch, hidden});
        return std::get<0>(
            torch::lstm(a[0], {h0, h0}, {a[1], a[2], a[3], a[4]}, true, 1, 0.0, false, false, false));
      }));
  all.push_back(recurrent(
      "GRU, 50 steps, 64 -> 128", 3, std::make_shared<kiln::nn::GRU>(features, hidden), [](const TV& a) {
        return std::get<0>(torch::gru(a[0], torch::zeros({1, batch, hidden}), {a[1], a[2], a[3], a[4]}, true,
                                      1, 0.0, false, false, false));
      }));
  // The LSTM's input gradient, recorded (create_graph: a gradient penalty on a sequence
  // model); "forward + backward" adds the backward pass through it to x and the weights.
  // kiln's sequence node walks its steps again in recorded ops for this.
  Case lstm_gradient =
      recurrent("LSTM input gradient, recorded, 50 steps", 4,
                std::make_shared<kiln::nn::LSTM>(features, hidden), [](const TV& a) {
                  torch::AutoGradMode recording(true);
                  const torch::Tensor x = a[0].requires_grad() ? a[0] : a[0].detach().requires_grad_();
                  const auto h0 = torch::zeros({1, batch, hidden});
                  const torch::Tensor out = std::get<0>(
                      torch::lstm(x, {h0, h0}, {a[1], a[2], a[3], a[4]}, true, 1, 0.0, false, false, false));
                  return torch::autograd::grad({out.sum()}, {x}, {}, true, true)[0];
                });
  lstm_gradient.kiln_fn = [forward = lstm_gradient.kiln_fn](const KV& a) {
    kiln::EnableGradGuard recording;
    KV in = a;
    if (!in[0].requires_grad()) in[0] = in[0].detach().requires_grad_();
    return kiln::grad(kiln::sum(forward(in)), {in[0]}, kiln::Tensor(), {.create_graph = true})[0];
  };
  all.push_back(lstm_gradient);
  // A Transformer encoder layer (post-norm, ReLU): L 64, N 32, d_model 128, 8 heads, feed-forward 512.
  auto k_encoder = std::make_shared<kiln::nn::TransformerEncoderLayer>(
      kiln::nn::TransformerEncoderLayerOptions(embed, heads).dim_feedforward(512).dropout(0.0));
  auto t_encoder = torch::nn::TransformerEncoderLayer(
      torch::nn::TransformerEncoderLayerOptions(embed, heads).dim_feedforward(512).dropout(0.0));
  all.push_back(Case{"TransformerEncoderLayer, ff 512",
                     {torch::randn({64, 32, embed})},
                     [t_encoder](const TV& a) mutable { return t_encoder->forward(a[0]); },
                     [k_encoder](const KV& a) { return k_encoder->forward(a[0]); }});
  // A physics-informed network's residual -(u_xx + u_yy) at 1000 points of the plane, u a
  // 2 -> 32 -> 32 -> 1 tanh MLP: the forward pass and two gradients recorded with create_graph
  // (u_x, u_y, then u_xx and u_yy); "forward + backward" adds the backward pass through them.
  const auto torch_residual = [](const TV& a) {
    torch::AutoGradMode recording(true);
    const torch::Tensor p = a[0].requires_grad() ? a[0] : a[0].detach().requires_grad_();
    const torch::Tensor h = torch::tanh(F::linear(torch::tanh(F::linear(p, a[1], a[2])), a[3], a[4]));
    const torch::Tensor u = F::linear(h, a[5]);
    const torch::Tensor du = torch::autograd::grad({u.sum()}, {p}, {}, true, true)[0];
    const torch::Tensor uxx = torch::autograd::grad({du.select(1, 0).sum()}, {p}, {}, true, true)[0];
    const torch::Tensor uyy = torch::autograd::grad({du.select(1, 1).sum()}, {p}, {}, true, true)[0];
    return -(uxx.select(1, 0) + uyy.select(1, 1));
  };
  const auto kiln_residual = [](const KV& a) {
    kiln::EnableGradGuard recording;
    const kiln::Tensor p = a[0].requires_grad() ? a[0] : a[0].detach().requires_grad_();
    const kiln::Tensor h = kiln::tanh(kiln::linear(kiln::tanh(kiln::linear(p, a[1], a[2])), a[3], a[4]));
    const kiln::Tensor u = kiln::linear(h, a[5]);
    const kiln::GradOptions recorded{.create_graph = true};
    const kiln::Tensor du = kiln::grad(kiln::sum(u), {p}, kiln::Tensor(), recorded)[0];
    const kiln::Tensor uxx = kiln::grad(kiln::sum(du.select(1, 0)), {p}, kiln::Tensor(), recorded)[0];
    const kiln::Tensor uyy = kiln::grad(kiln::sum(du.select(1, 1)), {p}, kiln::Tensor(), recorded)[0];
    return -(uxx.select(1, 0) + uyy.select(1, 1));
  };
  all.push_back(Case{"PINN residual, second derivatives",
                     {torch::rand({1000, 2}), torch::randn({32, 2}) * 0.7, torch::randn({32}) * 0.1,
                      torch::randn({32, 32}) * 0.18, torch::randn({32}) * 0.1, torch::randn({1, 32}) * 0.18},
                     torch_residual,
                     kiln_residual});
  // A WGAN-GP critic's input gradient: 64 images of 3 x 32 x 32 through conv 3->32 and
  // 32->64 (4x4, stride 2, padding 1, leaky ReLU 0.2) and a linear layer to one score; the
  // gradient of the scores' sum with respect to the images, recorded (create_graph). The
  // second form puts layer norm over each convolution's (C, H, W) before the leaky ReLU, as
  // WGAN-GP's critics normalise: the normalisation's backward runs recorded too.
  const auto torch_critic_gradient = [](bool normalise) {
    return [normalise](const TV& a) {
      torch::AutoGradMode recording(true);
      const torch::Tensor x = a[0].requires_grad() ? a[0] : a[0].detach().requires_grad_();
      const auto layer = [normalise](const torch::Tensor& in, const torch::Tensor& w,
                                     const torch::Tensor& b) {
        torch::Tensor h = torch::conv2d(in, w, b, 2, 1);
        if (normalise) h = F::layer_norm(h, F::LayerNormFuncOptions({h.size(1), h.size(2), h.size(3)}));
        return F::leaky_relu(h, F::LeakyReLUFuncOptions().negative_slope(0.2));
      };
      const torch::Tensor score = F::linear(layer(layer(x, a[1], a[2]), a[3], a[4]).flatten(1), a[5]);
      return torch::autograd::grad({score.sum()}, {x}, {}, true, true)[0];
    };
  };
  const auto kiln_critic_gradient = [](bool normalise) {
    return [normalise](const KV& a) {
      kiln::EnableGradGuard recording;
      const kiln::Tensor x = a[0].requires_grad() ? a[0] : a[0].detach().requires_grad_();
      const auto layer = [normalise](const kiln::Tensor& in, const kiln::Tensor& w, const kiln::Tensor& b) {
        kiln::Tensor h = kiln::conv2d(in, w, b, {2, 2}, {1, 1});
        if (normalise) h = kiln::layer_norm(h, {h.size(1), h.size(2), h.size(3)});
        return kiln::leaky_relu(h, 0.2);
      };
      const kiln::Tensor score = kiln::linear(layer(layer(x, a[1], a[2]), a[3], a[4]).flatten(1), a[5]);
      return kiln::grad(kiln::sum(score), {x}, kiln::Tensor(), {.create_graph = true})[0];
    };
  };
  for (const bool normalise : {false, true})
    all.push_back(Case{
        normalise ? "critic with layer norm, input gradient (WGAN-GP)" : "critic input gradient (WGAN-GP)",
        {torch::randn({64, 3, 32, 32}), torch::randn({32, 3, 4, 4}) * 0.1, torch::randn({32}) * 0.1,
         torch::randn({64, 32, 4, 4}) * 0.05, torch::randn({64}) * 0.1, torch::randn({1, 64 * 8 * 8}) * 0.02},
        torch_critic_gradient(normalise),
        kiln_critic_gradient(normalise)});
  for (const Case& c : all)
    if (c.name.find(only) != std::string::npos) run(c, rounds, sides);
}
