#include "src/cuda/glue.hpp"

#include <array>
#include <bit>
#include <deque>
#include <map>
#include <mutex>
#include <tuple>

#include "kernels/cuda/index_math.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/graph/csr.hpp"
#include "src/core/strided_loop.hpp"
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
  const std::size_t operands = strides.size();
  KILN_ASSERT(operands >= 1 && operands <= 4);
  // The CPU loops' plan: size-1 dimensions dropped, and dimensions that every
  // operand steps through as one merged, so a kernel unravels fewer dimensions
  // per element. Missing operands repeat the first, which changes no merge.
  std::array<const Strides*, 4> all{};
  for (std::size_t k = 0; k < 4; ++k) all[k] = strides.begin()[k < operands ? k : 0];
  const LoopPlan<4> plan = make_loop_plan<4>(shape, all);
  KILN_CHECK(plan.shape.size() <= static_cast<std::size_t>(cuda_kernels::kMaxDims), op, ": shape ", fmt(shape),
             " has ", plan.shape.size(), " dimensions that its operands' strides keep apart; CUDA kernels take at most ",
             cuda_kernels::kMaxDims, " (make the operands contiguous, or reshape to fewer dimensions)");
  cuda_kernels::Loop loop;
  loop.ndim = static_cast<int>(plan.shape.size());
  loop.numel = numel_of(shape);
  const Strides dense = contiguous_strides(plan.shape);
  loop.dense = true;
  for (std::size_t k = 0; k < operands; ++k)
    for (std::size_t d = 0; d < plan.shape.size(); ++d) {
      loop.stride[k][d] = plan.strides[k][d];
      if (plan.shape[d] != 1 && plan.strides[k][d] != dense[d]) loop.dense = false;
    }
  for (std::size_t d = 0; d < plan.shape.size(); ++d) loop.shape[d] = plan.shape[d];
  loop.narrow = cuda_kernels::fits_int32(loop.numel);  // kernels may unravel element numbers in 32 bits
  if (loop.narrow)
    for (std::size_t d = 0; d < plan.shape.size(); ++d) loop.shape_div[d] = cuda_kernels::Divider32(plan.shape[d]);
  return loop;
}

namespace {

// The constants ops asked for, oldest first out once kMaxConstants are held. Values
// repeat from one training step to the next (1/batch, 0 for a mask, eps), so a
// handful of entries serve a whole run; a value that keeps changing (a schedule)
// costs one fill per use, as without the cache.
class ConstantCache {
 public:
  Tensor get(double value, DType dtype, int device) {
    const Key key{std::bit_cast<std::uint64_t>(value), static_cast<int>(dtype), device};
    std::lock_guard<std::mutex> lock(mutex_);
    if (const auto it = held_.find(key); it != held_.end()) return it->second;
    if (order_.size() == kMaxConstants) {
      held_.erase(order_.front());
      order_.pop_front();
    }
    Tensor t = full({}, value, dtype, Device::cuda(device));
    held_.emplace(key, t);
    order_.push_back(key);
    return t;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    held_.clear();
    order_.clear();
  }

 private:
  static constexpr std::size_t kMaxConstants = 64;
  using Key = std::tuple<std::uint64_t, int, int>;  // value's bits, dtype, device
  std::mutex mutex_;
  std::map<Key, Tensor> held_;
  std::deque<Key> order_;
};

ConstantCache& constants() {
  static ConstantCache* cache = new ConstantCache;  // never destroyed: device memory outlives static destructors
  return *cache;
}

}  // namespace

Tensor cuda_constant(double value, DType dtype, int device) { return constants().get(value, dtype, device); }
void cuda_drop_constants() { constants().clear(); }

cuda_kernels::CsrRows cuda_csr_rows(const graph::DeviceCsr& a) {
  return {a.rows(), a.nnz(), a.longest_row(), dptr<std::int64_t>(a.row_ptr())};
}

Tensor cuda_csr_scratch(const graph::DeviceCsr& a, std::int64_t columns, std::int64_t values, DType dtype) {
  if (a.longest_row() <= cuda_kernels::kCsrChunk) return Tensor();
  return Tensor::empty({cuda_kernels::csr_chunk_scratch_slots(a.nnz(), columns, values)}, dtype, a.device());
}

}  // namespace kiln::detail
