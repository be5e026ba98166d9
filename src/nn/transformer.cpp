// The Transformer's encoder and decoder layers and stacks, composed of the attention,
// linear, layer-norm and dropout modules.
#include "kiln/nn/transformer.hpp"

#include <limits>
#include <sstream>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/nn/init.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"

namespace kiln::nn {

namespace {

void check_options(const char* name, const TransformerLayerOptions& o) {
  KILN_CHECK(o.dim_feedforward() > 0, name, ": dim_feedforward ", o.dim_feedforward(), " must be positive");
  KILN_CHECK(o.dropout() >= 0 && o.dropout() < 1, name, ": dropout ", o.dropout(), " must be in [0, 1)");
}

std::shared_ptr<MultiheadAttention> make_attention(const TransformerLayerOptions& o) {
  return std::make_shared<MultiheadAttention>(
      MultiheadAttentionOptions(o.d_model(), o.nhead()).dropout(o.dropout()));
}

std::shared_ptr<LayerNorm> make_norm(const TransformerLayerOptions& o) {
  return std::make_shared<LayerNorm>(LayerNormOptions({o.d_model()}).eps(o.layer_norm_eps()));
}

void check_input(const char* name, const char* what, const Tensor& x, const TransformerLayerOptions& o) {
  KILN_CHECK(x.dim() == 3 && x.size(2) == o.d_model(), name, ": ", what, " of shape ", fmt(x.shape()),
             " must be ", o.batch_first() ? "(N, length, " : "(length, N, ", o.d_model(), ")");
}

// attention(query, kv, kv) then dropout; MultiheadAttention reads (L, N, E), so batch-first
// inputs are viewed so, and the result back.
Tensor attention_block(MultiheadAttention& attention, Dropout& after, bool batch_first, const Tensor& query,
                       const Tensor& kv, const Tensor& key_padding_mask, const Tensor& attn_mask) {
  const auto seq_first = [&](const Tensor& t) { return batch_first ? t.transpose(0, 1) : t; };
  const Tensor out =
      attention.forward(seq_first(query), seq_first(kv), seq_first(kv), key_padding_mask, attn_mask);
  return after(seq_first(out));
}

// dropout_out(linear2(dropout(activation(linear1(x))))).
Tensor feed_forward_block(Linear& linear1, Dropout& dropout, Linear& linear2, Dropout& dropout_out,
                          TransformerActivation activation, const Tensor& x) {
  const Tensor hidden = linear1(x);
  const Tensor active = activation == TransformerActivation::GELU ? gelu(hidden) : relu(hidden);
  return dropout_out(linear2(dropout(active)));
}

// `stacks` goes after the head count (the whole model's layer counts).
std::string describe(const char* name, const TransformerLayerOptions& o, const std::string& stacks = "") {
  std::ostringstream os;
  os << name << "(d_model=" << o.d_model() << ", nhead=" << o.nhead() << stacks
     << ", dim_feedforward=" << o.dim_feedforward() << ", dropout=" << o.dropout();
  if (o.activation() == TransformerActivation::GELU) os << ", activation=gelu";
  if (o.batch_first()) os << ", batch_first=true";
  if (o.norm_first()) os << ", norm_first=true";
  os << ")";
  return os.str();
}

// num_layers layers of type Layer, each initialised on its own, in a ModuleList.
template <class Layer>
std::shared_ptr<ModuleList> make_stack(const char* name, const TransformerLayerOptions& layer,
                                       std::int64_t num_layers) {
  KILN_CHECK(num_layers > 0, name, ": num_layers ", num_layers, " must be positive");
  auto list = std::make_shared<ModuleList>();
  for (std::int64_t i = 0; i < num_layers; ++i) list->push_back(std::make_shared<Layer>(layer));
  return list;
}

std::string describe_stack(const char* name, const ModuleList& layers, bool norm) {
  return std::string(name) + "(num_layers=" + std::to_string(layers.size()) + (norm ? ", norm" : "") + ")";
}

}  // namespace

// ---- Encoder ----------------------------------------------------------------------------

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerEncoderLayerOptions& o) : options(o) {
  check_options("TransformerEncoderLayer", o);
  // Registered in PyTorch's order, under its names.
  self_attn = register_module("self_attn", make_attention(o));
  linear1 = register_module("linear1", std::make_shared<Linear>(o.d_model(), o.dim_feedforward()));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout()));
  linear2 = register_module("linear2", std::make_shared<Linear>(o.dim_feedforward(), o.d_model()));
  norm1 = register_module("norm1", make_norm(o));
  norm2 = register_module("norm2", make_norm(o));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout()));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout()));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src) { return forward(src, Tensor(), Tensor()); }

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                        const Tensor& src_key_padding_mask) {
  check_input("TransformerEncoderLayer", "src", src, options);
  const auto attention = [&](const Tensor& x) {
    return attention_block(*self_attn, *dropout1, options.batch_first(), x, x, src_key_padding_mask,
                           src_mask);
  };
  const auto feed_forward = [&](const Tensor& x) {
    return feed_forward_block(*linear1, *dropout, *linear2, *dropout2, options.activation(), x);
  };
  if (options.norm_first()) {
    const Tensor x = src + attention((*norm1)(src));
    return x + feed_forward((*norm2)(x));
  }
  const Tensor x = (*norm1)(src + attention(src));
  return (*norm2)(x + feed_forward(x));
}

