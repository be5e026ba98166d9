// torch.fft's transforms on complex tensors laid out as (..., 2), and the complex helpers.
//
// Three recorded primitives do the work along one dimension, the rest is composed:
//   c2c  complex -> complex, s F z (forward) or s conj(F) z (inverse), F_kj = e^(-2 pi i jk/n).
//        Read as a real linear map of the (re, im) pairs its adjoint is s conj(F)^T = s conj(F):
//        the gradient is the opposite transform of the gradient, scaled alike.
//   r2c  real n -> complex h = n / 2 + 1: y_k = s sum_j x_j e^(-i t), t = 2 pi j k / n. Its
//        adjoint, dL/dx_j = s sum_k Re(g_k e^(+i t)), is c2r of g with the weights c2r
//        puts on each bin divided out (1 at 0 and at n / 2, 2 between).
//   c2r  complex h -> real n: x_j = s sum_k c_k Re(y_k e^(+i t)), the half spectrum extended
//        by conjugates (c_k = 1 at 0 and n / 2, else 2). dL/dy_k = s c_k r2c(g)_k, with the
//        imaginary parts at 0 and n / 2 (which x ignores) given gradient 0.
// On the CPU each line along the dimension is copied into double, transformed by the
// plan of kernels/cpu/fft and written back; lines run in parallel, a few at a time,
// interleaved. On a GPU each is a product with the real (2n x 2n, n x 2h or 2h x n) matrix
// of the map, through matmul, whose own gradient is then the adjoint above.
#include "kiln/ops/fft.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numbers>
#include <type_traits>

#include "kernels/cpu/fft/fft_plan.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/math.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln::fft {

