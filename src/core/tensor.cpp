// Tensor: metadata, element access, copies, in-place updates, autograd hooks.
// Views live in src/ops/views.cpp, printing in src/core/print.cpp.
#include "kiln/core/tensor.hpp"

#include <atomic>
#include <cmath>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "kernels/cuda/value_cast.hpp"
#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/cuda.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "src/core/strided_loop.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/cuda/runtime.hpp"

namespace kiln {

void check_dtype_matches(const Tensor& t, DType expected, const char* what) {
  KILN_CHECK(t.dtype() == expected, what, ": the tensor holds ", t.dtype(), " but ", expected,
             " was requested; use the matching C++ type or convert with .to(kiln::k...)");
}

void check_on_cpu(const Tensor& t, const char* what) {
  KILN_CHECK(t.device().is_cpu(), what, ": the tensor of shape ", fmt(t.shape()), " lives on ", t.device(),
             " and has no host address; an op that runs on the CPU only (no CUDA kernel yet) or host code "
             "reading its elements needs a copy made with .to(kiln::Device::cpu())");
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (std::int64_t s : shape)
    KILN_CHECK(s >= 0, "empty: negative size in shape ", fmt(shape));
  constexpr std::int64_t kMaxElements = std::int64_t{1} << 59;  // 2^62 bytes at 8 per element
  const std::int64_t numel = numel_of(shape);
  KILN_CHECK(numel <= kMaxElements, "empty: shape ", fmt(shape), " (", numel,
             " elements) is larger than any memory can hold");
  if (is_block_format(dtype))
    KILN_CHECK(!shape.empty() && shape.back() % block_elems(dtype) == 0, "empty: ", dtype, " packs rows in blocks of ",
               block_elems(dtype), " elements, but the shape ", fmt(shape),
               " has a last dimension that is not a multiple of it; pad the rows to a multiple of ",
               block_elems(dtype));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(storage_bytes(dtype, numel), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

std::int64_t Tensor::size(std::int64_t d) const { return shape()[wrap_existing_dim(d, dim(), "size")]; }
std::int64_t Tensor::stride(std::int64_t d) const { return strides()[wrap_existing_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  std::int64_t expected = 1;
  for (std::int64_t d = dim(); d-- > 0;) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

void* Tensor::raw_data_ptr() const {
  if (!device().is_cpu()) check_on_cpu(*this, "CPU kernel");
  return device_data_ptr();
}

void* Tensor::device_data_ptr() const {
  if (is_block_format(dtype()))
    KILN_CHECK(offset() % block_elems(dtype()) == 0, "a view of a ", dtype(), " tensor starts inside a block of ",
               block_elems(dtype()), " values (offset ", offset(), "); slice whole rows, or dequantize first");
  return static_cast<char*>(storage()->data()) + storage_bytes(dtype(), offset());
}

double Tensor::item() const {
  KILN_CHECK(numel() == 1, "item: the tensor has shape ", fmt(shape()), " (", numel(),
             " elements); item() needs exactly one element");
  if (!device().is_cpu()) return to(Device::cpu()).item();
  return visit_dtype(dtype(), [&]<class T>() { return static_cast<double>(*data_ptr<T>()); });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  if (!device().is_cpu()) return detach().to(Device::cpu()).to_vector<T>();
  std::vector<T> out(static_cast<std::size_t>(numel()));
  visit_dtype(dtype(), [&]<class S>() {
    const S* base = static_cast<const S*>(storage()->data()) + offset();
    if constexpr (std::is_same_v<S, T>)
      if (is_contiguous()) {
        std::copy(base, base + out.size(), out.data());
        return;
      }
    T* at = out.data();
    const auto plan = detail::make_loop_plan<1>(shape(), {&strides()});
    for_each_run(plan, std::int64_t(1) << 62, [&](const auto& off, std::int64_t n, const auto& st) {
      for (std::int64_t i = 0; i < n; ++i) *at++ = static_cast<T>(base[off[0] + i * st[0]]);
    });
  });
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;
template std::vector<std::int32_t> Tensor::to_vector<std::int32_t>() const;
template std::vector<std::uint8_t> Tensor::to_vector<std::uint8_t>() const;
template std::vector<std::int8_t> Tensor::to_vector<std::int8_t>() const;

namespace detail {
namespace {
// A batch of transposes: the plan's last two dimensions are (rows, cols) with dst's
// rows contiguous (stride 1 along cols) and src's columns contiguous (stride 1 along rows),
// as in x.t().contiguous() or an NCHW -> NHWC permute. Copied in 8 x 8 tiles, so that
// each tile's source lines stay in the cache while it is read across them; element by
// element down src's columns, each read would touch a new cache line (and, 1024 floats
// apart, a new page). Eight, not more: source columns a multiple of 4 KiB apart (rows of
// 1024 floats) share one set of the L1 cache, which holds 8 to 12 lines (a 2048 x 1024
// transpose took 0.9 ms with 8, 1.7 with 16 and 3.2 with 64).
template <class D, class S>
void copy_transposed(const LoopPlan<2>& plan, D* d, const S* s) {
  constexpr std::int64_t kTile = 8;
  const std::size_t nd = plan.shape.size();
  const std::int64_t rows = plan.shape[nd - 2], cols = plan.shape[nd - 1];
  const std::int64_t d_row = plan.strides[0][nd - 2], s_col = plan.strides[1][nd - 1];
  std::int64_t batch = 1;
  for (std::size_t k = 0; k + 2 < nd; ++k) batch *= plan.shape[k];
  const std::int64_t row_tiles = (rows + kTile - 1) / kTile;
  const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / (kTile * cols));
  parallel_for(0, batch * row_tiles, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t task = begin; task < end; ++task) {
      std::int64_t b = task / row_tiles, d_at = 0, s_at = 0;
      for (std::size_t k = nd - 2; k-- > 0;) {  // unravel the batch index
        const std::int64_t i = b % plan.shape[k];
        b /= plan.shape[k];
        d_at += i * plan.strides[0][k];
        s_at += i * plan.strides[1][k];
      }
      const std::int64_t r0 = task % row_tiles * kTile, r1 = std::min(rows, r0 + kTile);
      for (std::int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const std::int64_t c1 = std::min(cols, c0 + kTile);
        for (std::int64_t r = r0; r < r1; ++r) {
          D* out = d + d_at + r * d_row;
          const S* in = s + s_at + r;
          for (std::int64_t c = c0; c < c1; ++c) out[c] = cuda_kernels::value_cast<D>(in[c * s_col]);
        }
      }
    }
  });
}
}  // namespace

// dst[i] = static_cast<D>(src[i]) where src has dst's shape (strides may be 0).
void copy_elements(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  KILN_ASSERT(dst.device() == src.device());
  if (dst.device().is_cuda()) {
    const char* op = "copy";
    const auto& k = cuda_for(dst);
    k.copy(cuda_scalar(dst.dtype(), op), cuda_scalar(src.dtype(), op),
           cuda_loop(dst.shape(), {&dst.strides(), &src.strides()}, op), dptr(dst), dptr(src));
    return;
  }
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous() &&
      src.shape() == dst.shape()) {
    // One memcpy, or for a large block pieces of 1 MiB spread over the threads (one core
    // does not saturate the memory bus: cat of two 8 MiB tensors took 1.2 ms on one).
    constexpr std::int64_t kPiece = std::int64_t(1) << 20;
    const auto bytes = static_cast<std::int64_t>(storage_bytes(dst.dtype(), dst.numel()));
    auto* to = static_cast<char*>(dst.raw_data_ptr());
    const auto* from = static_cast<const char*>(src.raw_data_ptr());
    parallel_for(0, (bytes + kPiece - 1) / kPiece, 2, [&](std::int64_t b, std::int64_t e) {
      const std::int64_t lo = b * kPiece, hi = std::min(bytes, e * kPiece);
      std::memcpy(to + lo, from + lo, static_cast<std::size_t>(hi - lo));
    });
    return;
  }
  visit_dtype(dst.dtype(), [&]<class D>() {
    visit_dtype(src.dtype(), [&]<class S>() {
      D* d = static_cast<D*>(dst.raw_data_ptr());
      const S* s = static_cast<const S*>(src.raw_data_ptr());
      const auto plan = make_loop_plan<2>(dst.shape(), {&dst.strides(), &src.strides()});
      const std::size_t nd = plan.shape.size();
      if (nd >= 2 && plan.strides[0][nd - 1] == 1 && plan.strides[1][nd - 2] == 1 &&
          plan.strides[1][nd - 1] != 0)
        return copy_transposed(plan, d, s);
      for_each_run(plan, kElementwiseGrain, [&](const auto& off, std::int64_t n, const auto& st) {
        D* dp = d + off[0];
        const S* sp = s + off[1];
        if (st[0] == 1 && st[1] == 1) {
          for (std::int64_t i = 0; i < n; ++i) dp[i] = cuda_kernels::value_cast<D>(sp[i]);
        } else {
          for (std::int64_t i = 0; i < n; ++i) dp[i * st[0]] = cuda_kernels::value_cast<D>(sp[i * st[1]]);
        }
      });
    });
  });
}

void check_value_fits(const char* op, double value, DType dtype) {
  visit_dtype(dtype, [&]<class T>() {
    if constexpr (std::is_integral_v<T>) {
      using Range = cuda_kernels::IntRange<T>;
      // Both ends exact in double: lowest is 0 or -2^k, and highest + 1 rounds to 2^k.
      const double lo = static_cast<double>(Range::lowest), above = static_cast<double>(Range::highest) + 1.0;
      const double t = std::trunc(value);
      KILN_CHECK(t >= lo && t < above, op, ": value ", value, " cannot be converted to ", dtype,
                 " without overflow (its range is ", +Range::lowest, " to ", +Range::highest,
                 "); use a value in that range or a floating dtype");
    }
  });
}
}  // namespace detail

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), dtype(), device());
  detail::copy_elements(out, *this);
  if (should_record({*this})) {
    attach_grad_fn(out, "clone", {*this}, [](const Tensor& g) { return Grads{g}; });  // d/dx x = 1
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = Tensor::empty(shape(), target, device());
  detail::copy_elements(out, *this);
  if (is_floating(target) && should_record({*this})) {
    const DType source = dtype();
    attach_grad_fn(out, "to", {*this}, [source](const Tensor& g) { return Grads{g.to(source)}; });
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  KILN_CHECK(target.is_cpu() || cuda::is_built(), "to: cannot move a tensor to ", target,
             ": this build of kiln has no CUDA backend; rebuild with -DKILN_CUDA=ON on a machine with "
             "the CUDA toolkit");
  // Bytes move as one block: a view is made contiguous on its own device first.
  const Tensor src = detach().contiguous();
  Tensor out = Tensor::empty(shape(), dtype(), target);
  detail::cuda_copy(out.device_data_ptr(), target, src.device_data_ptr(), device(),
                    storage_bytes(dtype(), numel()));
  if (should_record({*this})) {
    const Device source = device();  // d/dx to(x) = 1, on the way back to where x lives
    attach_grad_fn(out, "to", {*this}, [source](const Tensor& g) { return Grads{g.to(source)}; });
    mark_differentiable_backward(out);
  }
  return out;
}

namespace {
// In-place ops are not recorded, so while autograd records they may touch only tensors
// outside the graph: a gradient through one would silently be wrong or lost.
void check_inplace(const Tensor& self, const char* op, const Tensor* update = nullptr) {
  if (!is_grad_enabled()) return;
  KILN_CHECK(!(self.requires_grad() && self.is_leaf()), op,
             ": in-place update of a leaf tensor that requires grad while autograd is recording; "
             "wrap the update in kiln::NoGradGuard (as optimizers do)");
  KILN_CHECK(!self.requires_grad(), op, ": in-place update of a tensor of shape ", fmt(self.shape()),
             " that autograd computed (or a view of one) while it is recording; in-place ops are not "
             "recorded, so its gradient would be wrong: write the out-of-place form (h = h + y), or "
             "wrap the update in kiln::NoGradGuard");
  KILN_CHECK(update == nullptr || !update->requires_grad(), op, ": the update (shape ", fmt(update->shape()),
             ") requires grad, but in-place ops are not recorded, so its gradient would be lost: "
             "write the out-of-place form (acc = acc + y), or pass y.detach()");
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  detail::check_value_fits("fill_", value, dtype());
  if (device().is_cuda()) {
    const auto& k = detail::cuda_for(*this);
    k.fill(detail::cuda_scalar(dtype(), "fill_"), detail::cuda_loop(shape(), {&strides()}, "fill_"),
           device_data_ptr(), value);
    storage()->bump_version();  // backward rules that saved these bytes will refuse to run
    return *this;
  }
  visit_dtype(dtype(), [&]<class T>() {
    T* base = data_ptr<T>();
    const T v = static_cast<T>(value);
    const auto plan = detail::make_loop_plan<1>(shape(), {&strides()});
    for_each_run(plan, kElementwiseGrain, [&](const auto& off, std::int64_t n, const auto& st) {
      for (std::int64_t i = 0; i < n; ++i) base[off[0] + i * st[0]] = v;
    });
  });
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_", &src);
  // Across devices the source comes over first (copy_ is the one op that moves data).
  const Tensor from = src.device() == device() ? src : src.detach().to(device());
  detail::copy_elements(*this, from.expand(shape()));
  storage()->bump_version();
  return *this;
}

namespace {
using BinaryOp = Tensor (*)(const Tensor&, const Tensor&);

// An in-place op whose result PyTorch would promote to float32 (true division, or a number
// that is not a whole one) cannot be written into an integer self: an Error, not a
// silent truncation.
void check_result_fits(const Tensor& self, const char* name, bool promotes) {
  KILN_CHECK(is_floating(self.dtype()) || !promotes, name, ": self is ", self.dtype(), " of shape ",
             fmt(self.shape()), ", and this ",
             std::string_view(name) == "div_" ? "true division" : "fractional number",
             " gives float32 values that it cannot hold; use the out-of-place form (a float32 "
             "result), or div(a, b, Rounding::floor / trunc) for an integer quotient");
}
using InPlaceOp = bool (*)(const Tensor&, const Tensor&);

// self = op(self, scale * other), other broadcasting to self's shape (which the result
// keeps): written straight into self where that is safe, else computed and copied in.
Tensor& update_in_place(Tensor& self, const char* name, const Tensor& other, double scale, InPlaceOp in_place,
                        BinaryOp op) {
  check_inplace(self, name, &other);
  check_result_fits(self, name, std::string_view(name) == "div_" || !detail::is_whole_number(scale));
  KILN_CHECK(broadcast_shapes(self.shape(), other.shape(), name) == self.shape(), name,
             ": an operand of shape ", fmt(other.shape()), " does not broadcast to self's shape ",
             fmt(self.shape()),
             "; an in-place op keeps self's shape (write the out-of-place form to get the larger one)");
  NoGradGuard no_grad;
  const Tensor update = scale == 1.0 ? other : mul(other, detail::constant_like(other, scale));
  if (!in_place(self, update)) return self.copy_(op(self, update));
  self.storage()->bump_version();
  return self;
}
}  // namespace

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  return update_in_place(*this, "add_", other, alpha, detail::add_in_place, add);
}
Tensor& Tensor::sub_(const Tensor& other, double alpha) {
  return update_in_place(*this, "sub_", other, alpha, detail::sub_in_place, sub);
}
Tensor& Tensor::mul_(const Tensor& other) {
  return update_in_place(*this, "mul_", other, 1.0, detail::mul_in_place, mul);
}
Tensor& Tensor::div_(const Tensor& other) {
  return update_in_place(*this, "div_", other, 1.0, detail::div_in_place, div);
}
Tensor& Tensor::mul_(double factor) {
  check_result_fits(*this, "mul_", !detail::is_whole_number(factor));
  return mul_(detail::constant_like(*this, factor));
}
Tensor& Tensor::div_(double divisor) {
  check_result_fits(*this, "div_", true);
  return div_(detail::constant_like(*this, divisor));
}
Tensor& Tensor::operator+=(double s) {
  check_result_fits(*this, "add_", !detail::is_whole_number(s));
  return add_(detail::constant_like(*this, s));
}

Tensor& Tensor::requires_grad_(bool on) {
  KILN_CHECK(!on || is_floating(dtype()), "requires_grad_: only floating tensors can require "
             "gradients, but this one is ", dtype());
  KILN_CHECK(on || is_leaf(), "requires_grad_(false): this tensor is the result of an op; "
             "use .detach() to get a copy without history");
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined())
    KILN_CHECK(g.shape() == shape(), "set_grad: gradient of shape ", fmt(g.shape()),
               " for a tensor of shape ", fmt(shape()));
  impl().grad = g.defined() ? g.impl_ptr() : nullptr;
}

