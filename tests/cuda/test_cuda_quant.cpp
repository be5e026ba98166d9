// Quantized inference on the GPU equals the CPU reference bit for bit: the
// int32 products, and the float outputs (the same operations in the same order).
#include <doctest/doctest.h>

#include <cstring>

#include "kernels/cuda/cuda_kernels.hpp"
#include "kiln/kiln.hpp"
#include "kiln/quant/linear.hpp"
#include "tests/cuda/cuda_parity.hpp"

namespace kiln::test {

namespace {

// Bitwise equality of two float32 tensors (NaNs included).
void check_bits(const Tensor& got, const Tensor& want) {
  REQUIRE(got.shape() == want.shape());
  const std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  std::int64_t differ = 0;
  for (std::size_t i = 0; i < g.size(); ++i) differ += std::memcmp(&g[i], &w[i], sizeof(float)) != 0;
  CHECK(differ == 0);
}

}  // namespace

TEST_CASE("cuda quant: int8 x int8 -> int32 is exact, tensor cores and dp4a alike") {
  manual_seed(31);
  for (std::int64_t m : {1, 7, 70}) {
    for (std::int64_t k : {1, 5, 64, 129, 4099}) {
      const std::int64_t n = 37;
      // Extreme values included: +-127 everywhere would overflow any 16-bit step.
      Tensor w8 = randint(-127, 128, {n, k}).to(kInt8), a8 = randint(-127, 128, {m, k}).to(kInt8);
      if (k == 4099) {
        w8.fill_(-127);
        a8.fill_(127);
      }
      const quant::QuantizedWeight w = quant::QuantizedWeight::from_int8({w8, ones({n})});
      const Tensor want = quant::matmul_int8(a8, w);
      const Tensor got = quant::matmul_int8(a8.to(gpu), w.to(gpu));
      INFO("m " << m << " k " << k);
      CHECK(got.to_vector<std::int32_t>() == want.to_vector<std::int32_t>());

      // The same product through the dp4a kernel, forced.
      const std::int64_t kp = (k + 15) / 16 * 16;
      Tensor ap = zeros({m, kp}, kInt8, gpu), wp = zeros({n, kp}, kInt8, gpu);
      ap.narrow(1, 0, k).copy_(a8.to(gpu));
      wp.narrow(1, 0, k).copy_(w8.to(gpu));
      Tensor c = empty({m, n}, kInt32, gpu);
      cuda_kernels::table().gemm_s8_s32(m, n, kp, static_cast<std::int8_t*>(ap.device_data_ptr()), kp,
                                        static_cast<std::int8_t*>(wp.device_data_ptr()), kp,
                                        static_cast<std::int32_t*>(c.device_data_ptr()), true);
      CHECK(c.to_vector<std::int32_t>() == want.to_vector<std::int32_t>());
    }
  }
  // Strided activations; then -128, which the padding kernel reports at the next copy to the host.
  const Tensor w8 = randint(-127, 128, {5, 9}).to(kInt8), a_t = randint(-127, 128, {9, 4}).to(kInt8);
  const quant::QuantizedWeight w = quant::QuantizedWeight::from_int8({w8, ones({5})});
  const quant::QuantizedWeight wg = w.to(gpu);
  CHECK(quant::matmul_int8(a_t.to(gpu).t(), wg).to_vector<std::int32_t>() ==
        quant::matmul_int8(a_t.t(), w).to_vector<std::int32_t>());
  Tensor a8 = randint(-127, 128, {3, 9}).to(kInt8);
  a8.select(0, 1).select(0, 2).fill_(-128.0);
  CHECK_THROWS_WITH_AS(quant::matmul_int8(a8, w), doctest::Contains("activation -128 at flat index 11;"), Error);
  const Tensor c = quant::matmul_int8(a8.to(gpu), wg);
  CHECK_THROWS_WITH_AS(c.to(Device::cpu()), doctest::Contains("activation -128 at flat index 11;"), Error);
  a8.select(0, 2).select(0, 0).fill_(-128.0);
  quant::matmul_int8(a8.to(gpu), wg);
  CHECK_THROWS_WITH_AS(cuda::synchronize(), doctest::Contains("(1 other activations are -128 too)"), Error);
  cuda::synchronize();  // reported once
}

TEST_CASE("cuda quant: quant::linear equals the CPU bit for bit (int8 and q4_0, dynamic and static)") {
  manual_seed(32);
  for (quant::Format f : {quant::Format::int8, quant::Format::q4_0}) {
    // q4_0 rows of 1, 2, 9, 70 and 130 blocks: the GEMV's lanes take up to four blocks
    // each per round (32 x 4 per warp), so 70 and 130 end their last round part-way.
    for (std::int64_t in : {32, 50, 288, 2240, 4160}) {
      const Tensor weight = randn({19, in}), bias = randn({19});
      const quant::QuantizedWeight w = quant::QuantizedWeight::from_float(weight, f);
      const quant::QuantizedWeight wg = w.to(gpu);
      CHECK(wg.device() == gpu);
      for (std::int64_t rows : {1, 3, 9}) {
        const Tensor x = randn({rows, in}) * 3.0;
        for (float input_scale : {0.0f, 0.05f})
          for (bool relu : {false, true}) {
            INFO("format " << quant::format_name(f) << " in " << in << " rows " << rows << " scale " << input_scale
                           << " relu " << relu);
            const quant::LinearOptions o{input_scale, relu};
            check_bits(quant::linear(x.to(gpu), wg, bias.to(gpu), o).to(Device::cpu()), quant::linear(x, w, bias, o));
          }
      }
    }
  }
}

TEST_CASE("cuda quant: a 4096 x 4096 q4_0 GEMV and an int8 GEMM at inference size match too") {
  manual_seed(33);
  const Tensor weight = randn({4096, 4096}) * 0.02;
  const quant::QuantizedWeight q4 = quant::QuantizedWeight::from_float(weight, quant::Format::q4_0);
  const Tensor x = randn({1, 4096});
  check_bits(quant::linear(x.to(gpu), q4.to(gpu)).to(Device::cpu()), quant::linear(x, q4));
  const quant::QuantizedWeight i8 = quant::QuantizedWeight::from_float(randn({256, 784}), quant::Format::int8);
  const Tensor xb = randn({256, 784});
  check_bits(quant::linear(xb.to(gpu), i8.to(gpu)).to(Device::cpu()), quant::linear(xb, i8));
}

TEST_CASE("cuda quant: quant::conv2d equals the CPU bit for bit") {
  manual_seed(34);
  const Tensor weight = randn({8, 3, 3, 3}), bias = randn({8});
  const Tensor as_matrix = weight.permute({0, 2, 3, 1}).reshape({8, -1});
  for (quant::Format f : {quant::Format::int8, quant::Format::q4_0}) {
    const quant::QuantizedWeight w = quant::QuantizedWeight::from_float(as_matrix, f);
    const Tensor x = randn({3, 3, 11, 9});
    for (float input_scale : {0.0f, 0.03f}) {
      const quant::LinearOptions o{input_scale, true, input_scale > 0.0f};  // the fused pool once
      INFO("format " << quant::format_name(f) << " scale " << input_scale);
      check_bits(quant::conv2d(x.to(gpu), w.to(gpu), bias.to(gpu), {3, 3}, {2, 1}, {1, 1}, {1, 1}, o).to(Device::cpu()),
                 quant::conv2d(x, w, bias, {3, 3}, {2, 1}, {1, 1}, {1, 1}, o));
    }
  }
}

TEST_CASE("cuda quant: a weight and its input must share a device; weights come back intact") {
  const quant::QuantizedWeight w = quant::QuantizedWeight::from_float(randn({4, 32}), quant::Format::q4_0);
  CHECK_THROWS_WITH_AS(quant::linear(randn({2, 32}).to(gpu), w), doctest::Contains("move the weight once"), Error);
  CHECK_THROWS_WITH_AS(quant::linear(randn({2, 32}), w.to(gpu)), doctest::Contains("move the weight once"), Error);
  const quant::QuantizedWeight back = w.to(gpu).to(Device::cpu());
  check_bits(back.dequantize(), w.dequantize());
}

}  // namespace kiln::test

namespace kiln::test {

TEST_CASE("cuda quant: a quantized model moves to the GPU with Module::to and gives the CPU's outputs") {
  manual_seed(35);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1)), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(4 * 8 * 8, 10)});
  const Tensor x = randn({5, 1, 8, 8});
  for (quant::Format f : {quant::Format::int8, quant::Format::q4_0}) {
    quant::QuantConfig config;
    config.format = f;
    config.min_inputs = 1;
    const auto cpu_model = quant::quantize(*model, config);
    const auto gpu_model = quant::quantize(*model, config);
    gpu_model->to(gpu);
    NoGradGuard no_grad;
    check_bits((*gpu_model)(x.to(gpu)).to(Device::cpu()), (*cpu_model)(x));
  }
}

}  // namespace kiln::test
