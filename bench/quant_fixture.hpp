// A weight matrix quantized to int8 and q4_0 with the kernels' packed copies and
// descriptors, for the quantized-kernel benchmarks (bench_quant, quant_ratios).
#pragma once

#include <vector>

#include "kernels/cpu/quant/quant_kernels.hpp"
#include "kiln/kiln.hpp"

namespace bench {

struct QuantizedMatrix {
  std::int64_t n, k;
  kiln::quant::QuantizedWeight w8, w4;
  std::vector<std::int8_t> packed8;
  std::vector<std::int32_t> row_sum;
  std::vector<std::uint8_t> packed4;
  std::vector<float> scale4;
  kiln::cpu::quant::Int8Weights i8;
  kiln::cpu::quant::Q4Weights q4;

  // w: float32 (n, k), k a multiple of 32.
  explicit QuantizedMatrix(const kiln::Tensor& w) : n(w.size(0)), k(w.size(1)) {
    namespace qk = kiln::cpu::quant;
    w8 = kiln::quant::QuantizedWeight::from_float(w, kiln::quant::Format::int8);
    w4 = kiln::quant::QuantizedWeight::from_float(w, kiln::quant::Format::q4_0);
    packed8.resize(qk::int8_packed_bytes(n, k));
    row_sum.resize(qk::panel_count(n) * qk::kPanelRows);
    qk::pack_int8(n, k, w8.values().data_ptr<std::int8_t>(), packed8.data(), row_sum.data());
    i8 = {n, k, w8.values().data_ptr<std::int8_t>(), w8.scale().data_ptr<float>(), packed8.data(), row_sum.data()};
    packed4.resize(qk::q4_packed_bytes(n, k));
    scale4.resize(qk::q4_packed_scales(n, k));
    const auto* blocks = static_cast<const kiln::quant::BlockQ4_0*>(w4.values().raw_data_ptr());
    qk::pack_q4(n, k, blocks, packed4.data(), scale4.data());
    q4 = {n, k, blocks, packed4.data(), scale4.data()};
  }
  // Bytes the q4_0 kernel reads: packed nibbles and scales.
  double q4_bytes() const { return static_cast<double>(packed4.size() + scale4.size() * sizeof(float)); }
};

}  // namespace bench