namespace {

using cpu::Complex;

enum class Kind { c2c, r2c, c2r };

// Lengths a GPU transform takes as a matrix product (a 4096-point c2c matrix is 256 MiB
// of float32).
constexpr std::int64_t kMaxDeviceLength = 4096;

double scale_of(Norm norm, std::int64_t n, bool inverse) {
  switch (norm) {
    case Norm::ortho:
      return 1.0 / std::sqrt(static_cast<double>(n));
    case Norm::forward:
      return inverse ? 1.0 : 1.0 / static_cast<double>(n);
    case Norm::backward:
      break;
  }
  return inverse ? 1.0 / static_cast<double>(n) : 1.0;
}

void check_floating(const Tensor& t, const char* op) {
  KILN_CHECK(t.dtype() == kFloat32 || t.dtype() == kFloat64, op,
             ": transforms float32 or float64 tensors, got ", t.dtype(), "; convert with .to(kFloat32)");
}

// z must be a complex tensor (..., 2); returns the number of its complex dimensions.
std::int64_t check_complex(const Tensor& z, const char* op) {
  KILN_CHECK(z.dim() >= 2 && z.size(-1) == 2, op,
             ": expects a complex tensor laid out as (..., 2) (real, imaginary), got ", fmt(z.shape()),
             "; build one with fft::complex(re, im), or transform a real signal with rfft");
  check_floating(z, op);
  return z.dim() - 1;
}

// Integers transform as float32, as torch promotes them.
Tensor real_input(const Tensor& x, const char* op) {
  KILN_CHECK(x.dim() >= 1, op, ": needs a tensor with at least one dimension, not a 0-d one");
  KILN_CHECK(x.dtype() != kQ4_0, op, ": q4_0 blocks have no elements to transform; dequantize first");
  const Tensor f = is_floating(x.dtype()) ? x : x.to(kFloat32);
  check_floating(f, op);
  return f;
}

// t cut to `length` along dim, or padded there with zeros at the end.
Tensor resized(const Tensor& t, std::int64_t dim, std::int64_t length) {
  const std::int64_t have = t.size(dim);
  if (have == length) return t;
  if (have > length) return t.narrow(dim, 0, length);
  std::vector<std::int64_t> pads(static_cast<std::size_t>(2 * (t.dim() - dim)), 0);
  pads.back() = length - have;  // the (before, after) pair of dim comes last
  return kiln::pad(t, pads);
}

// (outer, n, inner) around dimension `dim` of `shape`.
struct Lines {
  std::int64_t outer = 1, inner = 1;
  Lines(const Shape& shape, std::int64_t dim) {
    for (std::int64_t d = 0; d < dim; ++d) outer *= shape[static_cast<std::size_t>(d)];
    for (std::size_t d = static_cast<std::size_t>(dim) + 1; d < shape.size(); ++d) inner *= shape[d];
  }
};

// Lines are transformed a few at a time, interleaved (element j of line q at q + c j), so
// that the stages' vectors hold one element of each of several lines and the lines share
// every twiddle factor: along a dimension other than the last, neighbouring lines, whose
// elements at each position are neighbours in memory too; along the last, consecutive rows.
// As many as fit kLineBudget complex values of buffers, at most kLinesTogether, and a
// multiple of 4 (an AVX-512 vector's complex doubles) from 4 on.
constexpr std::int64_t kLinesTogether = 8;
constexpr std::int64_t kLineBudget = 65536;  // 1 MiB per thread

// The CPU transforms of every line, in parallel. Element (o, j, i) of a tensor with
// (outer, len, inner) lines is at index (o len + j) inner + i (a pair index for complex).
template <class T>
void cpu_transform(Kind kind, const T* src, T* dst, std::int64_t outer, std::int64_t inner, std::int64_t n,
                   bool inverse, double scale) {
  const std::int64_t h = n / 2 + 1;
  const std::int64_t in_len = kind == Kind::c2r ? h : n, out_len = kind == Kind::r2c ? h : n;
  const auto plan = kind == Kind::c2c ? cpu::fft_plan(n) : nullptr;
  const auto real_plan = kind == Kind::c2c ? nullptr : cpu::real_fft_plan(n);
  // complex values per line: in, out and the reals, then the plan's scratch
  const std::int64_t per_line = 3 * n + (plan ? plan->scratch_size() : real_plan->scratch_size());
  std::int64_t fit = std::clamp<std::int64_t>(kLineBudget / per_line, 1, kLinesTogether);
  if (fit > 4) fit -= fit % 4;
  // Lines of a block: consecutive rows (inner 1), or neighbouring positions i along inner.
  const bool rows = inner == 1;
  const std::int64_t together = std::min(fit, rows ? outer : inner);
  const std::int64_t blocks_per_outer = rows ? 1 : (inner + together - 1) / together;
  const std::int64_t blocks = rows ? (outer + together - 1) / together : outer * blocks_per_outer;
  const std::int64_t grain = std::max<std::int64_t>(1, 16384 / (n * together));
  const std::int64_t scratch_size = plan ? plan->scratch_size(together) : real_plan->scratch_size(together);
  parallel_for(0, blocks, grain, [&](std::int64_t b, std::int64_t e) {
    std::vector<Complex> in(static_cast<std::size_t>(n * together)), out(in.size()),
        scratch(static_cast<std::size_t>(scratch_size));
    std::vector<double> reals(in.size());
    // The complex buffers as (re, im) pairs of doubles: copies through std::complex values
    // would pass each one through the stack.
    double* in_pairs = reinterpret_cast<double*>(in.data());
    const double* out_pairs = reinterpret_cast<const double*>(out.data());
    // c lines from `first` on: element j of line q at first + q * line_step + j * inner,
    // in values (pairs for complex) of src and dst alike.
    auto run_block = [&](std::int64_t first_in, std::int64_t first_out, std::int64_t in_line_step,
                         std::int64_t out_line_step, std::int64_t c) {
      if (kind == Kind::r2c) {
        const T* from = src + first_in;
        for (std::int64_t j = 0; j < n; ++j)
          for (std::int64_t q = 0; q < c; ++q)
            reals[static_cast<std::size_t>(q + c * j)] = from[q * in_line_step + j * inner];
        real_plan->forward(reals.data(), out.data(), scratch.data(), c);
      } else {
        const T* from = src + 2 * first_in;
        for (std::int64_t j = 0; j < in_len; ++j)
          for (std::int64_t q = 0; q < c; ++q) {
            const T* at = from + 2 * (q * in_line_step + j * inner);
            double* pair = in_pairs + 2 * (q + c * j);
            pair[0] = at[0];
            pair[1] = at[1];
          }
        if (kind == Kind::c2c)
          plan->transform(in.data(), out.data(), inverse, scratch.data(), c);
        else
          real_plan->inverse(in.data(), reals.data(), scratch.data(), c);
      }
      if (kind == Kind::c2r) {
        T* to = dst + first_out;
        for (std::int64_t j = 0; j < n; ++j)
          for (std::int64_t q = 0; q < c; ++q)
            to[q * out_line_step + j * inner] =
                static_cast<T>(reals[static_cast<std::size_t>(q + c * j)] * scale);
      } else {
        T* to = dst + 2 * first_out;
        for (std::int64_t k = 0; k < out_len; ++k)
          for (std::int64_t q = 0; q < c; ++q) {
            T* at = to + 2 * (q * out_line_step + k * inner);
            const double* pair = out_pairs + 2 * (q + c * k);
            at[0] = static_cast<T>(pair[0] * scale);
            at[1] = static_cast<T>(pair[1] * scale);
          }
      }
    };
    for (std::int64_t block = b; block < e; ++block) {
      if (rows) {
        const std::int64_t o = block * together;
        run_block(o * in_len, o * out_len, in_len, out_len, std::min(together, outer - o));
      } else {
        const std::int64_t o = block / blocks_per_outer, i0 = block % blocks_per_outer * together;
        run_block(o * in_len * inner + i0, o * out_len * inner + i0, 1, 1, std::min(together, inner - i0));
      }
    }
  });
}

// The real matrix of the map, for a GPU: rows index the input's reals (re, im interleaved for
// complex), columns the output's. Built in double on the host.
Tensor transform_matrix(Kind kind, std::int64_t n, bool inverse, double scale, DType dtype, Device device) {
  const std::int64_t h = n / 2 + 1;
  const std::int64_t rows = kind == Kind::c2c ? 2 * n : kind == Kind::r2c ? n : 2 * h;
  const std::int64_t cols = kind == Kind::c2c ? 2 * n : kind == Kind::r2c ? 2 * h : n;
  std::vector<double> m(static_cast<std::size_t>(rows * cols));
  auto at = [&](std::int64_t r, std::int64_t c) -> double& {
    return m[static_cast<std::size_t>(r * cols + c)];
  };
  const double sign = (kind == Kind::c2r || inverse) ? 1.0 : -1.0;
  auto angle = [&](std::int64_t j, std::int64_t k) {
    return sign * 2.0 * std::numbers::pi * static_cast<double>((j * k) % n) / static_cast<double>(n);
  };
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t k = 0; k < (kind == Kind::c2c ? n : h); ++k) {
      const double c = std::cos(angle(j, k)) * scale, s = std::sin(angle(j, k)) * scale;
      if (kind == Kind::c2c) {  // (a + ib)(c + is): re += a c - b s, im += a s + b c
        at(2 * j, 2 * k) = c;
        at(2 * j + 1, 2 * k) = -s;
        at(2 * j, 2 * k + 1) = s;
        at(2 * j + 1, 2 * k + 1) = c;
      } else if (kind == Kind::r2c) {
        at(j, 2 * k) = c;
        at(j, 2 * k + 1) = s;
      } else {  // x_j += c_k (re c - im s)
        const double weight = (k == 0 || 2 * k == n) ? 1.0 : 2.0;
        at(2 * k, j) = weight * c;
        at(2 * k + 1, j) = -weight * s;
      }
    }
  return from_vector(m, {rows, cols}).to(dtype).to(device);
}

