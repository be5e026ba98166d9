// The differential test against PyTorch, continued: the graph ops and layers (spmm,
// the normalisations, edge_softmax, GCNConv, SAGEConv, GATConv, the decoder and the KL
// term) against the same computations written with libtorch's ops, attention, the
// Transformer encoder and decoder and the recurrent layers against torch's. What training
// uses around a model (the optimizers, StepLR, clipping): torch_differential_optim.cpp.
#include "torch_differential.hpp"

#include <map>
#include <memory>
#include <type_traits>

using namespace differential;

namespace {

// A random sparse matrix, as kiln's CSR and as torch's dense matrix of the same entries,
// repeats summed on both sides. The values are eighths in [-2, 2] (in [1/8, 2] where
// `positive`), so that they and their sums are exact in the CSR's float32 values.
struct Sparse {
  kiln::graph::CsrMatrix k;
  TT dense;  // float64
};
Sparse random_sparse(std::int64_t rows, std::int64_t cols, std::int64_t entries, bool positive = false) {
  std::vector<kiln::graph::Edge> at;
  std::vector<float> values;
  TT dense = torch::zeros({rows, cols}, torch::kDouble);
  for (std::int64_t e = 0; e < entries; ++e) {
    at.emplace_back(irand(0, rows - 1), irand(0, cols - 1));
    values.push_back(static_cast<float>(irand(positive ? 1 : -16, 16)) / 8);
    dense[at.back().first][at.back().second] += static_cast<double>(values.back());
  }
  return {kiln::graph::CsrMatrix::from_coo(rows, cols, at, values), dense};
}

// An undirected graph without self loops on `nodes` nodes, as kiln's CSR and torch's dense 0/1 matrix.
Sparse random_undirected(std::int64_t nodes, std::int64_t edges) {
  std::vector<kiln::graph::Edge> list;
  TT dense = torch::zeros({nodes, nodes}, torch::kDouble);
  for (std::int64_t e = 0; e < edges; ++e) {
    const std::int64_t u = irand(0, nodes - 1), v = irand(0, nodes - 1);
    list.emplace_back(u, v);  // repeats and self loops too: the builder drops them
    if (u != v) dense[u][v] = dense[v][u] = 1.0;
  }
  return {kiln::graph::CsrMatrix::undirected(nodes, list), dense};
}

// torch's D^-1/2 (A + I) D^-1/2 and D^-1 A of a dense matrix.
TT symmetric_normalised(const TT& a) {
  const TT with_loops = a + torch::diag(torch::where(torch::diag(a) == 0, 1.0, 0.0));
  const TT scale = with_loops.sum(1).pow(-0.5);
  return scale.unsqueeze(1) * with_loops * scale.unsqueeze(0);
}
TT row_normalised(const TT& a) {
  const TT sums = a.sum(1, true);
  return torch::where(sums == 0, torch::zeros_like(a), a / sums);
}

// The row of each nonzero of a CSR matrix, in its CSR order.
TT rows_of(const kiln::graph::CsrMatrix& a) {
  std::vector<std::int64_t> rows;
  for (std::int64_t r = 0; r < a.rows; ++r)
    for (std::int64_t k = a.row_ptr[r]; k < a.row_ptr[r + 1]; ++k) rows.push_back(r);
  return torch::tensor(rows, torch::kLong);
}
TT cols_of(const kiln::graph::CsrMatrix& a) { return torch::tensor(a.col_idx, torch::kLong); }

// A kiln tensor's values as a torch tensor of the same shape, in the dtype `single` asks for.
TT to_torch(const KT& k) {
  const TT t = torch::tensor(k.detach().contiguous().to(kiln::kFloat64).to_vector<double>(), torch::kDouble)
                   .reshape(sizes_of(k));
  return single ? t.to(torch::kFloat) : t;
}

// torch's softmax (over dimension 0) of each row's slice of `scores` (nnz, H...), in a's CSR order.
TT torch_edge_softmax(const TT& scores, const kiln::graph::CsrMatrix& a) {
  std::vector<TT> rows;
  for (std::int64_t r = 0; r < a.rows; ++r)
    rows.push_back(torch::softmax(scores.slice(0, a.row_ptr[r], a.row_ptr[r + 1]), 0));
  return torch::cat(rows);
}

}  // namespace

TEST_CASE("torch differential: spmm, the normalisations and edge_softmax") {
  in_both_precisions(21, 80, [] {
    const std::int64_t rows = irand(1, 12), cols = irand(1, 12), features = irand(1, single ? 33 : 5);
    const Sparse a = random_sparse(rows, cols, irand(0, 3 * rows));
    const TT a_dense = single ? a.dense.to(torch::kFloat) : a.dense;
    const bool transposed = coin();  // X as a transposed view
    const auto x = [&] { return transposed ? leaf({features, cols}) : leaf({cols, features}); };
    const auto k_view = [&](const KT& t) { return transposed ? t.transpose(0, 1) : t; };
    const auto t_view = [&](const TT& t) { return transposed ? t.transpose(0, 1) : t; };
    compare(
        "spmm", {x()}, [&](const auto& in) { return kiln::spmm(a.k, k_view(in[0])); },
        [&](const auto& in) { return torch::mm(a_dense.to_sparse(), t_view(in[0])); });
    const kiln::graph::DeviceCsr held(a.k);
    compare(
        "spmm of a DeviceCsr", {x()}, [&](const auto& in) { return kiln::spmm(held, k_view(in[0])); },
        [&](const auto& in) { return torch::mm(a_dense.to_sparse(), t_view(in[0])); });

    // scores (nnz) or (nnz, H...), one per entry in CSR order
    Sizes scores{a.k.nnz()};
    for (std::int64_t d = irand(0, 2); d > 0; --d) scores.push_back(irand(1, 4));
    compare(
        "edge_softmax", {leaf(scores, -3, 3)},
        [&](const auto& in) { return kiln::edge_softmax(held, in[0]); },
        [&](const auto& in) { return torch_edge_softmax(in[0], a.k); });

    // The builders compute in float32, as the CSR holds its values.
    const Sparse g = random_undirected(rows, irand(0, 3 * rows));
    compare(
        "normalize_symmetric", {},
        [&](const auto&) { return kiln::graph::normalize_symmetric(g.k).to_dense(); },
        [&](const auto&) { return symmetric_normalised(g.dense); }, false, 1e-6);
    const Sparse square = random_sparse(rows, rows, irand(0, 3 * rows), true);
    compare(
        "add_self_loops", {}, [&](const auto&) { return kiln::graph::add_self_loops(square.k).to_dense(); },
        [&](const auto&) {
          return square.dense + torch::diag(torch::where(torch::diag(square.dense) == 0, 1.0, 0.0));
        },
        false);
    compare(
        "normalize_rows", {}, [&](const auto&) { return kiln::graph::normalize_rows(square.k).to_dense(); },
        [&](const auto&) { return row_normalised(square.dense); }, false, 1e-6);
  });
}

