// The Transformer (Vaswani et al. 2017), as torch.nn's Transformer,
// TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer and
// TransformerDecoder: the same sub-layers under the same names, so a PyTorch state dict
// loads as it is.
//
//   nn::TransformerEncoder encoder(nn::TransformerEncoderLayerOptions(128, 8).dim_feedforward(512), 4);
//   Tensor y = encoder(x);  // x (L, N, 128) -> (L, N, 128)
//
//   nn::Transformer model(nn::TransformerOptions(128, 8).num_encoder_layers(3).num_decoder_layers(3));
//   Tensor out = model.forward(src, tgt, {}, nn::Transformer::generate_square_subsequent_mask(tgt.size(0)));
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kiln/nn/attention.hpp"
#include "kiln/nn/layers.hpp"
#include "kiln/nn/module.hpp"
#include "kiln/nn/options.hpp"

namespace kiln::nn {

enum class TransformerActivation { ReLU, GELU };

// The options of an encoder or a decoder layer (one struct under two names, as PyTorch's
// two carry the same fields).
struct TransformerLayerOptions {
  TransformerLayerOptions(std::int64_t d_model, std::int64_t nhead) : d_model_(d_model), nhead_(nhead) {}
  KILN_OPTION(std::int64_t, d_model)
  KILN_OPTION(std::int64_t, nhead)
  KILN_OPTION(std::int64_t, dim_feedforward)  // the hidden width of the feed-forward block
  KILN_OPTION(double, dropout)                // on attention weights and after each block, in training
  KILN_OPTION(TransformerActivation, activation)
  KILN_OPTION(double, layer_norm_eps)
  KILN_OPTION(bool, batch_first)  // (N, L, d_model) instead of PyTorch's default (L, N, d_model)
  KILN_OPTION(bool, norm_first)   // normalise before each block (pre-norm) instead of after
private:
  std::int64_t d_model_, nhead_, dim_feedforward_ = 2048;
  double dropout_ = 0.1;
  TransformerActivation activation_ = TransformerActivation::ReLU;
  double layer_norm_eps_ = 1e-5;
  bool batch_first_ = false, norm_first_ = false;
};
using TransformerEncoderLayerOptions = TransformerLayerOptions;
using TransformerDecoderLayerOptions = TransformerLayerOptions;

// Self-attention, then a feed-forward block, each added back to its input:
//   post-norm (default): x = norm1(x + attention(x));  x = norm2(x + feed_forward(x))
//   norm_first:          x = x + attention(norm1(x));  x = x + feed_forward(norm2(x))
// with attention(x) = dropout1(self_attn(x, x, x, masks)) and
// feed_forward(x) = dropout2(linear2(dropout(activation(linear1(x))))).
// Masks as MultiheadAttention's: src_mask (L, L) or (N * nhead, L, L), src_key_padding_mask
// (N, L); a uint8 1 marks what to ignore, a floating mask is added to the scores.
class TransformerEncoderLayer : public Module {
public:
  explicit TransformerEncoderLayer(const TransformerEncoderLayerOptions& options);
  TransformerEncoderLayer(std::int64_t d_model, std::int64_t nhead)
      : TransformerEncoderLayer(TransformerEncoderLayerOptions(d_model, nhead)) {}
  Tensor forward(const Tensor& src) override;
  Tensor forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask);
  std::string description() const override;
  TransformerEncoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2;
  std::shared_ptr<LayerNorm> norm1, norm2;
};

// num_layers encoder layers in turn ("layers.0.self_attn.in_proj_weight", ...), then
// optionally a final LayerNorm ("norm.weight"), which pre-norm stacks usually want. Each
// layer is initialised on its own (PyTorch copies one layer, so its copies start equal).
class TransformerEncoder : public Module {
public:
  TransformerEncoder(const TransformerEncoderLayerOptions& layer, std::int64_t num_layers,
                     bool final_norm = false);
  Tensor forward(const Tensor& src) override;
  Tensor forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask);
  std::string description() const override;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;  // null without final_norm
};

