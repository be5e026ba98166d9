// kiln against libtorch in one run: conv2d and conv_transpose2d at the Fashion CNN's
// second layer (batch 128, 32 <-> 64 channels on 14x14, 3x3, padding 1), forward alone
// and forward + backward (input, weight and bias gradients). The two libraries take
// turns, round after round, on the same inputs; each line is the median of the rounds.
//
//   ./build/bench/torch_conv [--rounds 15] [--threads 2]
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

}  // namespace

int main(int argc, char** argv) {
  int rounds = 15, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--rounds") rounds = std::stoi(argv[i + 1]);
    if (std::string(argv[i]) == "--threads") threads = std::stoi(argv[i + 1]);
  }
  kiln::set_num_threads(threads);
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  struct Case {
    const char* name;
    bool transposed;
    std::int64_t in, out;  // channels
  };
  for (const Case& c :
       {Case{"conv2d 32->64", false, 32, 64}, Case{"conv_transpose2d 64->32", true, 64, 32}}) {
    const torch::Tensor x = torch::randn({128, c.in, 14, 14});
    const torch::Tensor w =
        c.transposed ? torch::randn({c.in, c.out, 3, 3}) * 0.05 : torch::randn({c.out, c.in, 3, 3}) * 0.05;
    const torch::Tensor b = torch::randn({c.out});
    const torch::Tensor up = torch::randn({128, c.out, 14, 14});
    const auto torch_forward = [&](const torch::Tensor& xx, const torch::Tensor& ww,
                                   const torch::Tensor& bb) {
      return c.transposed ? torch::conv_transpose2d(xx, ww, bb, 1, 1) : torch::conv2d(xx, ww, bb, 1, 1);
    };
    const auto kiln_forward = [&](const kiln::Tensor& xx, const kiln::Tensor& ww, const kiln::Tensor& bb) {
      return c.transposed ? kiln::conv_transpose2d(xx, ww, bb, {1, 1}, {1, 1})
                          : kiln::conv2d(xx, ww, bb, {1, 1}, {1, 1});
    };
    const kiln::Tensor kx = to_kiln(x), kw = to_kiln(w), kb = to_kiln(b), kup = to_kiln(up);
    std::vector<double> tf, kf, tfb, kfb;
    for (int r = 0; r < rounds + 2; ++r) {  // the first two rounds warm up
      double t1, k1, t2, k2;
      {
        torch::NoGradGuard no_grad;
        t1 = milliseconds([&] { (void)torch_forward(x, w, b); });
      }
      {
        kiln::NoGradGuard no_grad;
        k1 = milliseconds([&] { (void)kiln_forward(kx, kw, kb); });
      }
      const torch::Tensor tx = x.clone().requires_grad_(), tw = w.clone().requires_grad_(),
                          tb = b.clone().requires_grad_();
      t2 = milliseconds([&] { torch_forward(tx, tw, tb).backward(up); });
      kiln::Tensor gx = kx.clone().requires_grad_(), gw = kw.clone().requires_grad_(),
                   gb = kb.clone().requires_grad_();
      k2 = milliseconds([&] { kiln_forward(gx, gw, gb).backward(kup); });
      if (r < 2) continue;
      tf.push_back(t1), kf.push_back(k1), tfb.push_back(t2), kfb.push_back(k2);
    }
    std::printf(
        "%-24s forward: kiln %6.2f ms, libtorch %6.2f ms, ratio %.2f | forward + backward: kiln %6.2f ms, "
        "libtorch %6.2f ms, ratio %.2f\n",
        c.name, median(kf), median(tf), median(kf) / median(tf), median(kfb), median(tfb),
        median(kfb) / median(tfb));
  }
}