TEST_CASE("torch differential: GCNConv, SAGEConv, GATConv, the decoder and the KL term") {
  in_both_precisions(22, 120, [] {
    const std::int64_t nodes = irand(1, 12), in = irand(1, single ? 20 : 5), out = irand(1, single ? 20 : 5);
    const Sparse g = random_undirected(nodes, irand(0, 3 * nodes));
    switch (irand(0, 3)) {
      case 0: {
        const auto a_hat = kiln::graph::normalize_symmetric(g.k);
        const TT a_dense = to_torch(a_hat.to_dense());
        const bool bias = coin();
        kiln::nn::GCNConv layer(in, out, bias);
        std::vector<Both> inputs{leaf({nodes, in}), leaf({out, in})};
        if (bias) inputs.push_back(leaf({out}));
        compare(
            "GCNConv", inputs,
            [&](const auto& a) {
              layer.weight = a[1];
              if (bias) layer.bias = a[2];
              return layer.forward(a_hat, a[0]);
            },
            [&](const auto& a) {
              const TT y = a_dense.mm(a[0]).mm(a[1].t());
              return bias ? y + a[2] : y;
            });
        // Sparse input features (a constant; eighths, exact in the CSR's float32).
        std::vector<double> xv(static_cast<std::size_t>(nodes * in));
        for (double& v : xv) v = coin() ? static_cast<double>(irand(-16, 16)) / 8 : 0.0;
        const Both xs = from_values(xv, {nodes, in}, false);
        const auto x_csr = kiln::graph::CsrMatrix::from_dense(xs.k);
        std::vector<Both> params{leaf({out, in})};
        if (bias) params.push_back(leaf({out}));
        compare(
            "GCNConv, sparse features", params,
            [&](const auto& a) {
              layer.weight = a[0];
              if (bias) layer.bias = a[1];
              return layer.forward(a_hat, x_csr);
            },
            [&](const auto& a) {
              const TT y = a_dense.mm(xs.t).mm(a[0].t());
              return bias ? y + a[1] : y;
            });
        break;
      }
      case 1: {
        const auto a_mean = kiln::graph::normalize_rows(g.k);
        const TT a_dense = to_torch(a_mean.to_dense());
        kiln::nn::SAGEConv layer(in, out);
        compare(
            "SAGEConv", {leaf({nodes, in}), leaf({out, in}), leaf({out, in}), leaf({out})},
            [&](const auto& a) {
              layer.weight_self = a[1];
              layer.weight_neigh = a[2];
              layer.bias = a[3];
              return layer.forward(a_mean, a[0]);
            },
            [&](const auto& a) { return a[0].mm(a[1].t()) + a_dense.mm(a[0]).mm(a[2].t()) + a[3]; });
        break;
      }
      case 2: {
        // Directed, with self loops where the draw gives them and on every node after add_self_loops.
        const Sparse drawn = random_sparse(nodes, nodes, irand(0, 3 * nodes), true);
        const auto adj = coin() ? kiln::graph::add_self_loops(drawn.k) : drawn.k;
        const std::int64_t heads = irand(1, 3);
        const bool concat = coin(), bias = coin();
        const double slope = unif(0.05, 0.3);
        kiln::nn::GATConv layer(
            kiln::nn::GATConvOptions(in, out).heads(heads).concat(concat).negative_slope(slope).bias(bias));
        std::vector<Both> inputs{leaf({nodes, in}, -1, 1), leaf({heads * out, in}, -1, 1),
                                 leaf({heads, out}, -1, 1), leaf({heads, out}, -1, 1)};
        if (bias) inputs.push_back(leaf({concat ? heads * out : out}));
        const TT rows = rows_of(adj), cols = cols_of(adj);
        compare(
            "GATConv", inputs,
            [&](const auto& a) {
              layer.weight = a[1];
              layer.att_src = a[2];
              layer.att_dst = a[3];
              if (bias) layer.bias = a[4];
              return layer.forward(adj, a[0]);
            },
            [&](const auto& a) {
              const TT h = a[0].mm(a[1].t()).view({nodes, heads, out});
              const TT from_src = (h * a[2]).sum(-1), from_dst = (h * a[3]).sum(-1);  // (nodes, heads)
              const TT scores = F::leaky_relu(from_dst.index_select(0, rows) + from_src.index_select(0, cols),
                                              F::LeakyReLUFuncOptions().negative_slope(slope));
              const TT alpha = torch_edge_softmax(scores, adj);  // (nnz, heads)
              const TT messages = alpha.unsqueeze(-1) * h.index_select(0, cols);
              TT y = torch::zeros({nodes, heads, out}, h.options()).index_add(0, rows, messages);
              y = concat ? y.reshape({nodes, heads * out}) : y.mean(1);
              return bias ? y + a[4] : y;
            });
        break;
      }
      default: {
        const Both src = integers({irand(0, 8)}, 0, nodes - 1), dst = integers({src.t.numel()}, 0, nodes - 1);
        compare(
            "inner_product_logits", {leaf({nodes, in})},
            [&](const auto& a) { return kiln::nn::inner_product_logits(a[0], src.k, dst.k); },
            [&](const auto& a) {
              return (a[0].index_select(0, src.t) * a[0].index_select(0, dst.t)).sum(1);
            });
        compare(
            "inner_product_all", {leaf({nodes, in})},
            [&](const auto& a) { return kiln::nn::inner_product_all(a[0]); },
            [&](const auto& a) { return a[0].mm(a[0].t()); });
        compare(
            "gaussian_kl", {leaf({nodes, in}), leaf({nodes, in}, -2, 1)},
            [&](const auto& a) { return kiln::nn::gaussian_kl(a[0], a[1]); },
            [&](const auto& a) {
              return -0.5 * (1 + 2 * a[1] - a[0].pow(2) - torch::exp(2 * a[1])).sum(1).mean();
            });
      }
    }
  });
}