// The matrices of the last transforms, kept on their device (up to 64 MiB of them): a
// training loop asks for the same ones at every step, and each costs n^2 sines and cosines
// and a copy to build. The list is never destroyed, so no device memory is freed after the
// CUDA runtime has shut down at exit.
Tensor cached_transform_matrix(Kind kind, std::int64_t n, bool inverse, double scale, DType dtype,
                               Device device) {
  struct Entry {
    Kind kind;
    std::int64_t n;
    bool inverse;
    double scale;
    DType dtype;
    Device device;
    Tensor matrix;
    std::int64_t bytes() const { return static_cast<std::int64_t>(storage_bytes(dtype, matrix.numel())); }
  };
  constexpr std::int64_t kKeptBytes = std::int64_t{64} << 20;
  static std::mutex mutex;
  static auto* recent = new std::vector<Entry>;  // the most recently used last
  const std::lock_guard<std::mutex> lock(mutex);
  for (auto it = recent->begin(); it != recent->end(); ++it)
    if (it->kind == kind && it->n == n && it->inverse == inverse && it->scale == scale &&
        it->dtype == dtype && it->device == device) {
      std::rotate(it, it + 1, recent->end());
      return recent->back().matrix;
    }
  Entry made{
      kind, n, inverse, scale, dtype, device, transform_matrix(kind, n, inverse, scale, dtype, device)};
  if (made.bytes() > kKeptBytes) return made.matrix;
  std::int64_t kept = made.bytes();
  for (const Entry& e : *recent) kept += e.bytes();
  while (kept > kKeptBytes) {
    kept -= recent->front().bytes();
    recent->erase(recent->begin());
  }
  recent->push_back(std::move(made));
  return recent->back().matrix;
}

