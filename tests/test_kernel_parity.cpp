// Every SIMD kernel against its scalar reference, on awkward sizes and on
// special values, for each instruction set this CPU has.
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "helpers.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/fft/fft_plan.hpp"
#include "kernels/cuda/counter_random.hpp"
#include "kernels/cuda/special_functions.hpp"

using namespace kiln;
using cpu::Binary;
using cpu::Isa;
using cpu::Unary;
using cpu::UnaryGrad;

namespace {

const std::int64_t kSizes[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 1023, 1025};

std::vector<Isa> simd_levels() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::avx2, Isa::avx512})
    if (cpu::isa_supported(isa)) out.push_back(isa);
  return out;
}

std::vector<float> random_values(std::int64_t n, float lo, float hi) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = lo + (hi - lo) * static_cast<float>(default_generator().uniform());
  return v;
}

// Relative agreement, with an absolute floor for results near zero.
void check_close(const std::vector<float>& got, const std::vector<float>& want, const char* what,
                 double rtol = 4e-6, double atol = 1e-6) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO(std::string(what) << " [" << i << "/" << got.size() << "]: got " << got[i] << ", want " << want[i]);
    if (std::isnan(want[i])) {
      CHECK(std::isnan(got[i]));
    } else if (std::isinf(want[i])) {
      CHECK(got[i] == want[i]);
    } else {
      CHECK(std::abs(double(got[i]) - double(want[i])) <= atol + rtol * std::abs(double(want[i])));
    }
  }
}

struct UnaryCase {
  Unary op;
  const char* name;
  float lo, hi;
};
const UnaryCase kUnaryCases[] = {
    {Unary::neg, "neg", -10, 10},
    {Unary::exp, "exp", -87, 88},
    {Unary::log, "log", 1e-30f, 1e30f},
    {Unary::sqrt, "sqrt", 0, 1e4},
    {Unary::abs, "abs", -10, 10},
    {Unary::relu, "relu", -10, 10},
    {Unary::sigmoid, "sigmoid", -30, 30},
    {Unary::tanh, "tanh", -10, 10},
    {Unary::gelu, "gelu", -8, 8},
    {Unary::softplus, "softplus", -30, 30},
    {Unary::silu, "silu", -30, 30},
    {Unary::sign, "sign", -10, 10},
    {Unary::floor, "floor", -1e3, 1e3},
    {Unary::ceil, "ceil", -1e3, 1e3},
    {Unary::round, "round", -1e3, 1e3},
    {Unary::sin, "sin", -100, 100},
    {Unary::cos, "cos", -100, 100},
    {Unary::log1p, "log1p", -0.99f, 1e3},
    {Unary::expm1, "expm1", -20, 20},
    {Unary::erf, "erf", -6, 6},
    {Unary::erf, "erf (near 0)", -0.7f, 0.7f},
    {Unary::erfc, "erfc", -6, 9},
    {Unary::lgamma, "lgamma", -30, 60},
    {Unary::lgamma, "lgamma (between its roots 1 and 2)", 0.5f, 3},
    {Unary::digamma, "digamma", -30, 60},
    {Unary::digamma, "digamma (around its root 1.46)", 0.2f, 3},
    // Beyond |x| = 8192 the vector sin and cos hand lanes to the scalar reference.
    {Unary::sin, "sin (to 1e4)", -1e4, 1e4},
    {Unary::cos, "cos (to 1e4)", -1e4, 1e4},
};

}  // namespace

TEST_CASE("parity: unary kernels on random inputs of awkward sizes") {
  const auto& ref = cpu::kernels_f32_for(Isa::scalar);
  manual_seed(21);
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    for (const UnaryCase& c : kUnaryCases) {
      for (std::int64_t n : kSizes) {
        INFO(std::string(cpu::isa_name(isa)) << " " << std::string(c.name) << " n=" << n);
        const std::vector<float> x = random_values(n, c.lo, c.hi);
        std::vector<float> want(n), got(n, -7.0f);
        ref.unary[int(c.op)](n, x.data(), want.data());
        simd.unary[int(c.op)](n, x.data(), got.data());
        check_close(got, want, c.name);
      }
    }
  }
}