TEST_CASE("torch differential: scaled_dot_product_attention and multi-head attention") {
  in_both_precisions(26, 60, [] {
    // Attention alone, against its definition in torch's ops (libtorch 1.13 has no fused form).
    const std::int64_t batch = irand(1, 3), l = irand(1, 6), s = irand(1, 6), e = irand(1, single ? 20 : 4);
    const bool causal = coin() && l == s, masked = !causal && coin();
    std::vector<double> keep(static_cast<std::size_t>(l * s));
    for (double& x : keep) x = irand(0, 3) != 0;
    for (std::int64_t i = 0; i < l; ++i) keep[static_cast<std::size_t>(i * s)] = 1;  // no query sees nothing
    const KT keep_k = kiln::from_vector(keep, {l, s}).to(kiln::kUInt8);
    const TT keep_t = torch::tensor(keep).reshape({l, s}).to(torch::kBool);
    const double scale = coin() ? 1.0 / std::sqrt(static_cast<double>(e)) : unif(0.1, 2);
    compare(
        "scaled_dot_product_attention",
        {leaf({batch, l, e}), leaf({batch, s, e}), leaf({batch, s, irand(1, 4)})},
        [&](const auto& a) {
          return kiln::scaled_dot_product_attention(a[0], a[1], a[2], masked ? keep_k : KT(), 0.0, causal,
                                                    scale);
        },
        [&](const auto& a) {
          TT scores = a[0].matmul(a[1].transpose(-2, -1)) * scale;
          if (causal) scores = scores.masked_fill(torch::ones({l, s}).triu(1).to(torch::kBool), -INFINITY);
          if (masked) scores = scores.masked_fill(keep_t.logical_not(), -INFINITY);
          return torch::softmax(scores, -1).matmul(a[2]);
        });

    // The module's computation against torch's multi_head_attention_forward, with a key
    // padding mask and an attention mask (1 = ignore); its output, or its attention
    // weights (averaged over the heads, or per head) and their gradients. In float64 only: the gradient of
    // the key's bias is exactly 0 (it shifts a query's scores alike), which float32 leaves as rounding noise
    // of either sign on both sides.
    if (single) return;
    const std::int64_t heads = irand(1, 3), embed = heads * irand(1, 3), n = irand(1, 3);
    std::vector<double> pad(static_cast<std::size_t>(n * s)), ignore(static_cast<std::size_t>(l * s));
    for (double& x : pad) x = irand(0, 4) == 0;
    for (double& x : ignore) x = irand(0, 4) == 0;
    // Key 0 stays visible to every query: a query that sees no key is NaN on both sides,
    // with gradients that differ by how each masks (covered by test_attention.cpp).
    for (std::int64_t i = 0; i < n; ++i) pad[static_cast<std::size_t>(i * s)] = 0;
    for (std::int64_t i = 0; i < l; ++i) ignore[static_cast<std::size_t>(i * s)] = 0;
    const bool use_pad = coin(), use_ignore = coin(), bias = coin();
    // Key and value widths of their own (three projection matrices), bias_k / bias_v, a zero key.
    // libtorch 1.13's C++ form asserts that key and value have the same shape: one width for both.
    const bool separate = coin(), bias_kv = coin(), zero_attn = coin();
    std::int64_t kdim = separate ? irand(1, 4) : embed;
    if (separate && kdim == embed) ++kdim;  // a width of its own: kiln then holds the three matrices
    const std::int64_t vdim = kdim;
    const int weights =
        static_cast<int>(irand(0, 2));  // compare the output, or the weights averaged or per head
    INFO("separate " << separate << " (kdim " << kdim << ", vdim " << vdim << "), bias_kv " << bias_kv
                     << ", zero_attn " << zero_attn);
    kiln::nn::MultiheadAttention mha(kiln::nn::MultiheadAttentionOptions(embed, heads)
                                         .bias(bias)
                                         .kdim(kdim)
                                         .vdim(vdim)
                                         .add_bias_kv(bias_kv)
                                         .add_zero_attn(zero_attn));
    // The leaves, and where each sits in `in`: inputs, projections, out_proj, biases.
    std::vector<Both> in{leaf({l, n, embed}), leaf({s, n, kdim}), leaf({s, n, vdim})};
    const auto add = [&](Sizes sizes) {
      in.push_back(leaf(sizes));
      return in.size() - 1;
    };
    const std::size_t w_in = separate ? 0 : add({3 * embed, embed});
    const std::size_t w_q = separate ? add({embed, embed}) : 0, w_k = separate ? add({embed, kdim}) : 0,
                      w_v = separate ? add({embed, vdim}) : 0;
    const std::size_t w_out = add({embed, embed});
    const std::size_t b_in = bias ? add({3 * embed}) : 0, b_out = bias ? add({embed}) : 0;
    const std::size_t b_k = bias_kv ? add({1, 1, embed}) : 0, b_v = bias_kv ? add({1, 1, embed}) : 0;
    compare(
        "MultiheadAttention", in,
        [&](const auto& a) {
          if (separate) {
            mha.q_proj_weight = a[w_q], mha.k_proj_weight = a[w_k], mha.v_proj_weight = a[w_v];
          } else {
            mha.in_proj_weight = a[w_in];
          }
          mha.out_proj->weight = a[w_out];
          if (bias) {
            mha.in_proj_bias = a[b_in];
            mha.out_proj->bias = a[b_out];
          }
          if (bias_kv) mha.bias_k = a[b_k], mha.bias_v = a[b_v];
          const KT k_pad = use_pad ? kiln::from_vector(pad, {n, s}).to(kiln::kUInt8) : KT();
          const KT k_ignore = use_ignore ? kiln::from_vector(ignore, {l, s}).to(kiln::kUInt8) : KT();
          if (weights == 0) return mha.forward(a[0], a[1], a[2], k_pad, k_ignore);
          return mha.forward_with_weights(a[0], a[1], a[2], k_pad, k_ignore, weights == 1).weights;
        },
        [&](const auto& a) {
          auto options =
              F::MultiheadAttentionForwardFuncOptions(
                  embed, heads, separate ? TT() : a[w_in], bias ? a[b_in] : TT(), bias_kv ? a[b_k] : TT(),
                  bias_kv ? a[b_v] : TT(), zero_attn, 0.0, a[w_out], bias ? a[b_out] : TT())
                  .need_weights(weights != 0)
                  .average_attn_weights(weights == 1);
          if (separate)
            options.use_separate_proj_weight(true).q_proj_weight(a[w_q]).k_proj_weight(a[w_k]).v_proj_weight(
                a[w_v]);
          if (use_pad) options.key_padding_mask(torch::tensor(pad).reshape({n, s}).to(torch::kBool));
          // libtorch 1.13's C++ form adds a bool attn_mask to the scores (Python's masks
          // with it): give it PyTorch's meaning as an additive mask, -inf where ignored.
          if (use_ignore)
            options.attn_mask(
                torch::zeros({l, s}, a[0].options())
                    .masked_fill(torch::tensor(ignore).reshape({l, s}).to(torch::kBool), -INFINITY));
          const auto [output, attention] = F::multi_head_attention_forward(a[0], a[1], a[2], options);
          return weights == 0 ? output : attention;
        },
        true, 1e-8);
  });
}

