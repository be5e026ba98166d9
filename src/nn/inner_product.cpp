// The inner-product decoder on the CPU in one pass each way. Composed of index_select,
// mul and sum it would write three (pairs x D) tensors forward, and backward as many
// again plus two N x D scatter-adds; fused, each pair reads its two rows of z once:
//   forward   logit_k = sum_j z[s_k, j] z[d_k, j]                (pairs split between threads)
//   backward  dz[s_k] += g_k z[d_k],  dz[d_k] += g_k z[s_k]      (pairs in order, see RowOwners)
// (while a walk records, the backward is those ops, recorded, so that it differentiates again).
// The rows are random reads into z (at a million nodes, far beyond the caches), so each
// loop asks for the rows of the pair kRowsAhead ahead of the one it works on.
#include "src/nn/inner_product.hpp"

#include <algorithm>
#include <vector>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/row_scatter.hpp"

namespace kiln::detail {

namespace {

template <class T>
void pair_dots(const T* z, std::int64_t d, const std::vector<std::int64_t>& s,
               const std::vector<std::int64_t>& t, T* out) {
  const auto pairs = static_cast<std::int64_t>(s.size());
  const std::size_t row_bytes = static_cast<std::size_t>(d) * sizeof(T);
  parallel_for(0, pairs, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(d, 1)),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t k = begin; k < end; ++k) {
                   if (k + kRowsAhead < end) {
                     prefetch_row(z + s[k + kRowsAhead] * d, row_bytes);
                     prefetch_row(z + t[k + kRowsAhead] * d, row_bytes);
                   }
                   const T* a = z + s[k] * d;
                   const T* b = z + t[k] * d;
                   T acc = 0;
                   for (std::int64_t j = 0; j < d; ++j) acc += a[j] * b[j];
                   out[k] = acc;
                 }
               });
}

// dz (zeroed) += the gradient of the logits given g, the gradient of each logit.
template <class T>
void pair_dots_backward(const T* z, std::int64_t d, const std::vector<std::int64_t>& s,
                        const std::vector<std::int64_t>& t, const T* g, T* dz) {
  const auto pairs = static_cast<std::int64_t>(s.size());
  const std::size_t row_bytes = static_cast<std::size_t>(d) * sizeof(T);
  const auto owners = RowOwners::for_scatter(2 * pairs * d, row_bytes);
  parallel_for(0, owners.count(), 1, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t me = first; me < last; ++me)
      for (std::int64_t k = 0; k < pairs; ++k) {
        if (const std::int64_t ahead = k + kRowsAhead; ahead < pairs) {
          if (owners.of(s[ahead]) == me) {
            prefetch_row(dz + s[ahead] * d, row_bytes);
            prefetch_row(z + t[ahead] * d, row_bytes);
          }
          if (owners.of(t[ahead]) == me) {
            prefetch_row(dz + t[ahead] * d, row_bytes);
            prefetch_row(z + s[ahead] * d, row_bytes);
          }
        }
        const T gk = g[k];
        if (owners.of(s[k]) == me) {  // d logit_k / d z[s_k] = z[d_k]
          T* o = dz + s[k] * d;
          const T* other = z + t[k] * d;
          for (std::int64_t j = 0; j < d; ++j) o[j] += gk * other[j];
        }
        if (owners.of(t[k]) == me) {  // and the other way round (both, for a pair of a node with itself)
          T* o = dz + t[k] * d;
          const T* other = z + s[k] * d;
          for (std::int64_t j = 0; j < d; ++j) o[j] += gk * other[j];
        }
      }
  });
}

}  // namespace

std::vector<std::int64_t> pair_node_numbers(const Tensor& index, const char* which, const Tensor& z) {
  const std::int64_t nodes = z.size(0);
  KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, "inner_product_logits: ", which,
             " must hold int64 or int32 node numbers, got ", index.dtype());
  std::vector<std::int64_t> idx = index.to_vector<std::int64_t>();
  for (std::size_t k = 0; k < idx.size(); ++k) {
    std::int64_t& i = idx[k];
    KILN_CHECK(i >= -nodes && i < nodes, "inner_product_logits: ", which, "[", k, "] = ", i,
               " is not a node of z (shape ", fmt(z.shape()), ": ", nodes, " nodes, numbered 0 to ",
               nodes - 1, ", or -", nodes, " to -1 from the end)");
    if (i < 0) i += nodes;
  }
  return idx;
}

Tensor inner_product_recorded_grad(const Tensor& z, const Tensor& s, const Tensor& t, const Tensor& g) {
  const Tensor per_pair = g.unsqueeze(1);
  const Tensor into_s = index_add(zeros_like(z), 0, s, per_pair * index_select(z, 0, t));
  return index_add(into_s, 0, t, per_pair * index_select(z, 0, s));
}

Tensor inner_product_logits_cpu(const Tensor& z, const Tensor& src, const Tensor& dst) {
  const std::int64_t d = z.size(1);
  auto s = pair_node_numbers(src, "src", z);
  auto t = pair_node_numbers(dst, "dst", z);
  const Tensor zc = z.detach().contiguous();
  Tensor out = Tensor::empty({static_cast<std::int64_t>(s.size())}, z.dtype());
  visit_floating(z.dtype(), "inner_product_logits",
                 [&]<class T>() { pair_dots(ptr<T>(zc), d, s, t, ptr<T>(out)); });
  if (should_record({z})) {
    attach_grad_fn(out, "inner_product_logits", {z},
                   [z, zc, s = std::move(s), t = std::move(t)](const Tensor& g) {
                     if (is_grad_enabled())
                       return Grads{inner_product_recorded_grad(z, from_vector(s), from_vector(t), g)};
                     const Tensor gc = g.contiguous();
                     Tensor dz = zeros(zc.shape(), zc.dtype());
                     visit_floating(zc.dtype(), "inner_product_logits backward", [&]<class T>() {
                       pair_dots_backward(ptr<T>(zc), zc.size(1), s, t, ptr<T>(gc), ptr<T>(dz));
                     });
                     return Grads{dz};
                   },
                   {zc});
    mark_differentiable_backward(out);
  }
  return out;
}

}  // namespace kiln::detail