Tensor device_transform(Kind kind, const Tensor& t, std::int64_t dim, std::int64_t n, bool inverse,
                        double scale, const char* op) {
  KILN_CHECK(n <= kMaxDeviceLength, op, ": on a GPU transforms lengths up to ", kMaxDeviceLength,
             " (as a matrix product), got ", n, "; move the tensor to the CPU for longer ones");
  const Tensor m = cached_transform_matrix(kind, n, inverse, scale, t.dtype(), t.device());
  if (kind == Kind::r2c) {  // (..., n) @ (n, 2h) -> (..., h, 2)
    Tensor y = matmul(movedim(t, dim, -1), m);
    Shape s = y.shape();
    s.back() = n / 2 + 1;
    s.push_back(2);
    return movedim(y.reshape(s), -2, dim);
  }
  const Tensor moved = movedim(t, dim, -2);  // (..., len, 2)
  Shape flat = moved.shape();
  flat.pop_back();
  flat.back() *= 2;
  Tensor y = matmul(moved.reshape(flat), m);
  if (kind == Kind::c2r) return movedim(y, -1, dim);
  Shape s = y.shape();
  s.back() = n;
  s.push_back(2);
  return movedim(y.reshape(s), -2, dim);
}

// The weights (h, 1, ..., 1, 2) that turn c2r's gradient into r2c's and back: `edge` at the
// bins 0 and n / 2 (for even n), `middle` between; the imaginary part at those two bins
// gets `edge_imag`.
Tensor bin_weights(std::int64_t n, std::int64_t trailing, double edge, double middle, double edge_imag,
                   const Tensor& like) {
  const std::int64_t h = n / 2 + 1;
  std::vector<double> w(static_cast<std::size_t>(2 * h));
  for (std::int64_t k = 0; k < h; ++k) {
    const bool at_edge = k == 0 || 2 * k == n;
    w[static_cast<std::size_t>(2 * k)] = at_edge ? edge : middle;
    w[static_cast<std::size_t>(2 * k + 1)] = at_edge ? edge_imag : middle;
  }
  Shape s{h};
  for (std::int64_t d = 0; d < trailing; ++d) s.push_back(1);
  s.push_back(2);
  return from_vector(w, {2 * h}).reshape(s).to(like.dtype()).to(like.device());
}

// The recorded primitive: `t`'s lines along complex (or, for r2c, real) dimension `dim`
// transformed, n the length of the real side.
Tensor transform_1d(Kind kind, const Tensor& t, std::int64_t dim, std::int64_t n, bool inverse, double scale,
                    const char* op) {
  if (t.device().is_cuda()) return device_transform(kind, t, dim, n, inverse, scale, op);
  const Tensor in = t.contiguous();
  Shape out_shape = t.shape();
  if (kind == Kind::r2c) {
    out_shape[static_cast<std::size_t>(dim)] = n / 2 + 1;
    out_shape.push_back(2);
  } else if (kind == Kind::c2r) {
    out_shape.pop_back();
    out_shape[static_cast<std::size_t>(dim)] = n;
  }
  Tensor out = Tensor::empty(out_shape, t.dtype(), t.device());
  // (outer, inner) around dim, counted on the real side's shape (the trailing 2 left out)
  Shape lines_shape = kind == Kind::c2r ? out_shape : t.shape();
  if (kind == Kind::c2c) lines_shape.pop_back();
  const Lines l(lines_shape, dim);
  if (out.numel() > 0)
    visit_dtype(t.dtype(), [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>)
        cpu_transform<T>(kind, detail::ptr<T>(in), detail::ptr<T>(out), l.outer, l.inner, n, inverse, scale);
    });
  if (should_record({t})) {
    // Dimensions after dim, the trailing 2 left out: the weights broadcast over them.
    const std::int64_t trailing = (kind == Kind::r2c ? t.dim() : t.dim() - 1) - dim - 1;
    attach_grad_fn(out, op, {t}, [kind, dim, n, inverse, scale, trailing, op](const Tensor& g) {
      if (kind == Kind::c2c) return Grads{transform_1d(Kind::c2c, g, dim, n, !inverse, scale, op)};
      if (kind == Kind::r2c)
        return Grads{
            transform_1d(Kind::c2r, g * bin_weights(n, trailing, 1.0, 0.5, 1.0, g), dim, n, true, scale, op)};
      return Grads{transform_1d(Kind::r2c, g, dim, n, false, scale, op) *
                   bin_weights(n, trailing, 1.0, 2.0, 0.0, g)};
    });
    mark_differentiable_backward(out);  // the rule is another transform: recorded, so to any order
  }
  return out;
}