namespace {
// Where each of a kiln Transformer encoder or decoder layer's parameters lives, by PyTorch's name.
template <class Layer>
void transformer_members(Layer& l, const std::string& prefix, std::map<std::string, KT*>& out) {
  std::vector<std::pair<std::string, kiln::nn::MultiheadAttention*>> attention{
      {"self_attn", l.self_attn.get()}};
  std::vector<std::pair<std::string, kiln::nn::LayerNorm*>> norms{{"norm1", l.norm1.get()},
                                                                  {"norm2", l.norm2.get()}};
  if constexpr (std::is_same_v<Layer, kiln::nn::TransformerDecoderLayer>) {
    attention.emplace_back("multihead_attn", l.multihead_attn.get());
    norms.emplace_back("norm3", l.norm3.get());
  }
  for (auto& [name, a] : attention) {
    out[prefix + name + ".in_proj_weight"] = &a->in_proj_weight;
    out[prefix + name + ".in_proj_bias"] = &a->in_proj_bias;
    out[prefix + name + ".out_proj.weight"] = &a->out_proj->weight;
    out[prefix + name + ".out_proj.bias"] = &a->out_proj->bias;
  }
  for (auto [name, linear] : {std::pair{"linear1", l.linear1}, std::pair{"linear2", l.linear2}}) {
    out[prefix + name + ".weight"] = &linear->weight;
    out[prefix + name + ".bias"] = &linear->bias;
  }
  for (auto& [name, norm] : norms) {
    out[prefix + name + ".weight"] = &norm->weight;
    out[prefix + name + ".bias"] = &norm->bias;
  }
}

// Sets each of torch's parameters to a fresh float64 leaf and kiln's parameter of the same
// name (in `members`) to that leaf itself, so both sides compute from the same values and
// each parameter's gradient can be compared. Returns kiln's leaves in torch's order.
std::vector<KT> share_parameters(const torch::OrderedDict<std::string, TT>& t_params,
                                 std::map<std::string, KT*>& members) {
  REQUIRE(t_params.size() == members.size());
  std::vector<KT> k_params;
  for (const auto& item : t_params) {
    REQUIRE(members.count(item.key()) == 1);
    const Both b = leaf(Sizes(item.value().sizes().begin(), item.value().sizes().end()), -1, 1);
    {
      torch::NoGradGuard no_grad;
      item.value().copy_(b.t);
    }
    *members[item.key()] = b.k;
    k_params.push_back(b.k);
  }
  return k_params;
}

void compare_parameter_grads(const std::vector<KT>& k_params,
                             const torch::OrderedDict<std::string, TT>& t_params) {
  for (std::size_t i = 0; i < k_params.size(); ++i) {
    REQUIRE(k_params[i].grad().defined());
    agree(k_params[i].grad(), t_params[i].value().grad(), "gradient of " + t_params[i].key(), 1e-8, 1e-10);
  }
}

// A key padding mask (N, S) of random 1s (ignore) but for key 0, on both sides.
std::pair<KT, TT> padding_mask(std::int64_t n, std::int64_t s) {
  std::vector<double> pad(static_cast<std::size_t>(n * s));
  for (double& x : pad) x = irand(0, 3) == 0;
  for (std::int64_t i = 0; i < n; ++i) pad[static_cast<std::size_t>(i * s)] = 0;  // key 0 always seen
  return {kiln::from_vector(pad, {n, s}).to(kiln::kUInt8),
          torch::tensor(pad).reshape({n, s}).to(torch::kBool)};
}
}  // namespace

