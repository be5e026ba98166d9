// Multi-head attention (Vaswani et al. 2017), as torch.nn.MultiheadAttention: the same
// parameters under the same names, so a PyTorch state dict loads as it is.
#pragma once

#include <memory>

#include "kiln/nn/layers.hpp"
#include "kiln/nn/module.hpp"
#include "kiln/nn/options.hpp"

namespace kiln::nn {

struct MultiheadAttentionOptions {
  MultiheadAttentionOptions(std::int64_t embed_dim, std::int64_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads) {}
  KILN_OPTION(std::int64_t, embed_dim)
  KILN_OPTION(std::int64_t, num_heads)
  KILN_OPTION(double, dropout)      // on the attention weights, in training only
  KILN_OPTION(bool, bias)           // in the input and output projections
  KILN_OPTION(bool, batch_first)    // (N, L, E) instead of PyTorch's default (L, N, E)
  KILN_OPTION(std::int64_t, kdim)   // the key's features; 0 (default): embed_dim
  KILN_OPTION(std::int64_t, vdim)   // the value's features; 0 (default): embed_dim
  KILN_OPTION(bool, add_bias_kv)    // one more key and value: learned vectors, after the projections
  KILN_OPTION(bool, add_zero_attn)  // one more key and value of zeros, per head, after those
private:
  std::int64_t embed_dim_, num_heads_, kdim_ = 0, vdim_ = 0;
  double dropout_ = 0.0;
  bool bias_ = true, batch_first_ = false, add_bias_kv_ = false, add_zero_attn_ = false;
};

// The output of MultiheadAttention::forward_with_weights.
struct AttentionOutput {
  Tensor output;   // as forward's
  Tensor weights;  // (N, L, S) averaged over the heads, or (N, num_heads, L, S)
};

// Projects query, key and value by in_proj_weight (3E, E) (and in_proj_bias), splits
// each into num_heads heads of E / num_heads features, runs scaled_dot_product_attention
// per head, joins the heads and projects by out_proj. Inputs are (L, N, E) for the query
// and (S, N, E) for key and value, or (N, L, E) / (N, S, E) with batch_first.
// With kdim or vdim other than E (key (S, N, kdim), value (S, N, vdim)), the projections
// are three matrices, q_proj_weight (E, E), k_proj_weight (E, kdim) and v_proj_weight
// (E, vdim), and in_proj_weight is undefined, as in PyTorch. add_bias_kv appends the
// learned bias_k and bias_v (1, 1, E) to every sequence's projected keys and values, and
// add_zero_attn a zero key and value to each head: each adds a column (S + 1) to the
// attention, which the masks leave visible.
// Masks follow torch.nn.MultiheadAttention, where a uint8 1 marks what to IGNORE:
//   key_padding_mask (N, S): keys that are padding, for each sequence of the batch;
//   attn_mask (L, S) or (N * num_heads, L, S): pairs a query may not attend to.
// A floating mask (of the inputs' dtype) is added to the scores instead.
// Initialised as PyTorch does: in_proj_weight (or the three) Xavier-uniform, out_proj.weight
// as a Linear's, both biases 0, bias_k and bias_v Xavier-normal.
class MultiheadAttention : public Module {
public:
  explicit MultiheadAttention(const MultiheadAttentionOptions& options);
  MultiheadAttention(std::int64_t embed_dim, std::int64_t num_heads)
      : MultiheadAttention(MultiheadAttentionOptions(embed_dim, num_heads)) {}
  Tensor forward(const Tensor& x) override;  // self-attention: forward(x, x, x)
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value,
                 const Tensor& key_padding_mask = Tensor(), const Tensor& attn_mask = Tensor());
  // The same, with the attention weights (PyTorch's need_weights = true): each query's
  // softmax over the keys (after dropout, in training), averaged over the heads unless
  // average_attn_weights is false. Differentiable, like the output.
  AttentionOutput forward_with_weights(const Tensor& query, const Tensor& key, const Tensor& value,
                                       const Tensor& key_padding_mask = Tensor(),
                                       const Tensor& attn_mask = Tensor(), bool average_attn_weights = true);
  std::string description() const override;
  void reset_parameters();
  MultiheadAttentionOptions options;
  Tensor in_proj_weight;  // (3E, E): the query's rows, then the key's, then the value's
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;  // in its place where kdim or vdim is not E
  Tensor in_proj_bias;                                 // (3E), or undefined
  std::shared_ptr<Linear> out_proj;
  Tensor bias_k, bias_v;  // (1, 1, E) with add_bias_kv, else undefined

private:
  AttentionOutput attend(const Tensor& query, const Tensor& key, const Tensor& value,
                         const Tensor& key_padding_mask, const Tensor& attn_mask, bool weights, bool average);
};

}  // namespace kiln::nn