std::string TransformerEncoderLayer::description() const {
  return describe("TransformerEncoderLayer", options);
}

TransformerEncoder::TransformerEncoder(const TransformerEncoderLayerOptions& layer, std::int64_t num_layers,
                                       bool final_norm) {
  layers =
      register_module("layers", make_stack<TransformerEncoderLayer>("TransformerEncoder", layer, num_layers));
  if (final_norm) norm = register_module("norm", make_norm(layer));
}

Tensor TransformerEncoder::forward(const Tensor& src) { return forward(src, Tensor(), Tensor()); }

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask,
                                   const Tensor& src_key_padding_mask) {
  Tensor x = src;
  for (std::size_t i = 0; i < layers->size(); ++i)
    x = layers->at<TransformerEncoderLayer>(i)->forward(x, mask, src_key_padding_mask);
  return norm ? (*norm)(x) : x;
}

std::string TransformerEncoder::description() const {
  return describe_stack("TransformerEncoder", *layers, norm != nullptr);
}

// ---- Decoder ----------------------------------------------------------------------------

TransformerDecoderLayer::TransformerDecoderLayer(const TransformerDecoderLayerOptions& o) : options(o) {
  check_options("TransformerDecoderLayer", o);
  self_attn = register_module("self_attn", make_attention(o));
  multihead_attn = register_module("multihead_attn", make_attention(o));
  linear1 = register_module("linear1", std::make_shared<Linear>(o.d_model(), o.dim_feedforward()));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout()));
  linear2 = register_module("linear2", std::make_shared<Linear>(o.dim_feedforward(), o.d_model()));
  norm1 = register_module("norm1", make_norm(o));
  norm2 = register_module("norm2", make_norm(o));
  norm3 = register_module("norm3", make_norm(o));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout()));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout()));
  dropout3 = register_module("dropout3", std::make_shared<Dropout>(o.dropout()));
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                        const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                        const Tensor& memory_key_padding_mask) {
  check_input("TransformerDecoderLayer", "tgt", tgt, options);
  check_input("TransformerDecoderLayer", "memory", memory, options);
  const bool first = options.batch_first();
  const auto self_attention = [&](const Tensor& x) {
    return attention_block(*self_attn, *dropout1, first, x, x, tgt_key_padding_mask, tgt_mask);
  };
  const auto cross_attention = [&](const Tensor& x) {
    return attention_block(*multihead_attn, *dropout2, first, x, memory, memory_key_padding_mask,
                           memory_mask);
  };
  const auto feed_forward = [&](const Tensor& x) {
    return feed_forward_block(*linear1, *dropout, *linear2, *dropout3, options.activation(), x);
  };
  if (options.norm_first()) {
    Tensor x = tgt + self_attention((*norm1)(tgt));
    x = x + cross_attention((*norm2)(x));
    return x + feed_forward((*norm3)(x));
  }
  Tensor x = (*norm1)(tgt + self_attention(tgt));
  x = (*norm2)(x + cross_attention(x));
  return (*norm3)(x + feed_forward(x));
}

