// Printing in PyTorch's style:
//   tensor([[ 0.1000, -2.0000],
//           [ 3.5000,  4.0000]], shape=(2, 2), dtype=float32)
// Large tensors show their first and last three entries per dimension.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "kiln/autograd/node.hpp"
#include "kiln/core/tensor.hpp"

namespace kiln {
namespace {

constexpr std::int64_t kSummarizeAbove = 1000;
constexpr std::int64_t kEdgeItems = 3;

struct Formatter {
  bool floating = true;
  bool scientific = false;
  int width = 1;

  std::string format(double v) const {
    char buf[64];
    if (!floating) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    else if (std::isnan(v)) std::snprintf(buf, sizeof buf, "nan");
    else if (std::isinf(v)) std::snprintf(buf, sizeof buf, v > 0 ? "inf" : "-inf");
    else if (scientific) std::snprintf(buf, sizeof buf, "%.4e", v);
    else std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
  }
};

void print_rec(std::ostream& os, const Tensor& t, std::int64_t d, std::int64_t offset,
               const Formatter& f, bool summarize, int indent) {
  const std::int64_t n = t.shape()[d];
  const auto* base = static_cast<const char*>(t.storage()->data());
  const std::size_t item = itemsize(t.dtype());
  os << '[';
  for (std::int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      os << (d + 1 == t.dim() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - kEdgeItems;
    }
    const std::int64_t off = offset + i * t.strides()[d];
    if (d + 1 == t.dim()) {
      const double v = visit_dtype(t.dtype(), [&]<class T>() {
        return static_cast<double>(*reinterpret_cast<const T*>(base + off * item));
      });
      std::string s = f.format(v);
      os << std::string(std::max<int>(0, f.width - static_cast<int>(s.size())), ' ') << s;
    } else {
      print_rec(os, t, d + 1, off, f, summarize, indent + 1);
    }
    if (i + 1 < n) {
      if (d + 1 == t.dim()) os << ", ";
      else os << ",\n" << std::string(t.dim() - d - 1 > 1 ? 1 : 0, '\n') << std::string(indent + 1, ' ');
    }
  }
  os << ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  if (!device().is_cpu()) {  // print a host copy, and say where the tensor lives
    std::string host = detach().to(Device::cpu()).str();
    std::ostringstream where;
    where << ", device=" << device();
    host.insert(host.find(", dtype="), where.str());
    if (grad_fn()) host.insert(host.size() - 1, ", grad_fn=<" + grad_fn()->name() + ">");
    else if (requires_grad()) host.insert(host.size() - 1, ", requires_grad=true");
    return host;
  }
  std::ostringstream os;
  Formatter f;
  f.floating = is_floating(dtype());
  const bool summarize = numel() > kSummarizeAbove;
  double max_abs = 0, min_abs = INFINITY;
  if (numel() <= 100000) {
    for (double v : to_vector<double>()) {
      if (!std::isfinite(v)) continue;
      max_abs = std::max(max_abs, std::abs(v));
      if (v != 0) min_abs = std::min(min_abs, std::abs(v));
    }
    f.scientific = f.floating && (max_abs >= 1e6 || (min_abs < 1e-3 && min_abs != INFINITY));
    for (double v : to_vector<double>()) f.width = std::max<int>(f.width, static_cast<int>(f.format(v).size()));
  }
  os << "tensor(";
  if (dim() == 0) {
    os << f.format(item());
  } else {
    print_rec(os, *this, 0, offset(), f, summarize, 7);
  }
  os << ", shape=" << fmt(shape()) << ", dtype=" << dtype();
  if (grad_fn()) os << ", grad_fn=<" << grad_fn()->name() << ">";
  else if (requires_grad()) os << ", requires_grad=true";
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace kiln
