// Internal helpers shared by the op implementations.
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln::detail {

// dst[i] = src[i] converted to dst's dtype by cuda_kernels::value_cast (float to integer
// truncates, NaN gives 0, beyond the range saturates); src already has dst's shape
// (strides may be 0).
void copy_elements(const Tensor& dst, const Tensor& src);

// An Error naming `op` unless `value` converts to `dtype` without overflow: finite and,
// for an integer dtype, inside its range once truncated (a fraction is dropped, as in
// PyTorch). Any finite or infinite value fits a floating dtype, as does NaN.
void check_value_fits(const char* op, double value, DType dtype);
// True for a finite number with no fractional part (what an integer tensor can meet
// without being promoted to float32; elementwise.cpp).
bool is_whole_number(double s);
// The tensor that meets the number s in arithmetic: t itself, or, for an integer t and a
// number that is not a whole one (0.5, inf, NaN), t in float32, as PyTorch promotes.
Tensor operand_for(const Tensor& t, double s);

// Strides that read `t` as if expanded to `shape` (0 along broadcast dimensions).
Strides broadcast_strides(const Tensor& t, const Shape& shape);

// self += other, -=, *=, /= (other broadcast to self) written straight into self,
// no autograd; false, with nothing done, where that is not safe (self not dense, or
// other overlapping self elsewhere than element for element): compute, then copy_.
bool add_in_place(const Tensor& self, const Tensor& other);
bool sub_in_place(const Tensor& self, const Tensor& other);
bool mul_in_place(const Tensor& self, const Tensor& other);
bool div_in_place(const Tensor& self, const Tensor& other);  // floating only (else false)

// A 0-d tensor of `value` in t's dtype on t's device, for an op to read as a broadcast
// operand: never write it, never hand it to the caller (use scalar_like there). On a
// GPU the same constant is shared from a cache (src/cuda/glue.hpp): no fill kernel.
Tensor constant_like(const Tensor& t, double value);

// A gradient the caller may keep and add into, in `dtype`: `g` itself when it is dense,
// of that dtype, and nothing else holds it or its memory; otherwise a copy (node.cpp).
Tensor owned_gradient(const Tensor& g, DType dtype);
// Adds g into a .grad() slot (a leaf's, or a retain_grad() tensor's): the first gradient
// as memory of its own, later ones added in place; while the backward pass records
// (create_graph), out of place, so the slot holds a recorded tensor.
void accumulate_gradient(std::shared_ptr<TensorImpl>& slot, const Tensor& g, DType dtype);

// The upstream gradient of an op computed element by element, for its kernel: a sum
// or mean hands down one value expanded to every element, read once (stride 0); any
// other gradient is made contiguous (stride 1). In `dtype` (loss.cpp).
struct Upstream {
  Tensor values;
  std::int64_t stride;
};
Upstream upstream_values(const Tensor& g_in, DType dtype);

// Pointer to t's first element, typed.
template <class T> T* ptr(const Tensor& t) { return static_cast<T*>(t.raw_data_ptr()); }

// Checks that every operand of `op` shares the first one's dtype and device.
void check_same_dtype_device(const char* op, std::initializer_list<Tensor> tensors);
void check_floating(const char* op, const Tensor& t);

}  // namespace kiln::detail
