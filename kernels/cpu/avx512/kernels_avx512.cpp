// AVX-512 (F, DQ, BW, VL) float32 kernels. This file alone is compiled with those flags.
#include <cmath>

#include "../kernel_table.hpp"
#include "../simd/vec_avx512.hpp"

namespace kiln::cpu {
namespace {
using V = VecAvx512;
#include "../simd/simd_kernels.inl"
}  // namespace

void fill_avx512(KernelTable<float>& table) { fill_simd(table); }

}  // namespace kiln::cpu
