// A variational auto-encoder's two extra pieces on the GPU, one kernel each way
// (kernels/cuda/vae.cu) where their composites take about ten forward and ten
// backward:
//   gaussian_kl:     terms = -(1 + 2 s - m^2 - exp(2 s)) / (2 N), then their sum
//   reparameterize:  eps = randn, then z = m + eps exp(s)
//   inner_product_logits: a thread per pair forward, a thread per (pair, column)
//                    backward adding into both ends' gradients, in place of two
//                    index_selects, mul and sum and their backward
// While a walk records (create_graph), each backward is its composite's, in recorded ops,
// so that it differentiates again.
#include "src/nn/vae_cuda.hpp"

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/nn/inner_product.hpp"
#include "src/ops/indexing.hpp"

namespace kiln::detail {

Tensor gaussian_kl_cuda(const Tensor& mu, const Tensor& logstd) {
  const char* op = "gaussian_kl";
  const Tensor m = mu.detach().contiguous(), s = logstd.detach().contiguous();
  const auto scalar = cuda_scalar(m.dtype(), op);
  const double scale = -0.5 / static_cast<double>(m.size(0));
  Tensor terms = Tensor::empty(m.shape(), m.dtype(), m.device());
  cuda_for(m).gaussian_kl_terms(scalar, m.numel(), dptr(m), dptr(s), scale, dptr(terms));
  if (should_record({mu, logstd})) {
    attach_grad_fn(
        terms, op, {mu, logstd},
        [mu, logstd, m, s, scale, scalar](const Tensor& g_in) {
          if (is_grad_enabled())  // recording (create_graph): the derivatives in recorded ops
            return Grads{g_in * mu * (-2.0 * scale), g_in * (1.0 - exp(logstd * 2.0)) * (2.0 * scale)};
          const Upstream up = upstream_values(g_in, m.dtype());
          Tensor g_mu = Tensor::empty(m.shape(), m.dtype(), m.device());
          Tensor g_s = Tensor::empty(m.shape(), m.dtype(), m.device());
          cuda_for(m).gaussian_kl_terms_backward(scalar, m.numel(), dptr(m), dptr(s), scale, dptr(up.values),
                                                 up.stride, dptr(g_mu), dptr(g_s));
          return Grads{g_mu, g_s};
        },
        {m, s});
    mark_differentiable_backward(terms);
  }
  return sum(terms);
}

Tensor reparameterize_cuda(const Tensor& mu, const Tensor& logstd) {
  const char* op = "reparameterize";
  const Tensor m = mu.detach().contiguous(), s = logstd.detach().contiguous();
  const auto scalar = cuda_scalar(m.dtype(), op);
  const Tensor eps = randn(m.shape(), m.dtype(), m.device());
  Tensor z = Tensor::empty(m.shape(), m.dtype(), m.device());
  cuda_for(m).reparameterize(scalar, m.numel(), dptr(m), dptr(s), dptr(eps), dptr(z));
  if (should_record({mu, logstd})) {
    attach_grad_fn(z, op, {mu, logstd},
                   [logstd, s, eps, scalar](const Tensor& g_in) {
                     if (is_grad_enabled())
                       return Grads{g_in, g_in * eps * exp(logstd)};  // recording (create_graph)
                     const Upstream up = upstream_values(g_in, s.dtype());
                     Tensor g_s = Tensor::empty(s.shape(), s.dtype(), s.device());
                     cuda_for(s).reparameterize_backward(scalar, s.numel(), dptr(s), dptr(eps),
                                                         dptr(up.values), up.stride, dptr(g_s));
                     return Grads{g_in, g_s};  // dz/dmu = 1
                   },
                   {s});
    mark_differentiable_backward(z);
  }
  return z;
}

namespace {

std::string bad_pair_message(const cuda_kernels::IndexReport& found) {
  const bool from_src = found.position >= 0;
  std::string m = concat("inner_product_logits: ", from_src ? "src[" : "dst[",
                         from_src ? found.position : -1 - found.position, "] = ", found.value,
                         " is not a node of z (", found.bound, " nodes, numbered 0 to ", found.bound - 1,
                         ", or -", found.bound, " to -1 from the end)");
  if (found.count > 1) m += concat(" (nor are ", found.count - 1, " other entries)");
  return m;
}

// The node numbers as int64 on z's GPU: host ones checked and uploaded, device ones as they are.
Tensor nodes_on_device(const Tensor& index, const char* which, const Tensor& z) {
  if (index.device().is_cpu()) return from_vector(pair_node_numbers(index, which, z)).to(z.device());
  KILN_CHECK(index.device() == z.device(), "inner_product_logits: z on ", z.device(), " but ", which, " on ",
             index.device(), "; move it with .to(z.device())");
  KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, "inner_product_logits: ", which,
             " must hold int64 or int32 node numbers, got ", index.dtype());
  return int64_index(index);
}

}  // namespace

Tensor inner_product_logits_cuda(const Tensor& z, const Tensor& src, const Tensor& dst) {
  const char* op = "inner_product_logits";
  const Tensor zc = z.detach().contiguous();
  const auto scalar = cuda_scalar(zc.dtype(), op);
  const Tensor s = nodes_on_device(src, "src", z), t = nodes_on_device(dst, "dst", z);
  const std::int64_t pairs = s.numel(), n = zc.size(0), d = zc.size(1);
  Tensor out = Tensor::empty({pairs}, zc.dtype(), zc.device());
  cuda_for(zc).inner_product_pairs(scalar, pairs, n, d, dptr(zc), dptr<std::int64_t>(s),
                                   dptr<std::int64_t>(t), dptr(out),
                                   cuda_report_slot(zc.device().index, bad_pair_message));
  if (should_record({z})) {
    attach_grad_fn(out, op, {z},
                   [z, zc, s, t, scalar](const Tensor& g_in) {
                     // Recording (create_graph): in recorded ops (which count negative node
                     // numbers from the end, as the kernels do).
                     if (is_grad_enabled()) return Grads{inner_product_recorded_grad(z, s, t, g_in)};
                     const Upstream up = upstream_values(g_in, zc.dtype());
                     Tensor dz = zeros(zc.shape(), zc.dtype(), zc.device());
                     cuda_for(zc).inner_product_pairs_backward(
                         scalar, s.numel(), zc.size(0), zc.size(1), dptr(zc), dptr<std::int64_t>(s),
                         dptr<std::int64_t>(t), dptr(up.values), up.stride, dptr(dz));
                     return Grads{dz};
                   },
                   {zc, s, t});
    mark_differentiable_backward(out);
  }
  return out;
}

}  // namespace kiln::detail