Tensor c2c_along(const Tensor& z, std::int64_t n, std::int64_t dim_in, Norm norm, bool inverse,
                 const char* op) {
  const std::int64_t dims = check_complex(z, op);
  const std::int64_t dim = wrap_dim(dim_in, dims, op);
  const std::int64_t len = n == -1 ? z.size(dim) : n;
  KILN_CHECK(len >= 1, op, ": needs a length of at least 1 to transform, got ", len, " along dimension ", dim,
             " of ", fmt(z.shape()));
  return transform_1d(Kind::c2c, resized(z, dim, len), dim, len, inverse, scale_of(norm, len, inverse), op);
}

Tensor r2c_along(const Tensor& x_in, std::int64_t n, std::int64_t dim_in, Norm norm, const char* op) {
  const Tensor x = real_input(x_in, op);
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), op);
  const std::int64_t len = n == -1 ? x.size(dim) : n;
  KILN_CHECK(len >= 1, op, ": needs a length of at least 1 to transform, got ", len, " along dimension ", dim,
             " of ", fmt(x.shape()));
  return transform_1d(Kind::r2c, resized(x, dim, len), dim, len, false, scale_of(norm, len, false), op);
}

Tensor c2r_along(const Tensor& z, std::int64_t n, std::int64_t dim_in, Norm norm, const char* op) {
  const std::int64_t dims = check_complex(z, op);
  const std::int64_t dim = wrap_dim(dim_in, dims, op);
  const std::int64_t len = n == -1 ? 2 * (z.size(dim) - 1) : n;
  KILN_CHECK(len >= 1, op, ": needs an output length of at least 1, got ", len, " (from ", z.size(dim),
             " bins along dimension ", dim, " of ", fmt(z.shape()), "); pass n");
  return transform_1d(Kind::c2r, resized(z, dim, len / 2 + 1), dim, len, true, scale_of(norm, len, true), op);
}

// The dims an n-dimensional transform runs over, and the length of each (-1: the input's).
struct Plan {
  std::vector<std::int64_t> dims, lengths;
};
Plan plan_dims(std::int64_t rank, const Sizes& s, const Sizes& dims_in, const char* op) {
  Plan p;
  if (dims_in.empty()) {
    const auto count = s.empty() ? rank : static_cast<std::int64_t>(s.size());
    KILN_CHECK(count <= rank, op, ": got ", count, " lengths for a tensor of ", rank,
               " (complex) dimensions");
    for (std::int64_t d = rank - count; d < rank; ++d) p.dims.push_back(d);
  } else {
    for (const std::int64_t d : dims_in) p.dims.push_back(wrap_dim(d, rank, op));
  }
  for (std::size_t i = 0; i < p.dims.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      KILN_CHECK(p.dims[i] != p.dims[j], op, ": dimension ", p.dims[i], " is named twice");
  KILN_CHECK(s.empty() || s.size() == p.dims.size(), op, ": got ", s.size(), " lengths for ", p.dims.size(),
             " dimensions; give one per dimension");
  p.lengths = s.empty() ? std::vector<std::int64_t>(p.dims.size(), -1) : s;
  KILN_CHECK(!p.dims.empty(), op, ": no dimension to transform");
  return p;
}

}  // namespace

