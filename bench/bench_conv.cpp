// conv2d as the Fashion-MNIST CNN runs it (batch 128, 3x3 kernels, "same" padding):
// layer 0 (the benchmark's argument) is 1 -> 32 channels on 28x28 images, layer 1 is
// 32 -> 64 channels on 14x14. Forward alone, then forward and backward (the input
// gradient only where the CNN needs it: layer 1's). GFLOP/s counts 2 * N * O * C * kh * kw * OH * OW per
// product.
//
// conv_transpose2d runs at layer 1's shapes with the channels swapped (same products).
// A CIFAR-sized layer (32 -> 32 channels on 32x32 or 16x16) times forward and backward.
// conv3d runs 16 -> 32 channels, 3x3x3, padding 1, on 8 volumes of 16x32x32 (torch_layers'
// shape): forward, then forward and backward with the weight's gradient alone (argument 0)
// or the input's too (1), and the latter for a single volume (2).
//
//   ./build/bench/bench_conv --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include "kiln/kiln.hpp"

namespace {

struct Layer {
  std::int64_t in, out, size;
};
constexpr Layer kLayers[] = {{1, 32, 28}, {32, 64, 14}};
constexpr std::int64_t kBatch = 128;

double product_flops(const Layer& l) { return 2.0 * kBatch * l.out * l.in * 9 * l.size * l.size; }

void set_flops(benchmark::State& state, double per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      per_iteration * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void BM_conv2d_forward(benchmark::State& state) {
  const Layer l = kLayers[state.range(0)];
  kiln::manual_seed(0);
  kiln::nn::Conv2d conv(kiln::nn::Conv2dOptions(l.in, l.out, 3).padding(1));
  const kiln::Tensor x = kiln::randn({kBatch, l.in, l.size, l.size});
  kiln::NoGradGuard no_grad;
  for (auto _ : state) {
    kiln::Tensor y = conv.forward(x);
    benchmark::DoNotOptimize(y.raw_data_ptr());
  }
  set_flops(state, product_flops(l));
}
BENCHMARK(BM_conv2d_forward)->DenseRange(0, 1)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_conv2d_forward_backward(benchmark::State& state) {
  const Layer l = kLayers[state.range(0)];
  const bool input_grad = l.in > 1;  // the CNN's first layer reads the images, which need no gradient
  kiln::manual_seed(0);
  kiln::nn::Conv2d conv(kiln::nn::Conv2dOptions(l.in, l.out, 3).padding(1));
  kiln::Tensor x = kiln::randn({kBatch, l.in, l.size, l.size});
  if (input_grad) x.requires_grad_();
  const kiln::Tensor upstream = kiln::randn({kBatch, l.out, l.size, l.size});
  for (auto _ : state) {
    kiln::Tensor y = conv.forward(x);
    y.backward(upstream);
    benchmark::DoNotOptimize(conv.weight.grad().raw_data_ptr());
    conv.zero_grad();
    if (input_grad) x.set_grad(kiln::Tensor());
  }
  set_flops(state, product_flops(l) * (input_grad ? 3 : 2));
}
BENCHMARK(BM_conv2d_forward_backward)->DenseRange(0, 1)->UseRealTime()->Unit(benchmark::kMillisecond);

// conv_transpose2d at layer 1's shapes the other way round (64 -> 32 channels on 14x14,
// 3x3, padding 1): the same products as that layer's conv2d, so GFLOP/s compare directly.
void BM_conv_transpose2d_forward(benchmark::State& state) {
  const Layer l = kLayers[1];
  kiln::manual_seed(0);
  kiln::nn::ConvTranspose2d conv(kiln::nn::ConvTranspose2dOptions(l.out, l.in, 3).padding(1));
  const kiln::Tensor x = kiln::randn({kBatch, l.out, l.size, l.size});
  kiln::NoGradGuard no_grad;
  for (auto _ : state) {
    kiln::Tensor y = conv.forward(x);
    benchmark::DoNotOptimize(y.raw_data_ptr());
  }
  set_flops(state, product_flops(l));
}
BENCHMARK(BM_conv_transpose2d_forward)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_conv_transpose2d_forward_backward(benchmark::State& state) {
  const Layer l = kLayers[1];
  kiln::manual_seed(0);
  kiln::nn::ConvTranspose2d conv(kiln::nn::ConvTranspose2dOptions(l.out, l.in, 3).padding(1));
  kiln::Tensor x = kiln::randn({kBatch, l.out, l.size, l.size}).requires_grad_();
  const kiln::Tensor upstream = kiln::randn({kBatch, l.in, l.size, l.size});
  for (auto _ : state) {
    kiln::Tensor y = conv.forward(x);
    y.backward(upstream);
    benchmark::DoNotOptimize(conv.weight.grad().raw_data_ptr());
    conv.zero_grad();
    x.set_grad(kiln::Tensor());
  }
  set_flops(state, product_flops(l) * 3);
}
BENCHMARK(BM_conv_transpose2d_forward_backward)->UseRealTime()->Unit(benchmark::kMillisecond);

// A CIFAR-sized layer: 32 -> 32 channels, 3x3, padding 1, on 128 images of side 32 or 16 (the argument).
void BM_conv2d_square_forward_backward(benchmark::State& state) {
  const std::int64_t side = state.range(0);
  kiln::manual_seed(0);
  kiln::nn::Conv2d conv(kiln::nn::Conv2dOptions(32, 32, 3).padding(1));
  kiln::Tensor x = kiln::randn({kBatch, 32, side, side}).requires_grad_();
  const kiln::Tensor upstream = kiln::randn({kBatch, 32, side, side});
  for (auto _ : state) {
    kiln::Tensor y = conv(x);
    y.backward(upstream);
    benchmark::DoNotOptimize(conv.weight.grad().raw_data_ptr());
    conv.zero_grad();
    x.set_grad(kiln::Tensor());
  }
  set_flops(state, 3 * 2.0 * kBatch * 32 * 32 * 9 * side * side);
}
BENCHMARK(BM_conv2d_square_forward_backward)->Arg(32)->Arg(16)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr std::int64_t kVolumeBatch = 8, kVolumeIn = 16, kVolumeOut = 32, kDepth = 16, kSide = 32;
constexpr double kVolumeFlops = 2.0 * kVolumeBatch * kVolumeOut * kVolumeIn * 27 * kDepth * kSide * kSide;

void BM_conv3d_forward(benchmark::State& state) {
  kiln::manual_seed(0);
  kiln::nn::Conv3d conv(kiln::nn::Conv3dOptions(kVolumeIn, kVolumeOut, 3).padding(1));
  const kiln::Tensor x = kiln::randn({kVolumeBatch, kVolumeIn, kDepth, kSide, kSide});
  kiln::NoGradGuard no_grad;
  for (auto _ : state) {
    kiln::Tensor y = conv(x);
    benchmark::DoNotOptimize(y.raw_data_ptr());
  }
  set_flops(state, kVolumeFlops);
}
BENCHMARK(BM_conv3d_forward)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_conv3d_forward_backward(benchmark::State& state) {
  const bool input_grad = state.range(0) >= 1;
  const std::int64_t batch = state.range(0) == 2 ? 1 : kVolumeBatch;
  kiln::manual_seed(0);
  kiln::nn::Conv3d conv(kiln::nn::Conv3dOptions(kVolumeIn, kVolumeOut, 3).padding(1));
  kiln::Tensor x = kiln::randn({batch, kVolumeIn, kDepth, kSide, kSide});
  if (input_grad) x.requires_grad_();
  const kiln::Tensor upstream = kiln::randn({batch, kVolumeOut, kDepth, kSide, kSide});
  for (auto _ : state) {
    kiln::Tensor y = conv(x);
    y.backward(upstream);
    benchmark::DoNotOptimize(conv.weight.grad().raw_data_ptr());
    conv.zero_grad();
    if (input_grad) x.set_grad(kiln::Tensor());
  }
  set_flops(state, kVolumeFlops * static_cast<double>(batch) / kVolumeBatch * (input_grad ? 3 : 2));
}
BENCHMARK(BM_conv3d_forward_backward)->DenseRange(0, 2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
