// lgamma and digamma on 8 doubles per AVX-512 register (special_simd.inl).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "../kernel_table.hpp"

namespace kiln::cpu {
namespace {

struct SpecialAvx512 {
  static constexpr int W = 8;
  using R = __m512d;
  using M = __mmask8;
  static R load(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
  static void store(float* p, R v) { _mm256_storeu_ps(p, _mm512_cvtpd_ps(v)); }
  static R set1(double v) { return _mm512_set1_pd(v); }
  static R add(R a, R b) { return _mm512_add_pd(a, b); }
  static R sub(R a, R b) { return _mm512_sub_pd(a, b); }
  static R mul(R a, R b) { return _mm512_mul_pd(a, b); }
  static R div(R a, R b) { return _mm512_div_pd(a, b); }
  static R abs(R v) { return _mm512_abs_pd(v); }
  static R round(R v) { return _mm512_roundscale_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static R floor(R v) { return _mm512_roundscale_pd(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static M lt(R a, R b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
  static M le(R a, R b) { return _mm512_cmp_pd_mask(a, b, _CMP_LE_OQ); }
  static M gt(R a, R b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
  static M eq(R a, R b) { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
  static M is_nan(R v) { return _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q); }
  static M sign_bit(R v) { return _mm512_cmplt_epi64_mask(_mm512_castpd_si512(v), _mm512_setzero_si512()); }
  static M mask_or(M a, M b) { return static_cast<M>(a | b); }
  static M mask_and(M a, M b) { return static_cast<M>(a & b); }
  static bool any(M m) { return m != 0; }
  static R select(M m, R a, R b) { return _mm512_mask_blend_pd(m, b, a); }
  // x = m 2^e with m in [1, 2), for finite x > 0
  static void frexp(R x, R& e, R& m) {
    e = _mm512_getexp_pd(x);
    m = _mm512_getmant_pd(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
  }
};

using D = SpecialAvx512;
#include "special_simd.inl"

}  // namespace

void fill_special_avx512(KernelTable<float>& t) {
  t.unary[int(Unary::lgamma)] = lgamma_k;
  t.unary[int(Unary::digamma)] = digamma_k;
}

}  // namespace kiln::cpu