Tensor fft(const Tensor& z, std::int64_t n, std::int64_t dim, Norm norm) {
  return c2c_along(z, n, dim, norm, false, "fft");
}
Tensor ifft(const Tensor& z, std::int64_t n, std::int64_t dim, Norm norm) {
  return c2c_along(z, n, dim, norm, true, "ifft");
}
Tensor rfft(const Tensor& x, std::int64_t n, std::int64_t dim, Norm norm) {
  return r2c_along(x, n, dim, norm, "rfft");
}
Tensor irfft(const Tensor& z, std::int64_t n, std::int64_t dim, Norm norm) {
  return c2r_along(z, n, dim, norm, "irfft");
}

// hfft(z) = fft of z's Hermitian extension, a real signal: n irfft(conj z) under the
// default norm, so irfft of conj z with the norm's direction swapped; ihfft its inverse.
namespace {
Norm swapped(Norm norm) {
  return norm == Norm::backward ? Norm::forward : norm == Norm::forward ? Norm::backward : Norm::ortho;
}
}  // namespace
Tensor hfft(const Tensor& z, std::int64_t n, std::int64_t dim, Norm norm) {
  check_complex(z, "hfft");
  return c2r_along(conj(z), n, dim, swapped(norm), "hfft");
}
Tensor ihfft(const Tensor& x, std::int64_t n, std::int64_t dim, Norm norm) {
  return conj(r2c_along(x, n, dim, swapped(norm), "ihfft"));
}

namespace {
Tensor c2c_n(const Tensor& z, const Sizes& s, const Sizes& dims, Norm norm, bool inverse, const char* op) {
  const Plan p = plan_dims(check_complex(z, op), s, dims, op);
  Tensor y = z;
  for (std::size_t i = 0; i < p.dims.size(); ++i)
    y = c2c_along(y, p.lengths[i], p.dims[i], norm, inverse, op);
  return y;
}
}  // namespace

Tensor fftn(const Tensor& z, const Sizes& s, const Sizes& dims, Norm norm) {
  return c2c_n(z, s, dims, norm, false, "fftn");
}
Tensor ifftn(const Tensor& z, const Sizes& s, const Sizes& dims, Norm norm) {
  return c2c_n(z, s, dims, norm, true, "ifftn");
}
Tensor rfftn(const Tensor& x_in, const Sizes& s, const Sizes& dims, Norm norm) {
  const Tensor x = real_input(x_in, "rfftn");
  const Plan p = plan_dims(x.dim(), s, dims, "rfftn");
  Tensor y = r2c_along(x, p.lengths.back(), p.dims.back(), norm, "rfftn");  // the halved one first
  for (std::size_t i = 0; i + 1 < p.dims.size(); ++i)
    y = c2c_along(y, p.lengths[i], p.dims[i], norm, false, "rfftn");
  return y;
}
Tensor irfftn(const Tensor& z, const Sizes& s, const Sizes& dims, Norm norm) {
  const Plan p = plan_dims(check_complex(z, "irfftn"), s, dims, "irfftn");
  Tensor y = z;
  for (std::size_t i = 0; i + 1 < p.dims.size(); ++i)
    y = c2c_along(y, p.lengths[i], p.dims[i], norm, true, "irfftn");
  return c2r_along(y, p.lengths.back(), p.dims.back(), norm, "irfftn");  // the real one last
}
Tensor fft2(const Tensor& z, const Sizes& s, const Sizes& dims, Norm norm) { return fftn(z, s, dims, norm); }
Tensor ifft2(const Tensor& z, const Sizes& s, const Sizes& dims, Norm norm) {
  return ifftn(z, s, dims, norm);
}
Tensor rfft2(const Tensor& x, const Sizes& s, const Sizes& dims, Norm norm) {
  return rfftn(x, s, dims, norm);
}
Tensor irfft2(const Tensor& z, const Sizes& s, const Sizes& dims, Norm norm) {
  return irfftn(z, s, dims, norm);
}

