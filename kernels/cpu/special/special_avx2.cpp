// lgamma and digamma on 4 doubles per AVX2 register (special_simd.inl).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "../kernel_table.hpp"

namespace kiln::cpu {
namespace {

struct SpecialAvx2 {
  static constexpr int W = 4;
  using R = __m256d;
  using M = __m256d;  // all-ones lanes where true
  static R load(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
  static void store(float* p, R v) { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)); }
  static R set1(double v) { return _mm256_set1_pd(v); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
  static R sub(R a, R b) { return _mm256_sub_pd(a, b); }
  static R mul(R a, R b) { return _mm256_mul_pd(a, b); }
  static R div(R a, R b) { return _mm256_div_pd(a, b); }
  static R abs(R v) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), v); }
  static R round(R v) { return _mm256_round_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static R floor(R v) { return _mm256_round_pd(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static M lt(R a, R b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
  static M le(R a, R b) { return _mm256_cmp_pd(a, b, _CMP_LE_OQ); }
  static M gt(R a, R b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
  static M eq(R a, R b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
  static M is_nan(R v) { return _mm256_cmp_pd(v, v, _CMP_UNORD_Q); }
  static M sign_bit(R v) {
    return _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_setzero_si256(), _mm256_castpd_si256(v)));
  }
  static M mask_or(M a, M b) { return _mm256_or_pd(a, b); }
  static M mask_and(M a, M b) { return _mm256_and_pd(a, b); }
  static bool any(M m) { return _mm256_movemask_pd(m) != 0; }
  static R select(M m, R a, R b) { return _mm256_blendv_pd(b, a, m); }
  // x = m 2^e with m in [1, 2), for finite x > 0 (a normal double): the exponent field
  // placed in the low bits of 2^52, whose value is then 2^52 + field, exactly.
  static void frexp(R x, R& e, R& m) {
    const __m256i bits = _mm256_castpd_si256(x);
    const __m256i field = _mm256_srli_epi64(bits, 52);
    const __m256i two52 = _mm256_set1_epi64x(0x4330000000000000LL);
    e = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(field, two52)),
                      _mm256_set1_pd(4503599627370496.0 + 1023.0));
    const __m256i mantissa = _mm256_and_si256(bits, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFLL));
    m = _mm256_castsi256_pd(_mm256_or_si256(mantissa, _mm256_set1_epi64x(0x3FF0000000000000LL)));
  }
};

using D = SpecialAvx2;
#include "special_simd.inl"

}  // namespace

void fill_special_avx2(KernelTable<float>& t) {
  t.unary[int(Unary::lgamma)] = lgamma_k;
  t.unary[int(Unary::digamma)] = digamma_k;
}

}  // namespace kiln::cpu