TEST_CASE(
    "parity: lgamma and digamma's vector kernels are within two float ulps of the double-precision "
    "functions") {
  // They work in double lanes; the float32 reference (std::lgamma) is up to 4.5 ulps off in
  // places, so these are held to the double functions instead: within two float ulps
  // (measured: half an ulp, so correctly rounded, except next to lgamma's roots 1 and 2,
  // where the shift's cancellation leaves up to 1.07).
  manual_seed(22);
  std::vector<float> x;
  for (const auto& [lo, hi] : {std::pair{0.5f, 3.0f}, {-30.0f, 60.0f}, {1.4f, 1.5f}, {-5.0f, -1e-3f}})
    for (const float v : random_values(4000, lo, hi)) x.push_back(v);
  for (const float v :
       {1e-30f, 3e-8f, 1.0f - 6e-8f, 1.0f + 1.2e-7f, 2.0f - 1.2e-7f, 2.0f + 2.4e-7f, 1e6f, 3e38f})
    x.push_back(v);
  const auto n = static_cast<std::int64_t>(x.size());
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    for (const bool lgamma : {true, false}) {
      INFO(std::string(cpu::isa_name(isa)) << std::string(lgamma ? " lgamma" : " digamma"));
      std::vector<float> got(x.size());
      simd.unary[int(lgamma ? Unary::lgamma : Unary::digamma)](n, x.data(), got.data());
      std::int64_t outside = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double v = x[i];
        const double want = lgamma ? std::lgamma(v) : cuda_kernels::digamma_of(v);
        if (!std::isfinite(want)) {
          outside += got[i] != static_cast<float>(want);
          continue;
        }
        const float w = static_cast<float>(want);
        const double ulp = std::nextafter(std::abs(w), std::numeric_limits<float>::infinity()) - std::abs(w);
        if (std::abs(got[i] - want) > 2 * ulp) {
          MESSAGE("x = " << x[i] << ": got " << got[i] << ", want " << want);
          ++outside;
        }
      }
      CHECK(outside == 0);
    }
  }
}

TEST_CASE("parity: unary kernels on special values") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> special{0.0f, -0.0f, 1e-40f, -1e-40f, 1e-7f, -1e-7f, 0.1f, 0.25f, -0.25f,
                                   0.5f, 1.0f, -1.0f, 20.0f, -20.0f, 88.7f, 89.0f, -87.5f, -103.0f,
                                   -110.0f, 1e30f, -1e30f, inf, -inf, nan};
  const auto& ref = cpu::kernels_f32_for(Isa::scalar);
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    for (const UnaryCase& c : kUnaryCases) {
      INFO(std::string(cpu::isa_name(isa)) << " " << std::string(c.name));
      const auto n = static_cast<std::int64_t>(special.size());
      std::vector<float> want(n), got(n);
      ref.unary[int(c.op)](n, special.data(), want.data());
      simd.unary[int(c.op)](n, special.data(), got.data());
      // Denormal results are flushed by no one here, but allow them an absolute slack.
      check_close(got, want, c.name, 4e-6, 1e-37);
    }
  }
}