std::uint64_t Tensor::register_hook(GradHook hook) {
  KILN_CHECK(requires_grad(),
             "register_hook: this tensor does not require grad, so no gradient will reach it; "
             "call requires_grad_() on it (a leaf) or on the inputs it is computed from, first");
  KILN_CHECK(hook != nullptr, "register_hook: the hook is empty; pass a callable");
  static std::atomic<std::uint64_t> next_id{1};
  const std::uint64_t id = next_id++;
  if (is_leaf()) {
    if (!impl().grad_hooks) impl().grad_hooks = std::make_shared<GradHookList>();
    impl().grad_hooks->hooks.emplace_back(id, std::move(hook));
  } else {
    grad_fn()->hooks().hooks.emplace_back(id, std::move(hook));
  }
  return id;
}

void Tensor::remove_hook(std::uint64_t id) {
  if (impl().grad_hooks) impl().grad_hooks->remove(id);
  if (grad_fn()) grad_fn()->hooks().remove(id);
}

void Tensor::retain_grad() {
  KILN_CHECK(requires_grad(),
             "retain_grad: this tensor does not require grad, so it will get no gradient; "
             "call requires_grad_() on the inputs it is computed from, first");
  if (is_leaf() || impl().retains_grad) return;  // a leaf keeps its gradient anyway
  impl().retains_grad = true;
  register_hook([self = std::weak_ptr<TensorImpl>(impl_)](const Tensor& g) {
    if (const std::shared_ptr<TensorImpl> t = self.lock()) {
      if (!t->grad && !is_grad_enabled())
        t->grad = g.clone().impl_ptr();  // a copy: the engine may hand g on as another tensor's gradient
      else
        detail::accumulate_gradient(t->grad, g, t->dtype);
    }
    return Tensor();
  });
}

Tensor Tensor::detach() const {
  auto impl2 = std::make_shared<TensorImpl>();
  impl2->storage = storage();
  impl2->shape = shape();
  impl2->strides = strides();
  impl2->offset = offset();
  impl2->dtype = dtype();
  return Tensor(std::move(impl2));
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  kiln::backward(*this, gradient, retain_graph, create_graph);
}

}  // namespace kiln
