// Functions that make new tensors.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

// Each makes its tensor on `device` (the CPU unless asked); the *_like forms
// take shape, dtype and device from `t`.
Tensor empty(const Shape& shape, DType dtype = kFloat32, Device device = Device::cpu());
Tensor zeros(const Shape& shape, DType dtype = kFloat32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = kFloat32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = kFloat32, Device device = Device::cpu());
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor empty_like(const Tensor& t);
// A 0-d tensor holding one value.
Tensor scalar_tensor(double value, DType dtype = kFloat32, Device device = Device::cpu());

// [start, end) in steps of `step`, like numpy.arange.
Tensor arange(double start, double end, double step = 1.0, DType dtype = kFloat32);
Tensor arange(std::int64_t end, DType dtype = kInt64);
// `steps` evenly spaced values from start to end, both included (numpy.linspace).
Tensor linspace(double start, double end, std::int64_t steps, DType dtype = kFloat32,
                Device device = Device::cpu());
// The rows x cols identity matrix (cols = rows when -1): 1 on the main diagonal, 0 elsewhere.
Tensor eye(std::int64_t rows, std::int64_t cols = -1, DType dtype = kFloat32, Device device = Device::cpu());

// Random tensors from the global generator (see kiln/core/rng.hpp).
// rand / randn on a GPU draw one seed from the generator and fills the tensor on the
// device (its values differ from the CPU's for the same seed, but repeat for it).
Tensor rand(const Shape& shape, DType dtype = kFloat32, Device device = Device::cpu());  // uniform on [0, 1)
Tensor randn(const Shape& shape, DType dtype = kFloat32, Device device = Device::cpu());  // standard normal
Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, DType dtype = kInt64);
Tensor randperm(std::int64_t n, DType dtype = kInt64);
// The same with t's shape, dtype and device (randint_like's dtype may be an integer one).
// Draws shaped by tensors (bernoulli, multinomial, poisson, normal): kiln/ops/sampling.hpp.
Tensor rand_like(const Tensor& t);
Tensor randn_like(const Tensor& t);
Tensor randint_like(const Tensor& t, std::int64_t low, std::int64_t high);

// Copies values into a new tensor; the shape defaults to 1-D.
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape = {});
template <class T>
Tensor tensor(std::initializer_list<T> values, const Shape& shape = {}) {
  return from_vector(std::vector<T>(values), shape);
}
// A 2-D tensor from nested lists: tensor({{1, 2}, {3, 4}}).
template <class T>
Tensor tensor(std::initializer_list<std::initializer_list<T>> rows) {
  std::vector<T> flat;
  std::int64_t cols = rows.size() ? static_cast<std::int64_t>(rows.begin()->size()) : 0;
  for (const auto& r : rows) {
    KILN_CHECK(static_cast<std::int64_t>(r.size()) == cols,
               "tensor: ragged nested list (rows of ", cols, " and ", r.size(), " values)");
    flat.insert(flat.end(), r.begin(), r.end());
  }
  return from_vector(flat, {static_cast<std::int64_t>(rows.size()), cols});
}

// Wraps memory the caller owns, without copying. `data` must outlive the
// tensor (and its views), or pass `release` to be called when the last one goes.
Tensor from_blob(void* data, const Shape& shape, DType dtype,
                 std::function<void(void*)> release = {});
Tensor from_blob(void* data, const Shape& shape, const Strides& strides, DType dtype,
                 std::function<void(void*)> release = {});

}  // namespace kiln