TEST_CASE("parity: gradient kernels, leaky_relu, elu and clamp") {
  const auto& ref = cpu::kernels_f32_for(Isa::scalar);
  manual_seed(22);
  const std::pair<UnaryGrad, const char*> grads[] = {{UnaryGrad::relu, "relu'"},
                                                     {UnaryGrad::sigmoid, "sigmoid'"},
                                                     {UnaryGrad::tanh, "tanh'"},
                                                     {UnaryGrad::gelu, "gelu'"},
                                                     {UnaryGrad::softplus, "softplus'"},
                                                     {UnaryGrad::silu, "silu'"}};
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    for (std::int64_t n : kSizes) {
      INFO(std::string(cpu::isa_name(isa)) << " n=" << n);
      const std::vector<float> x = random_values(n, -6, 6), g = random_values(n, -2, 2);
      std::vector<float> want(n), got(n);
      for (const auto& [op, name] : grads) {
        ref.unary_grad[int(op)](n, x.data(), g.data(), want.data());
        simd.unary_grad[int(op)](n, x.data(), g.data(), got.data());
        check_close(got, want, name);
      }
      ref.leaky_relu(n, x.data(), 0.1f, want.data());
      simd.leaky_relu(n, x.data(), 0.1f, got.data());
      check_close(got, want, "leaky_relu", 0, 0);
      ref.leaky_relu_grad(n, x.data(), 0.1f, g.data(), want.data());
      simd.leaky_relu_grad(n, x.data(), 0.1f, g.data(), got.data());
      check_close(got, want, "leaky_relu'", 0, 0);
      for (float alpha : {1.0f, 0.5f}) {
        ref.elu(n, x.data(), alpha, want.data());
        simd.elu(n, x.data(), alpha, got.data());
        check_close(got, want, "elu");
        ref.elu_grad(n, x.data(), alpha, g.data(), want.data());
        simd.elu_grad(n, x.data(), alpha, g.data(), got.data());
        check_close(got, want, "elu'");
      }
      ref.clamp(n, x.data(), -1.0f, 2.0f, want.data());
      simd.clamp(n, x.data(), -1.0f, 2.0f, got.data());
      check_close(got, want, "clamp", 0, 0);
    }
  }
}

TEST_CASE("parity: dropout draws the reference's keep decisions, at any offset in the stream") {
  const auto& ref = cpu::kernels_f32_for(Isa::scalar);
  manual_seed(23);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    for (std::int64_t n : kSizes) {
      std::vector<float> x = random_values(n, -5, 5);
      x[0] = inf;  // times a dropped lane's 0: NaN, as the reference gives
      if (n > 2) x[2] = nan;
      std::vector<float> want(n), got(n);
      for (const double p : {0.0, 0.1, 0.5, 0.9, 1.0})
        for (const std::uint64_t first : {std::uint64_t(0), std::uint64_t(5), std::uint64_t(1) << 40,
                                          ~std::uint64_t(3)}) {
          INFO(std::string(cpu::isa_name(isa)) << " n=" << n << " p=" << p << " first=" << first);
          const std::uint64_t seed = 0x1234567887654321ULL + first;
          const std::uint64_t threshold = cuda_kernels::dropout_threshold(static_cast<float>(p));
          const float kept = p == 1 ? 1.0f : static_cast<float>(1 / (1 - p));
          ref.dropout(n, x.data(), seed, first, threshold, kept, want.data());
          simd.dropout(n, x.data(), seed, first, threshold, kept, got.data());
          std::int64_t differ = 0;
          for (std::int64_t i = 0; i < n; ++i)
            differ += std::memcmp(&got[i], &want[i], sizeof(float)) != 0 &&
                      !(std::isnan(got[i]) && std::isnan(want[i]));
          CHECK(differ == 0);
        }
    }
  }
}

TEST_CASE("parity: binary kernels for every stride pattern") {
  const auto& ref = cpu::kernels_f32_for(Isa::scalar);
  manual_seed(23);
  const std::pair<Binary, const char*> ops[] = {{Binary::add, "add"}, {Binary::sub, "sub"},
                                                {Binary::mul, "mul"}, {Binary::div, "div"},
                                                {Binary::maximum, "maximum"}, {Binary::minimum, "minimum"},
                                                {Binary::pow, "pow"}};
  const std::pair<std::int64_t, std::int64_t> strides[] = {{1, 1}, {0, 1}, {1, 0}, {0, 0}, {2, 3}, {1, 2}};
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    for (std::int64_t n : kSizes) {
      const std::vector<float> a = random_values(3 * n, 0.5f, 4), b = random_values(3 * n, -3, 3);
      for (const auto& [op, op_name] : ops) {
        for (const auto& [stride_a, stride_b] : strides) {
          // (named copies: clang 14 cannot capture structured bindings in INFO's lambda)
          const char* const name = op_name;
          const std::int64_t sa = stride_a, sb = stride_b;
          INFO(std::string(cpu::isa_name(isa))
               << " " << std::string(name) << " n=" << n << " strides " << sa << "," << sb);
          std::vector<float> want(n), got(n);
          ref.binary[int(op)](n, a.data(), sa, b.data(), sb, want.data());
          simd.binary[int(op)](n, a.data(), sa, b.data(), sb, got.data());
          check_close(got, want, name, 0, 0);  // one IEEE operation: exact
        }
      }
    }
  }
}

