// Attention: scaled_dot_product_attention against its definition written as loops, its
// gradients, nn::MultiheadAttention against the same computation head by head, and the
// Transformer encoder and decoder against their sub-modules composed by hand.
#include <cmath>
#include <limits>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// softmax(q kᵀ scale + mask) v for one (L, E) query block, in plain loops over doubles.
// allowed(i, j) says whether query i may see key j; bias(i, j) is added to the score.
template <class Allowed, class Bias>
Tensor attention_by_loops(const Tensor& q, const Tensor& k, const Tensor& v, double scale, Allowed allowed,
                          Bias bias) {
  const std::int64_t l = q.size(0), s = k.size(0), e = q.size(1), ev = v.size(1);
  Tensor out = zeros({l, ev}, kFloat64);
  for (std::int64_t i = 0; i < l; ++i) {
    std::vector<double> score(static_cast<std::size_t>(s));
    double top = -INFINITY;
    for (std::int64_t j = 0; j < s; ++j) {
      double dot = 0;
      for (std::int64_t c = 0; c < e; ++c) dot += q.at<double>({i, c}) * k.at<double>({j, c});
      score[j] = allowed(i, j) ? dot * scale + bias(i, j) : -INFINITY;
      top = std::max(top, score[j]);
    }
    double total = 0;
    for (double& x : score) total += (x = std::exp(x - top));
    for (std::int64_t c = 0; c < ev; ++c) {
      double acc = 0;
      for (std::int64_t j = 0; j < s; ++j) acc += score[j] / total * v.at<double>({j, c});
      out.at<double>({i, c}) = acc;
    }
  }
  return out;
}

const auto everywhere = [](std::int64_t, std::int64_t) { return true; };
const auto no_bias = [](std::int64_t, std::int64_t) { return 0.0; };

}  // namespace

TEST_CASE("scaled_dot_product_attention: the definition, with masks, causal order and a scale") {
  manual_seed(60);
  const Tensor q = rand64({2, 3, 4, 5}), k = rand64({2, 3, 6, 5}), v = rand64({2, 3, 6, 7});
  const Tensor keep = (rand({4, 6}) > 0.3).to(kUInt8);  // broadcast over batch and heads
  const Tensor bias = rand64({3, 1, 6});                // per head, broadcast over queries
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t hd = 0; hd < 3; ++hd) {
      const Tensor qb = q[b][hd], kb = k[b][hd], vb = v[b][hd];
      const double scale = 1.0 / std::sqrt(5.0);
      check_same(scaled_dot_product_attention(q, k, v)[b][hd],
                 attention_by_loops(qb, kb, vb, scale, everywhere, no_bias), 1e-12);
      check_same(scaled_dot_product_attention(q, k, v, Tensor(), 0.0, false, 0.7)[b][hd],
                 attention_by_loops(qb, kb, vb, 0.7, everywhere, no_bias), 1e-12);
      check_same(scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true)[b][hd],
                 attention_by_loops(
                     qb, kb, vb, scale, [](std::int64_t i, std::int64_t j) { return j <= i; }, no_bias),
                 1e-12);
      const auto keeps = [&](std::int64_t i, std::int64_t j) { return keep.at<std::uint8_t>({i, j}) != 0; };
      // A query whose keys are all masked gets NaN, as in PyTorch: compare only the others.
      const Tensor masked = scaled_dot_product_attention(q, k, v, keep)[b][hd];
      const Tensor want = attention_by_loops(qb, kb, vb, scale, keeps, no_bias);
      for (std::int64_t i = 0; i < 4; ++i) {
        if (sum(keep[i]).item() == 0)
          CHECK(std::isnan(masked[i][0].item()));
        else
          check_same(masked[i], want[i], 1e-12);
      }
      check_same(scaled_dot_product_attention(q, k, v, bias)[b][hd],
                 attention_by_loops(qb, kb, vb, scale, everywhere,
                                    [&](std::int64_t, std::int64_t j) {
                                      return bias.at<double>({hd, 0, j});
                                    }),
                 1e-12);
    }
  // float32 against float64; a 2-D query block; dropout 1 drops every weight.
  check_same(scaled_dot_product_attention(q.to(kFloat32), k.to(kFloat32), v.to(kFloat32)),
             scaled_dot_product_attention(q, k, v), 1e-5);
  CHECK(scaled_dot_product_attention(rand64({4, 5}), rand64({6, 5}), rand64({6, 2})).shape() == Shape{4, 2});
  check_values(scaled_dot_product_attention(q, k, v, Tensor(), 1.0).flatten(),
               std::vector<double>(2 * 3 * 4 * 7, 0.0), 0);

  CHECK_THROWS_WITH_AS(
      scaled_dot_product_attention(q, rand64({2, 3, 6, 4}), v),
      doctest::Contains("query of shape (2, 3, 4, 5) has 5 features but key of shape (2, 3, 6, 4) has 4"),
      Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, rand64({2, 3, 5, 7})),
                       doctest::Contains("key of shape (2, 3, 6, 5) has 6 positions but value"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, keep, 0.0, true),
                       doctest::Contains("is_causal and attn_mask together"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, ones({4, 6}, kInt64)),
                       doctest::Contains("attn_mask must be uint8 (1 = attend) or of the query's dtype"),
                       Error);
}

