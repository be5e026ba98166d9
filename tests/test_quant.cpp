// Quantized formats, layers and post-training quantization, through the public API.
#include <cmath>
#include <cstring>
#include <sstream>

#include "helpers.hpp"
#include "kiln/io/safetensors.hpp"
#include "kiln/metrics.hpp"
#include "kiln/quant/layers.hpp"

using namespace kiln;
using namespace kiln::test;
using kiln::metrics::accuracy;
namespace q = kiln::quant;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) { return max(abs(sub(a, b))).item<double>(); }

// A small classifier on overlapping Gaussian clusters: hard enough that the
// float model makes mistakes, so a quantized model can be told apart from it.
struct Problem {
  Tensor x_train, y_train, x_test, y_test;
};

Problem make_problem() {
  manual_seed(21);
  const std::int64_t d = 48, classes = 4;
  const Tensor centers = mul(randn({classes, d}), scalar_tensor(0.35));
  auto draw = [&](std::int64_t n, Tensor& x, Tensor& y) {
    y = randint(0, classes, {n});
    x = add(index_select(centers, 0, y), randn({n, d}));
  };
  Problem p;
  draw(2000, p.x_train, p.y_train);
  draw(4000, p.x_test, p.y_test);
  return p;
}

std::shared_ptr<nn::Sequential> train_mlp(const Problem& p) {
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(48, 64), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(64, 4)});
  optim::Adam opt(model->parameters(), optim::AdamOptions(0.01));
  for (int step = 0; step < 150; ++step) {
    opt.zero_grad();
    cross_entropy((*model)(p.x_train), p.y_train).backward();
    opt.step();
  }
  model->eval();
  return model;
}

}  // namespace

TEST_CASE("int8 format: per-row round trip within half a step, -128 never produced") {
  manual_seed(1);
  const Tensor w = randn({37, 100});
  const q::Int8Rows r = q::quantize_int8(w);
  CHECK(r.values.dtype() == kInt8);
  CHECK(r.scale.shape() == Shape{37});
  const Tensor back = q::dequantize(r);
  for (std::int64_t i = 0; i < 37; ++i) {
    const double step = r.scale.at<float>({i});
    CHECK(max(abs(w.select(0, i))).item<double>() == doctest::Approx(127 * step).epsilon(1e-6));
    CHECK(max_abs_diff(back.select(0, i), w.select(0, i)) <= 0.5 * step * (1 + 1e-5));
  }
  CHECK(min(r.values.to(kInt32)).item<double>() >= -127);
  const Tensor zero_row = q::dequantize(q::quantize_int8(zeros({1, 5})));
  CHECK(max(abs(zero_row)).item<double>() == 0.0);
}

TEST_CASE("q4_0 format: blocks of 32, the extreme value exact, others within half a step") {
  manual_seed(2);
  const Tensor w = randn({5, 64});
  const Tensor q4 = q::quantize_q4_0(w);
  CHECK(q4.dtype() == kQ4_0);
  CHECK(q4.shape() == Shape{5, 64});
  CHECK(q::q4_0_as_bytes(q4).shape() == Shape{5, 40});
  const Tensor back = q::dequantize(q4);
  const auto* blocks = static_cast<const q::BlockQ4_0*>(q4.raw_data_ptr());
  for (std::int64_t b = 0; b < 10; ++b) {
    const Tensor part = w.reshape({10, 32}).select(0, b), got = back.reshape({10, 32}).select(0, b);
    const double step = std::fabs(blocks[b].scale);
    CHECK(step == doctest::Approx(max(abs(part)).item<double>() / 8).epsilon(1e-6));
    // Values on the far side of zero from the extreme may clip at 7 steps: error <= 1 step there.
    CHECK(max_abs_diff(got, part) <= step * (1 + 1e-5));
  }
  // Round trip through bytes.
  check_same(q::dequantize(q::q4_0_from_bytes(q::q4_0_as_bytes(q4).clone(), 64)), back, 0);
}