Tensor fftfreq(std::int64_t n, double d, DType dtype) {
  KILN_CHECK(n >= 1 && d != 0.0, "fftfreq: needs n >= 1 and a spacing d other than 0, got n = ", n,
             ", d = ", d);
  Tensor f = Tensor::empty({n}, kFloat64);  // through the allocator: too long is a kiln::Error
  double* at = f.data_ptr<double>();
  for (std::int64_t i = 0; i < n; ++i)
    at[i] = static_cast<double>(i < (n + 1) / 2 ? i : i - n) / (d * static_cast<double>(n));
  return f.to(dtype);
}
Tensor rfftfreq(std::int64_t n, double d, DType dtype) {
  KILN_CHECK(n >= 1 && d != 0.0, "rfftfreq: needs n >= 1 and a spacing d other than 0, got n = ", n,
             ", d = ", d);
  Tensor f = Tensor::empty({n / 2 + 1}, kFloat64);
  double* at = f.data_ptr<double>();
  for (std::int64_t i = 0; i <= n / 2; ++i) at[i] = static_cast<double>(i) / (d * static_cast<double>(n));
  return f.to(dtype);
}

namespace {
Tensor shifted(const Tensor& x, const Sizes& dims, bool forward, const char* op) {
  KILN_CHECK(!dims.empty(), op,
             ": name the dimensions to shift (for a complex (..., H, W, 2) spectrum: {-3, -2})");
  std::vector<std::int64_t> shifts, wrapped;
  for (const std::int64_t d_in : dims) {
    const std::int64_t d = wrap_dim(d_in, x.dim(), op), size = x.size(d);
    wrapped.push_back(d);
    shifts.push_back(forward ? size / 2 : -(size / 2));
  }
  return roll(x, shifts, wrapped);
}
}  // namespace

Tensor fftshift(const Tensor& x, const Sizes& dims) { return shifted(x, dims, true, "fftshift"); }
Tensor ifftshift(const Tensor& x, const Sizes& dims) { return shifted(x, dims, false, "ifftshift"); }

// --- complex helpers ---------------------------------------------------------------

Tensor complex(const Tensor& re, const Tensor& im) {
  KILN_CHECK(re.shape() == im.shape() && re.dtype() == im.dtype(),
             "fft::complex: the real and imaginary parts must match, got ", fmt(re.shape()), " ", re.dtype(),
             " and ", fmt(im.shape()), " ", im.dtype());
  check_floating(re, "fft::complex");
  return stack({re, im}, -1);
}
Tensor real(const Tensor& z) {
  check_complex(z, "fft::real");
  return z.select(-1, 0);
}
Tensor imag(const Tensor& z) {
  check_complex(z, "fft::imag");
  return z.select(-1, 1);
}
// |z| = hypot(re, im); d|z|/dz = z / |z|, taken as 0 at z = 0 (as torch.abs of a complex 0).
Tensor abs(const Tensor& z) {
  check_complex(z, "fft::abs");
  Tensor r;
  {
    NoGradGuard no_grad;
    r = hypot(z.select(-1, 0), z.select(-1, 1));
  }
  if (should_record({z})) {
    attach_grad_fn(r, "fft::abs", {z},
                   [z, rs = r.detach()](const Tensor& g) {
                     // While a walk records (create_graph), in z and |z| as tensors of the graph.
                     const Tensor nonzero = rs > 0.0;
                     const Tensor radius = output_for_backward(rs);
                     const Tensor per_radius = where(nonzero, g / where(nonzero, radius, 1.0), 0.0);
                     return Grads{(is_grad_enabled() ? z : z.detach()) * per_radius.unsqueeze(-1)};
                   },
                   {z, r});
    mark_differentiable_backward(r);
  }
  return r;
}
Tensor angle(const Tensor& z) {
  check_complex(z, "fft::angle");
  return atan2(z.select(-1, 1), z.select(-1, 0));
}
Tensor conj(const Tensor& z) {
  check_complex(z, "fft::conj");
  return stack({z.select(-1, 0), -z.select(-1, 1)}, -1);
}
Tensor polar(const Tensor& magnitude, const Tensor& phase) {
  return complex(magnitude * cos(phase), magnitude * sin(phase));
}
Tensor complex_mul(const Tensor& a, const Tensor& b) {
  check_complex(a, "fft::complex_mul");
  check_complex(b, "fft::complex_mul");
  const Tensor ar = a.select(-1, 0), ai = a.select(-1, 1), br = b.select(-1, 0), bi = b.select(-1, 1);
  return stack({ar * br - ai * bi, ar * bi + ai * br}, -1);
}

}  // namespace kiln::fft
