#include "kiln/core/factories.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kiln/core/rng.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"

namespace kiln {

Tensor empty(const Shape& shape, DType dtype, Device device) { return Tensor::empty(shape, dtype, device); }
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  detail::check_value_fits("full", value, dtype);
  Tensor t = Tensor::empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, t.dtype(), t.device()); }
Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }
Tensor scalar_tensor(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor detail::constant_like(const Tensor& t, double value) {
  if (t.device().is_cuda()) return cuda_constant(value, t.dtype(), t.device().index);
  return scalar_tensor(value, t.dtype(), t.device());
}

Tensor arange(double start, double end, double step, DType dtype) {
  KILN_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
             "arange: start ", start, ", end ", end, ", step ", step, " must be finite with step != 0");
  const double count = std::ceil((end - start) / step);
  const std::int64_t n = count > 0 ? static_cast<std::int64_t>(count) : 0;
  if (n > 0) {  // the values run from start to the last one, each inside the dtype's range
    detail::check_value_fits("arange", start, dtype);
    detail::check_value_fits("arange", start + static_cast<double>(n - 1) * step, dtype);
  }
  Tensor t = Tensor::empty({n}, dtype);
  visit_dtype(dtype, [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}
Tensor arange(std::int64_t end, DType dtype) { return arange(0.0, static_cast<double>(end), 1.0, dtype); }

Tensor linspace(double start, double end, std::int64_t steps, DType dtype, Device device) {
  KILN_CHECK(steps >= 0 && std::isfinite(start) && std::isfinite(end), "linspace: start ", start, ", end ",
             end, ", steps ", steps, " must be finite with steps >= 0");
  if (steps > 0) detail::check_value_fits("linspace", start, dtype);
  if (steps > 1) detail::check_value_fits("linspace", end, dtype);
  Tensor t = Tensor::empty({steps}, dtype);
  // Each half counted from its own end, so both ends are exact and the spacing symmetric.
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  visit_dtype(dtype, [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (std::int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(i < (steps + 1) / 2 ? start + static_cast<double>(i) * step
                                                : end - static_cast<double>(steps - 1 - i) * step);
  });
  return t.to(device);
}

Tensor eye(std::int64_t rows, std::int64_t cols, DType dtype, Device device) {
  if (cols == -1) cols = rows;
  KILN_CHECK(rows >= 0 && cols >= 0, "eye: sizes ", rows, " x ", cols, " must be >= 0 (cols -1: square)");
  Tensor t = zeros({rows, cols}, dtype, device);
  // The diagonal is every (cols + 1)-th element of the flat matrix: fill that view.
  const std::int64_t diagonal = std::min(rows, cols);
  if (diagonal > 0) t.view({rows * cols}).slice(0, 0, (diagonal - 1) * (cols + 1) + 1, cols + 1).fill_(1.0);
  return t;
}

namespace {
template <class Draw>
Tensor random_floating(const Shape& shape, DType dtype, const char* op, Draw draw) {
  Tensor t = Tensor::empty(shape, dtype);
  visit_floating(dtype, op, [&]<class T>() {
    T* p = t.data_ptr<T>();
    Generator& g = default_generator();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(draw(g));
  });
  return t;
}

// Fills a new tensor on a GPU from one seed drawn from the generator.
Tensor random_on_device(const Shape& shape, DType dtype, Device device, const char* op, bool normal) {
  KILN_CHECK(is_floating(dtype), op, ": dtype ", dtype, " is not floating; use randint for integers");
  Tensor t = Tensor::empty(shape, dtype, device);
  const auto& k = detail::cuda_for(t);
  (normal ? k.random_normal : k.random_uniform)(detail::cuda_scalar(dtype, op), t.numel(),
                                                default_generator().next_u64(), t.device_data_ptr());
  return t;
}
}  // namespace

Tensor rand(const Shape& shape, DType dtype, Device device) {
  if (device.is_cuda()) return random_on_device(shape, dtype, device, "rand", false);
  return random_floating(shape, dtype, "rand", [](Generator& g) { return g.uniform(); });
}
Tensor randn(const Shape& shape, DType dtype, Device device) {
  if (device.is_cuda()) return random_on_device(shape, dtype, device, "randn", true);
  Tensor t = Tensor::empty(shape, dtype);
  visit_floating(dtype, "randn",
                 [&]<class T>() { default_generator().fill_normal(t.data_ptr<T>(), t.numel()); });
  return t;
}

Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, DType dtype) {
  KILN_CHECK(high > low, "randint: empty range [", low, ", ", high, "); high must exceed low");
  Tensor t = Tensor::empty(shape, dtype);
  visit_dtype(dtype, [&]<class T>() {
    T* p = t.data_ptr<T>();
    Generator& g = default_generator();
    const auto span = static_cast<std::uint64_t>(high - low);
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i)
      p[i] = static_cast<T>(low + static_cast<std::int64_t>(g.below(span)));
  });
  return t;
}

Tensor rand_like(const Tensor& t) { return rand(t.shape(), t.dtype(), t.device()); }
Tensor randn_like(const Tensor& t) { return randn(t.shape(), t.dtype(), t.device()); }
Tensor randint_like(const Tensor& t, std::int64_t low, std::int64_t high) {
  return randint(low, high, t.shape(), t.dtype()).to(t.device());
}

Tensor randperm(std::int64_t n, DType dtype) {
  KILN_CHECK(n >= 0, "randperm: n = ", n, " must be >= 0");
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  Generator& g = default_generator();
  for (std::int64_t i = n - 1; i > 0; --i)  // Fisher-Yates
    std::swap(perm[i], perm[g.below(static_cast<std::uint64_t>(i) + 1)]);
  return from_vector(perm).to(dtype);
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  const Shape s = shape.empty() ? Shape{static_cast<std::int64_t>(values.size())} : shape;
  KILN_CHECK(numel_of(s) == static_cast<std::int64_t>(values.size()), "from_vector: ", values.size(),
             " values do not fill shape ", fmt(s), " (", numel_of(s), " elements)");
  Tensor t = Tensor::empty(s, dtype_of_v<T>);
  std::copy(values.begin(), values.end(), t.data_ptr<T>());
  return t;
}
template Tensor from_vector(const std::vector<float>&, const Shape&);
template Tensor from_vector(const std::vector<double>&, const Shape&);
template Tensor from_vector(const std::vector<std::int64_t>&, const Shape&);
template Tensor from_vector(const std::vector<std::int32_t>&, const Shape&);
template Tensor from_vector(const std::vector<std::uint8_t>&, const Shape&);
template Tensor from_vector(const std::vector<std::int8_t>&, const Shape&);

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void(void*)> release) {
  return from_blob(data, shape, contiguous_strides(shape), dtype, std::move(release));
}

Tensor from_blob(void* data, const Shape& shape, const Strides& strides, DType dtype,
                 std::function<void(void*)> release) {
  KILN_CHECK(shape.size() == strides.size(), "from_blob: shape ", fmt(shape), " and strides ",
             fmt(strides), " have different lengths");
  KILN_CHECK(data != nullptr || numel_of(shape) == 0, "from_blob: null data pointer for shape ", fmt(shape));
  std::int64_t extent = numel_of(shape) ? 1 : 0;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    KILN_CHECK(shape[d] >= 0 && strides[d] >= 0, "from_blob: negative size or stride in shape ",
               fmt(shape), " / strides ", fmt(strides));
    if (shape[d] > 0) extent += (shape[d] - 1) * strides[d];
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::borrow(data, static_cast<std::size_t>(extent) * itemsize(dtype), std::move(release));
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

}  // namespace kiln
