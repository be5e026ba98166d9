// 16 x float32 in one AVX-512 register: the operations simd_kernels.inl is written in.
// Include only from files compiled with -mavx512f -mavx512dq -mavx512bw -mavx512vl.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/cuda/counter_random.hpp"  // the stream's constants

namespace kiln::cpu {
namespace {

struct VecAvx512 {
  static constexpr int W = 16;
  using R = __m512;
  using M = __mmask16;

  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, R v) { _mm512_storeu_ps(p, v); }
  static M tail_mask(std::int64_t n) { return static_cast<M>((1u << n) - 1u); }
  static R load_tail(const float* p, std::int64_t n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
  static void store_tail(float* p, R v, std::int64_t n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
  // Like load_tail, but the lanes past n read as `fill`.
  static R load_tail_fill(const float* p, std::int64_t n, float fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail_mask(n), p);
  }
  static R set1(float x) { return _mm512_set1_ps(x); }
  // Integer-valued floats (|v| < 2^24) stored as int32.
  static void store_i32(std::int32_t* p, R v) { _mm512_storeu_si512(p, _mm512_cvtps_epi32(v)); }
  static void store_i32_tail(std::int32_t* p, R v, std::int64_t n) {
    _mm512_mask_storeu_epi32(p, tail_mask(n), _mm512_cvtps_epi32(v));
  }
  // (lo, hi) = x0 .. x31  ->  even = x0 x2 .. x30, odd = x1 x3 .. x31
  static void deinterleave(R lo, R hi, R& even, R& odd) {
    const __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    even = _mm512_permutex2var_ps(lo, e, hi);
    odd = _mm512_permutex2var_ps(lo, _mm512_add_epi32(e, _mm512_set1_epi32(1)), hi);
  }
  // 0, 1, 2, ... W-1
  static R iota() { return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }

  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R div(R a, R b) { return _mm512_div_ps(a, b); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }  // b when either is NaN
  static R min(R a, R b) { return _mm512_min_ps(a, b); }
  static R sqrt(R a) { return _mm512_sqrt_ps(a); }
  static R abs(R a) { return _mm512_abs_ps(a); }
  static R neg(R a) { return _mm512_xor_ps(_mm512_set1_ps(-0.0f), a); }
  static R round(R a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static R floor(R a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static R ceil(R a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); }

  static M lt(R a, R b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M le(R a, R b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static M gt(R a, R b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M eq(R a, R b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M is_nan(R a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  static M mask_or(M a, M b) { return static_cast<M>(a | b); }
  static M no_lanes() { return 0; }
  static bool any(M m) { return m != 0; }
  static R select(M m, R yes, R no) { return _mm512_mask_blend_ps(m, no, yes); }

  static float hsum(R v) { return _mm512_reduce_add_ps(v); }
  static float hmax(R v) { return _mm512_reduce_max_ps(v); }
  static float hmin(R v) { return _mm512_reduce_min_ps(v); }

  // Dropout's multipliers for elements first .. first + 15 of the counter-based stream
  // `seed`: kept where cuda_kernels::dropout_keeps<float> keeps the element, else 0.
  // The counters and their mix in 64-bit lanes, eight at a time.
  static R dropout_scales(std::uint64_t seed, std::uint64_t first, std::uint64_t threshold, float kept) {
    using namespace cuda_kernels;
    const __m512i steps = _mm512_mullo_epi64(_mm512_set1_epi64(static_cast<long long>(kCounterStep)),
                                             _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    const auto keeps = [&](std::uint64_t i) {  // elements i .. i + 7
      __m512i z = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(seed + kCounterStep * (i + 1))), steps);
      z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)),
                             _mm512_set1_epi64(static_cast<long long>(kMix1)));
      z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)),
                             _mm512_set1_epi64(static_cast<long long>(kMix2)));
      z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
      return _mm512_cmpge_epu64_mask(_mm512_srli_epi64(z, 64 - kUniformBits<float>),
                                     _mm512_set1_epi64(static_cast<long long>(threshold)));
    };
    const auto m = static_cast<__mmask16>(keeps(first) | (static_cast<unsigned>(keeps(first + 8)) << 8));
    return _mm512_maskz_mov_ps(m, _mm512_set1_ps(kept));
  }

  static R exp2i(R n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  static void frexp1(R x, R& e, R& m) {
    const __m512i bits = _mm512_castps_si512(x);
    e = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(127)));
    m = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)),
                                            _mm512_set1_epi32(0x3f800000)));
  }
};

}  // namespace
}  // namespace kiln::cpu
