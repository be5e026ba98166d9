// CPU feature detection and the kernel tables (see dispatch.hpp).
#include "dispatch.hpp"

#include <cpuid.h>

#include <cstdlib>
#include <string>

#include "kiln/core/error.hpp"

namespace kiln::cpu {
namespace {

// XCR0: which register states the OS saves on context switch.
std::uint64_t read_xcr0() {
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27);
  const bool fma = c & (1u << 12);
  if (!osxsave) return f;
  const std::uint64_t xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;            // SSE + AVX
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;          // + opmask, ZMM0-15 high, ZMM16-31
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = ymm_state && (b & (1u << 5));
  f.fma = ymm_state && fma;
  f.avx512f = zmm_state && (b & (1u << 16));
  f.avx512dq = zmm_state && (b & (1u << 17));
  f.avx512bw = zmm_state && (b & (1u << 30));
  f.avx512vl = zmm_state && (b & (1u << 31));
  f.avx512_vnni = zmm_state && (c & (1u << 11));
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512_bf16 = zmm_state && (a1 & (1u << 5));
  return f;
}

Isa parse_isa(const std::string& s) {
  if (s == "scalar") return Isa::scalar;
  if (s == "avx2") return Isa::avx2;
  if (s == "avx512") return Isa::avx512;
  throw Error("KILN_CPU_ISA='" + s + "' is not a level; use scalar, avx2 or avx512 (or unset it)");
}

Isa choose_active() {
  const char* forced = std::getenv("KILN_CPU_ISA");
  if (!forced || !*forced) return best_supported_isa();
  const Isa isa = parse_isa(forced);
  KILN_CHECK(isa_supported(isa), "KILN_CPU_ISA=", forced, " asks for an instruction set this CPU (or OS) "
             "does not support; the best available here is ", isa_name(best_supported_isa()));
  return isa;
}

struct Tables {
  KernelTable<float> f32[kIsaCount];
  KernelTable<double> f64;
  Tables() {
    for (auto& t : f32) {
      fill_scalar(t);
      fill_norm_scalar(t);
    }
    fill_scalar(f64);
    fill_norm_scalar(f64);
    if (isa_supported(Isa::avx2)) {
      fill_avx2(f32[int(Isa::avx2)]);
      fill_norm_avx2(f32[int(Isa::avx2)]);
      fill_special_avx2(f32[int(Isa::avx2)]);
    }
    if (isa_supported(Isa::avx512)) {
      fill_avx2(f32[int(Isa::avx512)]);    // entries without a 512-bit variant
      fill_avx512(f32[int(Isa::avx512)]);
      fill_norm_avx512(f32[int(Isa::avx512)]);
      fill_special_avx512(f32[int(Isa::avx512)]);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return f.avx2 && f.fma;
    case Isa::avx512: return f.avx2 && f.fma && f.avx512f && f.avx512dq && f.avx512bw && f.avx512vl;
  }
  return false;
}

Isa best_supported_isa() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

Isa active_isa() {
  static const Isa isa = choose_active();
  return isa;
}

const KernelTable<float>& kernels_f32() {
  static const KernelTable<float>& t = tables().f32[int(active_isa())];
  return t;
}

const KernelTable<double>& kernels_f64() { return tables().f64; }

const KernelTable<float>& kernels_f32_for(Isa isa) {
  KILN_CHECK(isa_supported(isa), "kernels_f32_for: this CPU does not support ", isa_name(isa),
             "; check isa_supported() first");
  return tables().f32[int(isa)];
}

}  // namespace kiln::cpu
