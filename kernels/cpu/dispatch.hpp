// Run-time choice of the CPU kernel variants.
//
// The first call reads CPUID/XGETBV once, picks the best instruction set this
// CPU and OS support (or the one forced by KILN_CPU_ISA=scalar|avx2|avx512),
// and fills one KernelTable per dtype. No static registration: linking
// statically just works.
#pragma once

#include "kernel_table.hpp"

namespace kiln::cpu {

struct CpuFeatures {
  bool avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512_vnni = false, avx512_bf16 = false;
};

const CpuFeatures& cpu_features();
Isa best_supported_isa();
bool isa_supported(Isa isa);
// The level in use: KILN_CPU_ISA if set (an unsupported level is a kiln::Error), else the best.
Isa active_isa();

// Tables for the active level.
const KernelTable<float>& kernels_f32();
const KernelTable<double>& kernels_f64();
// The table of one specific level (for parity tests and benchmarks);
// throws kiln::Error if this CPU lacks it.
const KernelTable<float>& kernels_f32_for(Isa isa);

template <class T> const KernelTable<T>& kernels();
template <> inline const KernelTable<float>& kernels<float>() { return kernels_f32(); }
template <> inline const KernelTable<double>& kernels<double>() { return kernels_f64(); }

}  // namespace kiln::cpu
