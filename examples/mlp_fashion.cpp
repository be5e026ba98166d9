// mlp_fashion: a multi-layer perceptron on Fashion-MNIST.
//
//   image (1, 28, 28) -> flatten 784 -> Linear 256 -> ReLU -> Linear 128 -> ReLU -> Linear 10
//
// Trained with Adam (lr 1e-3) on mini-batches of 128, cross-entropy loss. After 10
// epochs it classifies about 89 % of the 10,000 test images correctly.
//
//   ./build/examples/mlp_fashion                      # Debian's /usr/share/datasets/fashion-mnist
//   ./build/examples/mlp_fashion --epochs 3 --save mlp.safetensors --metrics mlp.csv
//
// The loop itself (forward, loss, backward, step) is in example_support.hpp:
// train_classifier; mlp_by_hand.cpp writes the same network's backward pass out by hand.
#include "example_support.hpp"
#include "fashion_models.hpp"

int main(int argc, char** argv) {
  example::Flags flags{"Train a 784-256-128-10 MLP on Fashion-MNIST"};
  example::CommonArgs args;
  example::add_common_flags(flags, args);
  double lr = 1e-3;
  flags.option("--lr", lr, "Adam learning rate").show_default();
  if (const int exit_code = flags.parse(argc, argv); exit_code >= 0) return exit_code;

  return example::run_main([&] {
    using namespace kiln;
    example::apply_common(args);

    // The model (examples/fashion_models.hpp): Flatten, then
    // Linear(784, 256) -> ReLU -> Linear(256, 128) -> ReLU -> Linear(128, 10).
    auto model_ptr = example::fashion_mlp();
    nn::Sequential& model = *model_ptr;

    optim::Adam optimizer(model.parameters(), optim::AdamOptions(lr));

    example::print_result(example::train_classifier(model, optimizer, args, "mlp"));
    return 0;
  });
}
