// The normalisation kernels on 8 doubles per AVX-512 register: one register holds a
// sum's 8 lanes. Compiled with the AVX-512 flags and -ffp-contract=off.
#include <immintrin.h>

#include <cstdint>

#include "../kernel_table.hpp"
#include "norm_ref.hpp"

namespace kiln::cpu {
namespace {

struct NormAvx512 {
  static constexpr int W = 8;
  using D = __m512d;
  static D load(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
  static void store(float* p, D v) { _mm256_storeu_ps(p, _mm512_cvtpd_ps(v)); }
  static D load_lanes(const double* p) { return _mm512_loadu_pd(p); }
  static void store_lanes(double* p, D v) { _mm512_storeu_pd(p, v); }
  static D set1(double x) { return _mm512_set1_pd(x); }
  static D zero() { return _mm512_setzero_pd(); }
  static D add(D a, D b) { return _mm512_add_pd(a, b); }
  static D sub(D a, D b) { return _mm512_sub_pd(a, b); }
  static D mul(D a, D b) { return _mm512_mul_pd(a, b); }
};

using N = NormAvx512;
#include "norm_simd.inl"

}  // namespace

void fill_norm_avx512(KernelTable<float>& table) { fill_norm(table); }

}  // namespace kiln::cpu