TEST_CASE("gradcheck: scaled_dot_product_attention in query, key and value") {
  manual_seed(61);
  KILN_CHECK_GRAD([](const In& in) { return scaled_dot_product_attention(in[0], in[1], in[2]); },
                  {rand64({2, 3, 4}), rand64({2, 5, 4}), rand64({2, 5, 3})});
  KILN_CHECK_GRAD(
      [](const In& in) { return scaled_dot_product_attention(in[0], in[1], in[2], Tensor(), 0.0, true); },
      {rand64({4, 3}), rand64({4, 3}), rand64({4, 2})});
  const Tensor keep = tensor<std::uint8_t>({{1, 0, 1}, {1, 1, 0}});
  KILN_CHECK_GRAD([keep](const In& in) { return scaled_dot_product_attention(in[0], in[1], in[2], keep); },
                  {rand64({2, 2, 4}), rand64({2, 3, 4}), rand64({2, 3, 2})});
  // A floating mask is differentiable too (a learned relative-position bias).
  KILN_CHECK_GRAD([](const In& in) { return scaled_dot_product_attention(in[0], in[1], in[2], in[3]); },
                  {rand64({3, 2}), rand64({4, 2}), rand64({4, 2}), rand64({3, 4})});
}

namespace {
// MultiheadAttention written out head by head with the module's own parameters, batch first:
// its projections (in_proj_weight's thirds, or the three matrices), bias_k and bias_v, then
// a zero key and value, appended to each sample's keys and values as the options ask.
Tensor attention_head_by_head(nn::MultiheadAttention& m, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& additive_mask) {
  const std::int64_t e = m.options.embed_dim(), h = m.options.num_heads(), d = e / h;
  const auto f64 = [](const Tensor& t) { return t.detach().to(kFloat64); };
  const Tensor b = f64(m.in_proj_bias);
  const auto weight = [&](std::int64_t part) {
    if (m.in_proj_weight.defined()) return f64(m.in_proj_weight).narrow(0, part * e, e);
    return f64(part == 0 ? m.q_proj_weight : part == 1 ? m.k_proj_weight : m.v_proj_weight);
  };
  const Tensor qp = matmul(q, weight(0).t()) + b.narrow(0, 0, e);
  Tensor kp = matmul(k, weight(1).t()) + b.narrow(0, e, e);
  Tensor vp = matmul(v, weight(2).t()) + b.narrow(0, 2 * e, e);
  const std::int64_t n_samples = q.size(0);
  if (m.options.add_bias_kv()) {
    kp = cat({kp, f64(m.bias_k).expand({n_samples, 1, e})}, 1);
    vp = cat({vp, f64(m.bias_v).expand({n_samples, 1, e})}, 1);
  }
  if (m.options.add_zero_attn()) {
    kp = cat({kp, zeros({n_samples, 1, e}, kFloat64)}, 1);
    vp = cat({vp, zeros({n_samples, 1, e}, kFloat64)}, 1);
  }
  std::vector<Tensor> samples;
  for (std::int64_t n = 0; n < q.size(0); ++n) {
    std::vector<Tensor> heads;
    for (std::int64_t i = 0; i < h; ++i) {
      const Tensor mask = additive_mask.defined() ? additive_mask[n] : Tensor();
      heads.push_back(attention_by_loops(
          qp[n].narrow(1, i * d, d), kp[n].narrow(1, i * d, d), vp[n].narrow(1, i * d, d),
          1.0 / std::sqrt(double(d)),
          [&](std::int64_t qi, std::int64_t kj) {
            return !mask.defined() || std::isfinite(mask.at<double>({qi, kj}));
          },
          [&](std::int64_t qi, std::int64_t kj) {
            return mask.defined() ? mask.at<double>({qi, kj}) : 0.0;
          }));
    }
    samples.push_back(cat(heads, 1));
  }
  const Tensor joined = stack(samples, 0);
  return matmul(joined, m.out_proj->weight.detach().to(kFloat64).t()) +
         m.out_proj->bias.detach().to(kFloat64);
}
}  // namespace

