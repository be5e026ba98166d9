// The quantized kernels: every SIMD level against the scalar reference, bit for
// bit (integer results and the float output stage), on ragged shapes and on the
// extreme values that overflow 16-bit intermediate sums.
#include <cstring>
#include <tuple>
#include <vector>

#include "helpers.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/quant/quant_kernels.hpp"
#include "src/quant/im2col.hpp"

using namespace kiln;
using cpu::Isa;
namespace qk = kiln::cpu::quant;
using kiln::quant::BlockQ4_0;

namespace {

std::vector<Isa> simd_levels() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::avx2, Isa::avx512})
    if (cpu::isa_supported(isa)) out.push_back(isa);
  return out;
}

std::int64_t uniform_int(std::int64_t lo, std::int64_t hi) {  // [lo, hi]
  return lo + static_cast<std::int64_t>(default_generator().uniform() * static_cast<double>(hi - lo + 1)) % (hi - lo + 1);
}

std::vector<std::int8_t> random_int8(std::int64_t n, int lo = -127, int hi = 127) {
  std::vector<std::int8_t> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<std::int8_t>(uniform_int(lo, hi));
  return v;
}

std::vector<float> random_floats(std::int64_t n, float lo, float hi) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = lo + (hi - lo) * static_cast<float>(default_generator().uniform());
  return v;
}

// Int8 weights with their packed copy, owning the buffers.
struct Int8Fixture {
  std::vector<std::int8_t> plain, packed;
  std::vector<float> scale;
  std::vector<std::int32_t> row_sum;
  qk::Int8Weights w;
  Int8Fixture(std::int64_t n, std::int64_t k, std::vector<std::int8_t> values)
      : plain(std::move(values)), packed(static_cast<std::size_t>(qk::int8_packed_bytes(n, k))),
        scale(random_floats(n, 0.001f, 0.05f)), row_sum(static_cast<std::size_t>(qk::panel_count(n) * 16)) {
    qk::pack_int8(n, k, plain.data(), packed.data(), row_sum.data());
    w = {n, k, plain.data(), scale.data(), packed.data(), row_sum.data()};
  }
};

