// nn::MultiheadAttention: projections, heads, and scaled_dot_product_attention per head.
#include "kiln/nn/attention.hpp"

#include <array>
#include <cmath>
#include <sstream>
#include <tuple>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/nn/init.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/attention_internal.hpp"

namespace kiln::nn {

namespace {
// The key's and the value's widths: kdim and vdim, where 0 stands for embed_dim.
std::int64_t key_features(const MultiheadAttentionOptions& o) { return o.kdim() ? o.kdim() : o.embed_dim(); }
std::int64_t value_features(const MultiheadAttentionOptions& o) {
  return o.vdim() ? o.vdim() : o.embed_dim();
}
}  // namespace

MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& o) : options(o) {
  KILN_CHECK(o.embed_dim() > 0 && o.num_heads() > 0 && o.embed_dim() % o.num_heads() == 0,
             "MultiheadAttention: embed_dim ", o.embed_dim(), " must be positive and split evenly into ",
             o.num_heads(), " heads");
  KILN_CHECK(o.dropout() >= 0 && o.dropout() < 1, "MultiheadAttention: dropout ", o.dropout(),
             " must be in [0, 1)");
  KILN_CHECK(o.kdim() >= 0 && o.vdim() >= 0, "MultiheadAttention: kdim ", o.kdim(), " and vdim ", o.vdim(),
             " must be positive, or 0 for embed_dim");
  const std::int64_t e = o.embed_dim(), kdim = key_features(o), vdim = value_features(o);
  if (kdim == e && vdim == e) {
    register_parameter("in_proj_weight", in_proj_weight, empty({3 * e, e}));
  } else {
    register_parameter("q_proj_weight", q_proj_weight, empty({e, e}));
    register_parameter("k_proj_weight", k_proj_weight, empty({e, kdim}));
    register_parameter("v_proj_weight", v_proj_weight, empty({e, vdim}));
  }
  if (o.bias()) register_parameter("in_proj_bias", in_proj_bias, empty({3 * e}));
  out_proj = register_module("out_proj", std::make_shared<Linear>(LinearOptions(e, e).bias(o.bias())));
  if (o.add_bias_kv()) {
    register_parameter("bias_k", bias_k, empty({1, 1, e}));
    register_parameter("bias_v", bias_v, empty({1, 1, e}));
  }
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  for (Tensor* w : {&in_proj_weight, &q_proj_weight, &k_proj_weight, &v_proj_weight})
    if (w->defined()) init::xavier_uniform_(*w);
  out_proj->reset_parameters();
  for (Tensor* b : {&bias_k, &bias_v})
    if (b->defined()) init::xavier_normal_(*b);
  NoGradGuard no_grad;
  if (in_proj_bias.defined()) in_proj_bias.fill_(0.0);
  if (out_proj->bias.defined()) out_proj->bias.fill_(0.0);
}

Tensor MultiheadAttention::forward(const Tensor& x) { return forward(x, x, x); }

namespace {

// A floating mask's dtype must be the inputs'; a uint8 one marks what to ignore.
void check_mask_dtype(const Tensor& mask, DType dtype, const char* name) {
  KILN_CHECK(mask.dtype() == kUInt8 || mask.dtype() == dtype, "MultiheadAttention: ", name,
             " must be uint8 (1 = ignore) or ", dtype, " (added to the scores), not ", mask.dtype());
}

// Two masks as one, for scaled_dot_product_attention: uint8 ones become one uint8 mask of
// what each query may attend to (masked_fill then gives a query whose keys are all
// ignored a zero gradient, not NaN); with a floating one, everything becomes additive.
Tensor merged_mask(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b.defined() && b.dtype() == kUInt8 ? !b : b;
  if (!b.defined()) return merged_mask(b, a);
  if (a.dtype() == kUInt8 && b.dtype() == kUInt8) return !(a | b);
  const auto additive = [](const Tensor& m, DType dtype) {
    return m.dtype() == kUInt8 ? masked_fill(zeros(m.shape(), dtype, m.device()), m, -INFINITY) : m;
  };
  const DType dtype = a.dtype() == kUInt8 ? b.dtype() : a.dtype();
  return additive(a, dtype) + additive(b, dtype);
}

}  // namespace

Tensor MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& key_padding_mask, const Tensor& attn_mask) {
  return attend(query, key, value, key_padding_mask, attn_mask, false, false).output;
}

AttentionOutput MultiheadAttention::forward_with_weights(const Tensor& query, const Tensor& key,
                                                         const Tensor& value, const Tensor& key_padding_mask,
                                                         const Tensor& attn_mask, bool average_attn_weights) {
  return attend(query, key, value, key_padding_mask, attn_mask, true, average_attn_weights);
}