TEST_CASE("parity: row reductions and softmax") {
  const auto& ref = cpu::kernels_f32_for(Isa::scalar);
  manual_seed(24);
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    for (std::int64_t len : kSizes) {
      const std::int64_t rows = 3;
      INFO(std::string(cpu::isa_name(isa)) << " len=" << len);
      std::vector<float> x = random_values(rows * len, -5, 5);
      x[len / 2] = x[len - 1];  // a tie in the first row
      std::vector<float> want(rows * len), got(rows * len);
      std::vector<std::int64_t> want_i(rows), got_i(rows);
      ref.sum_rows(rows, len, x.data(), want.data());
      simd.sum_rows(rows, len, x.data(), got.data());
      check_close({got.begin(), got.begin() + rows}, {want.begin(), want.begin() + rows}, "sum", 1e-5, 1e-5);
      ref.sumsq_rows(rows, len, x.data(), want.data());
      simd.sumsq_rows(rows, len, x.data(), got.data());
      check_close({got.begin(), got.begin() + rows}, {want.begin(), want.begin() + rows}, "sum of squares",
                  1e-5, 1e-6);
      for (bool is_max : {true, false}) {
        (is_max ? ref.max_rows : ref.min_rows)(rows, len, x.data(), want.data(), want_i.data());
        (is_max ? simd.max_rows : simd.min_rows)(rows, len, x.data(), got.data(), got_i.data());
        CHECK(got_i == want_i);
        check_close({got.begin(), got.begin() + rows}, {want.begin(), want.begin() + rows}, "max/min", 0, 0);
      }
      ref.softmax_rows(rows, len, x.data(), want.data());
      simd.softmax_rows(rows, len, x.data(), got.data());
      check_close(got, want, "softmax", 1e-5, 1e-7);
      ref.log_softmax_rows(rows, len, x.data(), want.data());
      simd.log_softmax_rows(rows, len, x.data(), got.data());
      check_close(got, want, "log_softmax", 1e-5, 1e-5);
    }
  }
}

TEST_CASE("parity: max/min rows report the first NaN") {
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    std::vector<float> x(37, 1.0f);
    x[20] = std::numeric_limits<float>::quiet_NaN();
    x[30] = std::numeric_limits<float>::quiet_NaN();
    float v;
    std::int64_t i;
    simd.max_rows(1, 37, x.data(), &v, &i);
    CHECK(std::isnan(v));
    CHECK(i == 20);
  }
}

TEST_CASE("parity: fused Adam update") {
  const auto& ref = cpu::kernels_f32_for(Isa::scalar);
  manual_seed(25);
  const cpu::AdamStep consts{0.9f, 0.999f, 1e-8f, 0.01f, 1.2f, 0.01f, 0.999f};
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    for (std::int64_t n : kSizes) {
      INFO(std::string(cpu::isa_name(isa)) << " n=" << n);
      const std::vector<float> p0 = random_values(n, -1, 1), g = random_values(n, -1, 1), m0 = random_values(n, -0.1f, 0.1f),
                               v0 = random_values(n, 0, 0.01f);
      std::vector<float> p1 = p0, m1 = m0, v1 = v0, p2 = p0, m2 = m0, v2 = v0;
      ref.adam(n, p1.data(), g.data(), m1.data(), v1.data(), consts);
      simd.adam(n, p2.data(), g.data(), m2.data(), v2.data(), consts);
      // FMA vs separate multiply-add: a few ulp of the intermediate values.
      check_close(p2, p1, "adam p", 2e-6, 1e-7);
      check_close(m2, m1, "adam m", 2e-6, 1e-8);
      check_close(v2, v1, "adam v", 2e-6, 1e-8);
    }
  }
}

