// The Stockham stage on two complex values per AVX2 register. Compiled with -mavx2
// -ffp-contract=off: no fused multiply-adds, so every product rounds as the reference's.
#include <immintrin.h>

#include "kernels/cpu/fft/fft_butterflies.hpp"

namespace kiln::cpu {
namespace {

struct V {
  static constexpr std::int64_t C = 2;
  using D = __m256d;
  static D load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, D v) { _mm256_storeu_pd(p, v); }
  static D set1(double x) { return _mm256_set1_pd(x); }
  static D alternate(double even, double odd) { return _mm256_setr_pd(even, odd, even, odd); }
  static D add(D a, D b) { return _mm256_add_pd(a, b); }
  static D sub(D a, D b) { return _mm256_sub_pd(a, b); }
  static D mul(D a, D b) { return _mm256_mul_pd(a, b); }
  static D swap(D v) { return _mm256_permute_pd(v, 0x5); }  // (re, im) -> (im, re)
};

#include "kernels/cpu/fft/fft_stages_simd.inl"

}  // namespace

void fft_stage_avx2(const FftStage& st) { stage(st); }

}  // namespace kiln::cpu
