// The quantized kernels with AVX-512 VNNI (vpdpbusd: four u8 x s8 products
// summed into each int32 lane in one instruction). Compiled with those flags alone.
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
  using VI = __m512i;
  using VF = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kMR8 = 8, kNP8 = 2;  // int8 tile: 8 rows x 32 channels, 16 accumulators
  static constexpr int kMR4 = 4, kNP4 = 2;  // q4 tile: 4 rows x 32 channels (int + float accumulators)
  // vpdpbusd multiplies unsigned by signed bytes: a + 128 is the unsigned side.
  static constexpr std::int64_t kWideRows = 0;  // VNNI needs no 16-bit route
  static constexpr bool kXorA = true;

  static VI zero() { return _mm512_setzero_si512(); }
  static VF zerof() { return _mm512_setzero_ps(); }
  static VI load(const void* p) { return _mm512_loadu_si512(p); }
  static VI bcast4(const void* p) {
    std::int32_t v;
    __builtin_memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  static VI dot_s8(VI acc, VI w, VI a_unsigned) { return _mm512_dpbusd_epi32(acc, a_unsigned, w); }
  static VI dot_u4(VI acc, VI u, VI a) { return _mm512_dpbusd_epi32(acc, u, a); }
  static VI lo_nibbles(VI x) { return _mm512_and_si512(x, _mm512_set1_epi8(0x0F)); }
  static VI hi_nibbles(VI x) { return _mm512_and_si512(_mm512_srli_epi16(x, 4), _mm512_set1_epi8(0x0F)); }
  static VI set1(std::int32_t v) { return _mm512_set1_epi32(v); }
  static VI sub(VI a, VI b) { return _mm512_sub_epi32(a, b); }
  static VF to_float(VI v) { return _mm512_cvtepi32_ps(v); }
  static VF fmadd(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
  static VI loadi(const std::int32_t* p) { return _mm512_loadu_si512(p); }
  static VF set1f(float v) { return _mm512_set1_ps(v); }
  static VF mulf(VF a, VF b) { return _mm512_mul_ps(a, b); }
  static VF addf(VF a, VF b) { return _mm512_add_ps(a, b); }
  static VF maxf(VF a, VF b) { return _mm512_max_ps(a, b); }
  static void store(void* p, VI v) { _mm512_storeu_si512((p), v); }
  static VI xor_(VI a, VI b) { return _mm512_xor_si512(a, b); }
  static VF loadf(const float* p) { return _mm512_loadu_ps(p); }
  static void storef(float* p, VF v) { _mm512_storeu_ps(p, v); }
  static void storei(std::int32_t* p, VI v) { _mm512_storeu_si512(p, v); }

  static float max_abs(std::int64_t n, const float* x) {
    __m512 m = _mm512_setzero_ps();
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    float r = _mm512_reduce_max_ps(m);
    for (; i < n; ++i) r = max_abs_step(r, x[i]);
    return r;
  }
  static void quantize_span(std::int64_t n, const float* x, float inv_scale, std::int8_t* q) {
    const __m512 inv = _mm512_set1_ps(inv_scale), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    std::int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), inv), lo), hi);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(v)));
    }
    for (; i < n; ++i) q[i] = quantize_value(x[i], inv_scale);
  }
};

#include "quant_simd.inl"

}  // namespace

void fill_quant_avx512(QuantKernels& t) { fill_simd(t); }

}  // namespace kiln::cpu::quant