// The normalisation kernels compute in double in the reference's order: the same bits.
TEST_CASE("parity: normalisation kernels, bit for bit, with and without weights and shares") {
  const auto& ref = cpu::kernels_f32_for(Isa::scalar);
  manual_seed(26);
  const auto same_bits = [](const auto& got, const auto& want, const char* what) {
    INFO(std::string(what));
    REQUIRE(got.size() == want.size());
    CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(got[0])) == 0);
  };
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    for (std::int64_t len : kSizes) {
      INFO(std::string(cpu::isa_name(isa)) << " len=" << len);
      // Values far from 0 with a small spread: where the order of the sums shows.
      const std::int64_t runs = 3, stride = len + 5;
      const std::vector<float> x = random_values(runs * stride, 97, 103), g = random_values(len, -2, 2),
                               w = random_values(len, 0.5f, 1.5f), b = random_values(len, -1, 1);
      std::vector<double> want_m(2), got_m(2);
      ref.norm_moments(runs, stride, len, x.data(), &want_m[0], &want_m[1]);
      simd.norm_moments(runs, stride, len, x.data(), &got_m[0], &got_m[1]);
      same_bits(got_m, want_m, "moments over three runs");
      CHECK(want_m[0] == doctest::Approx(100).epsilon(0.02));
      const double mean = want_m[0], rstd = 1 / std::sqrt(want_m[1] + 1e-5);
      for (std::int64_t ws : {1, 0})
        for (int with : {0, 1, 2, 3}) {  // bit 0: weight, bit 1: bias
          INFO("ws=" << ws << " weight=" << (with & 1) << " bias=" << (with & 2));
          const float* pw = with & 1 ? w.data() : nullptr;
          const float* pb = with & 2 ? b.data() : nullptr;
          std::vector<float> want(len), got(len);
          ref.norm_apply(len, x.data(), mean, rstd, pw, pb, ws, want.data());
          simd.norm_apply(len, x.data(), mean, rstd, pw, pb, ws, got.data());
          same_bits(got, want, "apply");
          ref.norm_grad_apply(len, x.data(), g.data(), pw, ws, mean, rstd, 0.25, -0.5, want.data());
          simd.norm_grad_apply(len, x.data(), g.data(), pw, ws, mean, rstd, 0.25, -0.5, got.data());
          same_bits(got, want, "grad_apply");
        }
      for (bool weighted : {false, true})
        for (bool shares : {false, true}) {
          INFO("weighted=" << weighted << " shares=" << shares);
          const std::vector<double> start = [&] {
            std::vector<double> v(2 * len);
            for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.1 * static_cast<double>(i % 7);
            return v;
          }();
          std::vector<double> want_shares = start, got_shares = start, want_sums(2), got_sums(2);
          const auto run = [&](const auto& table, std::vector<double>& sh, std::vector<double>& sums) {
            table.norm_grad_sums(len, x.data(), g.data(), weighted ? w.data() : nullptr, mean, rstd,
                                 shares ? sh.data() : nullptr, shares ? sh.data() + len : nullptr,
                                 sums.data());
          };
          run(ref, want_shares, want_sums);
          run(simd, got_shares, got_sums);
          same_bits(got_sums, want_sums, "grad sums");
          same_bits(got_shares, want_shares, "shares");
          if (shares) CHECK(want_shares != start);
        }
    }
  }
}

