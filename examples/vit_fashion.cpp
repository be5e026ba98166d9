// vit_fashion: a small Vision Transformer (Dosovitskiy et al. 2021) on Fashion-MNIST.
//
//   image (1, 28, 28) -> 16 patches of 7 x 7 pixels -> Linear 49 -> 64 each
//                     -> [class token, 16 patch tokens] + learned positions   (17, 64)
//                     -> TransformerEncoder: 3 pre-norm layers, 4 heads, GELU, feed-forward 128
//                     -> LayerNorm -> the class token's vector -> Linear 10
//
// No convolution: the image becomes a sequence of patches, and self-attention lets every
// patch look at every other in each layer. The class token is a learned vector that
// holds no pixels; it collects what the classifier needs through attention. Without the
// position embeddings the encoder could not tell the patches apart by place: attention
// treats its inputs as a set.
//
// Adam (lr 1e-3), batch 128, cross-entropy, as the other Fashion-MNIST examples;
// --cosine anneals the rate, --augment flips and shifts the images.
//
//   ./build/examples/vit_fashion --epochs 10 [--patch 4|7|14] [--d-model 64] [--heads 4] [--layers 3]
#include "example_support.hpp"

namespace {

// The model as a Module: register_parameter and register_module name its pieces, so the
// checkpoint keys are "cls_token", "pos_embedding", "embed.weight",
// "encoder.layers.0.self_attn.in_proj_weight", ..., "head.bias".
class PatchTransformer : public kiln::nn::Module {
public:
  PatchTransformer(std::int64_t patch, std::int64_t d_model, std::int64_t heads, std::int64_t layers,
                   std::int64_t feedforward, double dropout)
      : patch_(patch), grid_(28 / patch), d_model_(d_model) {
    using namespace kiln;
    embed_ = register_module("embed", std::make_shared<nn::Linear>(patch * patch, d_model));
    register_parameter("cls_token", cls_token_, randn({1, 1, d_model}) * 0.02);
    register_parameter("pos_embedding", pos_embedding_, randn({1, grid_ * grid_ + 1, d_model}) * 0.02);
    const auto layer = nn::TransformerEncoderLayerOptions(d_model, heads)
                           .dim_feedforward(feedforward)
                           .dropout(dropout)
                           .activation(nn::TransformerActivation::GELU)
                           .norm_first(true)    // pre-norm, as ViT: each block reads a normalised input
                           .batch_first(true);  // (B, tokens, d_model)
    encoder_ = register_module("encoder", std::make_shared<nn::TransformerEncoder>(layer, layers, true));
    head_ = register_module("head", std::make_shared<nn::Linear>(d_model, 10));
  }

  kiln::Tensor forward(const kiln::Tensor& images) override {
    using namespace kiln;
    const std::int64_t b = images.size(0), p = patch_, g = grid_;
    // (B, 1, 28, 28) -> (B, g, p, g, p): rows of patches, then the patches' own rows;
    // permute brings each patch's p x p pixels together: (B, g * g patches, p * p pixels).
    const Tensor patches =
        images.reshape({b, g, p, g, p}).permute({0, 1, 3, 2, 4}).reshape({b, g * g, p * p});
    const Tensor tokens = (*embed_)(patches);                  // (B, g * g, d)
    const Tensor cls = cls_token_.expand({b, 1, d_model_});    // one per image
    const Tensor x = cat({cls, tokens}, 1) + pos_embedding_;   // (B, 1 + g * g, d)
    return (*head_)((*encoder_)(x).select(1, 0));              // the class token's logits
  }
  std::string description() const override {
    return "PatchTransformer(patch=" + std::to_string(patch_) +
           ", tokens=" + std::to_string(grid_ * grid_ + 1) + ", d_model=" + std::to_string(d_model_) + ")";
  }

private:
  std::int64_t patch_, grid_, d_model_;
  kiln::Tensor cls_token_, pos_embedding_;
  std::shared_ptr<kiln::nn::Linear> embed_, head_;
  std::shared_ptr<kiln::nn::TransformerEncoder> encoder_;
};

}  // namespace

int main(int argc, char** argv) {
  example::Flags flags{"Train a small Vision Transformer on Fashion-MNIST patches"};
  example::CommonArgs args;
  example::add_common_flags(flags, args);
  std::string patch = "7";
  std::int64_t d_model = 64, heads = 4, layers = 3, feedforward = 128;
  double dropout = 0.1, lr = 1e-3;
  flags.option("--patch", patch, "patch side in pixels (divides 28)").one_of({"4", "7", "14"}).show_default();
  flags.option("--d-model", d_model, "token width").at_least(1).show_default();
  flags.option("--heads", heads, "attention heads (divides --d-model)").at_least(1).show_default();
  flags.option("--layers", layers, "encoder layers").at_least(1).show_default();
  flags.option("--feedforward", feedforward, "hidden width of each layer's feed-forward block")
      .at_least(1)
      .show_default();
  flags.option("--dropout", dropout, "dropout in the encoder, in training").at_least(0).show_default();
  flags.option("--lr", lr, "Adam learning rate").at_least(0).show_default();
  example::add_recipe_flags(flags, args);
  if (const int exit_code = flags.parse(argc, argv); exit_code >= 0) return exit_code;

  return example::run_main([&] {
    using namespace kiln;
    example::apply_common(args);
    PatchTransformer model(std::stoi(patch), d_model, heads, layers, feedforward, dropout);
    optim::Adam optimizer(model.parameters(), optim::AdamOptions(lr));
    auto result = example::train_classifier(model, optimizer, args, "vit");
    result["patch"] = std::stoi(patch);
    result["d_model"] = d_model;
    result["heads"] = heads;
    result["layers"] = layers;
    example::print_result(result);
    return 0;
  });
}
