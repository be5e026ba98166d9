// The normalisation kernels on 4 doubles per AVX2 register. This file alone, with
// norm_avx512.cpp, is compiled with -mavx2 -mfma -ffp-contract=off (no fused
// multiply-adds: the reference's rounding, step by step).
#include <immintrin.h>

#include <cstdint>

#include "../kernel_table.hpp"
#include "norm_ref.hpp"

namespace kiln::cpu {
namespace {

struct NormAvx2 {
  static constexpr int W = 4;
  using D = __m256d;
  static D load(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
  static void store(float* p, D v) { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)); }
  static D load_lanes(const double* p) { return _mm256_loadu_pd(p); }
  static void store_lanes(double* p, D v) { _mm256_storeu_pd(p, v); }
  static D set1(double x) { return _mm256_set1_pd(x); }
  static D zero() { return _mm256_setzero_pd(); }
  static D add(D a, D b) { return _mm256_add_pd(a, b); }
  static D sub(D a, D b) { return _mm256_sub_pd(a, b); }
  static D mul(D a, D b) { return _mm256_mul_pd(a, b); }
};

using N = NormAvx2;
#include "norm_simd.inl"

}  // namespace

void fill_norm_avx2(KernelTable<float>& table) { fill_norm(table); }

}  // namespace kiln::cpu
