// cnn_fashion: a small convolutional network on Fashion-MNIST.
//
//   (B, 1, 28, 28) -> conv 3x3, 32, pad 1 -> ReLU -> maxpool 2   -> (B, 32, 14, 14)
//                  -> conv 3x3, 64, pad 1 -> ReLU -> maxpool 2   -> (B, 64, 7, 7)
//                  -> flatten 3136 -> Linear 128 -> ReLU -> Linear 10
//
// --batchnorm puts a BatchNorm2d after each convolution (before its ReLU), which
// lets the network train faster and generalise a little better.
// Adam (lr 1e-3), batch 128, cross-entropy, as mlp_fashion.
//
// Trained longer, the network starts to memorise the training images (its test
// loss rises after about 6 epochs). Two standard remedies are flags: --augment
// shows each image mirrored left-right half of the time and shifted by up to
// --max-shift pixels (default 1), so it rarely sees the same picture twice;
// --cosine lowers the learning rate smoothly to 0 by the last epoch, so the
// weights settle instead of hopping around a minimum.
//
// A convolution here is im2col + one matrix product per layer and batch: each
// 3x3 neighbourhood of the input becomes a column, and the filters multiply all
// columns at once (see src/ops/conv.cpp for the forward and backward passes).
//
//   ./build/examples/cnn_fashion --epochs 15 [--batchnorm] [--augment --cosine --epochs 30]
//   (the BatchNorm recipe that reaches 93 %: --batchnorm --augment --cosine --epochs 30)
#include "example_support.hpp"
#include "fashion_models.hpp"

int main(int argc, char** argv) {
  example::Flags flags{"Train a two-layer CNN on Fashion-MNIST"};
  example::CommonArgs args;
  args.epochs = 15;
  example::add_common_flags(flags, args);
  bool batchnorm = false;
  double lr = 1e-3;
  flags.flag("--batchnorm", batchnorm, "BatchNorm2d after each convolution");
  flags.option("--lr", lr, "Adam learning rate").show_default();
  example::add_recipe_flags(flags, args);
  if (const int exit_code = flags.parse(argc, argv); exit_code >= 0) return exit_code;

  return example::run_main([&] {
    using namespace kiln;
    example::apply_common(args);

    // The network (examples/fashion_models.hpp): two conv blocks, then two Linear layers.
    auto model_ptr = example::fashion_cnn(batchnorm);
    nn::Sequential& model = *model_ptr;

    optim::Adam optimizer(model.parameters(), optim::AdamOptions(lr));
    auto result = example::train_classifier(model, optimizer, args, batchnorm ? "cnn_bn" : "cnn");
    result["batchnorm"] = batchnorm;
    example::print_result(result);
    return 0;
  });
}
