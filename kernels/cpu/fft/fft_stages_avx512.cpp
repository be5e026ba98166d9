// The Stockham stage on four complex values per AVX-512 register. Compiled with -mavx512f
// -ffp-contract=off: no fused multiply-adds, so every product rounds as the reference's.
#include <immintrin.h>

#include "kernels/cpu/fft/fft_butterflies.hpp"

namespace kiln::cpu {
namespace {

struct V {
  static constexpr std::int64_t C = 4;
  using D = __m512d;
  static D load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, D v) { _mm512_storeu_pd(p, v); }
  static D set1(double x) { return _mm512_set1_pd(x); }
  static D alternate(double even, double odd) {
    return _mm512_setr_pd(even, odd, even, odd, even, odd, even, odd);
  }
  static D add(D a, D b) { return _mm512_add_pd(a, b); }
  static D sub(D a, D b) { return _mm512_sub_pd(a, b); }
  static D mul(D a, D b) { return _mm512_mul_pd(a, b); }
  static D swap(D v) { return _mm512_permute_pd(v, 0x55); }  // (re, im) -> (im, re)
};

#include "kernels/cpu/fft/fft_stages_simd.inl"

}  // namespace

void fft_stage_avx512(const FftStage& st) { stage(st); }

}  // namespace kiln::cpu