TEST_CASE("MultiheadAttention: heads as defined, masks, batch layout, parameters as PyTorch names them") {
  manual_seed(62);
  nn::MultiheadAttention mha(8, 2);
  {
    NoGradGuard no_grad;
    mha.in_proj_bias.copy_(randn({24}));  // nonzero, so that a misplaced bias would show
    mha.out_proj->bias.copy_(randn({8}));
  }
  const Tensor q = rand64({3, 4, 8}), k = rand64({3, 5, 8}), v = rand64({3, 5, 8});  // batch first
  const auto f32 = [](const Tensor& t) { return t.to(kFloat32); };
  // PyTorch's layout (L, N, E) by default.
  const Tensor out = mha.forward(f32(q).transpose(0, 1), f32(k).transpose(0, 1), f32(v).transpose(0, 1));
  CHECK(out.shape() == Shape{4, 3, 8});
  check_same(out.transpose(0, 1), attention_head_by_head(mha, q, k, v, Tensor()), 1e-5);
  // A padded key: a uint8 1 ignores it, so changing its value changes nothing.
  const Tensor padding = tensor<std::uint8_t>({{0, 0, 0, 0, 1}, {0, 0, 0, 0, 0}, {0, 0, 1, 1, 0}});
  const Tensor causal_ignore = triu(ones({4, 5}, kUInt8), 1);  // query i ignores keys after i
  const Tensor with_masks = mha.forward(f32(q).transpose(0, 1), f32(k).transpose(0, 1),
                                        f32(v).transpose(0, 1), padding, causal_ignore);
  Tensor additive = zeros({3, 4, 5}, kFloat64);
  additive = masked_fill(additive, padding.reshape({3, 1, 5}), -INFINITY);
  additive = masked_fill(additive, causal_ignore, -INFINITY);
  const Tensor want = attention_head_by_head(mha, q, k, v, additive);
  for (std::int64_t n = 0; n < 3; ++n)
    for (std::int64_t i = 0; i < 4; ++i) {
      CAPTURE(n);
      CAPTURE(i);
      check_same(with_masks.transpose(0, 1)[n][i], want[n][i], 1e-5);
    }
  // The attention weights: each query's softmax over the keys it may see, per head or
  // averaged over the heads; per head, they give the output back.
  const nn::AttentionOutput per_head = mha.forward_with_weights(
      f32(q).transpose(0, 1), f32(k).transpose(0, 1), f32(v).transpose(0, 1), padding, causal_ignore, false);
  REQUIRE(per_head.weights.shape() == Shape{3, 2, 4, 5});
  check_same(per_head.output, with_masks, 0);
  check_same(sum(per_head.weights, {-1}), ones({3, 2, 4}), 1e-6);
  const Tensor ignored = (padding.reshape({3, 1, 1, 5}) | causal_ignore).expand({3, 2, 4, 5});
  CHECK(max(abs(masked_select(per_head.weights, ignored))).item() == 0);
  const Tensor w_v = mha.in_proj_weight.detach().narrow(0, 16, 8),
               b_v = mha.in_proj_bias.detach().narrow(0, 16, 8);
  const Tensor v_heads =
      (matmul(f32(v), w_v.t()) + b_v).reshape({3, 5, 2, 4}).transpose(1, 2);  // (N, H, S, D)
  const Tensor rebuilt =
      (*mha.out_proj)(matmul(per_head.weights, v_heads).transpose(1, 2).reshape({3, 4, 8}));
  check_same(rebuilt, with_masks.transpose(0, 1), 1e-5);
  const nn::AttentionOutput averaged = mha.forward_with_weights(
      f32(q).transpose(0, 1), f32(k).transpose(0, 1), f32(v).transpose(0, 1), padding, causal_ignore);
  check_same(averaged.weights, mean(per_head.weights, {1}), 1e-7);
  Tensor v2 = v.clone();
  v2[0][4].fill_(100.0);  // the padded key of sequence 0
  const Tensor changed = mha.forward(f32(q).transpose(0, 1), f32(k).transpose(0, 1), f32(v2).transpose(0, 1),
                                     padding, causal_ignore);
  check_same(changed, with_masks, 0);
  // batch_first gives the same numbers in (N, L, E).
  nn::MultiheadAttention first(nn::MultiheadAttentionOptions(8, 2).batch_first(true));
  first.load_state_dict(mha.state_dict());
  check_same(first.forward(f32(q), f32(k), f32(v)), out.transpose(0, 1), 1e-6);
  check_same(first(f32(q)), mha(f32(q).transpose(0, 1)).transpose(0, 1), 1e-6);  // self-attention

  // PyTorch's parameter names and shapes; initialisation.
  const auto state = mha.state_dict();
  CHECK(state.at("in_proj_weight").shape() == Shape{24, 8});
  CHECK(state.at("in_proj_bias").shape() == Shape{24});
  CHECK(state.at("out_proj.weight").shape() == Shape{8, 8});
  CHECK(state.at("out_proj.bias").shape() == Shape{8});
  CHECK(state.size() == 4);
  nn::MultiheadAttention fresh(8, 2);
  check_values(fresh.in_proj_bias, std::vector<double>(24, 0.0), 0);
  CHECK(max(abs(fresh.in_proj_weight)).item() <= std::sqrt(6.0 / (24 + 8)));  // Xavier over (3E, E)
  CHECK(nn::MultiheadAttention(nn::MultiheadAttentionOptions(8, 4).bias(false)).parameters().size() == 2);
  CHECK(fresh.description() == "MultiheadAttention(embed_dim=8, num_heads=2)");

  // Gradients reach every parameter; dropout acts in training only.
  mha.zero_grad();
  sum(mha(f32(q).transpose(0, 1))).backward();
  for (const auto& named : mha.named_parameters()) {
    CAPTURE(named.first);
    REQUIRE(named.second.grad().defined());
    CHECK(sum(abs(named.second.grad())).item() > 0);
  }
  nn::MultiheadAttention dropping(nn::MultiheadAttentionOptions(8, 2).dropout(0.5));
  dropping.load_state_dict(mha.state_dict());
  dropping.eval();
  check_same(dropping(f32(q).transpose(0, 1)), mha(f32(q).transpose(0, 1)), 0);
  dropping.train();
  CHECK(max(abs(dropping(f32(q).transpose(0, 1)) - mha(f32(q).transpose(0, 1)))).item() > 1e-3);

  CHECK_THROWS_WITH_AS(nn::MultiheadAttention(8, 3), doctest::Contains("split evenly into 3 heads"), Error);
  CHECK_THROWS_WITH_AS(mha(randn({3, 4, 6})),
                       doctest::Contains("query must be (length, N, 8) but has shape (3, 4, 6)"), Error);
  CHECK_THROWS_WITH_AS(mha.forward(f32(q).transpose(0, 1), f32(k).transpose(0, 1), f32(v).transpose(0, 1),
                                   ones({3, 4}, kUInt8)),
                       doctest::Contains("key_padding_mask of shape (3, 4) must be (N, S) = (3, 5)"), Error);
  CHECK_THROWS_WITH_AS(mha.forward(f32(q).transpose(0, 1), f32(k).transpose(0, 1), f32(v).transpose(0, 1),
                                   Tensor(), ones({5, 4}, kUInt8)),
                       doctest::Contains("attn_mask of shape (5, 4) must be (4, 5) or (N * num_heads, 4, 5)"),
                       Error);
}

