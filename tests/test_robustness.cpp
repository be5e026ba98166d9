// Anomaly detection, freeing of autograd graphs, run-to-run determinism, ops on
// tensors with no elements, and checkpoints that survive the process being killed
// while writing them.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "crash_training.hpp"
#include "helpers.hpp"
#include "op_cases.hpp"

using namespace kiln;
using namespace kiln::test;

namespace {

// A small CNN + MLP trained for a few steps on generated data; returns every loss.
std::vector<double> train_losses(std::uint64_t seed, int threads) {
  set_num_threads(threads);
  manual_seed(seed);
  nn::Sequential model{std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1)),
                       std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
                       std::make_shared<nn::Flatten>(), std::make_shared<nn::Dropout>(0.1),
                       std::make_shared<nn::Linear>(4 * 8 * 8, 10)};
  optim::Adam opt(model.parameters(), optim::AdamOptions(1e-2));
  const Tensor x = randn({64, 1, 16, 16}), y = randint(0, 10, {64});
  std::vector<double> losses;
  for (int step = 0; step < 15; ++step) {
    opt.zero_grad();
    Tensor loss = cross_entropy(model(x), y);
    loss.backward();
    opt.step();
    losses.push_back(loss.item());
  }
  return losses;
}

}  // namespace

TEST_CASE("ops on tensors with no elements: an output, and a gradient of the input's shape") {
  int ran = 0;
  for (const Shape& shape : zero_size_shapes())
    for (const OpCase& c : op_cases()) {
      INFO(c.name << " on " << fmt(shape));
      Tensor x = zeros(shape, kFloat64).requires_grad_();
      Tensor y;
      REQUIRE_NOTHROW(y = c.f(x));
      if (!y.defined()) continue;
      ++ran;
      REQUIRE(y.requires_grad());
      REQUIRE_NOTHROW(sum(y).backward());
      CHECK(x.grad().shape() == shape);
    }
  CHECK(ran > 100);
  // The values PyTorch gives: an empty sum is 0, an empty product 1, an empty mean NaN,
  // the log of an empty sum of exponentials -inf.
  const Tensor none = zeros({2, 0}, kFloat64);
  check_values(sum(none), {0});
  check_values(prod(none, 1), {1, 1});
  CHECK(std::isnan(mean(none).item()));
  check_values(logsumexp(none, {1}), {-INFINITY, -INFINITY});
}

TEST_CASE("0-d tensors: dimension 0 (or -1) reduces nothing; ops that need a dimension say so") {
  Tensor x = scalar_tensor(2.0, kFloat64).requires_grad_();
  // As in PyTorch, a 0-d tensor's dimension 0 is its one element.
  check_values(sum(x, {0}), {2});
  check_values(mean(x, {-1}), {2});
  CHECK(mean(x, {0}, true).shape() == Shape{});
  check_values(logsumexp(x, {0}), {2});
  check_values(norm(x, 2.0, {0}), {2});
  CHECK(std::isnan(var(x, {0}).item()));  // one value, correction 1: 0 / 0
  check_values(flip(x, {0}), {2});
  CHECK(x.squeeze(0).shape() == Shape{});
  mean(x, {-1}).backward();
  check_values(x.grad(), {1});
  // Sizes, strides and views of a dimension it does not have are Errors, not reads past the shape.
  CHECK_THROWS_WITH_AS((void)x.size(-1),
                       "size: a 0-d tensor has no dimension -1; reshape it with .reshape({1}) first", Error);
  CHECK_THROWS_AS((void)x.stride(0), Error);
  CHECK_THROWS_WITH_AS(x.slice(0, 0, 1), doctest::Contains("slice: a 0-d tensor has no dimension 0"), Error);
  CHECK_THROWS_AS(x.narrow(0, 0, 1), Error);
  CHECK_THROWS_AS(x.select(0, 0), Error);
  CHECK_THROWS_WITH_AS(gather(x, 0, zeros({}, kInt64)),
                       doctest::Contains("gather: a 0-d tensor has no dimension 0"), Error);
}

