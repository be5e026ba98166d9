// The scalar reference of the Stockham stage (fft_stages.hpp): every element through the
// butterflies of fft_butterflies.hpp, and the choice of variant by instruction-set level.
#include "kernels/cpu/dispatch.hpp"
#include "kernels/cpu/fft/fft_butterflies.hpp"
#include "kiln/core/error.hpp"

namespace kiln::cpu {

namespace {

// element(a, b, w) for every element of the stage: a its first input, b its first output.
template <class Element>
void each_element(const FftStage& st, Element element) {
  double w[2 * kMaxDirectRadix];
  for (std::int64_t j = 0; j < st.m; ++j) {
    fft_butterfly::twiddles_at(st, j, w);
    const double* a = st.x + 2 * st.s * j;
    double* b = st.y + 2 * st.s * st.p * j;
    for (std::int64_t q = 0; q < 2 * st.s; q += 2) element(a + q, b + q, w);
  }
}

}  // namespace

void fft_stage_scalar(const FftStage& st) {
  namespace bf = fft_butterfly;
  const std::int64_t p = st.p, span = 2 * st.s * st.m, step = 2 * st.s;
  const double sign = st.sign;
  if (p == 2) {
    each_element(st, [&](const double* a, double* b, const double* w) { bf::radix2(a, b, span, step, w); });
  } else if (p == 4) {
    each_element(st,
                 [&](const double* a, double* b, const double* w) { bf::radix4(a, b, span, step, w, sign); });
  } else if (p == 3) {
    const double h = bf::radix3_h(sign);
    each_element(st,
                 [&](const double* a, double* b, const double* w) { bf::radix3(a, b, span, step, w, h); });
  } else {
    double roots[2 * kMaxDirectRadix];
    bf::roots_of(st, roots);
    each_element(st, [&](const double* a, double* b, const double* w) {
      bf::radix_any(a, b, span, step, w, roots, p);
    });
  }
}

FftStageFn fft_stage_kernel(Isa isa) {
  KILN_CHECK(isa_supported(isa), "fft: the ", isa_name(isa),
             " kernels need an instruction set this CPU lacks");
  switch (isa) {
    case Isa::avx512:
      return fft_stage_avx512;
    case Isa::avx2:
      return fft_stage_avx2;
    case Isa::scalar:
      break;
  }
  return fft_stage_scalar;
}

FftStageFn fft_stage_kernel() {
  static const FftStageFn active = fft_stage_kernel(active_isa());
  return active;
}

}  // namespace kiln::cpu