TEST_CASE("MultiheadAttention: key and value widths of their own, bias_k / bias_v and a zero key") {
  manual_seed(66);
  const Tensor q = rand64({2, 3, 8}), k = rand64({2, 4, 5}), v = rand64({2, 4, 3});  // batch first
  const auto f32 = [](const Tensor& t) { return t.to(kFloat32).transpose(0, 1); };   // to (L, N, E)
  const Tensor padding = tensor<std::uint8_t>({{0, 0, 0, 1}, {0, 0, 0, 0}});
  const Tensor causal_ignore = triu(ones({3, 4}, kUInt8), 1);
  for (int extras = 0; extras < 4; ++extras) {  // bit 0: add_bias_kv, bit 1: add_zero_attn
    const bool bias_kv = extras & 1, zero_attn = extras & 2;
    CAPTURE(bias_kv);
    CAPTURE(zero_attn);
    nn::MultiheadAttention mha(
        nn::MultiheadAttentionOptions(8, 2).kdim(5).vdim(3).add_bias_kv(bias_kv).add_zero_attn(zero_attn));
    {
      NoGradGuard no_grad;
      mha.in_proj_bias.copy_(randn({24}));
      mha.out_proj->bias.copy_(randn({8}));
    }
    CHECK_FALSE(mha.in_proj_weight.defined());
    CHECK(mha.k_proj_weight.shape() == Shape{8, 5});
    CHECK(mha.v_proj_weight.shape() == Shape{8, 3});
    // The extra keys are seen by every query: the masks gain visible columns.
    const std::int64_t extra = (bias_kv ? 1 : 0) + (zero_attn ? 1 : 0);
    Tensor additive = zeros({2, 3, 4 + extra}, kFloat64);
    additive = masked_fill(additive, pad(padding, {0, extra}).reshape({2, 1, 4 + extra}), -INFINITY);
    additive = masked_fill(additive, pad(causal_ignore, {0, extra}), -INFINITY);
    const Tensor got = mha.forward(f32(q), f32(k), f32(v), padding, causal_ignore);
    check_same(got.transpose(0, 1), attention_head_by_head(mha, q, k, v, additive), 1e-5);
    const nn::AttentionOutput with_weights =
        mha.forward_with_weights(f32(q), f32(k), f32(v), padding, causal_ignore, false);
    CHECK(with_weights.weights.shape() == Shape{2, 2, 3, 4 + extra});
    check_same(sum(with_weights.weights, {-1}), ones({2, 2, 3}), 1e-6);
    const auto state = mha.state_dict();
    CHECK(state.size() == 6 + (bias_kv ? 2 : 0));
    CHECK(state.count("in_proj_weight") == 0);
    CHECK(state.count("q_proj_weight") == 1);
    CHECK(state.count("bias_k") == (bias_kv ? 1u : 0u));
    sum(got).backward();
    for (const auto& named : mha.named_parameters()) {
      CAPTURE(named.first);
      REQUIRE(named.second.grad().defined());
    }
  }
  // Differentiable through the separate projections, the extra key and value and the masks.
  KILN_CHECK_GRAD(
      [](const In& in) {
        nn::MultiheadAttention m(
            nn::MultiheadAttentionOptions(4, 2).kdim(3).vdim(2).add_bias_kv(true).add_zero_attn(true));
        m.q_proj_weight = in[3], m.k_proj_weight = in[4], m.v_proj_weight = in[5];
        m.bias_k = in[6], m.bias_v = in[7], m.in_proj_bias = in[8];
        m.out_proj->weight = in[9], m.out_proj->bias = in[10];
        return m.forward(in[0], in[1], in[2], tensor<std::uint8_t>({{0, 1, 0}}));
      },
      {rand64({2, 1, 4}), rand64({3, 1, 3}), rand64({3, 1, 2}), rand64({4, 4}), rand64({4, 3}),
       rand64({4, 2}), rand64({1, 1, 4}), rand64({1, 1, 4}), rand64({12}), rand64({4, 4}), rand64({4})});
  nn::MultiheadAttention wide(nn::MultiheadAttentionOptions(8, 2).kdim(5).add_bias_kv(true));
  CHECK(wide.description() == "MultiheadAttention(embed_dim=8, num_heads=2, kdim=5, add_bias_kv=true)");
  CHECK(wide.v_proj_weight.shape() == Shape{8, 8});                        // vdim 0: embed_dim
  CHECK(max(abs(wide.k_proj_weight)).item() <= std::sqrt(6.0 / (8 + 5)));  // Xavier over (E, kdim)
  CHECK(max(abs(wide.bias_k)).item() > 0);
  CHECK_THROWS_WITH_AS(
      wide.forward(randn({3, 2, 8}), randn({4, 2, 8}), randn({4, 2, 8})),
      doctest::Contains("MultiheadAttention: key must be (length, N, 5) but has shape (4, 2, 8)"), Error);
}