std::string TransformerDecoderLayer::description() const {
  return describe("TransformerDecoderLayer", options);
}

TransformerDecoder::TransformerDecoder(const TransformerDecoderLayerOptions& layer, std::int64_t num_layers,
                                       bool final_norm) {
  layers =
      register_module("layers", make_stack<TransformerDecoderLayer>("TransformerDecoder", layer, num_layers));
  if (final_norm) norm = register_module("norm", make_norm(layer));
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                   const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                   const Tensor& memory_key_padding_mask) {
  Tensor x = tgt;
  for (std::size_t i = 0; i < layers->size(); ++i)
    x = layers->at<TransformerDecoderLayer>(i)->forward(x, memory, tgt_mask, memory_mask,
                                                        tgt_key_padding_mask, memory_key_padding_mask);
  return norm ? (*norm)(x) : x;
}

std::string TransformerDecoder::description() const {
  return describe_stack("TransformerDecoder", *layers, norm != nullptr);
}

// ---- The whole model ---------------------------------------------------------------------

TransformerLayerOptions TransformerOptions::layer() const {
  return TransformerLayerOptions(d_model(), nhead())
      .dim_feedforward(dim_feedforward())
      .dropout(dropout())
      .activation(activation())
      .layer_norm_eps(layer_norm_eps())
      .batch_first(batch_first())
      .norm_first(norm_first());
}

Transformer::Transformer(const TransformerOptions& o) : options(o) {
  KILN_CHECK(o.num_encoder_layers() > 0 && o.num_decoder_layers() > 0, "Transformer: num_encoder_layers (",
             o.num_encoder_layers(), ") and num_decoder_layers (", o.num_decoder_layers(),
             ") must be positive");
  check_options("Transformer", o.layer());
  encoder = register_module("encoder", std::make_shared<TransformerEncoder>(o.layer(), o.num_encoder_layers(),
                                                                            /*final_norm=*/true));
  decoder = register_module("decoder", std::make_shared<TransformerDecoder>(o.layer(), o.num_decoder_layers(),
                                                                            /*final_norm=*/true));
  NoGradGuard no_grad;
  for (Tensor& p : parameters())
    if (p.dim() > 1) init::xavier_uniform_(p);
}

Tensor Transformer::forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask,
                            const Tensor& tgt_mask, const Tensor& memory_mask,
                            const Tensor& src_key_padding_mask, const Tensor& tgt_key_padding_mask,
                            const Tensor& memory_key_padding_mask) {
  check_input("Transformer", "src", src, options.layer());
  check_input("Transformer", "tgt", tgt, options.layer());
  const int batch_dim = options.batch_first() ? 0 : 1;
  KILN_CHECK(src.size(batch_dim) == tgt.size(batch_dim), "Transformer: src of shape ", fmt(src.shape()),
             " and tgt of shape ", fmt(tgt.shape()), " hold different batch sizes (dimension ", batch_dim,
             "); give both the same N");
  const Tensor memory = encoder->forward(src, src_mask, src_key_padding_mask);
  return decoder->forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask);
}

Tensor Transformer::generate_square_subsequent_mask(std::int64_t size, DType dtype, Device device) {
  KILN_CHECK(size >= 0, "Transformer::generate_square_subsequent_mask: size ", size, " must be >= 0");
  return masked_fill(zeros({size, size}, dtype), triu(ones({size, size}, kUInt8), 1),
                     -std::numeric_limits<double>::infinity())
      .to(device);
}

std::string Transformer::description() const {
  return describe("Transformer", options.layer(),
                  ", num_encoder_layers=" + std::to_string(options.num_encoder_layers()) +
                      ", num_decoder_layers=" + std::to_string(options.num_decoder_layers()));
}

}  // namespace kiln::nn
