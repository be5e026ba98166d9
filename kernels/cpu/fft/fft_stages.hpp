// One stage of the Stockham transform of fft_plan.hpp, as a kernel with a scalar reference
// (fft_stages_ref.cpp) and AVX2 / AVX-512 variants (fft_stages_simd.inl). Every variant
// gives the reference's bits: each element goes through the butterflies of
// fft_butterflies.hpp or their vector copies, which do the same operations in the same
// order, and every file is compiled without fused multiply-adds (-ffp-contract=off).
#pragma once

#include <cstdint>

#include "kernels/cpu/kernel_table.hpp"  // Isa

namespace kiln::cpu {

// Radices up to this prime are combined directly (p^2 products per butterfly).
constexpr std::int64_t kMaxDirectRadix = 31;

// A stage of radix p over `s` interleaved transforms of length p m, in (re, im) pairs of
// doubles: for every j < m and each q < s, the p-point DFT b of x[q + s (j + r m)], r < p,
// goes out as y[q + s (p j + k)] = b_k w(k, j), with w(k, j) = exp(-2 pi i j k / (p m))
// the pair at twiddles[(k - 1) m + j] and the DFT's roots exp(-2 pi i r / p) at roots[r].
// `sign` is 1 for the forward transform and -1 for the inverse, which conjugates both.
struct FftStage {
  std::int64_t p, m, s;
  const double* twiddles;  // (p - 1) m pairs
  const double* roots;     // p pairs
  double sign;
  const double* x;  // p m s pairs
  double* y;        // p m s pairs, not overlapping x
};

using FftStageFn = void (*)(const FftStage&);

// The stage kernel of one instruction-set level (a kiln::Error where this CPU lacks it),
// and the one of the level in use (KILN_CPU_ISA or the best supported).
FftStageFn fft_stage_kernel(Isa isa);
FftStageFn fft_stage_kernel();

// The variants, one per file.
void fft_stage_scalar(const FftStage& stage);
void fft_stage_avx2(const FftStage& stage);
void fft_stage_avx512(const FftStage& stage);

}  // namespace kiln::cpu
