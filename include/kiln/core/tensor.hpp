// kiln::Tensor: a cheap, reference-counted handle to an n-dimensional array.
//
// A tensor is a view: Storage (the bytes) + shape + strides (in elements) +
// offset + dtype. Copying a Tensor copies the handle, not the data; views
// (reshape, transpose, slice, expand ...) share storage. `clone()` copies data.
//
// Autograd: a tensor that requires a gradient either is a leaf (made by the
// user, its gradient accumulates in `grad()`) or holds the graph Node that
// produced it (`grad_fn()`). See kiln/autograd/ for the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "kiln/core/device.hpp"
#include "kiln/core/dtype.hpp"
#include "kiln/core/error.hpp"
#include "kiln/core/shape.hpp"
#include "kiln/core/storage.hpp"

namespace kiln {

class Node;
class Tensor;
struct GradHookList;
// A gradient hook: sees a tensor's gradient and returns a replacement, or an undefined
// Tensor to let it pass unchanged (see Tensor::register_hook).
using GradHook = std::function<Tensor(const Tensor&)>;

// The shared state behind a Tensor handle. Users never touch it directly.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;
  std::int64_t offset = 0;  // in elements
  DType dtype = DType::float32;

  // Autograd metadata.
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;           // non-leaf: the node that made this tensor
  std::shared_ptr<TensorImpl> grad;        // leaf: accumulated gradient
  std::weak_ptr<Node> grad_accumulator;    // leaf: node that adds into `grad`
  std::shared_ptr<GradHookList> grad_hooks;  // leaf: run before its gradient is added in
  bool retains_grad = false;                 // non-leaf: retain_grad() was called
};

class Tensor {
public:
  Tensor() = default;  // an undefined tensor (defined() == false)
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Allocates an uninitialised contiguous tensor on `device`.
  static Tensor empty(const Shape& shape, DType dtype = kFloat32, Device device = Device::cpu());

  // --- Metadata -----------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& sizes() const { return impl().shape; }
  std::int64_t size(std::int64_t dim) const;
  const Strides& strides() const { return impl().strides; }
  std::int64_t stride(std::int64_t dim) const;
  std::int64_t offset() const { return impl().offset; }
  std::int64_t dim() const { return static_cast<std::int64_t>(impl().shape.size()); }
  std::int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl* unsafe_impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  // True when both handles view the same storage.
  bool shares_storage(const Tensor& other) const { return storage() == other.storage(); }

  // --- Element access -----------------------------------------------------
  // Host pointer to the first element (offset applied); T must match dtype().
  // A tensor on a GPU has no host pointer: these throw; copy it with .to(Device::cpu()).
  template <class T> T* data_ptr() const;
  void* raw_data_ptr() const;
  // The first element's address wherever it lives (a device pointer for a CUDA
  // tensor), for handing a tensor to your own kernels or libraries.
  void* device_data_ptr() const;
  // The single value of a one-element tensor, converted to double / T.
  double item() const;
  // Converted straight from the stored type (exact for large int64 values).
  template <class T> T item() const {
    KILN_CHECK(numel() == 1, "item: the tensor has shape ", fmt(shape()), " (", numel(),
               " elements); item() needs exactly one element");
    if (!device().is_cpu()) return to(Device::cpu()).item<T>();
    return visit_dtype(dtype(), [&]<class S>() { return static_cast<T>(*data_ptr<S>()); });
  }
  // Element at a full index, e.g. t.at<float>({1, 2}). Checked.
  template <class T> T& at(std::initializer_list<std::int64_t> index) const;
  // All elements in row-major order, converted to T (for tests and printing).
  template <class T> std::vector<T> to_vector() const;

  // --- Copies and conversions --------------------------------------------
  Tensor contiguous() const;  // self if already contiguous, else a copy
  Tensor clone() const;       // always a contiguous copy (differentiable)
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;  // a copy on `device` (differentiable); self if already there

  // --- Views (share storage; differentiable) ------------------------------
  Tensor view(const Shape& shape) const;     // requires compatible strides
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  Tensor t() const;  // 2-D transpose
  Tensor permute(const std::vector<std::int64_t>& dims) const;
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;
  Tensor operator[](std::int64_t index) const { return select(0, index); }  // x[i], x[-1]: a view
  // Indexing by a tensor, as PyTorch's x[t] (copies; differentiable in x):
  // - a uint8 mask whose shape is x's leading dimensions (x[x > 0], logits[train_mask]):
  //   the set positions in row-major order, each with the dimensions after the mask's,
  //   (count, rest...);
  // - int64 or int32 indices into dimension 0 (negative ones count from the end), of
  //   any shape: (index shape..., x's other dimensions...).
  Tensor operator[](const Tensor& index) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze() const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;