TEST_CASE("torch differential: TransformerEncoderLayer and TransformerEncoder against torch's") {
  // In float64: every parameter on both sides is the same random leaf (torch's copied in,
  // kiln's layers reading the leaf itself), so each one's gradient is compared too.
  rng.seed(28);
  int runs = 0;
  for (int trial = 0; trial < 24; ++trial) {
    const std::int64_t heads = irand(1, 3), d = heads * irand(1, 3), ff = irand(1, 12);
    const std::int64_t l = irand(1, 5), n = irand(1, 3), layers = irand(1, 2);
    const bool gelu = coin(), encoder = coin(), use_pad = coin(), use_mask = coin();
    INFO("d_model " << d << ", heads " << heads << ", feed-forward " << ff << ", L " << l << ", N " << n
                    << (encoder ? ", encoder of " + std::to_string(layers) : ", one layer")
                    << (gelu ? ", gelu" : ""));
    const auto ko =
        kiln::nn::TransformerEncoderLayerOptions(d, heads).dim_feedforward(ff).dropout(0.0).activation(
            gelu ? kiln::nn::TransformerActivation::GELU : kiln::nn::TransformerActivation::ReLU);
    auto t_layer = torch::nn::TransformerEncoderLayer(
        torch::nn::TransformerEncoderLayerOptions(d, heads).dim_feedforward(ff).dropout(0.0).activation(
            gelu ? torch::nn::activation_t(torch::kGELU) : torch::nn::activation_t(torch::kReLU)));
    torch::nn::TransformerEncoder t_encoder = nullptr;
    std::shared_ptr<kiln::nn::TransformerEncoderLayer> k_layer;
    std::shared_ptr<kiln::nn::TransformerEncoder> k_encoder;
    std::map<std::string, KT*> members;
    if (encoder) {
      t_encoder = torch::nn::TransformerEncoder(
          torch::nn::TransformerEncoderOptions(t_layer, layers)
              .norm(torch::nn::AnyModule(torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})))));
      t_encoder->to(torch::kDouble);
      k_encoder = std::make_shared<kiln::nn::TransformerEncoder>(ko, layers, true);
      for (std::int64_t i = 0; i < layers; ++i)
        transformer_members(
            *k_encoder->layers->at<kiln::nn::TransformerEncoderLayer>(static_cast<std::size_t>(i)),
            "layers." + std::to_string(i) + ".", members);
      members["norm.weight"] = &k_encoder->norm->weight;
      members["norm.bias"] = &k_encoder->norm->bias;
    } else {
      t_layer->to(torch::kDouble);
      k_layer = std::make_shared<kiln::nn::TransformerEncoderLayer>(ko);
      transformer_members(*k_layer, "", members);
    }
    const auto t_params = encoder ? t_encoder->named_parameters() : t_layer->named_parameters();
    const std::vector<KT> k_params = share_parameters(t_params, members);
    std::vector<double> ignore(static_cast<std::size_t>(l * l));
    for (double& x : ignore) x = irand(0, 3) == 0;
    for (std::int64_t i = 0; i < l; ++i) ignore[static_cast<std::size_t>(i * l)] = 0;
    const auto [k_pad_all, t_pad_all] = padding_mask(n, l);
    const KT k_pad = use_pad ? k_pad_all : KT();
    const TT t_pad = use_pad ? t_pad_all : TT();
    const KT k_mask = use_mask ? kiln::from_vector(ignore, {l, l}).to(kiln::kUInt8) : KT();
    // libtorch 1.13's C++ attention adds a bool mask; give it the additive form, -inf where ignored.
    const TT t_mask =
        use_mask ? torch::zeros({l, l}, torch::kDouble)
                       .masked_fill(torch::tensor(ignore).reshape({l, l}).to(torch::kBool), -INFINITY)
                 : TT();
    const Both x = leaf({l, n, d});
    const KT k_out = encoder ? k_encoder->forward(x.k, k_mask, k_pad) : k_layer->forward(x.k, k_mask, k_pad);
    const TT t_out = encoder ? t_encoder->forward(x.t, t_mask, t_pad) : t_layer->forward(x.t, t_mask, t_pad);
    if (!agree(k_out, t_out, "forward", 1e-9, 1e-11)) continue;
    const Both up = leaf(sizes_of(k_out), -1, 1, false);
    kiln::sum(k_out * up.k).backward();
    (t_out * up.t).sum().backward();
    agree(x.k.grad(), x.t.grad(), "gradient of the input", 1e-8, 1e-10);
    compare_parameter_grads(k_params, t_params);
    ++runs;
  }
  CHECK(runs == 24);
}

TEST_CASE("torch differential: TransformerDecoderLayer and TransformerDecoder against torch's") {
  // As the encoder's: float64, every parameter a leaf shared by both sides; a causal target
  // mask, and padding in the target and the memory.
  rng.seed(30);
  int runs = 0;
  for (int trial = 0; trial < 20; ++trial) {
    const std::int64_t heads = irand(1, 3), d = heads * irand(1, 3), ff = irand(1, 12);
    const std::int64_t t_len = irand(1, 4), s_len = irand(1, 5), n = irand(1, 3), layers = irand(1, 2);
    const bool gelu = coin(), stacked = coin(), use_pad = coin();
    INFO("d_model " << d << ", heads " << heads << ", T " << t_len << ", S " << s_len << ", N " << n
                    << (stacked ? ", decoder of " + std::to_string(layers) : ", one layer"));
    const auto ko =
        kiln::nn::TransformerDecoderLayerOptions(d, heads).dim_feedforward(ff).dropout(0.0).activation(
            gelu ? kiln::nn::TransformerActivation::GELU : kiln::nn::TransformerActivation::ReLU);
    auto t_layer = torch::nn::TransformerDecoderLayer(
        torch::nn::TransformerDecoderLayerOptions(d, heads).dim_feedforward(ff).dropout(0.0).activation(
            gelu ? torch::nn::activation_t(torch::kGELU) : torch::nn::activation_t(torch::kReLU)));
    torch::nn::TransformerDecoder t_decoder = nullptr;
    std::shared_ptr<kiln::nn::TransformerDecoderLayer> k_layer;
    std::shared_ptr<kiln::nn::TransformerDecoder> k_decoder;
    std::map<std::string, KT*> members;
    if (stacked) {
      t_decoder = torch::nn::TransformerDecoder(
          torch::nn::TransformerDecoderOptions(t_layer, layers)
              .norm(torch::nn::AnyModule(torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})))));
      t_decoder->to(torch::kDouble);
      k_decoder = std::make_shared<kiln::nn::TransformerDecoder>(ko, layers, true);
      for (std::int64_t i = 0; i < layers; ++i)
        transformer_members(
            *k_decoder->layers->at<kiln::nn::TransformerDecoderLayer>(static_cast<std::size_t>(i)),
            "layers." + std::to_string(i) + ".", members);
      members["norm.weight"] = &k_decoder->norm->weight;
      members["norm.bias"] = &k_decoder->norm->bias;
    } else {
      t_layer->to(torch::kDouble);
      k_layer = std::make_shared<kiln::nn::TransformerDecoderLayer>(ko);
      transformer_members(*k_layer, "", members);
    }
    const auto t_params = stacked ? t_decoder->named_parameters() : t_layer->named_parameters();
    const std::vector<KT> k_params = share_parameters(t_params, members);
    const KT k_causal = kiln::triu(kiln::ones({t_len, t_len}, kiln::kUInt8), 1);
    const TT t_causal = torch::zeros({t_len, t_len}, torch::kDouble)
                            .masked_fill(torch::ones({t_len, t_len}).triu(1).to(torch::kBool), -INFINITY);
    const auto [k_tgt_pad, t_tgt_pad] = padding_mask(n, t_len);
    const auto [k_mem_pad, t_mem_pad] = padding_mask(n, s_len);
    const Both tgt = leaf({t_len, n, d}), memory = leaf({s_len, n, d});
    const KT k_out = stacked ? k_decoder->forward(tgt.k, memory.k, k_causal, KT(), use_pad ? k_tgt_pad : KT(),
                                                  use_pad ? k_mem_pad : KT())
                             : k_layer->forward(tgt.k, memory.k, k_causal, KT(), use_pad ? k_tgt_pad : KT(),
                                                use_pad ? k_mem_pad : KT());
    const TT t_out = stacked ? t_decoder->forward(tgt.t, memory.t, t_causal, TT(), use_pad ? t_tgt_pad : TT(),
                                                  use_pad ? t_mem_pad : TT())
                             : t_layer->forward(tgt.t, memory.t, t_causal, TT(), use_pad ? t_tgt_pad : TT(),
                                                use_pad ? t_mem_pad : TT());
    if (!agree(k_out, t_out, "forward", 1e-9, 1e-11)) continue;
    const Both up = leaf(sizes_of(k_out), -1, 1, false);
    kiln::sum(k_out * up.k).backward();
    (t_out * up.t).sum().backward();
    agree(tgt.k.grad(), tgt.t.grad(), "gradient of the target", 1e-8, 1e-10);
    agree(memory.k.grad(), memory.t.grad(), "gradient of the memory", 1e-8, 1e-10);
    compare_parameter_grads(k_params, t_params);
    ++runs;
  }
  CHECK(runs == 20);
}

