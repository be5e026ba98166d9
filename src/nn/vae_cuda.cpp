// A variational auto-encoder's two extra pieces on the GPU, one kernel each way
// (kernels/cuda/vae.cu) where their composites take about ten forward and ten
// backward:
//   gaussian_kl:     terms = -(1 + 2 s - m^2 - exp(2 s)) / (2 N), then their sum
//   reparameterize:  eps = randn, then z = m + eps exp(s)
#include "src/nn/vae_cuda.hpp"

#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"

namespace kiln::detail {

Tensor gaussian_kl_cuda(const Tensor& mu, const Tensor& logstd) {
  const char* op = "gaussian_kl";
  const Tensor m = mu.detach().contiguous(), s = logstd.detach().contiguous();
  const auto scalar = cuda_scalar(m.dtype(), op);
  const double scale = -0.5 / static_cast<double>(m.size(0));
  Tensor terms = Tensor::empty(m.shape(), m.dtype(), m.device());
  cuda_for(m).gaussian_kl_terms(scalar, m.numel(), dptr(m), dptr(s), scale, dptr(terms));
  if (should_record({mu, logstd}))
    attach_grad_fn(terms, op, {mu, logstd}, [m, s, scale, scalar](const Tensor& g_in) {
      const Upstream up = upstream_values(g_in, m.dtype());
      Tensor g_mu = Tensor::empty(m.shape(), m.dtype(), m.device());
      Tensor g_s = Tensor::empty(m.shape(), m.dtype(), m.device());
      cuda_for(m).gaussian_kl_terms_backward(scalar, m.numel(), dptr(m), dptr(s), scale, dptr(up.values),
                                             up.stride, dptr(g_mu), dptr(g_s));
      return Grads{g_mu, g_s};
    }, {m, s});
  return sum(terms);
}

Tensor reparameterize_cuda(const Tensor& mu, const Tensor& logstd) {
  const char* op = "reparameterize";
  const Tensor m = mu.detach().contiguous(), s = logstd.detach().contiguous();
  const auto scalar = cuda_scalar(m.dtype(), op);
  const Tensor eps = randn(m.shape(), m.dtype(), m.device());
  Tensor z = Tensor::empty(m.shape(), m.dtype(), m.device());
  cuda_for(m).reparameterize(scalar, m.numel(), dptr(m), dptr(s), dptr(eps), dptr(z));
  if (should_record({mu, logstd}))
    attach_grad_fn(z, op, {mu, logstd}, [s, eps, scalar](const Tensor& g_in) {
      const Upstream up = upstream_values(g_in, s.dtype());
      Tensor g_s = Tensor::empty(s.shape(), s.dtype(), s.device());
      cuda_for(s).reparameterize_backward(scalar, s.numel(), dptr(s), dptr(eps), dptr(up.values), up.stride,
                                          dptr(g_s));
      return Grads{g_in, g_s};  // dz/dmu = 1
    }, {s});
  return z;
}

}  // namespace kiln::detail