  // --- In-place (not recorded by autograd; use under NoGradGuard) ---------
  // While autograd records, they refuse a tensor that requires grad (a leaf or one an op
  // computed) and an update that requires grad: its gradient would be wrong or lost.
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // src broadcasts to self's shape; it may live on another device
  // self = self op other, other broadcasting to self's shape (same dtype and device).
  Tensor& add_(const Tensor& other, double alpha = 1.0);  // self += alpha * other
  Tensor& sub_(const Tensor& other, double alpha = 1.0);  // self -= alpha * other
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double factor);
  // An integer self refuses what would promote it to float32 (div_, a fractional number
  // in mul_ / += / alpha): an Error naming the out-of-place form, not a truncation.
  Tensor& div_(const Tensor& other);
  Tensor& div_(double divisor);
  // The compound operators are these methods (w -= lr * g under NoGradGuard); a number
  // is taken in self's dtype, as in x + 1.
  Tensor& operator+=(const Tensor& other) { return add_(other); }
  Tensor& operator-=(const Tensor& other) { return sub_(other); }
  Tensor& operator*=(const Tensor& other) { return mul_(other); }
  Tensor& operator/=(const Tensor& other) { return div_(other); }
  Tensor& operator+=(double s);
  Tensor& operator-=(double s) { return *this += -s; }
  Tensor& operator*=(double s) { return mul_(s); }
  Tensor& operator/=(double s) { return div_(s); }

  // --- Autograd -----------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  Tensor grad() const;  // a leaf's (or a retain_grad() tensor's); undefined until a backward pass reaches it
  void set_grad(const Tensor& g);
  // torch.Tensor.register_hook: `hook(g)` runs each time a backward pass (or grad()) has
  // summed this tensor's gradient g, before g is added into .grad() (a leaf) or goes on
  // through the op that made the tensor; what the hook returns (same shape) replaces g,
  // an undefined Tensor leaves it. Hooks run in the order registered, without recording.
  //   h.register_hook([](const Tensor& g) { std::cout << norm(g).item() << "\n"; return Tensor(); });
  std::uint64_t register_hook(GradHook hook);
  void remove_hook(std::uint64_t id);
  // Keeps the gradient of a tensor an op computed in its .grad(), as a leaf's (the
  // gradient of a hidden layer, say): accumulated over backward passes, cleared by set_grad.
  void retain_grad();
  bool retains_grad() const { return impl().retains_grad; }
  Tensor detach() const;  // same storage, no autograd history
  // Backpropagates from this tensor. `gradient` defaults to ones for a scalar.
  // create_graph: the backward pass is recorded, so .grad() of the leaves can be
  // differentiated again (see kiln::GradOptions::create_graph); implies retain_graph.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;

  std::string str() const;

private:
  TensorImpl& impl() const {
    KILN_CHECK(impl_, "kiln: operation on an undefined Tensor (default-constructed, never assigned)");
    return *impl_;
  }
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Checks that tensor `t` has dtype T (used by data_ptr and at).
void check_dtype_matches(const Tensor& t, DType expected, const char* what);
// Checks that `t` lives in host memory (what CPU code and data_ptr need).
void check_on_cpu(const Tensor& t, const char* what);

template <class T>
T* Tensor::data_ptr() const {
  check_dtype_matches(*this, dtype_of_v<T>, "data_ptr");
  if (!device().is_cpu()) check_on_cpu(*this, "data_ptr");
  return static_cast<T*>(impl().storage->data()) + impl().offset;
}

template <class T>
T& Tensor::at(std::initializer_list<std::int64_t> index) const {
  check_dtype_matches(*this, dtype_of_v<T>, "at");
  if (!device().is_cpu()) check_on_cpu(*this, "at");
  KILN_CHECK(static_cast<std::int64_t>(index.size()) == dim(), "at: got ", index.size(),
             " indices for a tensor of shape ", fmt(shape()), "; give one index per dimension");
  std::int64_t off = impl().offset, d = 0;
  for (std::int64_t i : index) {
    const std::int64_t n = impl().shape[d];
    KILN_CHECK(i >= -n && i < n, "at: index ", i, " is out of range for dimension ", d,
               " of size ", n, " in a tensor of shape ", fmt(shape()));
    off += (i < 0 ? i + n : i) * impl().strides[d];
    ++d;
  }
  return static_cast<T*>(impl().storage->data())[off];
}

}  // namespace kiln