// Self-attention over the target, attention from the target to the encoder's output
// (memory), then the feed-forward block, each added back to its input:
//   post-norm (default): x = norm1(x + self_attention(x)); x = norm2(x + cross_attention(x, memory));
//                        x = norm3(x + feed_forward(x))
//   norm_first:          x = x + self_attention(norm1(x)); x = x + cross_attention(norm2(x), memory);
//                        x = x + feed_forward(norm3(x))
// tgt (T, N, d_model), memory (S, N, d_model) (batch first with batch_first). Masks as
// MultiheadAttention's: tgt_mask (T, T), e.g. causal; memory_mask (T, S); the key padding
// masks (N, T) and (N, S).
class TransformerDecoderLayer : public Module {
public:
  explicit TransformerDecoderLayer(const TransformerDecoderLayerOptions& options);
  TransformerDecoderLayer(std::int64_t d_model, std::int64_t nhead)
      : TransformerDecoderLayer(TransformerDecoderLayerOptions(d_model, nhead)) {}
  using Module::forward;  // a decoder needs the memory too: the one-input form is an Error
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor(),
                 const Tensor& memory_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor());
  std::string description() const override;
  TransformerDecoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2, dropout3;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
};

// num_layers decoder layers in turn, each attending to the same memory, then optionally
// a final LayerNorm; names and initialisation as TransformerEncoder's.
class TransformerDecoder : public Module {
public:
  TransformerDecoder(const TransformerDecoderLayerOptions& layer, std::int64_t num_layers,
                     bool final_norm = false);
  using Module::forward;  // as the layer's
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor(),
                 const Tensor& memory_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor());
  std::string description() const override;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;  // null without final_norm
};

// The options of the whole model: a layer's, and how many layers each side stacks.
// PyTorch's defaults: d_model 512, 8 heads, 6 + 6 layers, feed-forward 2048, dropout 0.1.
struct TransformerOptions {
  TransformerOptions(std::int64_t d_model = 512, std::int64_t nhead = 8) : d_model_(d_model), nhead_(nhead) {}
  KILN_OPTION(std::int64_t, d_model)
  KILN_OPTION(std::int64_t, nhead)
  KILN_OPTION(std::int64_t, num_encoder_layers)
  KILN_OPTION(std::int64_t, num_decoder_layers)
  KILN_OPTION(std::int64_t, dim_feedforward)
  KILN_OPTION(double, dropout)
  KILN_OPTION(TransformerActivation, activation)
  KILN_OPTION(double, layer_norm_eps)
  KILN_OPTION(bool, batch_first)
  KILN_OPTION(bool, norm_first)
  // The options each encoder and decoder layer is built with.
  TransformerLayerOptions layer() const;

private:
  std::int64_t d_model_, nhead_, num_encoder_layers_ = 6, num_decoder_layers_ = 6, dim_feedforward_ = 2048;
  double dropout_ = 0.1;
  TransformerActivation activation_ = TransformerActivation::ReLU;
  double layer_norm_eps_ = 1e-5;
  bool batch_first_ = false, norm_first_ = false;
};

// The encoder-decoder model, as torch.nn.Transformer: the encoder (its layers, then a
// LayerNorm) reads the source; the decoder (its layers, then a LayerNorm) reads the
// target and attends to the encoder's output. Parameter names "encoder.layers.0.*",
// "encoder.norm.*", "decoder.layers.0.*", "decoder.norm.*". As PyTorch's, every parameter
// of more than one dimension starts Xavier-uniform (biases and norms keep their layers'
// starts). src (S, N, d_model) and tgt (T, N, d_model) give (T, N, d_model) (each (N, ., .)
// with batch_first); masks as TransformerDecoderLayer's, src_mask (S, S).
class Transformer : public Module {
public:
  explicit Transformer(const TransformerOptions& options = TransformerOptions());
  using Module::forward;  // the model needs a source and a target: the one-input form is an Error
  Tensor forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask = Tensor(),
                 const Tensor& tgt_mask = Tensor(), const Tensor& memory_mask = Tensor(),
                 const Tensor& src_key_padding_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor());
  // (size, size): -inf above the diagonal, 0 on and below it. Added to the scores, it lets
  // position i attend to positions 0 .. i only (a causal mask for the target).
  static Tensor generate_square_subsequent_mask(std::int64_t size, DType dtype = kFloat32,
                                                Device device = Device::cpu());
  std::string description() const override;
  TransformerOptions options;
  std::shared_ptr<TransformerEncoder> encoder;
  std::shared_ptr<TransformerDecoder> decoder;
};

}  // namespace kiln::nn