TEST_CASE("torch differential: Transformer against torch's") {
  // The whole model, float64, every parameter a leaf shared by both sides: padding in the
  // source (and so in the memory), a causal target mask from each side's own generator.
  rng.seed(31);
  int runs = 0;
  for (int trial = 0; trial < 12; ++trial) {
    const std::int64_t heads = irand(1, 3), d = heads * irand(1, 3), ff = irand(1, 12);
    const std::int64_t s_len = irand(1, 5), t_len = irand(1, 4), n = irand(1, 3);
    const std::int64_t enc = irand(1, 2), dec = irand(1, 2);
    const bool gelu = coin(), use_pad = coin();
    INFO("d_model " << d << ", heads " << heads << ", S " << s_len << ", T " << t_len << ", N " << n << ", "
                    << enc << " + " << dec << " layers" << (gelu ? ", gelu" : ""));
    kiln::nn::Transformer k_model(kiln::nn::TransformerOptions(d, heads)
                                      .num_encoder_layers(enc)
                                      .num_decoder_layers(dec)
                                      .dim_feedforward(ff)
                                      .dropout(0.0)
                                      .activation(gelu ? kiln::nn::TransformerActivation::GELU
                                                       : kiln::nn::TransformerActivation::ReLU));
    torch::nn::Transformer t_model(torch::nn::TransformerOptions(d, heads)
                                       .num_encoder_layers(enc)
                                       .num_decoder_layers(dec)
                                       .dim_feedforward(ff)
                                       .dropout(0.0)
                                       .activation(gelu ? torch::nn::activation_t(torch::kGELU)
                                                        : torch::nn::activation_t(torch::kReLU)));
    t_model->to(torch::kDouble);
    std::map<std::string, KT*> members;
    for (std::int64_t i = 0; i < enc; ++i)
      transformer_members(
          *k_model.encoder->layers->at<kiln::nn::TransformerEncoderLayer>(static_cast<std::size_t>(i)),
          "encoder.layers." + std::to_string(i) + ".", members);
    for (std::int64_t i = 0; i < dec; ++i)
      transformer_members(
          *k_model.decoder->layers->at<kiln::nn::TransformerDecoderLayer>(static_cast<std::size_t>(i)),
          "decoder.layers." + std::to_string(i) + ".", members);
    for (auto [side, norm] :
         {std::pair{"encoder", k_model.encoder->norm}, std::pair{"decoder", k_model.decoder->norm}}) {
      members[std::string(side) + ".norm.weight"] = &norm->weight;
      members[std::string(side) + ".norm.bias"] = &norm->bias;
    }
    const auto t_params = t_model->named_parameters();
    const std::vector<KT> k_params = share_parameters(t_params, members);
    const KT k_causal = kiln::nn::Transformer::generate_square_subsequent_mask(t_len, kiln::kFloat64);
    const TT t_causal = t_model->generate_square_subsequent_mask(t_len).to(torch::kDouble);
    agree(k_causal, t_causal, "generate_square_subsequent_mask", 0, 0);
    const auto [k_pad, t_pad] = padding_mask(n, s_len);
    const Both src = leaf({s_len, n, d}), tgt = leaf({t_len, n, d});
    const KT k_out = k_model.forward(src.k, tgt.k, KT(), k_causal, KT(), use_pad ? k_pad : KT(), KT(),
                                     use_pad ? k_pad : KT());
    const TT t_out = t_model->forward(src.t, tgt.t, TT(), t_causal, TT(), use_pad ? t_pad : TT(), TT(),
                                      use_pad ? t_pad : TT());
    if (!agree(k_out, t_out, "forward", 1e-9, 1e-11)) continue;
    const Both up = leaf(sizes_of(k_out), -1, 1, false);
    kiln::sum(k_out * up.k).backward();
    (t_out * up.t).sum().backward();
    agree(src.k.grad(), src.t.grad(), "gradient of the source", 1e-8, 1e-10);
    agree(tgt.k.grad(), tgt.t.grad(), "gradient of the target", 1e-8, 1e-10);
    compare_parameter_grads(k_params, t_params);
    ++runs;
  }
  CHECK(runs == 12);
}