TEST_CASE("TransformerEncoderLayer: post-norm and pre-norm as defined, masks, layout, PyTorch's names") {
  manual_seed(63);
  const Tensor x = randn({5, 3, 8});  // (L, N, E)
  for (bool norm_first : {false, true}) {
    CAPTURE(norm_first);
    nn::TransformerEncoderLayer layer(nn::TransformerEncoderLayerOptions(8, 2)
                                          .dim_feedforward(16)
                                          .norm_first(norm_first)
                                          .activation(nn::TransformerActivation::GELU));
    {
      NoGradGuard no_grad;  // norms away from ones and zeros, so that a swapped norm shows
      for (auto* norm : {layer.norm1.get(), layer.norm2.get()}) {
        norm->weight.copy_(randn({8}));
        norm->bias.copy_(randn({8}));
      }
    }
    layer.eval();
    // The same computation from the sub-modules, written out.
    const auto attend = [&](const Tensor& h) { return (*layer.self_attn)(h); };
    const auto feed_forward = [&](const Tensor& h) { return (*layer.linear2)(gelu((*layer.linear1)(h))); };
    Tensor want;
    if (norm_first) {
      const Tensor h = x + attend((*layer.norm1)(x));
      want = h + feed_forward((*layer.norm2)(h));
    } else {
      const Tensor h = (*layer.norm1)(x + attend(x));
      want = (*layer.norm2)(h + feed_forward(h));
    }
    check_same(layer(x), want, 1e-6);
    // batch_first: the same numbers in (N, L, E).
    nn::TransformerEncoderLayer first(nn::TransformerEncoderLayerOptions(8, 2)
                                          .dim_feedforward(16)
                                          .norm_first(norm_first)
                                          .batch_first(true)
                                          .activation(nn::TransformerActivation::GELU));
    first.load_state_dict(layer.state_dict());
    first.eval();
    check_same(first(x.transpose(0, 1)), layer(x).transpose(0, 1), 1e-6);
    // A padded position is no key for the others: changing it changes only its own row.
    const Tensor padding = tensor<std::uint8_t>({{0, 0, 0, 0, 1}, {0, 0, 0, 0, 0}, {0, 1, 0, 0, 0}});
    Tensor x2 = x.clone();
    x2[4][0].fill_(9.0);
    const Tensor a = layer.forward(x, Tensor(), padding), b = layer.forward(x2, Tensor(), padding);
    check_same(a.narrow(0, 0, 4).select(1, 0), b.narrow(0, 0, 4).select(1, 0), 1e-6);
    CHECK(max(abs(a[4][0] - b[4][0])).item() > 1e-3);
    // A causal mask: the first position sees only itself, so the rest cannot move it.
    const Tensor causal = triu(ones({5, 5}, kUInt8), 1);
    Tensor x3 = x.clone();
    x3.narrow(0, 1, 4).fill_(3.0);
    check_same(layer.forward(x, causal, Tensor())[0], layer.forward(x3, causal, Tensor())[0], 1e-6);
  }

  nn::TransformerEncoderLayer layer(8, 2);
  const auto state = layer.state_dict();
  std::vector<std::string> names;
  for (const auto& kv : state) names.push_back(kv.first);
  CHECK(names == std::vector<std::string>{"linear1.bias", "linear1.weight", "linear2.bias", "linear2.weight",
                                          "norm1.bias", "norm1.weight", "norm2.bias", "norm2.weight",
                                          "self_attn.in_proj_bias", "self_attn.in_proj_weight",
                                          "self_attn.out_proj.bias", "self_attn.out_proj.weight"});
  CHECK(state.at("linear1.weight").shape() == Shape{2048, 8});  // PyTorch's default width
  CHECK(layer.description() ==
        "TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=2048, dropout=0.1)");
  // Dropout acts in training only; every parameter receives a gradient.
  layer.eval();
  const Tensor evaluated = layer(x);
  check_same(layer(x), evaluated, 0);
  layer.train();
  CHECK(max(abs(layer(x) - evaluated)).item() > 1e-3);
  sum(layer(x)).backward();
  for (const auto& named : layer.named_parameters()) {
    CAPTURE(named.first);
    REQUIRE(named.second.grad().defined());
    CHECK(sum(abs(named.second.grad())).item() > 0);
  }
  CHECK_THROWS_WITH_AS(
      layer(randn({5, 3, 6})),
      doctest::Contains("TransformerEncoderLayer: src of shape (5, 3, 6) must be (length, N, 8)"), Error);

  // The encoder: its layers in turn, then the final norm; PyTorch's names.
  nn::TransformerEncoder encoder(nn::TransformerEncoderLayerOptions(8, 2).dim_feedforward(16), 2, true);
  encoder.eval();
  const auto l0 = encoder.layers->at<nn::TransformerEncoderLayer>(0);
  const auto l1 = encoder.layers->at<nn::TransformerEncoderLayer>(1);
  check_same(encoder(x), (*encoder.norm)((*l1)((*l0)(x))), 1e-6);
  CHECK(encoder.state_dict().count("layers.1.self_attn.out_proj.weight") == 1);
  CHECK(encoder.state_dict().count("norm.weight") == 1);
  CHECK(max(abs(l0->linear1->weight - l1->linear1->weight)).item() > 0);  // initialised on their own
  CHECK(encoder.description() == "TransformerEncoder(num_layers=2, norm)");
}

