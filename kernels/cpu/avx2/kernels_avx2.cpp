// AVX2 + FMA float32 kernels. This file alone is compiled with -mavx2 -mfma.
#include <cmath>

#include "../kernel_table.hpp"
#include "../simd/vec_avx2.hpp"

namespace kiln::cpu {
namespace {
using V = VecAvx2;
#include "../simd/simd_kernels.inl"
}  // namespace

void fill_avx2(KernelTable<float>& table) { fill_simd(table); }

}  // namespace kiln::cpu