struct Q4Fixture {
  std::vector<BlockQ4_0> plain;
  std::vector<std::uint8_t> packed;
  std::vector<float> packed_scale;
  qk::Q4Weights w;
  Q4Fixture(std::int64_t n, std::int64_t k)
      : plain(static_cast<std::size_t>(n * k / 32)), packed(static_cast<std::size_t>(qk::q4_packed_bytes(n, k))),
        packed_scale(static_cast<std::size_t>(qk::q4_packed_scales(n, k))) {
    for (auto& b : plain) {
      b.scale = static_cast<float>(default_generator().uniform() * 0.02 - 0.01);
      for (auto& q : b.qs) q = static_cast<std::uint8_t>(uniform_int(0, 255));
    }
    qk::pack_q4(n, k, plain.data(), packed.data(), packed_scale.data());
    w = {n, k, plain.data(), packed.data(), packed_scale.data()};
  }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("int8 GEMM: every level equals the reference exactly, ragged shapes") {
  const qk::QuantKernels& ref = qk::quant_kernels_for(Isa::scalar);
  manual_seed(11);
  // From 32 rows on, AVX2 takes the 16-bit route: 200 rows make two of its row chunks,
  // k = 300 two of its k-blocks.
  for (std::int64_t m : {1, 3, 17, 70, 133, 200})
    for (std::int64_t n : {1, 3, 17, 48})
      for (std::int64_t k : {1, 3, 5, 31, 64, 100, 129, 300}) {
        Int8Fixture f(n, k, random_int8(n * k));
        const auto a = random_int8(m * (k + 3));  // lda = k + 3: rows need not be packed
        std::vector<std::int32_t> want(static_cast<std::size_t>(m * n)), got(want.size());
        ref.gemm_s8_s32(m, a.data(), k + 3, f.w, want.data(), n);
        const auto a_scale = random_floats(m, 0.001f, 0.1f), bias = random_floats(n, -1, 1);
        std::vector<float> want_y(static_cast<std::size_t>(m * n)), got_y(want_y.size());
        const bool relu = (m + n + k) % 2 == 0;
        ref.gemm_s8(m, a.data(), k + 3, f.w, {a_scale.data(), bias.data(), relu, want_y.data(), n});
        for (Isa isa : simd_levels()) {
          INFO(std::string(cpu::isa_name(isa)) << " m=" << m << " n=" << n << " k=" << k);
          const qk::QuantKernels& simd = qk::quant_kernels_for(isa);
          simd.gemm_s8_s32(m, a.data(), k + 3, f.w, got.data(), n);
          CHECK(got == want);
          simd.gemm_s8(m, a.data(), k + 3, f.w, {a_scale.data(), bias.data(), relu, got_y.data(), n});
          CHECK(same_bits(got_y, want_y));
        }
      }
}

TEST_CASE("int8 GEMM: extreme values that overflow 16-bit pair sums stay exact") {
  // vpmaddubsw adds two u8 x s8 products into a saturating int16. With the
  // unsigned operand a + 128 that sum reaches 255 * 127 * 2 = 64770 > 32767, so a
  // kernel that offsets the activations on AVX2 would clip; kiln's AVX2 byte path
  // multiplies |w| by sign(a, w) (at most 2 * 128 * 127 = 32512) instead, and from 32
  // rows on it widens both operands to int16 (vpmaddwd: exact int32 pair sums).
  static_assert(255 * 127 * 2 > 32767 && 2 * 128 * 127 <= 32767);
  const qk::QuantKernels& ref = qk::quant_kernels_for(Isa::scalar);
  const std::int64_t n = 20, k = 4099;  // large k: sums of ~66 million
  for (std::int64_t m : {5, 21, 40}) {  // under one register tile; several and a remainder; 16-bit route
    for (int pattern = 0; pattern < 4; ++pattern) {
      std::vector<std::int8_t> a(static_cast<std::size_t>(m * k)), w(static_cast<std::size_t>(n * k));
      for (std::int64_t i = 0; i < m * k; ++i) a[i] = (pattern & 1) ? -127 : 127;
      const std::int8_t extreme = (pattern & 2) ? -128 : 127;  // the kernels accept -128 in weights
      for (std::int64_t i = 0; i < n * k; ++i) w[i] = (i % 3 == 0) ? -127 : extreme;
      Int8Fixture f(n, k, w);
      std::vector<std::int32_t> want(static_cast<std::size_t>(m * n)), got(want.size());
      ref.gemm_s8_s32(m, a.data(), k, f.w, want.data(), n);
      // The reference against a direct sum in 64-bit.
      std::int64_t direct = 0;
      for (std::int64_t p = 0; p < k; ++p) direct += std::int64_t{a[p]} * w[p];
      CHECK(want[0] == direct);
      for (Isa isa : simd_levels()) {
        INFO(std::string(cpu::isa_name(isa)) << " m " << m << " pattern " << pattern);
        qk::quant_kernels_for(isa).gemm_s8_s32(m, a.data(), k, f.w, got.data(), n);
        CHECK(got == want);
      }
    }
  }
}

TEST_CASE("q4_0 GEMM: every level equals the reference bit for bit") {
  const qk::QuantKernels& ref = qk::quant_kernels_for(Isa::scalar);
  manual_seed(12);
  for (std::int64_t m : {1, 3, 17, 70})
    for (std::int64_t n : {1, 3, 17, 48})
      for (std::int64_t k : {32, 64, 96, 288}) {
        Q4Fixture f(n, k);
        const std::int64_t lda = k + 32;
        const auto a = random_int8(m * lda);
        const auto a_scale = random_floats(m, 0.001f, 0.1f), bias = random_floats(n, -1, 1);
        std::vector<float> want(static_cast<std::size_t>(m * n)), got(want.size());
        const bool relu = (m + n) % 2 == 1;
        ref.gemm_q4(m, a.data(), lda, f.w, {a_scale.data(), n % 2 ? bias.data() : nullptr, relu, want.data(), n});
        for (Isa isa : simd_levels()) {
          INFO(std::string(cpu::isa_name(isa)) << " m=" << m << " n=" << n << " k=" << k);
          qk::quant_kernels_for(isa).gemm_q4(m, a.data(), lda, f.w,
                                             {a_scale.data(), n % 2 ? bias.data() : nullptr, relu, got.data(), n});
          CHECK(same_bits(got, want));
        }
      }
}

TEST_CASE("q4_0 GEMM: extreme nibbles and activations") {
  const qk::QuantKernels& ref = qk::quant_kernels_for(Isa::scalar);
  const std::int64_t m = 3, n = 17, k = 4096;
  Q4Fixture f(n, k);
  for (auto& b : f.plain) {
    b.scale = 1.0f;
    for (auto& q : b.qs) q = 0x00;  // every weight -8
  }
  qk::pack_q4(n, k, f.plain.data(), f.packed.data(), f.packed_scale.data());
  std::vector<std::int8_t> a(static_cast<std::size_t>(m * k), -128);  // and activations -128
  const std::vector<float> a_scale(m, 1.0f);
  std::vector<float> want(static_cast<std::size_t>(m * n)), got(want.size());
  ref.gemm_q4(m, a.data(), k, f.w, {a_scale.data(), nullptr, false, want.data(), n});
  CHECK(want[0] == 8.0f * 128.0f * k);
  for (Isa isa : simd_levels()) {
    qk::quant_kernels_for(isa).gemm_q4(m, a.data(), k, f.w, {a_scale.data(), nullptr, false, got.data(), n});
    CHECK(same_bits(got, want));
  }
}

TEST_CASE("activation quantization: every level gives the same bytes and scales") {
  const qk::QuantKernels& ref = qk::quant_kernels_for(Isa::scalar);
  manual_seed(13);
  for (std::int64_t k : {1, 7, 8, 15, 16, 17, 100, 785}) {
    const std::int64_t rows = 4;
    auto x = random_floats(rows * k, -3, 3);
    for (std::int64_t j = 0; j < k; ++j) x[j] = 0.0f;  // a zero row
    if (k > 3) {
      x[k] = 2.0f;       // row 1: max 2 -> inverse scale 63.5
      x[k + 1] = 1.0f;   // 63.5 -> a tie, rounded to even (64)
      x[k + 2] = -1.0f;  // -63.5 -> -64
      for (std::int64_t j = 3; j < k; ++j) x[k + j] = 0.5f;
    }
    std::vector<std::int8_t> want(static_cast<std::size_t>(rows * k)), got(want.size());
    std::vector<float> want_s(rows), got_s(rows);
    ref.quantize_rows(rows, k, x.data(), k, want.data(), k, want_s.data());
    CHECK(want_s[0] == 1.0f);
    if (k > 3) {
      CHECK(want[k] == 127);
      CHECK(want[k + 1] == 64);
      CHECK(want[k + 2] == -64);
    }
    for (Isa isa : simd_levels()) {
      INFO(std::string(cpu::isa_name(isa)) << " k=" << k);
      qk::quant_kernels_for(isa).quantize_rows(rows, k, x.data(), k, got.data(), k, got_s.data());
      CHECK(got == want);
      CHECK(same_bits(got_s, want_s));
      std::vector<std::int8_t> got_static(want.size()), want_static(want.size());
      qk::quant_kernels_for(isa).quantize_static(rows * k, x.data(), 1000.0f, got_static.data());  // saturates
      ref.quantize_static(rows * k, x.data(), 1000.0f, want_static.data());
      CHECK(got_static == want_static);
    }
  }
}

TEST_CASE("packing: the packed layouts hold every weight where the kernels look") {
  const std::int64_t n = 19, k = 70;
  Int8Fixture f(n, k, random_int8(n * k));
  const std::int64_t kp = qk::round_up(k, 4);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < k; ++c)
      CHECK(f.packed[(r / 16) * 16 * kp + (c / 4) * 64 + (r % 16) * 4 + c % 4] == f.plain[r * k + c]);
  std::int32_t sum = 0;
  for (std::int64_t c = 0; c < k; ++c) sum += f.plain[3 * k + c];
  CHECK(f.row_sum[3] == sum);
  CHECK(f.row_sum[n] == 0);  // padding rows
}