TEST_CASE("torch differential: RNN, LSTM and GRU layers and cells against torch's") {
  in_both_precisions(27, 60, [] {
    const int kind = static_cast<int>(irand(0, 3));  // RNN tanh, RNN relu, LSTM, GRU
    const bool lstm = kind == 2, gru = kind == 3, bias = coin(), cell = irand(0, 3) == 0;
    const std::int64_t gates = lstm ? 4 : gru ? 3 : 1, in_size = irand(1, 4), hs = irand(1, single ? 8 : 4);
    const std::int64_t n = irand(1, 3);
    const auto nonlinearity = kind == 1 ? kiln::nn::RNNNonlinearity::ReLU : kiln::nn::RNNNonlinearity::Tanh;
    if (cell) {  // one step: x (N, in), h (and c) (N, H), then the four weights
      std::vector<Both> in{leaf({n, in_size}), leaf({n, hs}), leaf({n, hs}), leaf({gates * hs, in_size}),
                           leaf({gates * hs, hs})};
      if (bias) {
        in.push_back(leaf({gates * hs}));
        in.push_back(leaf({gates * hs}));
      }
      compare(
          "recurrent cell", in,
          [&](const auto& a) {
            const auto o = kiln::nn::RecurrentCellOptions(in_size, hs).bias(bias).nonlinearity(nonlinearity);
            const auto use = [&](kiln::nn::RecurrentCell& c) {
              c.weight_ih = a[3];
              c.weight_hh = a[4];
              if (bias) {
                c.bias_ih = a[5];
                c.bias_hh = a[6];
              }
            };
            if (lstm) {
              kiln::nn::LSTMCell c(o);
              use(c);
              const kiln::nn::LSTMState next = c.forward(a[0], {a[1], a[2]});
              return kiln::cat({next.h, next.c});
            }
            if (gru) {
              kiln::nn::GRUCell c(o);
              use(c);
              return c.forward(a[0], a[1]);
            }
            kiln::nn::RNNCell c(o);
            use(c);
            return c.forward(a[0], a[1]);
          },
          [&](const auto& a) {
            const TT b_ih = bias ? a[5] : TT(), b_hh = bias ? a[6] : TT();
            if (lstm) {
              const auto [h, c] = torch::lstm_cell(a[0], {a[1], a[2]}, a[3], a[4], b_ih, b_hh);
              return torch::cat({h, c});
            }
            if (gru) return torch::gru_cell(a[0], a[1], a[3], a[4], b_ih, b_hh);
            return kind == 1 ? torch::rnn_relu_cell(a[0], a[1], a[3], a[4], b_ih, b_hh)
                             : torch::rnn_tanh_cell(a[0], a[1], a[3], a[4], b_ih, b_hh);
          });
      return;
    }
    // A whole layer: layers, directions, layout; output and final states compared as one vector.
    const std::int64_t layers = irand(1, 2), directions = coin() ? 2 : 1, length = irand(1, 5);
    const bool batch_first = coin();
    // An LSTM may project its h to proj < H features (torch::lstm sees it from h0's width).
    const std::int64_t proj = lstm && hs > 1 && coin() ? irand(1, hs - 1) : 0;
    INFO("proj_size " << proj);
    const auto o = kiln::nn::RecurrentOptions(in_size, hs)
                       .num_layers(layers)
                       .bidirectional(directions == 2)
                       .bias(bias)
                       .batch_first(batch_first)
                       .nonlinearity(nonlinearity)
                       .proj_size(proj);
    std::shared_ptr<kiln::nn::RecurrentLayer> layer;
    if (lstm)
      layer = std::make_shared<kiln::nn::LSTM>(o);
    else if (gru)
      layer = std::make_shared<kiln::nn::GRU>(o);
    else
      layer = std::make_shared<kiln::nn::RNN>(o);
    std::vector<Both> in{leaf(batch_first ? Sizes{n, length, in_size} : Sizes{length, n, in_size}),
                         leaf({layers * directions, n, proj ? proj : hs}),
                         leaf({layers * directions, n, hs})};
    for (const auto& p : layer->parameters()) in.push_back(leaf(sizes_of(p), -1, 1));
    compare(
        "recurrent layer", in,
        [&](const auto& a) {
          std::size_t next = 3;
          for (kiln::nn::RecurrentWeights& w : layer->weights) {
            w.weight_ih = a[next++];
            w.weight_hh = a[next++];
            if (bias) {
              w.bias_ih = a[next++];
              w.bias_hh = a[next++];
            }
            if (proj) w.weight_hr = a[next++];
          }
          kiln::nn::RecurrentOutput out;
          if (lstm)
            out = dynamic_cast<kiln::nn::LSTM&>(*layer).forward(a[0], a[1], a[2]);
          else if (gru)
            out = dynamic_cast<kiln::nn::GRU&>(*layer).forward(a[0], a[1]);
          else
            out = dynamic_cast<kiln::nn::RNN&>(*layer).forward(a[0], a[1]);
          return kiln::cat(
              {out.output.flatten(), out.h_n.flatten(), lstm ? out.c_n.flatten() : out.h_n.flatten()});
        },
        [&](const auto& a) {
          const std::vector<TT> params(a.begin() + 3, a.end());
          TT output, h_n, c_n;
          if (lstm)
            std::tie(output, h_n, c_n) = torch::lstm(a[0], {a[1], a[2]}, params, bias, layers, 0.0, false,
                                                     directions == 2, batch_first);
          else if (gru)
            std::tie(output, h_n) =
                torch::gru(a[0], a[1], params, bias, layers, 0.0, false, directions == 2, batch_first);
          else if (kind == 1)
            std::tie(output, h_n) =
                torch::rnn_relu(a[0], a[1], params, bias, layers, 0.0, false, directions == 2, batch_first);
          else
            std::tie(output, h_n) =
                torch::rnn_tanh(a[0], a[1], params, bias, layers, 0.0, false, directions == 2, batch_first);
          return torch::cat({output.flatten(), h_n.flatten(), lstm ? c_n.flatten() : h_n.flatten()});
        });
  });
}

