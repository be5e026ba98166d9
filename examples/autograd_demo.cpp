// autograd_demo: a two-layer network learns to separate three interleaved
// spirals, using nothing but tensors, autograd and a hand-written SGD step.
//
// What it shows:
//   1. building a model from plain tensors that require gradients,
//   2. a forward pass recorded by autograd as it runs,
//   3. loss.backward() filling every parameter's .grad(),
//   4. an update under NoGradGuard, so the update itself is not recorded,
//   5. kiln::grad, which returns the gradient with respect to any tensor (here the
//      input points) without touching .grad(): which points the trained model finds
//      hardest, i.e. where moving a point changes the loss most.
//
// Run: ./build/examples/autograd_demo [--steps N] [--seed S] [--threads T]
#include <kiln/kiln.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

using kiln::Tensor;

namespace {

// Three spiral arms in the plane, `per_class` points each. x: (N, 2), y: (N) int64.
void make_spirals(std::int64_t per_class, Tensor& x, Tensor& y) {
  const std::int64_t classes = 3, n = per_class * classes;
  std::vector<float> xs(n * 2);
  std::vector<std::int64_t> ys(n);
  kiln::Generator& g = kiln::default_generator();
  for (std::int64_t c = 0; c < classes; ++c) {
    for (std::int64_t i = 0; i < per_class; ++i) {
      const double r = static_cast<double>(i) / per_class;          // radius grows along the arm
      const double t = c * 4.0 + r * 4.0 + 0.2 * g.normal();       // angle, with noise
      xs[(c * per_class + i) * 2 + 0] = static_cast<float>(r * std::sin(t));
      xs[(c * per_class + i) * 2 + 1] = static_cast<float>(r * std::cos(t));
      ys[c * per_class + i] = c;
    }
  }
  x = kiln::from_vector(xs, {n, 2});
  y = kiln::from_vector(ys);
}

// Kaiming-uniform initialisation for a (fan_in, fan_out) weight matrix.
Tensor init_weight(std::int64_t fan_in, std::int64_t fan_out) {
  const double bound = std::sqrt(6.0 / static_cast<double>(fan_in));
  return (kiln::rand({fan_in, fan_out}) * (2 * bound) - bound).requires_grad_();
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 2000, seed = 0, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--steps") steps = value;
    else if (flag == "--seed") seed = value;
    else if (flag == "--threads") threads = value;
    else {
      std::cerr << "unknown option " << flag << " (use --steps, --seed, --threads)\n";
      return 2;
    }
  }
  try {
    if (threads > 0) kiln::set_num_threads(threads);
    kiln::manual_seed(static_cast<std::uint64_t>(seed));
    std::cout << kiln::build_info() << "\n";

    Tensor x, y;
    make_spirals(200, x, y);  // x: (600, 2), y: (600)

    // Model: 2 -> 64 -> 3, tanh hidden layer.
    Tensor w1 = init_weight(2, 64), b1 = kiln::zeros({64}).requires_grad_();
    Tensor w2 = init_weight(64, 3), b2 = kiln::zeros({3}).requires_grad_();
    std::vector<Tensor> params{w1, b1, w2, b2};
    const double lr = 0.5;

    for (int step = 0; step <= steps; ++step) {
      // Forward: every op below records its backward rule.
      const Tensor hidden = kiln::tanh(kiln::matmul(x, w1) + b1);           // (N, 64)
      const Tensor logits = kiln::matmul(hidden, w2) + b2;                  // (N, 3)
      const Tensor logp = kiln::log_softmax(logits, 1);                     // (N, 3)
      // Negative log-likelihood: pick each row's log-probability of its label.
      const Tensor picked = kiln::gather(logp, 1, y.unsqueeze(1));          // (N, 1)
      Tensor loss = -kiln::mean(picked);

      for (Tensor& p : params) p.set_grad(Tensor());
      loss.backward();  // d loss / d p for every p in params

      {
        kiln::NoGradGuard no_grad;  // the update is not part of the model
        for (Tensor& p : params) p -= lr * p.grad();
      }

      if (step % 200 == 0) {
        const Tensor pred = kiln::argmax(logits, 1);
        const double acc = kiln::mean(kiln::eq(pred, y).to(kiln::kFloat32)).item();
        std::cout << "step " << step << "  loss " << loss.item() << "  train accuracy " << acc << "\n";
      }
    }

    // 5. d loss / d x for every input point, with the trained weights. Only the ops between
    //    the loss and x run; the parameters' .grad() stay as the last step left them. (The
    //    answer is usually a point near (0, 0), where the three arms start together.)
    const Tensor points = x.clone().requires_grad_();
    const Tensor logp =
        kiln::log_softmax(kiln::matmul(kiln::tanh(kiln::matmul(points, w1) + b1), w2) + b2, 1);
    const Tensor loss = -kiln::mean(kiln::gather(logp, 1, y.unsqueeze(1)));
    const Tensor dx = kiln::grad(loss, {points})[0];  // (N, 2)
    const Tensor pull = kiln::norm(dx, 2.0, {1});     // (N)
    const std::int64_t hardest = kiln::argmax(pull, 0).item<std::int64_t>();
    std::cout << "largest |d loss / d x| " << pull[hardest].item() << " at point " << hardest << " ("
              << x[hardest][0].item() << ", " << x[hardest][1].item() << ") of class "
              << y[hardest].item<std::int64_t>() << "\n";
  } catch (const kiln::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
