// The Gaussian KL term, the reparameterisation and the inner-product decoder of a
// (variational) graph auto-encoder (src/nn/vae_cuda.cpp): one thread per element each
// way, or per pair for the decoder's logits. Same formulas as the CPU's (the composites
// of src/nn/graph_layers.cpp, and src/nn/inner_product.cpp).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/unary_math.cuh"
#include "kernels/cuda/vae.cuh"

namespace kiln::cuda_kernels {

namespace {

// out = scale (1 + 2 s - m^2 - exp(2 s)),  m = mu, s = logstd
template <class T>
__global__ void gaussian_kl_terms_kernel(std::int64_t n, const T* mu, const T* logstd, T scale, T* out) {
  for (std::int64_t e = global_index(); e < n; e += grid_stride()) {
    const T m = mu[e], s2 = T(2) * logstd[e];
    out[e] = scale * (T(1) + s2 - m * m - Exp{}(s2));
  }
}

// d out / d m = -2 scale m,  d out / d s = 2 scale (1 - exp(2 s)); g read at e * g_stride
template <class T>
__global__ void gaussian_kl_terms_backward_kernel(std::int64_t n, const T* mu, const T* logstd, T scale, const T* g,
                                                  std::int64_t g_stride, T* g_mu, T* g_logstd) {
  for (std::int64_t e = global_index(); e < n; e += grid_stride()) {
    const T twice = T(2) * scale * g[e * g_stride];
    g_mu[e] = -twice * mu[e];
    g_logstd[e] = twice * (T(1) - Exp{}(T(2) * logstd[e]));
  }
}

// z = mu + eps exp(logstd)
template <class T>
__global__ void reparameterize_kernel(std::int64_t n, const T* mu, const T* logstd, const T* eps, T* z) {
  for (std::int64_t e = global_index(); e < n; e += grid_stride()) z[e] = mu[e] + eps[e] * Exp{}(logstd[e]);
}

// d z / d logstd = eps exp(logstd): g_logstd = (g eps) exp(logstd), the composite's order
template <class T>
__global__ void reparameterize_backward_kernel(std::int64_t n, const T* logstd, const T* eps, const T* g,
                                               std::int64_t g_stride, T* g_logstd) {
  for (std::int64_t e = global_index(); e < n; e += grid_stride())
    g_logstd[e] = g[e * g_stride] * eps[e] * Exp{}(logstd[e]);
}

// Node number of entry v: counted from the end when negative; -1 outside [-n, n).
__device__ inline std::int64_t node_of(std::int64_t v, std::int64_t n) {
  const std::int64_t i = v < 0 ? v + n : v;
  return i >= 0 && i < n ? i : -1;
}

// out[k] = z[s] . z[t], the products added in order; 0 (and a report) for a bad entry
template <class T>
__global__ void inner_product_pairs_kernel(std::int64_t pairs, std::int64_t n, std::int64_t d, const T* z,
                                           const std::int64_t* src, const std::int64_t* dst, T* out,
                                           ReportSlot bad) {
  for (std::int64_t k = global_index(); k < pairs; k += grid_stride()) {
    const std::int64_t s = node_of(src[k], n), t = node_of(dst[k], n);
    if (s < 0 || t < 0) {
      out[k] = T(0);
      if (s < 0) report_bad_index(bad, k, src[k], n);
      if (t < 0) report_bad_index(bad, -1 - k, dst[k], n);
      continue;
    }
    const T* a = z + s * d;
    const T* b = z + t * d;
    T acc = 0;
    for (std::int64_t j = 0; j < d; ++j) acc += a[j] * b[j];
    out[k] = acc;
  }
}

// A thread per (pair, column) adds both ends' gradients for that column: the threads of
// one pair touch neighbouring columns, so their accesses coalesce. A pair with a bad
// entry (reported by the forward) adds nothing.
template <class T>
__global__ void inner_product_pairs_backward_kernel(std::int64_t pairs, std::int64_t n, std::int64_t d,
                                                    const T* z, const std::int64_t* src,
                                                    const std::int64_t* dst, const T* g,
                                                    std::int64_t g_stride, T* dz) {
  for (std::int64_t e = global_index(); e < pairs * d; e += grid_stride()) {
    const std::int64_t k = e / d, j = e - k * d;
    const std::int64_t s = node_of(src[k], n), t = node_of(dst[k], n);
    if (s < 0 || t < 0) continue;
    const T gk = g[k * g_stride];
    atomicAdd(dz + s * d + j, gk * z[t * d + j]);
    atomicAdd(dz + t * d + j, gk * z[s * d + j]);
  }
}

}  // namespace

void inner_product_pairs(Scalar t, std::int64_t pairs, std::int64_t n, std::int64_t d, const void* z,
                         const std::int64_t* src, const std::int64_t* dst, void* out, ReportSlot bad_index) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(pairs, inner_product_pairs_kernel<T>, pairs, n, d, static_cast<const T*>(z), src, dst,
                static_cast<T*>(out), bad_index);
  });
}

void inner_product_pairs_backward(Scalar t, std::int64_t pairs, std::int64_t n, std::int64_t d, const void* z,
                                  const std::int64_t* src, const std::int64_t* dst, const void* g,
                                  std::int64_t g_stride, void* dz) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(pairs * d, inner_product_pairs_backward_kernel<T>, pairs, n, d, static_cast<const T*>(z), src,
                dst, static_cast<const T*>(g), g_stride, static_cast<T*>(dz));
  });
}

void gaussian_kl_terms(Scalar t, std::int64_t n, const void* mu, const void* logstd, double scale, void* out) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(n, gaussian_kl_terms_kernel<T>, n, static_cast<const T*>(mu), static_cast<const T*>(logstd),
                static_cast<T>(scale), static_cast<T*>(out));
  });
}

void gaussian_kl_terms_backward(Scalar t, std::int64_t n, const void* mu, const void* logstd, double scale,
                                const void* g, std::int64_t g_stride, void* g_mu, void* g_logstd) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(n, gaussian_kl_terms_backward_kernel<T>, n, static_cast<const T*>(mu),
                static_cast<const T*>(logstd), static_cast<T>(scale), static_cast<const T*>(g), g_stride,
                static_cast<T*>(g_mu), static_cast<T*>(g_logstd));
  });
}

void reparameterize(Scalar t, std::int64_t n, const void* mu, const void* logstd, const void* eps, void* z) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(n, reparameterize_kernel<T>, n, static_cast<const T*>(mu), static_cast<const T*>(logstd),
                static_cast<const T*>(eps), static_cast<T*>(z));
  });
}

void reparameterize_backward(Scalar t, std::int64_t n, const void* logstd, const void* eps, const void* g,
                             std::int64_t g_stride, void* g_logstd) {
  visit_floating(t, [&](auto tag) {
    using T = decltype(tag);
    launch_over(n, reparameterize_backward_kernel<T>, n, static_cast<const T*>(logstd),
                static_cast<const T*>(eps), static_cast<const T*>(g), g_stride, static_cast<T*>(g_logstd));
  });
}

}  // namespace kiln::cuda_kernels
