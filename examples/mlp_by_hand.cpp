// mlp_by_hand: the network of mlp_fashion, with its backward pass written out by
// hand - the page to read to see exactly what autograd does for you.
//
//   x (B, 784) -> z1 = x W1^T + b1 -> h1 = relu(z1) -> z2 = h1 W2^T + b2 -> h2 = relu(z2)
//              -> z3 = h2 W3^T + b3 (B, 10) -> loss = mean_i -log softmax(z3_i)[y_i]
//
// Every step of training computes the gradients twice: by hand (below, one line
// per rule, with the math) and by autograd (kiln::grad, which returns them instead
// of adding them into .grad() as loss.backward() would). On the first batch of each
// epoch it prints the largest difference between the two, over the six parameters and
// dL/dz1, a gradient halfway down; they agree to float32 rounding. The optimizer is
// then fed the hand-made gradients.
//
//   ./build/examples/mlp_by_hand --epochs 3
#include "example_support.hpp"

using kiln::Tensor;

namespace {

// The gradients of the three layers' weights and biases, in that order, and of z1.
struct Gradients {
  Tensor w1, b1, w2, b2, w3, b3, z1;
};

Gradients backward_by_hand(const Tensor& x, const Tensor& y, const Tensor& w2, const Tensor& w3,
                           const Tensor& z1, const Tensor& h1, const Tensor& z2, const Tensor& h2,
                           const Tensor& z3) {
  using namespace kiln;
  NoGradGuard no_grad;  // plain arithmetic from here on
  const double batch = static_cast<double>(x.size(0));
  Gradients g;

  // Loss: L = (1/B) sum_i [ logsumexp(z3_i) - z3_i[y_i] ].
  // dL/dz3 = (softmax(z3) - onehot(y)) / B                                   (B, 10)
  const Tensor onehot = eq(arange(10).reshape({1, 10}).to(y.device()), y.reshape({-1, 1})).to(kFloat32);
  const Tensor dz3 = (softmax(z3, 1) - onehot) / batch;

  // Layer 3: z3 = h2 W3^T + b3.
  // dL/dW3 = dz3^T h2 (10, 128);  dL/db3 = sum over the batch of dz3;  dL/dh2 = dz3 W3 (B, 128)
  g.w3 = matmul(dz3.t(), h2);
  g.b3 = sum(dz3, {0});
  const Tensor dh2 = matmul(dz3, w3);

  // ReLU: h2 = max(z2, 0), so dL/dz2 = dL/dh2 where z2 > 0, else 0.
  const Tensor dz2 = where(gt(z2, scalar_like(z2, 0.0)), dh2, scalar_like(dh2, 0.0));

  // Layer 2: z2 = h1 W2^T + b2.
  g.w2 = matmul(dz2.t(), h1);   // (128, 256)
  g.b2 = sum(dz2, {0});
  const Tensor dh1 = matmul(dz2, w2);  // (B, 256)

  // ReLU again.
  g.z1 = where(gt(z1, scalar_like(z1, 0.0)), dh1, scalar_like(dh1, 0.0));
  const Tensor& dz1 = g.z1;

  // Layer 1: z1 = x W1^T + b1. (No dL/dx: the input needs no gradient.)
  g.w1 = matmul(dz1.t(), x);    // (256, 784)
  g.b1 = sum(dz1, {0});
  return g;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  kiln::NoGradGuard no_grad;
  return kiln::max(kiln::abs(a - b)).item();
}

}  // namespace