TEST_CASE("TransformerDecoderLayer and TransformerDecoder: the blocks as defined, masks, layout, names") {
  manual_seed(64);
  const Tensor tgt = randn({4, 2, 8}), memory = randn({6, 2, 8});  // (T, N, E), (S, N, E)
  const Tensor causal = triu(ones({4, 4}, kUInt8), 1);
  const Tensor memory_padding = tensor<std::uint8_t>({{0, 0, 0, 0, 1, 1}, {0, 0, 0, 0, 0, 0}});
  for (bool norm_first : {false, true}) {
    CAPTURE(norm_first);
    const auto o = nn::TransformerDecoderLayerOptions(8, 2).dim_feedforward(16).norm_first(norm_first);
    nn::TransformerDecoderLayer layer(o);
    {
      NoGradGuard no_grad;  // norms away from ones and zeros, so that a swapped norm shows
      for (auto* norm : {layer.norm1.get(), layer.norm2.get(), layer.norm3.get()}) {
        norm->weight.copy_(randn({8}));
        norm->bias.copy_(randn({8}));
      }
    }
    layer.eval();
    // The same computation from the sub-modules, written out.
    const auto self_attention = [&](const Tensor& h) {
      return layer.self_attn->forward(h, h, h, Tensor(), causal);
    };
    const auto cross_attention = [&](const Tensor& h) {
      return layer.multihead_attn->forward(h, memory, memory, memory_padding);
    };
    const auto feed_forward = [&](const Tensor& h) { return (*layer.linear2)(relu((*layer.linear1)(h))); };
    Tensor want;
    if (norm_first) {
      Tensor h = tgt + self_attention((*layer.norm1)(tgt));
      h = h + cross_attention((*layer.norm2)(h));
      want = h + feed_forward((*layer.norm3)(h));
    } else {
      Tensor h = (*layer.norm1)(tgt + self_attention(tgt));
      h = (*layer.norm2)(h + cross_attention(h));
      want = (*layer.norm3)(h + feed_forward(h));
    }
    const Tensor got = layer.forward(tgt, memory, causal, Tensor(), Tensor(), memory_padding);
    check_same(got, want, 1e-6);
    // batch_first: the same numbers in (N, T, E).
    nn::TransformerDecoderLayer first(nn::TransformerDecoderLayerOptions(o).batch_first(true));
    first.load_state_dict(layer.state_dict());
    first.eval();
    check_same(first.forward(tgt.transpose(0, 1), memory.transpose(0, 1), causal, Tensor(), Tensor(),
                             memory_padding),
               got.transpose(0, 1), 1e-6);
    // Causal: target position 0 does not see the later ones; padded memory is not seen at all.
    Tensor tgt2 = tgt.clone(), memory2 = memory.clone();
    tgt2.narrow(0, 1, 3).fill_(3.0);
    memory2[5][0].fill_(9.0);
    const Tensor moved = layer.forward(tgt2, memory2, causal, Tensor(), Tensor(), memory_padding);
    check_same(moved[0], got[0], 1e-6);
  }
  nn::TransformerDecoderLayer layer(8, 2);
  std::vector<std::string> names;
  for (const auto& kv : layer.state_dict()) names.push_back(kv.first);
  CHECK(names.size() == 18);
  CHECK(layer.state_dict().count("multihead_attn.in_proj_weight") == 1);
  CHECK(layer.state_dict().count("norm3.bias") == 1);
  CHECK(layer.description() ==
        "TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=2048, dropout=0.1)");
  sum(layer.forward(tgt, memory)).backward();
  for (const auto& named : layer.named_parameters()) {
    CAPTURE(named.first);
    REQUIRE(named.second.grad().defined());
    CHECK(sum(abs(named.second.grad())).item() > 0);
  }
  CHECK_THROWS_WITH_AS(layer.forward(tgt), doctest::Contains("has no single-input forward()"), Error);
  CHECK_THROWS_WITH_AS(
      layer.forward(tgt, randn({6, 2, 4})),
      doctest::Contains("TransformerDecoderLayer: memory of shape (6, 2, 4) must be (length, N, 8)"), Error);
  // The decoder: its layers in turn over the same memory, then the final norm.
  nn::TransformerDecoder decoder(nn::TransformerDecoderLayerOptions(8, 2).dim_feedforward(16), 2, true);
  decoder.eval();
  const auto l0 = decoder.layers->at<nn::TransformerDecoderLayer>(0);
  const auto l1 = decoder.layers->at<nn::TransformerDecoderLayer>(1);
  check_same(decoder.forward(tgt, memory, causal),
             (*decoder.norm)(l1->forward(l0->forward(tgt, memory, causal), memory, causal)), 1e-6);
  CHECK(decoder.state_dict().count("layers.1.multihead_attn.out_proj.weight") == 1);
  CHECK(decoder.description() == "TransformerDecoder(num_layers=2, norm)");
}