TEST_CASE("quantized convolution: channels-last im2col rows hold each tap's values") {
  using kiln::quant::detail::ConvGeometry;
  manual_seed(14);
  // c, h, w, kh, kw, stride, padding, dilation, and kq > k for some.
  for (const auto& [c, h, w, k, s, pad, d, extra] :
       std::vector<std::tuple<int, int, int, int, int, int, int, int>>{{1, 5, 7, 3, 1, 1, 1, 3},
                                                                       {3, 6, 6, 3, 2, 1, 1, 0},
                                                                       {8, 7, 5, 3, 1, 0, 2, 0},
                                                                       {32, 9, 9, 3, 1, 1, 1, 0},
                                                                       {5, 4, 9, 2, 1, 0, 1, 7}}) {
    const std::int64_t oh = (h + 2 * pad - d * (k - 1) - 1) / s + 1, ow = (w + 2 * pad - d * (k - 1) - 1) / s + 1;
    const ConvGeometry g{c, h, w, k, k, s, s, pad, pad, d, d, oh, ow};
    const std::int64_t kq = g.taps_bytes() + extra, hw = oh * ow;
    const auto x8 = random_int8(c * h * w);
    std::vector<std::int8_t> padded(static_cast<std::size_t>(g.padded_h() * g.padded_w() * c));
    kiln::quant::detail::to_padded_channels_last(g, x8.data(), padded.data());
    std::vector<std::int8_t> rows(static_cast<std::size_t>(hw * kq));
    kiln::quant::detail::im2col_rows(g, padded.data(), kq, rows.data());
    // Spot-check a row against the definition: tap (i, j), channel ch of pixel (y, x).
    const std::int64_t y = oh - 1, x = 0;
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t j = 0; j < k; ++j)
        for (std::int64_t ch = 0; ch < c; ++ch) {
          const std::int64_t iy = y * s - pad + i * d, ix = x * s - pad + j * d;
          const std::int8_t want = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x8[(ch * h + iy) * w + ix] : 0;
          CHECK(rows[(y * ow + x) * kq + (i * k + j) * c + ch] == want);
        }
    for (std::int64_t p = 0; p < hw; ++p)  // the zero tail past k
      for (std::int64_t t = g.taps_bytes(); t < kq; ++t) CHECK(rows[p * kq + t] == 0);
  }
}
