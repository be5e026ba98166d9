// 8 x float32 in one AVX2 register: the operations simd_kernels.inl is written in.
// Include only from files compiled with -mavx2 -mfma.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/cuda/counter_random.hpp"  // the stream's constants

namespace kiln::cpu {
namespace {

struct VecAvx2 {
  static constexpr int W = 8;
  using R = __m256;
  using M = __m256;  // lanes of all-ones / all-zeros

  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, R v) { _mm256_storeu_ps(p, v); }
  static __m256i tail_bits(std::int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // The first n (< W) lanes; the others read as 0 and are never written.
  static R load_tail(const float* p, std::int64_t n) { return _mm256_maskload_ps(p, tail_bits(n)); }
  static void store_tail(float* p, R v, std::int64_t n) { _mm256_maskstore_ps(p, tail_bits(n), v); }
  // Like load_tail, but the lanes past n read as `fill`.
  static R load_tail_fill(const float* p, std::int64_t n, float fill) {
    const __m256i m = tail_bits(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static R set1(float x) { return _mm256_set1_ps(x); }
  // Integer-valued floats (|v| < 2^24) stored as int32.
  static void store_i32(std::int32_t* p, R v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_cvtps_epi32(v));
  }
  static void store_i32_tail(std::int32_t* p, R v, std::int64_t n) {
    _mm256_maskstore_epi32(reinterpret_cast<int*>(p), tail_bits(n), _mm256_cvtps_epi32(v));
  }
  // (lo, hi) = x0 .. x15  ->  even = x0 x2 .. x14, odd = x1 x3 .. x15
  static void deinterleave(R lo, R hi, R& even, R& odd) {
    const __m256d e = _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)));
    const __m256d o = _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)));
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(e, _MM_SHUFFLE(3, 1, 2, 0)));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(o, _MM_SHUFFLE(3, 1, 2, 0)));
  }
  // 0, 1, 2, ... W-1
  static R iota() { return _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7); }

  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R div(R a, R b) { return _mm256_div_ps(a, b); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }  // a * b + c
  static R max(R a, R b) { return _mm256_max_ps(a, b); }  // b when either is NaN
  static R min(R a, R b) { return _mm256_min_ps(a, b); }
  static R sqrt(R a) { return _mm256_sqrt_ps(a); }
  static R abs(R a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static R neg(R a) { return _mm256_xor_ps(_mm256_set1_ps(-0.0f), a); }
  static R round(R a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static R floor(R a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static R ceil(R a) { return _mm256_round_ps(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }

  static M lt(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M le(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  static M gt(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static M eq(R a, R b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static M is_nan(R a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
  static M mask_or(M a, M b) { return _mm256_or_ps(a, b); }
  static M no_lanes() { return _mm256_setzero_ps(); }
  static bool any(M m) { return _mm256_movemask_ps(m) != 0; }
  static R select(M m, R yes, R no) { return _mm256_blendv_ps(no, yes, m); }

  static float hsum(R v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(R v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmin(R v) {
    __m128 s = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_min_ps(s, _mm_movehl_ps(s, s));
    s = _mm_min_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  // Dropout's multipliers for elements first .. first + 7 of the counter-based stream
  // `seed`: kept where cuda_kernels::dropout_keeps<float> keeps the element, else 0.
  // The counters and their mix in 64-bit lanes, four at a time; AVX2 has no 64-bit
  // product, so each is built from three 32-bit ones (the high half's is dropped).
  static R dropout_scales(std::uint64_t seed, std::uint64_t first, std::uint64_t threshold, float kept) {
    using namespace cuda_kernels;
    const auto times = [](__m256i a, std::uint64_t b) {  // a * b modulo 2^64, lane by lane
      const __m256i b_lo = _mm256_set1_epi64x(static_cast<long long>(b & 0xffffffffu));
      const __m256i b_hi = _mm256_set1_epi64x(static_cast<long long>(b >> 32));
      const __m256i cross =
          _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), b_lo), _mm256_mul_epu32(a, b_hi));
      return _mm256_add_epi64(_mm256_mul_epu32(a, b_lo), _mm256_slli_epi64(cross, 32));
    };
    const auto drops = [&](std::uint64_t i) {  // elements i .. i + 3: all ones where dropped
      const std::uint64_t z0 = seed + kCounterStep * (i + 1);
      __m256i z = _mm256_setr_epi64x(static_cast<long long>(z0), static_cast<long long>(z0 + kCounterStep),
                                     static_cast<long long>(z0 + 2 * kCounterStep),
                                     static_cast<long long>(z0 + 3 * kCounterStep));
      z = times(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), kMix1);
      z = times(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), kMix2);
      z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
      // Below 2^24 both, so the signed comparison is the unsigned one.
      return _mm256_cmpgt_epi64(_mm256_set1_epi64x(static_cast<long long>(threshold)),
                                _mm256_srli_epi64(z, 64 - kUniformBits<float>));
    };
    // The low 32 bits of each 64-bit lane, elements 0-3 then 4-7.
    const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    const __m256i dropped = _mm256_blend_epi32(_mm256_permutevar8x32_epi32(drops(first), low_halves),
                                               _mm256_permutevar8x32_epi32(drops(first + 4), low_halves), 0xF0);
    return _mm256_andnot_ps(_mm256_castsi256_ps(dropped), _mm256_set1_ps(kept));
  }

  // 2^n for integer-valued n in [-126, 127], built in the exponent bits.
  static R exp2i(R n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  // Splits a positive normal x into x = m * 2^e with m in [1, 2).
  static void frexp1(R x, R& e, R& m) {
    const __m256i bits = _mm256_castps_si256(x);
    e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
    m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                            _mm256_set1_epi32(0x3f800000)));
  }
};

}  // namespace
}  // namespace kiln::cpu
