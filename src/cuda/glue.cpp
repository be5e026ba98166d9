#include "src/cuda/glue.hpp"

#include "src/cuda/runtime.hpp"

namespace kiln::detail {

cuda_kernels::Scalar cuda_scalar(DType dtype, const char* op) {
  using cuda_kernels::Scalar;
  switch (dtype) {
    case DType::float32: return Scalar::f32;
    case DType::float64: return Scalar::f64;
    case DType::int64: return Scalar::i64;
    case DType::int32: return Scalar::i32;
    case DType::uint8: return Scalar::u8;
    case DType::int8: return Scalar::i8;
    default: break;
  }
  throw Error(concat(op, ": ", dtype, " tensors have no CUDA kernels; dequantize or convert first"));
}

const cuda_kernels::Table& cuda_for(const Tensor& t) {
  const cuda_kernels::Table& table = cuda_kernels::table();
  cuda_set_device(t.device().index);
  return table;
}

cuda_kernels::Loop cuda_loop(const Shape& shape, std::initializer_list<const Strides*> strides, const char* op) {
  cuda_kernels::Loop loop;
  KILN_CHECK(shape.size() <= static_cast<std::size_t>(cuda_kernels::kMaxDims), op, ": shape ", fmt(shape), " has ",
             shape.size(), " dimensions; CUDA kernels take at most ", cuda_kernels::kMaxDims,
             " (reshape to fewer dimensions)");
  KILN_ASSERT(strides.size() <= 4);
  loop.ndim = static_cast<int>(shape.size());
  loop.numel = numel_of(shape);
  const Strides dense = contiguous_strides(shape);
  loop.dense = true;
  int o = 0;
  for (const Strides* s : strides) {
    for (std::size_t d = 0; d < shape.size(); ++d) {
      loop.stride[o][d] = (*s)[d];
      if (shape[d] != 1 && (*s)[d] != dense[d]) loop.dense = false;
    }
    ++o;
  }
  for (std::size_t d = 0; d < shape.size(); ++d) loop.shape[d] = shape[d];
  return loop;
}

}  // namespace kiln::detail
