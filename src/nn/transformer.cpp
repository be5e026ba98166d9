// nn::TransformerEncoderLayer and nn::TransformerEncoder, composed of the attention,
// linear, layer-norm and dropout modules.
#include "kiln/nn/transformer.hpp"

#include <sstream>

#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"

namespace kiln::nn {

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerEncoderLayerOptions& o) : options(o) {
  KILN_CHECK(o.dim_feedforward() > 0, "TransformerEncoderLayer: dim_feedforward ", o.dim_feedforward(),
             " must be positive");
  KILN_CHECK(o.dropout() >= 0 && o.dropout() < 1, "TransformerEncoderLayer: dropout ", o.dropout(),
             " must be in [0, 1)");
  // Registered in PyTorch's order, under its names.
  self_attn = register_module("self_attn",
                              std::make_shared<MultiheadAttention>(
                                  MultiheadAttentionOptions(o.d_model(), o.nhead()).dropout(o.dropout())));
  linear1 = register_module("linear1", std::make_shared<Linear>(o.d_model(), o.dim_feedforward()));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout()));
  linear2 = register_module("linear2", std::make_shared<Linear>(o.dim_feedforward(), o.d_model()));
  const auto norm_options = LayerNormOptions({o.d_model()}).eps(o.layer_norm_eps());
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(norm_options));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(norm_options));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout()));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout()));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src) { return forward(src, Tensor(), Tensor()); }

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                        const Tensor& src_key_padding_mask) {
  KILN_CHECK(src.dim() == 3 && src.size(2) == options.d_model(), "TransformerEncoderLayer: src of shape ",
             fmt(src.shape()), " must be ", options.batch_first() ? "(N, length, " : "(length, N, ",
             options.d_model(), ")");
  // The attention module reads (L, N, E); a batch-first input is viewed so, and back.
  const auto attention = [&](const Tensor& x) {
    const Tensor seq_first = options.batch_first() ? x.transpose(0, 1) : x;
    const Tensor out = self_attn->forward(seq_first, seq_first, seq_first, src_key_padding_mask, src_mask);
    return dropout1->forward(options.batch_first() ? out.transpose(0, 1) : out);
  };
  const auto feed_forward = [&](const Tensor& x) {
    const Tensor hidden = linear1->forward(x);
    const Tensor active = options.activation() == TransformerActivation::GELU ? gelu(hidden) : relu(hidden);
    return dropout2->forward(linear2->forward(dropout->forward(active)));
  };
  if (options.norm_first()) {
    const Tensor x = src + attention(norm1->forward(src));
    return x + feed_forward(norm2->forward(x));
  }
  const Tensor x = norm1->forward(src + attention(src));
  return norm2->forward(x + feed_forward(x));
}

std::string TransformerEncoderLayer::description() const {
  std::ostringstream os;
  os << "TransformerEncoderLayer(d_model=" << options.d_model() << ", nhead=" << options.nhead()
     << ", dim_feedforward=" << options.dim_feedforward() << ", dropout=" << options.dropout();
  if (options.activation() == TransformerActivation::GELU) os << ", activation=gelu";
  if (options.batch_first()) os << ", batch_first=true";
  if (options.norm_first()) os << ", norm_first=true";
  os << ")";
  return os.str();
}

TransformerEncoder::TransformerEncoder(const TransformerEncoderLayerOptions& layer, std::int64_t num_layers,
                                       bool final_norm) {
  KILN_CHECK(num_layers > 0, "TransformerEncoder: num_layers ", num_layers, " must be positive");
  layers = register_module("layers", std::make_shared<ModuleList>());
  for (std::int64_t i = 0; i < num_layers; ++i)
    layers->push_back(std::make_shared<TransformerEncoderLayer>(layer));
  if (final_norm)
    norm = register_module(
        "norm", std::make_shared<LayerNorm>(LayerNormOptions({layer.d_model()}).eps(layer.layer_norm_eps())));
}

Tensor TransformerEncoder::forward(const Tensor& src) { return forward(src, Tensor(), Tensor()); }

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask,
                                   const Tensor& src_key_padding_mask) {
  Tensor x = src;
  for (std::size_t i = 0; i < layers->size(); ++i)
    x = layers->at<TransformerEncoderLayer>(i)->forward(x, mask, src_key_padding_mask);
  return norm ? norm->forward(x) : x;
}

std::string TransformerEncoder::description() const {
  return "TransformerEncoder(num_layers=" + std::to_string(layers->size()) + (norm ? ", norm" : "") + ")";
}

}  // namespace kiln::nn
