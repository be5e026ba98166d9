// pinn_poisson: a network learns the solution of a partial differential equation from
// the equation alone, with no solution values to fit (a physics-informed neural network,
// Raissi, Perdikaris & Karniadakis 2019).
//
// The problem, on the unit square:   -(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y),
//                                    u = 0 on the boundary,
// whose solution is u = sin(pi x) sin(pi y), used here only to measure the error.
//
// What it shows:
//   1. derivatives of a network with respect to its input: u_x, u_y by kiln::grad,
//   2. second derivatives: grad with create_graph records the first gradient, so u_xx and
//      u_yy are gradients of it, and they in turn are recorded,
//   3. a loss built from those derivatives (the equation's residual at random points,
//      plus u on the boundary), whose backward pass runs through the recorded backward
//      passes down to the weights: third derivatives of the network, with no code for them.
//
// Run: ./build/examples/pinn_poisson [--steps N] [--points N] [--seed S] [--threads T]
//      [--device cpu|cuda]
#include <kiln/kiln.hpp>

#include <chrono>
#include <cmath>
#include <iostream>
#include <numbers>

#include "example_support.hpp"

using kiln::Tensor;

namespace {

constexpr double kPi = std::numbers::pi;

// The right-hand side f = 2 pi^2 sin(pi x) sin(pi y), and the exact solution, at points (N, 2).
Tensor source(const Tensor& p) {
  return kiln::sin(p.select(1, 0) * kPi) * kiln::sin(p.select(1, 1) * kPi) * (2 * kPi * kPi);
}
Tensor exact(const Tensor& p) { return kiln::sin(p.select(1, 0) * kPi) * kiln::sin(p.select(1, 1) * kPi); }

// Points on the square's four sides, `per_side` on each, drawn uniformly along it.
Tensor boundary_points(std::int64_t per_side) {
  const Tensor t = kiln::rand({per_side, 1});
  const Tensor zero = kiln::zeros({per_side, 1}), one = kiln::ones({per_side, 1});
  return kiln::cat(
      {kiln::cat({t, zero}, 1), kiln::cat({t, one}, 1), kiln::cat({zero, t}, 1), kiln::cat({one, t}, 1)}, 0);
}

// -(u_xx + u_yy) at the points p (N, 2) that require grad, u = net(p): the first
// gradient (N, 2) is recorded, then each of its columns differentiated once more.
Tensor minus_laplacian(kiln::nn::Module& net, const Tensor& p) {
  const Tensor u = net.forward(p);                                                       // (N, 1)
  const Tensor du = kiln::grad(kiln::sum(u), {p}, Tensor(), {.create_graph = true})[0];  // (N, 2): u_x, u_y
  const Tensor u_xx = kiln::grad(kiln::sum(du.select(1, 0)), {p}, Tensor(), {.create_graph = true})[0];
  const Tensor u_yy = kiln::grad(kiln::sum(du.select(1, 1)), {p}, Tensor(), {.create_graph = true})[0];
  return -(u_xx.select(1, 0) + u_yy.select(1, 1));  // (N)
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 4000, threads = 0;
  std::int64_t points = 1000, hidden = 32;
  std::uint64_t seed = 0;
  double lr = 2e-3;
  std::string device_name = "cpu";
  example::Flags flags{"Solve a Poisson equation with a physics-informed network"};
  flags.option("--steps", steps, "Adam steps").at_least(0).show_default();
  flags.option("--points", points, "interior points per step (and a quarter of that per side)")
      .at_least(4)
      .show_default();
  flags.option("--hidden", hidden, "units in each of the three hidden layers").at_least(1).show_default();
  flags.option("--lr", lr, "Adam learning rate (halved at 50 % and 75 % of the steps)")
      .at_least(0)
      .show_default();
  flags.option("--seed", seed, "random seed (initialisation, collocation points)").show_default();
  flags.option("--threads", threads, "threads for kiln and BLAS (default: all cores)").at_least(0);
  flags.option("--device", device_name, "cpu, cuda or cuda:N").show_default();
  if (const int exit_code = flags.parse(argc, argv); exit_code >= 0) return exit_code;
  try {
    const kiln::Device device = example::parse_device(device_name);
    if (threads > 0) kiln::set_num_threads(threads);
    kiln::manual_seed(seed);
    std::cout << kiln::build_info() << "\n";

    // u(x, y): 2 -> hidden -> hidden -> hidden -> 1, tanh (smooth: its second derivatives exist).
    using kiln::nn::Linear;
    using kiln::nn::Tanh;
    kiln::nn::Sequential net{std::make_shared<Linear>(2, hidden),      std::make_shared<Tanh>(),
                             std::make_shared<Linear>(hidden, hidden), std::make_shared<Tanh>(),
                             std::make_shared<Linear>(hidden, hidden), std::make_shared<Tanh>(),
                             std::make_shared<Linear>(hidden, 1)};
    net.to(device);
    kiln::optim::Adam opt(net.parameters(), kiln::optim::AdamOptions(lr));

    const auto start = std::chrono::steady_clock::now();
    for (int step = 1; step <= steps; ++step) {
      if (step == steps / 2 || step == 3 * steps / 4) opt.set_lr(opt.lr() / 2);
      // Fresh collocation points each step: inside the square, and on its sides.
      const Tensor inside = kiln::rand({points, 2}).to(device).requires_grad_();
      const Tensor edge = boundary_points(std::max<std::int64_t>(1, points / 4)).to(device);
      const Tensor residual = minus_laplacian(net, inside) - source(inside.detach());
      const Tensor on_edge = net.forward(edge);
      const Tensor loss = kiln::mean(kiln::square(residual)) + kiln::mean(kiln::square(on_edge)) * 100.0;
      opt.zero_grad();
      loss.backward();  // through the three recorded gradients, to every weight
      opt.step();
      if (step % 500 == 0 || step == 1)
        std::cout << "step " << step << "  loss " << loss.item() << "  residual^2 "
                  << kiln::mean(kiln::square(residual)).item() << "\n";
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // The error against the exact solution on a 101 x 101 grid (no gradients needed).
    kiln::NoGradGuard no_grad;
    const Tensor axis = kiln::linspace(0.0, 1.0, 101);
    const Tensor grid = kiln::stack({axis.reshape({101, 1}).expand({101, 101}).reshape({-1}),
                                     axis.reshape({1, 101}).expand({101, 101}).reshape({-1})},
                                    1);
    const Tensor predicted = net.forward(grid.to(device)).reshape({-1}).to(kiln::Device::cpu());
    const Tensor truth = exact(grid);
    const double relative_l2 =
        kiln::norm(predicted - truth, 2.0, {0}).item() / kiln::norm(truth, 2.0, {0}).item();
    const double max_error = kiln::amax(kiln::abs(predicted - truth), {0}).item();
    std::cout << "relative L2 error " << relative_l2 << ", largest error " << max_error
              << " (on a 101 x 101 grid)\n";
    example::print_result({{"relative_l2_error", relative_l2},
                           {"max_abs_error", max_error},
                           {"steps", steps},
                           {"train_seconds", seconds},
                           {"peak_rss_mb", example::peak_rss_mb()}});
  } catch (const kiln::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