TEST_CASE("torch differential: recurrent layers on a padded batch with lengths against packed sequences") {
  // torch's modules on pack_padded_sequence (unsorted lengths), in float64, every weight a
  // leaf shared by both sides so that each weight's gradient is compared.
  rng.seed(29);
  int runs = 0;
  for (int trial = 0; trial < 30; ++trial) {
    const int kind = static_cast<int>(irand(0, 3));  // RNN tanh, RNN relu, LSTM, GRU
    const bool lstm = kind == 2, gru = kind == 3, bidirectional = coin(), batch_first = coin();
    const std::int64_t in_size = irand(1, 3), hs = irand(1, 4), layers = irand(1, 2), n = irand(1, 4);
    const std::int64_t length = irand(1, 5), directions = bidirectional ? 2 : 1;
    std::vector<std::int64_t> lengths(static_cast<std::size_t>(n));
    for (std::int64_t& len : lengths) len = irand(1, length);
    lengths[static_cast<std::size_t>(irand(0, n - 1))] = length;  // the padded length is the longest
    INFO("kind " << kind << ", layers " << layers << ", directions " << directions << ", batch first "
                 << batch_first << ", length " << length << ", N " << n);
    const auto ko =
        kiln::nn::RecurrentOptions(in_size, hs)
            .num_layers(layers)
            .bidirectional(bidirectional)
            .batch_first(batch_first)
            .nonlinearity(kind == 1 ? kiln::nn::RNNNonlinearity::ReLU : kiln::nn::RNNNonlinearity::Tanh);
    std::shared_ptr<kiln::nn::RecurrentLayer> k_layer;
    std::shared_ptr<torch::nn::Module> t_layer;
    torch::nn::LSTM t_lstm = nullptr;
    torch::nn::GRU t_gru = nullptr;
    torch::nn::RNN t_rnn = nullptr;
    if (lstm) {
      k_layer = std::make_shared<kiln::nn::LSTM>(ko);
      t_lstm = torch::nn::LSTM(torch::nn::LSTMOptions(in_size, hs)
                                   .num_layers(layers)
                                   .bidirectional(bidirectional)
                                   .batch_first(batch_first));
      t_layer = t_lstm.ptr();
    } else if (gru) {
      k_layer = std::make_shared<kiln::nn::GRU>(ko);
      t_gru = torch::nn::GRU(torch::nn::GRUOptions(in_size, hs)
                                 .num_layers(layers)
                                 .bidirectional(bidirectional)
                                 .batch_first(batch_first));
      t_layer = t_gru.ptr();
    } else {
      k_layer = std::make_shared<kiln::nn::RNN>(ko);
      t_rnn =
          torch::nn::RNN(torch::nn::RNNOptions(in_size, hs)
                             .num_layers(layers)
                             .bidirectional(bidirectional)
                             .batch_first(batch_first)
                             .nonlinearity(kind == 1 ? torch::nn::RNNOptions::nonlinearity_t(torch::kReLU)
                                                     : torch::nn::RNNOptions::nonlinearity_t(torch::kTanh)));
      t_layer = t_rnn.ptr();
    }
    t_layer->to(torch::kDouble);
    // kiln's weights by PyTorch's names, each set to a fresh leaf that torch's copies.
    std::map<std::string, KT*> members;
    for (std::int64_t l = 0; l < layers; ++l)
      for (std::int64_t d = 0; d < directions; ++d) {
        kiln::nn::RecurrentWeights& w = k_layer->weights[static_cast<std::size_t>(l * directions + d)];
        const std::string suffix = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
        members["weight_ih" + suffix] = &w.weight_ih;
        members["weight_hh" + suffix] = &w.weight_hh;
        members["bias_ih" + suffix] = &w.bias_ih;
        members["bias_hh" + suffix] = &w.bias_hh;
      }
    const auto t_params = t_layer->named_parameters();
    const std::vector<KT> k_params = share_parameters(t_params, members);
    const Both x = leaf(batch_first ? Sizes{n, length, in_size} : Sizes{length, n, in_size});
    const Both h0 = leaf({layers * directions, n, hs}), c0 = leaf({layers * directions, n, hs});
    kiln::nn::RecurrentOutput k_out;
    if (lstm)
      k_out = dynamic_cast<kiln::nn::LSTM&>(*k_layer).forward(x.k, h0.k, c0.k, lengths);
    else if (gru)
      k_out = dynamic_cast<kiln::nn::GRU&>(*k_layer).forward(x.k, h0.k, lengths);
    else
      k_out = dynamic_cast<kiln::nn::RNN&>(*k_layer).forward(x.k, h0.k, lengths);
    const auto packed = torch::nn::utils::rnn::pack_padded_sequence(x.t, torch::tensor(lengths), batch_first,
                                                                    /*enforce_sorted=*/false);
    const auto unpack = [&](const torch::nn::utils::rnn::PackedSequence& p) {
      return std::get<0>(torch::nn::utils::rnn::pad_packed_sequence(p, batch_first, 0.0, length));
    };
    TT t_output, t_h, t_c;
    if (lstm) {
      const auto [out, state] = t_lstm->forward_with_packed_input(packed, std::make_tuple(h0.t, c0.t));
      t_output = unpack(out);
      std::tie(t_h, t_c) = state;
    } else if (gru) {
      const auto [out, h] = t_gru->forward_with_packed_input(packed, h0.t);
      t_output = unpack(out);
      t_h = h;
    } else {
      const auto [out, h] = t_rnn->forward_with_packed_input(packed, h0.t);
      t_output = unpack(out);
      t_h = h;
    }
    const KT k_all = kiln::cat(
        {k_out.output.flatten(), k_out.h_n.flatten(), lstm ? k_out.c_n.flatten() : k_out.h_n.flatten()});
    const TT t_all = torch::cat({t_output.flatten(), t_h.flatten(), lstm ? t_c.flatten() : t_h.flatten()});
    if (!agree(k_all, t_all, "forward", 1e-9, 1e-11)) continue;
    const Both up = leaf(sizes_of(k_all), -1, 1, false);
    kiln::sum(k_all * up.k).backward();
    (t_all * up.t).sum().backward();
    agree(x.k.grad(), x.t.grad(), "gradient of the input", 1e-8, 1e-10);
    agree(h0.k.grad(), h0.t.grad(), "gradient of h0", 1e-8, 1e-10);
    if (lstm) agree(c0.k.grad(), c0.t.grad(), "gradient of c0", 1e-8, 1e-10);
    compare_parameter_grads(k_params, t_params);
    ++runs;
  }
  CHECK(runs == 30);
}