TEST_CASE("quantized linear matches the float layer closely") {
  manual_seed(3);
  const Tensor x = randn({9, 70}), w = mul(randn({33, 70}), scalar_tensor(0.1)), b = randn({33});
  const Tensor want = linear(x, w, b);
  const double scale = max(abs(want)).item<double>();
  const Tensor y8 = q::linear(x, q::QuantizedWeight::from_float(w, q::Format::int8), b);
  const Tensor y4 = q::linear(x, q::QuantizedWeight::from_float(w, q::Format::q4_0), b);  // 70 -> padded to 96
  CHECK(max_abs_diff(y8, want) < 0.02 * scale);
  CHECK(max_abs_diff(y4, want) < 0.15 * scale);
  // The fused ReLU and static activations.
  const Tensor yr = q::linear(x, q::QuantizedWeight::from_float(w, q::Format::int8), b,
                              {.input_scale = max(abs(x)).item<float>() / 127, .relu = true});
  CHECK(min(yr).item<double>() >= 0.0);
  CHECK(max_abs_diff(yr, relu(want)) < 0.03 * scale);
  // The integer product is exact.
  const q::Int8Rows a = q::quantize_int8(x);
  const q::QuantizedWeight qw = q::QuantizedWeight::from_float(w, q::Format::int8);
  const Tensor c = q::matmul_int8(a.values, qw);
  check_same(c.to(kFloat64), matmul(a.values.to(kFloat64), qw.values().to(kFloat64).t()), 0);
}

TEST_CASE("quantized conv2d matches the float convolution") {
  manual_seed(4);
  const Tensor x = randn({2, 3, 9, 8}), w = mul(randn({5, 3, 3, 3}), scalar_tensor(0.2)), b = randn({5});
  const Tensor want = conv2d(x, w, b, {2, 1}, {1, 1}, {1, 2});
  const q::QuantizedWeight qw = q::QuantizedWeight::from_float(w.permute({0, 2, 3, 1}).reshape({5, 27}), q::Format::int8);
  const Tensor got = q::conv2d(x, qw, b, {3, 3}, {2, 1}, {1, 1}, {1, 2});
  CHECK(got.shape() == want.shape());
  CHECK(max_abs_diff(got, want) < 0.02 * max(abs(want)).item<double>());
}

TEST_CASE("a 2x2 max pool fused into quant::conv2d equals pooling its output, bit for bit") {
  manual_seed(17);
  const Tensor weight = randn({6, 3, 3, 3}), bias = randn({6});
  const Tensor as_matrix = weight.permute({0, 2, 3, 1}).reshape({6, -1});
  for (q::Format f : {q::Format::int8, q::Format::q4_0}) {
    const auto w = q::QuantizedWeight::from_float(as_matrix, f);
    Tensor x = randn({2, 3, 9, 8});
    x.at<float>({1, 2, 4, 4}) = NAN;  // a NaN wins its window, as in max_pool2d
    for (bool relu : {false, true}) {
      q::LinearOptions o{0.0f, relu};
      const Tensor want = max_pool2d(q::conv2d(x, w, bias, {3, 3}, {1, 1}, {1, 1}, {1, 1}, o), {2, 2});
      o.max_pool_2x2 = true;
      const Tensor got = q::conv2d(x, w, bias, {3, 3}, {1, 1}, {1, 1}, {1, 1}, o);
      REQUIRE(got.shape() == Shape{2, 6, 4, 4});  // a 9x8 output pools to 4x4
      const std::vector<float> g = got.to_vector<float>(), e = want.to_vector<float>();
      CHECK(std::memcmp(g.data(), e.data(), g.size() * sizeof(float)) == 0);
    }
  }
  const auto lw = q::QuantizedWeight::from_float(randn({4, 32}), q::Format::int8);
  CHECK_THROWS_WITH_AS(q::linear(randn({2, 32}), lw, Tensor(), {0.0f, false, true}),
                       doctest::Contains("max_pool_2x2 is an option of quant::conv2d only"), Error);
}

TEST_CASE("quantize() fuses conv -> ReLU -> MaxPool2d(2) and computes what the unfused model does") {
  manual_seed(18);
  nn::Sequential model{std::make_shared<nn::Conv2d>(nn::Conv2dOptions(4, 8, 3).padding(1)),
                       std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
                       std::make_shared<nn::Linear>(8 * 5 * 5, 3)};
  const Tensor x = randn({3, 4, 10, 10});
  for (q::Format f : {q::Format::int8, q::Format::q4_0}) {
    q::QuantConfig config;
    config.format = f;
    const auto fused = q::quantize(model, config);
    config.fuse_max_pool = false;
    const auto plain = q::quantize(model, config);
    std::ostringstream os;
    os << *fused;
    CHECK(os.str().find("FusedMaxPool2d()") != std::string::npos);
    CHECK(os.str().find("max_pool 2x2") != std::string::npos);
    NoGradGuard no_grad;
    const std::vector<float> a = (*fused)(x).to_vector<float>(), b = (*plain)(x).to_vector<float>();
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    CHECK(fused->state_dict().size() == plain->state_dict().size());
  }
}