TEST_CASE("parity: Fourier transform stages, bit for bit, every radix, any number of lines together") {
  // Lengths through radices 4, 2, 3, 5, 7 and 31 and through Bluestein's (37, 1009), the
  // lines 1 (no whole vector), 4 and 8 (whole vectors) or 3, 5, 6 (a remainder).
  const std::int64_t lengths[] = {2, 3, 4, 5, 7, 8, 12, 30, 31, 60, 62, 243, 625, 1000, 1024, 37, 1009};
  const std::int64_t counts[] = {1, 3, 4, 5, 6, 8};
  const cpu::FftStageFn ref = cpu::fft_stage_kernel(Isa::scalar);
  for (Isa isa : simd_levels()) {
    const cpu::FftStageFn simd = cpu::fft_stage_kernel(isa);
    for (const std::int64_t n : lengths)
      for (const std::int64_t count : counts)
        for (const bool inverse : {false, true}) {
          INFO(std::string(cpu::isa_name(isa))
               << ", n = " << n << ", " << count << " lines, inverse " << inverse);
          const auto plan = cpu::fft_plan(n);
          std::vector<cpu::Complex> x(static_cast<std::size_t>(n * count)), want(x.size()), got(x.size()),
              scratch(static_cast<std::size_t>(plan->scratch_size(count)));
          for (std::size_t i = 0; i < x.size(); ++i) {  // magnitudes from 1e-30 to 1e30
            const double scale = std::pow(10.0, static_cast<double>(static_cast<int>(i % 7) * 10 - 30));
            x[i] = cpu::Complex(scale * (default_generator().uniform() - 0.5),
                                scale * default_generator().normal());
          }
          plan->transform(x.data(), want.data(), inverse, scratch.data(), count, ref);
          plan->transform(x.data(), got.data(), inverse, scratch.data(), count, simd);
          CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(cpu::Complex)) == 0);
        }
  }
}

TEST_CASE("dispatch: levels, names and the active table") {
  CHECK(cpu::isa_supported(Isa::scalar));
  CHECK(std::string(cpu::isa_name(cpu::active_isa())).size() > 0);
  CHECK(cpu::isa_supported(cpu::active_isa()));
  if (!cpu::isa_supported(Isa::avx512))
    CHECK_THROWS_WITH_AS(cpu::kernels_f32_for(Isa::avx512), doctest::Contains("does not support"), Error);
  CHECK(std::string(build_info()).find("kiln") == 0);
}

TEST_CASE("parity: 2x2 max pooling, values and winners, NaN windows and odd sizes") {
  const auto& ref = cpu::kernels_f32_for(Isa::scalar);
  manual_seed(26);
  for (Isa isa : simd_levels()) {
    const auto& simd = cpu::kernels_f32_for(isa);
    for (const auto& plane_shape :
         {std::pair<std::int64_t, std::int64_t>{2, 2}, {28, 28}, {14, 14}, {7, 9}, {5, 66}, {3, 35}}) {
      const std::int64_t h = plane_shape.first, w = plane_shape.second;
      INFO(std::string(cpu::isa_name(isa)) << " plane " << h << "x" << w);
      std::vector<float> plane = random_values(h * w, -1, 1);
      // Ties (the first of equal values wins) and NaNs in some windows.
      for (std::int64_t k = 0; k + 1 < h * w; k += 11) plane[static_cast<std::size_t>(k + 1)] = plane[static_cast<std::size_t>(k)];
      for (std::int64_t k = 5; k < h * w; k += 37) plane[static_cast<std::size_t>(k)] = std::numeric_limits<float>::quiet_NaN();
      const std::size_t outs = static_cast<std::size_t>((h / 2) * (w / 2));
      std::vector<float> want(outs), got(outs, 7.0f);
      std::vector<std::int32_t> want_at(outs), got_at(outs, -1);
      ref.max_pool2x2(h, w, plane.data(), want.data(), want_at.data());
      simd.max_pool2x2(h, w, plane.data(), got.data(), got_at.data());
      CHECK(got_at == want_at);
      check_close(got, want, "max_pool2x2", 0, 0);
      std::vector<float> no_index(outs);  // without winners
      simd.max_pool2x2(h, w, plane.data(), no_index.data(), nullptr);
      check_close(no_index, want, "max_pool2x2 (no argmax)", 0, 0);
    }
  }
}