int main(int argc, char** argv) {
  example::Flags flags{"The Fashion-MNIST MLP with a hand-written backward pass, checked against autograd"};
  example::CommonArgs args;
  args.epochs = 3;
  example::add_common_flags(flags, args);
  if (const int exit_code = flags.parse(argc, argv); exit_code >= 0) return exit_code;

  return example::run_main([&] {
    using namespace kiln;
    example::apply_common(args);
    auto fc1 = std::make_shared<nn::Linear>(784, 256);
    auto fc2 = std::make_shared<nn::Linear>(256, 128);
    auto fc3 = std::make_shared<nn::Linear>(128, 10);
    nn::Sequential model{std::make_shared<nn::Flatten>(), fc1, std::make_shared<nn::ReLU>(), fc2,
                         std::make_shared<nn::ReLU>(), fc3};
    const Device device = example::parse_device(args.device);
    model.to(device);
    optim::Adam optimizer(model.parameters(), optim::AdamOptions(1e-3));

    data::ImageDataset train = data::fashion_mnist(args.data, data::Split::train);
    data::ImageDataset test = data::fashion_mnist(args.data, data::Split::test);
    if (args.limit > 0) train = train.head(args.limit);
    if (args.test_limit > 0) test = test.head(args.test_limit);
    data::DataLoader loader(train, data::LoaderOptions(args.batch_size).set_shuffle(true).set_seed(args.seed));

    double worst_diff = 0, seconds = 0;
    example::Evaluation eval;
    for (int epoch = 0; epoch < args.epochs; ++epoch) {
      example::Progress progress(loader.num_batches(), "epoch " + std::to_string(epoch + 1));
      const auto t0 = std::chrono::steady_clock::now();
      std::int64_t step = 0;
      double loss_sum = 0;
      for (const data::Batch& batch : loader.epoch(epoch)) {
        // Forward, keeping every intermediate the backward rules need.
        const Tensor x = batch.x.to(device).flatten(1);           // (B, 784)
        const Tensor y = batch.y.to(device);                      // (B) class indices
        const Tensor z1 = linear(x, fc1->weight, fc1->bias);      // (B, 256)
        const Tensor h1 = relu(z1);
        const Tensor z2 = linear(h1, fc2->weight, fc2->bias);     // (B, 128)
        const Tensor h2 = relu(z2);
        const Tensor z3 = linear(h2, fc3->weight, fc3->bias);     // (B, 10)
        Tensor loss = cross_entropy(z3, y);

        const Gradients hand =
            backward_by_hand(x, y, fc2->weight, fc3->weight, z1, h1, z2, h2, z3);

        // Autograd's answer, for comparison: the same seven gradients.
        Tensor* params[] = {&fc1->weight, &fc1->bias, &fc2->weight, &fc2->bias, &fc3->weight, &fc3->bias};
        const Tensor* mine[] = {&hand.w1, &hand.b1, &hand.w2, &hand.b2, &hand.w3, &hand.b3, &hand.z1};
        const std::vector<Tensor> autograd_grads =
            kiln::grad(loss, {fc1->weight, fc1->bias, fc2->weight, fc2->bias, fc3->weight, fc3->bias, z1});
        if (step == 0) {
          double diff = 0;
          for (int i = 0; i < 7; ++i) diff = std::max(diff, max_abs_diff(autograd_grads[i], *mine[i]));
          worst_diff = std::max(worst_diff, diff);
          std::printf("epoch %d, first batch: largest |hand - autograd| gradient difference %.3g\n", epoch + 1, diff);
        }
        // Train on the hand-made gradients.
        for (int i = 0; i < 6; ++i) params[i]->set_grad(*mine[i]);
        optimizer.step();

        loss_sum += loss.item();
        ++step;
        progress.update(step, loss_sum / step, step * args.batch_size);
      }
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      eval = example::evaluate(model, test, device);
      std::printf("epoch %2d  train loss %.4f  test acc %.4f\n", epoch + 1, loss_sum / step, eval.accuracy);
    }
    example::print_result({{"model", "mlp_by_hand"},
                           {"test_acc", eval.accuracy},
                           {"test_images", test.size()},
                           {"epochs", args.epochs},
                           {"max_grad_difference", worst_diff},
                           {"train_seconds", seconds},
                           {"seconds_per_epoch", args.epochs ? seconds / args.epochs : 0.0},
                           {"images_per_second", seconds > 0 ? train.size() * args.epochs / seconds : 0.0},
                           {"peak_rss_mb", example::peak_rss_mb()}});
    return worst_diff < 1e-4 ? 0 : 1;
  });
}