TEST_CASE("post-training quantization keeps a trained model's accuracy") {
  const Problem p = make_problem();
  const auto model = train_mlp(p);
  NoGradGuard no_grad;
  const double fp32 = accuracy((*model)(p.x_test), p.y_test);
  INFO("fp32 accuracy " << fp32);
  CHECK(fp32 > 0.6);
  CHECK(fp32 < 0.97);  // the problem is not trivially separable

  q::QuantConfig int8;
  const auto m8 = q::quantize(*model, int8);
  const double acc8 = accuracy((*m8)(p.x_test), p.y_test);
  q::QuantConfig q4;
  q4.format = q::Format::q4_0;
  const auto m4 = q::quantize(*model, q4);
  const double acc4 = accuracy((*m4)(p.x_test), p.y_test);
  q::QuantConfig calibrated;
  calibrated.activations = q::Activations::calibrated;
  calibrated.calibration = {p.x_train.narrow(0, 0, 500), p.x_train.narrow(0, 500, 500)};
  const auto ms = q::quantize(*model, calibrated);
  const double accs = accuracy((*ms)(p.x_test), p.y_test);
  INFO("int8 " << acc8 << " q4_0 " << acc4 << " int8 calibrated " << accs);
  CHECK(std::fabs(acc8 - fp32) <= 0.003);
  CHECK(std::fabs(accs - fp32) <= 0.003);
  CHECK(std::fabs(acc4 - fp32) <= 0.010);
  // The ReLU after the first layer was fused into it.
  CHECK(std::dynamic_pointer_cast<q::FusedReLU>((*m8)[1]) != nullptr);
  CHECK(std::dynamic_pointer_cast<q::Linear>((*m8)[0])->fused_relu());
  CHECK(std::dynamic_pointer_cast<q::Linear>((*ms)[0])->input_scale() > 0.0f);
}

TEST_CASE("a quantized model saves and loads as safetensors, names giving the format") {
  const Problem p = make_problem();
  const auto model = train_mlp(p);
  TempDir dir("kiln_quant");
  for (q::Format f : {q::Format::int8, q::Format::q4_0}) {
    q::QuantConfig config;
    config.format = f;
    config.activations = q::Activations::calibrated;
    config.calibration = {p.x_train.narrow(0, 0, 256)};
    config.layers["2"] = {true, q::Format::int8, q::Activations::dynamic};  // a per-layer choice
    const auto qm = q::quantize(*model, config);
    const std::string path = (dir.path() / "m.safetensors").string();
    io::save(path, qm->state_dict());
    const io::Loaded loaded = io::load(path);
    const std::string w0 = f == q::Format::int8 ? "0.weight_int8" : "0.weight_q4_0";
    REQUIRE(loaded.tensors.count(w0) == 1);
    CHECK(loaded.tensors.at(w0).dtype() == (f == q::Format::int8 ? kInt8 : kUInt8));
    CHECK(loaded.tensors.count("0.input_scale") == 1);
    CHECK(loaded.tensors.count("2.weight_int8") == 1);
    CHECK(loaded.tensors.count("2.input_scale") == 0);

    // A fresh quantized model (other weights, no calibration) takes the file's values.
    manual_seed(99);
    auto other = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(48, 64), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(64, 4)});
    const auto fresh = q::quantize(*other, config);
    NoGradGuard no_grad;
    CHECK(max_abs_diff((*fresh)(p.x_test), (*qm)(p.x_test)) > 0.0);
    fresh->load_state_dict(loaded.tensors);
    check_same((*fresh)(p.x_test), (*qm)(p.x_test), 0);
  }
}

