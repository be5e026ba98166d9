// The Gaussian KL term and the reparameterisation of a variational auto-encoder
// (src/nn/vae_cuda.cpp), one thread per element each way. Same formulas as the
// composites of src/nn/graph_layers.cpp that the CPU runs.
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

}  // namespace

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