TEST_CASE("anomaly detection names the first op whose forward made NaN or Inf") {
  DetectAnomalyGuard on;
  const Tensor x = tensor<float>({1, -1, 2}).requires_grad_();
  const Tensor y = mul(x, scalar_tensor(2.0f));  // fine
  CHECK_THROWS_WITH_AS(log(y), doctest::Contains("forward of 'log'"), Error);
  CHECK_THROWS_WITH_AS(log(y), doctest::Contains("(3) float32"), Error);
}

TEST_CASE("anomaly detection names the op whose backward made NaN or Inf") {
  DetectAnomalyGuard on;
  const Tensor x = tensor<float>({0, 1, 4}).requires_grad_();
  Tensor s = sum(sqrt(x));  // forward finite; d sqrt/dx at 0 is infinite
  CHECK_THROWS_WITH_AS(s.backward(), doctest::Contains("backward of 'sqrt'"), Error);
}

TEST_CASE("anomaly detection is off unless asked for") {
  const char* env = std::getenv("KILN_DETECT_ANOMALY");
  CHECK(is_anomaly_enabled() == (env != nullptr && std::strcmp(env, "1") == 0));
  DetectAnomalyGuard off(false);
  const Tensor x = tensor<float>({0, 1}).requires_grad_();
  Tensor s = sum(sqrt(x));
  s.backward();  // an infinite gradient, silently
  CHECK(std::isinf(x.grad().to_vector<float>()[0]));
}

TEST_CASE("autograd graphs are freed after backward") {
  const std::int64_t before = live_autograd_nodes();
  {
    manual_seed(3);
    nn::Sequential model{std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(),
                         std::make_shared<nn::Linear>(16, 2)};
    for (int step = 0; step < 3; ++step) {
      model.zero_grad();
      Tensor loss = cross_entropy(model(randn({4, 8})), randint(0, 2, {4}));
      CHECK(live_autograd_nodes() > before);  // the graph exists while its output lives
      loss.backward();
    }
  }
  CHECK(live_autograd_nodes() == before);
}

TEST_CASE("training is bit-identical run to run; across thread counts within tolerance") {
  const int saved = get_num_threads();
  const auto one_a = train_losses(5, 1), one_b = train_losses(5, 1);
  CHECK(one_a == one_b);  // one thread: bit for bit
  const auto two_a = train_losses(5, 2), two_b = train_losses(5, 2);
  CHECK(two_a == two_b);  // the same thread count: bit for bit as well (static chunking)
  // More threads than this machine's cores: tasks finish in any order, results must not care.
  for (int run = 0; run < 3; ++run) CHECK(train_losses(5, 6) == train_losses(5, 6));
  for (std::size_t i = 0; i < one_a.size(); ++i) {
    INFO("step " << i);
    CHECK(two_a[i] == doctest::Approx(one_a[i]).epsilon(1e-5));  // reductions split differently
  }
  set_num_threads(saved);
}

TEST_CASE("checkpoints survive SIGKILL at random moments and resume to the same losses") {
  const int saved = get_num_threads();
  set_num_threads(1);
  std::vector<double> reference{0.0};  // reference[s]: the loss of step s
  {
    test::CrashTraining ref;
    for (int s = 1; s <= 3000; ++s) reference.push_back(ref.step());
  }
  const test::TempDir dir("kiln_crash_");
  const std::string path = (dir.path() / "ckpt.safetensors").string();
  std::mt19937 rng(7);
  int compared = 0;
  for (int trial = 0; trial < 8; ++trial) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      execl(KILN_CHECKPOINT_WRITER, KILN_CHECKPOINT_WRITER, path.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 300));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    if (!std::filesystem::exists(path)) continue;  // killed before its first checkpoint
    test::CrashTraining resumed;
    const int steps = resumed.load(path);  // always a whole checkpoint: never an error
    INFO("trial " << trial << ": checkpoint after step " << steps);
    REQUIRE(steps >= 1);
    if (steps + 2 >= static_cast<int>(reference.size())) continue;
    CHECK(resumed.step() == reference[steps + 1]);  // bit for bit
    CHECK(resumed.step() == reference[steps + 2]);
    ++compared;
  }
  CHECK(compared >= 4);
  set_num_threads(saved);
}