AttentionOutput MultiheadAttention::attend(const Tensor& query, const Tensor& key, const Tensor& value,
                                           const Tensor& key_padding_mask, const Tensor& attn_mask,
                                           bool weights, bool average) {
  const std::int64_t e = options.embed_dim(), h = options.num_heads(), d = e / h;
  const std::int64_t kdim = key_features(options), vdim = value_features(options);
  for (const auto& [t, name, features] :
       {std::tuple{&query, "query", e}, std::tuple{&key, "key", kdim}, std::tuple{&value, "value", vdim}})
    KILN_CHECK(t->dim() == 3 && t->size(2) == features, "MultiheadAttention: ", name, " must be ",
               options.batch_first() ? "(N, length, " : "(length, N, ", features, ") but has shape ",
               fmt(t->shape()));
  // Batch first from here on: (N, L, E) and (N, S, E).
  const Tensor q = options.batch_first() ? query : query.transpose(0, 1);
  const Tensor k = options.batch_first() ? key : key.transpose(0, 1);
  const Tensor v = options.batch_first() ? value : value.transpose(0, 1);
  const std::int64_t n = q.size(0), l = q.size(1), s = k.size(1);
  KILN_CHECK(k.size(0) == n && v.size(0) == n && v.size(1) == s, "MultiheadAttention: query ",
             fmt(query.shape()), ", key ", fmt(key.shape()), " and value ", fmt(value.shape()),
             " must share the batch, and key and value the length");
  // Each projection: its third of in_proj_weight's rows (or its own matrix): (N, length, E).
  const auto project = [&](const Tensor& x, std::int64_t part) {
    const Tensor w = in_proj_weight.defined()
                         ? in_proj_weight.narrow(0, part * e, e)
                         : *std::array{&q_proj_weight, &k_proj_weight, &v_proj_weight}[part];
    const Tensor b = in_proj_bias.defined() ? in_proj_bias.narrow(0, part * e, e) : Tensor();
    return linear(x, w, b);
  };
  Tensor kp = project(k, 1), vp = project(v, 2);
  if (bias_k.defined()) {  // one more key and value for every sequence
    kp = cat({kp, bias_k.expand({n, 1, e})}, 1);
    vp = cat({vp, bias_v.expand({n, 1, e})}, 1);
  }
  // Heads: (N, H, length, D).
  const auto heads_of = [&](const Tensor& x) { return x.reshape({n, x.size(1), h, d}).transpose(1, 2); };
  const Tensor qh = heads_of(project(q, 0));
  Tensor kh = heads_of(kp), vh = heads_of(vp);
  if (options.add_zero_attn()) {  // and a zero one per head
    const Tensor zero = zeros({n, h, 1, d}, kh.dtype(), kh.device());
    kh = cat({kh, zero}, 2);
    vh = cat({vh, zero}, 2);
  }
  // The extra keys' columns in the masks: visible (0) to every query.
  const std::int64_t extra = kh.size(2) - s;
  const auto widen = [extra](const Tensor& mask) { return extra ? pad(mask, {0, extra}, 0.0) : mask; };

  Tensor ignore, padding;  // each broadcasting to (N, H, L, S)
  if (attn_mask.defined()) {
    const Shape shared{l, s}, each_head{n * h, l, s};
    KILN_CHECK(attn_mask.shape() == shared || attn_mask.shape() == each_head,
               "MultiheadAttention: attn_mask of shape ", fmt(attn_mask.shape()), " must be (", l, ", ", s,
               ") or (N * num_heads, ", l, ", ", s, ") = (", n * h, ", ", l, ", ", s, ")");
    check_mask_dtype(attn_mask, q.dtype(), "attn_mask");
    ignore = widen(attn_mask.dim() == 3 ? attn_mask.reshape({n, h, l, s}) : attn_mask);
  }
  if (key_padding_mask.defined()) {
    const Shape per_key{n, s};
    KILN_CHECK(key_padding_mask.shape() == per_key, "MultiheadAttention: key_padding_mask of shape ",
               fmt(key_padding_mask.shape()), " must be (N, S) = (", n, ", ", s, ")");
    check_mask_dtype(key_padding_mask, q.dtype(), "key_padding_mask");
    padding = widen(key_padding_mask.reshape({n, 1, 1, s}));
  }
  const Tensor mask = merged_mask(ignore, padding);
  const double p = is_training() ? options.dropout() : 0.0;
  const detail::AttentionResult heads =
      detail::attention_with_weights(qh, kh, vh, mask, p, false, std::nullopt);
  const Tensor joined = heads.output.transpose(1, 2).reshape({n, l, e});  // from (N, H, L, D)
  const Tensor out = (*out_proj)(joined);
  AttentionOutput result;
  result.output = options.batch_first() ? out : out.transpose(0, 1);
  if (weights) result.weights = average ? mean(heads.weights, {1}) : heads.weights;  // (N, [H,] L, S)
  return result;
}

std::string MultiheadAttention::description() const {
  std::ostringstream os;
  os << "MultiheadAttention(embed_dim=" << options.embed_dim() << ", num_heads=" << options.num_heads();
  if (options.dropout() != 0) os << ", dropout=" << options.dropout();
  if (!options.bias()) os << ", bias=false";
  if (key_features(options) != options.embed_dim()) os << ", kdim=" << options.kdim();
  if (value_features(options) != options.embed_dim()) os << ", vdim=" << options.vdim();
  if (options.add_bias_kv()) os << ", add_bias_kv=true";
  if (options.add_zero_attn()) os << ", add_zero_attn=true";
  if (options.batch_first()) os << ", batch_first=true";
  os << ")";
  return os.str();
}

}  // namespace kiln::nn
