// The quantized kernels with AVX2: vpmaddubsw (u8 x s8 pairs summed to int16)
// then vpmaddwd by ones (pairs of int16 summed to int32).
//
// vpmaddubsw saturates its int16 sums, so int8 x int8 cannot use the a + 128
// trick of VNNI (255 * 127 * 2 overflows). It multiplies |w| (unsigned, <= 128)
// by sign(a, w) (= a * sgn w, |a| <= 127): each pair sum stays within
// 2 * 128 * 127 = 32512 < 32767, exact. That is why activations never hold -128.
// For 4-bit weights the unsigned side is the nibble (<= 15): no hazard.
//
// From kWideRows rows of a on, int8 GEMMs widen both operands to int16 instead and
// use vpmaddwd alone (run_s8_wide in quant_simd.inl): one multiply-pipe instruction per
// 16 products rather than three per 32.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <memory>
#include <cmath>
#include <utility>
#include <vector>

#include "kiln/core/threads.hpp"
#include "quant_kernels.hpp"

namespace kiln::cpu::quant {
namespace {

struct P {
  using VI = __m256i;
  using VF = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kMR8 = 6, kNP8 = 1;  // int8 tile: 6 rows x 16 channels (measured best of 2, 3, 4, 6)
  static constexpr int kMR4 = 2, kNP4 = 1;  // q4 tile: 2 rows x 16 channels
  static constexpr bool kXorA = false;
  // From this many rows of a on, int8 GEMMs take the 16-bit route (see run_s8_wide):
  // widening costs about as much as 32 rows of products.
  static constexpr std::int64_t kWideRows = 32;
  static constexpr int kWideMR = 4;  // its tile: 4 rows x 16 channels, 8 accumulators (3, 5, 6: no faster)

  static VI zero() { return _mm256_setzero_si256(); }
  static VF zerof() { return _mm256_setzero_ps(); }
  static VI load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static VI bcast4(const void* p) {
    std::int32_t v;
    __builtin_memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  static VI dot_s8(VI acc, VI w, VI a) {
    const VI pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
  }
  // acc += w[2j] a[0] + w[2j+1] a[1] per int32 lane j (int16 operands; exact).
  static VI dot_s16(VI acc, VI w, VI a) { return _mm256_add_epi32(acc, _mm256_madd_epi16(w, a)); }
  // 8 lanes of 4 int8 k-values (k0 k1 k2 k3) -> int16 pairs (k0, k1) into out0, (k2, k3) into out1.
  static void widen_pairs(const std::int8_t* src, std::int16_t* out0, std::int16_t* out1) {
    const VI x = load(src);
    const VI lo = _mm256_srai_epi16(_mm256_slli_epi16(x, 8), 8);  // k0, k2 of each lane, sign-extended
    const VI hi = _mm256_srai_epi16(x, 8);                          // k1, k3
    store(out0, _mm256_blend_epi16(lo, _mm256_slli_epi32(hi, 16), 0xAA));
    store(out1, _mm256_blend_epi16(_mm256_srli_epi32(lo, 16), hi, 0xAA));
  }
  // dst[0, kp) = src[0, k) sign-extended to int16, then zeros.
  static void widen_row(std::int64_t k, std::int64_t kp, const std::int8_t* src, std::int16_t* dst) {
    std::int64_t j = 0;
    for (; j + 16 <= k; j += 16)
      store(dst + j, _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j))));
    for (; j < k; ++j) dst[j] = src[j];
    for (; j < kp; ++j) dst[j] = 0;
  }
  static VI dot_u4(VI acc, VI u, VI a) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), _mm256_set1_epi16(1)));
  }
  static VI lo_nibbles(VI x) { return _mm256_and_si256(x, _mm256_set1_epi8(0x0F)); }
  static VI hi_nibbles(VI x) { return _mm256_and_si256(_mm256_srli_epi16(x, 4), _mm256_set1_epi8(0x0F)); }
  static VI set1(std::int32_t v) { return _mm256_set1_epi32(v); }
  static VI sub(VI a, VI b) { return _mm256_sub_epi32(a, b); }
  static VF to_float(VI v) { return _mm256_cvtepi32_ps(v); }
  static VF fmadd(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
  static VI loadi(const std::int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static VF set1f(float v) { return _mm256_set1_ps(v); }
  static VF mulf(VF a, VF b) { return _mm256_mul_ps(a, b); }
  static VF addf(VF a, VF b) { return _mm256_add_ps(a, b); }
  static VF maxf(VF a, VF b) { return _mm256_max_ps(a, b); }
  static void store(void* p, VI v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  static VI xor_(VI a, VI b) { return _mm256_xor_si256(a, b); }
  static VF loadf(const float* p) { return _mm256_loadu_ps(p); }
  static void storef(float* p, VF v) { _mm256_storeu_ps(p, v); }
  static void storei(std::int32_t* p, VI v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }

  static float max_abs(std::int64_t n, const float* x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, m);
    float r = 0.0f;
    for (float v : lanes) r = r > v ? r : v;
    for (; i < n; ++i) r = max_abs_step(r, x[i]);
    return r;
  }
  static void quantize_span(std::int64_t n, const float* x, float inv_scale, std::int8_t* q) {
    const __m256 inv = _mm256_set1_ps(inv_scale), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), inv), lo), hi);
      const __m256i i32 = _mm256_cvtps_epi32(v);
      const __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), _mm_packs_epi16(i16, i16));
    }
    for (; i < n; ++i) q[i] = quantize_value(x[i], inv_scale);
  }
};

#include "quant_simd.inl"

}  // namespace

void fill_quant_avx2(QuantKernels& t) { fill_simd(t); }

}  // namespace kiln::cpu::quant
