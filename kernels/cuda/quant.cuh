// Quantized inference on the GPU: activation quantization, int8 x int8 -> int32
// GEMM (cuBLASLt tensor cores or dp4a), the fused int8 output stage, and the
// q4_0-weight x int8 GEMV/GEMM that unpacks nibbles in registers.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void quantize_rows(std::int64_t rows, std::int64_t k, const float* x, std::int64_t ldx, float inv_scale,
                   std::int8_t* q, std::int64_t ldq, float* scale);
void pad_rows_s8(std::int64_t rows, std::int64_t k, const std::int8_t* a, std::int64_t lda, std::int8_t* q,
                 std::int64_t ldq, ReportSlot bad_value);
void gemm_s8_s32(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, std::int64_t lda,
                 const std::int8_t* w, std::int64_t ldw, std::int32_t* c, bool force_dp4a);
void finish_int8(std::int64_t m, std::int64_t n, const std::int32_t* c, const float* a_scale, const float* w_scale,
                 const float* bias, bool relu, float* y);
void gemm_q4(std::int64_t m, std::int64_t n, std::int64_t k, const std::int8_t* a, std::int64_t lda,
             const void* blocks, const float* a_scale, const float* bias, bool relu, float* y);

}  // namespace kiln::cuda_kernels