TEST_CASE("Transformer: the encoder, then the decoder on its output; names, Xavier start, causal mask") {
  manual_seed(65);
  const Tensor src = randn({5, 2, 8}), tgt = randn({4, 2, 8});  // (S, N, E), (T, N, E)
  const Tensor causal = nn::Transformer::generate_square_subsequent_mask(4);
  check_values(nn::Transformer::generate_square_subsequent_mask(3),
               {0, -INFINITY, -INFINITY, 0, 0, -INFINITY, 0, 0, 0}, 0);
  CHECK(nn::Transformer::generate_square_subsequent_mask(2, kFloat64).dtype() == kFloat64);
  const Tensor src_padding = tensor<std::uint8_t>({{0, 0, 0, 1, 1}, {0, 0, 0, 0, 0}});
  const auto o = nn::TransformerOptions(8, 2).num_encoder_layers(2).num_decoder_layers(1).dim_feedforward(16);
  for (bool norm_first : {false, true}) {
    CAPTURE(norm_first);
    nn::Transformer model(nn::TransformerOptions(o).norm_first(norm_first));
    model.eval();
    const Tensor got =
        model.forward(src, tgt, Tensor(), causal, Tensor(), src_padding, Tensor(), src_padding);
    const Tensor memory = model.encoder->forward(src, Tensor(), src_padding);
    check_same(got, model.decoder->forward(tgt, memory, causal, Tensor(), Tensor(), src_padding), 1e-6);
    CHECK(got.shape() == Shape{4, 2, 8});
    CHECK(model.encoder->layers->at<nn::TransformerEncoderLayer>(1)->options.norm_first() == norm_first);
    // Causal: target position 0 is unmoved by the later ones; padded source is not seen.
    Tensor tgt2 = tgt.clone(), src2 = src.clone();
    tgt2.narrow(0, 1, 3).fill_(3.0);
    src2[4][0].fill_(9.0);
    check_same(model.forward(src2, tgt2, Tensor(), causal, Tensor(), src_padding, Tensor(), src_padding)[0],
               got[0], 1e-6);
    // batch_first: the same numbers in (N, ., E).
    nn::Transformer first(nn::TransformerOptions(o).norm_first(norm_first).batch_first(true));
    first.load_state_dict(model.state_dict());
    first.eval();
    check_same(first.forward(src.transpose(0, 1), tgt.transpose(0, 1), Tensor(), causal, Tensor(),
                             src_padding, Tensor(), src_padding),
               got.transpose(0, 1), 1e-6);
  }
  nn::Transformer model(o);
  const auto state = model.state_dict();
  CHECK(state.size() == 2 * 12 + 2 + 18 + 2);
  for (const char* name : {"encoder.layers.1.linear2.bias", "encoder.norm.weight",
                           "decoder.layers.0.multihead_attn.in_proj_weight", "decoder.norm.bias"})
    CHECK(state.count(name) == 1);
  // Matrices start Xavier-uniform: linear1's (16, 8) within sqrt(6 / 24) = 0.5, and past
  // Linear's own bound 1 / sqrt(8); vectors keep their layers' starts.
  const auto max_abs = [](const Tensor& t) { return max(abs(t)).item(); };
  const auto layer0 = model.encoder->layers->at<nn::TransformerEncoderLayer>(0);
  CHECK(max_abs(layer0->linear1->weight) <= 0.5);
  CHECK(max_abs(layer0->linear1->weight) > 1 / std::sqrt(8.0));
  CHECK(max_abs(layer0->linear1->bias) <= 1 / std::sqrt(8.0));
  CHECK(max_abs(model.decoder->norm->weight - 1.0) == 0);
  CHECK(model.description() ==
        "Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=16, "
        "dropout=0.1)");
  CHECK(nn::Transformer().parameters().size() == 6 * 12 + 2 + 6 * 18 + 2);  // PyTorch's defaults
  sum(model.forward(src, tgt, Tensor(), causal)).backward();
  for (const auto& named : model.named_parameters()) {
    CAPTURE(named.first);
    REQUIRE(named.second.grad().defined());
    CHECK(sum(abs(named.second.grad())).item() > 0);
  }
  CHECK_THROWS_WITH_AS(
      model.forward(src, randn({4, 3, 8})),
      doctest::Contains("Transformer: src of shape (5, 2, 8) and tgt of shape (4, 3, 8) hold "
                        "different batch sizes"),
      Error);
  CHECK_THROWS_WITH_AS(model.forward(src, randn({4, 2, 6})),
                       doctest::Contains("Transformer: tgt of shape (4, 2, 6) must be (length, N, 8)"),
                       Error);
  CHECK_THROWS_WITH_AS(model.forward(src), doctest::Contains("has no single-input forward()"), Error);
  CHECK_THROWS_WITH_AS(nn::Transformer(nn::TransformerOptions(8, 2).num_decoder_layers(0)),
                       doctest::Contains("num_decoder_layers (0) must be positive"), Error);
}
