// Elementwise kernels: fill, copy/convert, binary arithmetic with broadcasting,
// comparisons, where, random numbers and dropout (unary math and activations:
// unary.cuh). See cuda_kernels.hpp for contracts.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void fill(Scalar t, const Loop& loop, void* dst, double value);
void copy(Scalar dst_t, Scalar src_t, const Loop& loop, void* dst, const void* src);
void binary(cpu::Binary op, Scalar t, const Loop& loop, void* out, const void* a, const void* b);
void compare(Compare op, Scalar t, const Loop& loop, std::uint8_t* out, const void* a, const void* b);
void where(Scalar t, const Loop& loop, void* out, const std::uint8_t* mask, const void* a, const void* b);
void random_uniform(Scalar t, std::int64_t n, std::uint64_t seed, void* out);
void random_normal(Scalar t, std::int64_t n, std::uint64_t seed, void* out);
void dropout(Scalar t, std::int64_t n, const void* x, std::uint64_t seed, std::uint64_t threshold, double scale,
             void* y);

}  // namespace kiln::cuda_kernels