TEST_CASE("quantization errors name the problem") {
  manual_seed(5);
  CHECK_THROWS_WITH_AS(q::quantize_q4_0(randn({2, 40})), doctest::Contains("groups of 32"), Error);
  CHECK_THROWS_WITH_AS(q::quantize_int8(randint(0, 3, {4})), doctest::Contains("floating"), Error);
  Tensor with_nan = randn({2, 32});
  with_nan.select(0, 1).select(0, 3).fill_(std::nan(""));
  CHECK_THROWS_WITH_AS(q::quantize_int8(with_nan),
                       doctest::Contains("element 35 of the tensor of shape (2, 32) is nan"), Error);
  CHECK_THROWS_WITH_AS(q::quantize_q4_0(with_nan), doctest::Contains("quantization needs finite values"), Error);
  CHECK_THROWS_WITH_AS(q::quantize_int8(full({3}, 1e300, kFloat64), 0.5f), doctest::Contains("is inf as float32"),
                       Error);
  const Tensor q4 = q::quantize_q4_0(randn({2, 64}));
  CHECK_THROWS_WITH_AS(add(q4, q4), doctest::Contains("dequantize"), Error);
  CHECK_THROWS_WITH_AS(matmul(q4, randn({64, 2})), doctest::Contains("q4_0"), Error);
  CHECK_THROWS_WITH_AS(Tensor::empty({3, 33}, kQ4_0), doctest::Contains("multiple of 32"), Error);
  CHECK_THROWS_WITH_AS(q4.narrow(1, 16, 32).raw_data_ptr(), doctest::Contains("inside a block"), Error);
  CHECK(q4.narrow(0, 1, 1).raw_data_ptr() != nullptr);  // whole rows are fine
  const q::QuantizedWeight w = q::QuantizedWeight::from_float(randn({4, 8}), q::Format::int8);
  CHECK_THROWS_WITH_AS(q::linear(randn({2, 9}), w), doctest::Contains("input features"), Error);
  CHECK_THROWS_WITH_AS(q::linear(randn({2, 8}), w, Tensor(), {.input_scale = -1}), doctest::Contains("input_scale"),
                       Error);
  Tensor bad = full({2, 8}, -128, kInt8);
  CHECK_THROWS_WITH_AS(q::matmul_int8(bad, w), doctest::Contains("[-127, 127]"), Error);
  CHECK_THROWS_WITH_AS(q::QuantizedWeight::from_int8({full({2, 8}, -128, kInt8), ones({2})}),
                       doctest::Contains("[-127, 127]"), Error);
  nn::Sequential model{std::make_shared<nn::Linear>(64, 2)};
  q::QuantConfig needs_data;
  needs_data.activations = q::Activations::calibrated;
  CHECK_THROWS_WITH_AS(q::quantize(model, needs_data), doctest::Contains("calibration"), Error);
  q::QuantConfig unknown;
  unknown.layers["5"] = {};
  CHECK_THROWS_WITH_AS(q::quantize(model, unknown), doctest::Contains("'5'"), Error);
}

TEST_CASE("quantize() runs a float ReLU -> MaxPool2d pair as pool, then ReLU, with the same values") {
  manual_seed(19);
  // The first convolution has 9 inputs per output, under min_inputs: it stays float.
  nn::Sequential model{std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1)),
                       std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
                       std::make_shared<nn::Linear>(4 * 5 * 5, 3)};
  const Tensor x = randn({3, 1, 11, 10});
  q::QuantConfig config;
  const auto reordered = q::quantize(model, config);
  config.pool_before_relu = false;
  const auto plain = q::quantize(model, config);
  CHECK(std::dynamic_pointer_cast<q::FusedReLU>((*reordered)[1]) != nullptr);
  CHECK(std::dynamic_pointer_cast<q::MaxPool2dReLU>((*reordered)[2]) != nullptr);
  CHECK(std::dynamic_pointer_cast<nn::ReLU>((*plain)[1]) != nullptr);
  NoGradGuard no_grad;
  const std::vector<float> a = (*reordered)(x).to_vector<float>(), b = (*plain)(x).to_vector<float>();
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  // Also on its own, with padding and a 3x3 window: relu(max) == max(relu).
  const Tensor y = randn({2, 3, 9, 9});
  nn::PoolOptions o(3);
  o.stride(2).padding(1);
  const std::vector<float> got = q::MaxPool2dReLU(o)(y).to_vector<float>();
  const std::vector<float> want = max_pool2d(relu(y), {3, 3}, {2, 2}, {1, 1}).to_vector<float>();
  CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
}
