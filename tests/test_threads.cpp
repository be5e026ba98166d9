// The thread pool: settings, chunking, exceptions, determinism across counts.
#include <atomic>

#include "helpers.hpp"

using namespace kiln;

TEST_CASE("parallel_for covers the range exactly once, in chunks of at least the grain") {
  const int saved = get_num_threads();
  set_num_threads(2);
  CHECK(get_num_threads() == 2);
  std::vector<std::atomic<int>> hits(10000);
  std::atomic<int> calls{0};
  parallel_for(0, 10000, 1000, [&](std::int64_t b, std::int64_t e) {
    CHECK(e - b >= 1);
    ++calls;
    for (std::int64_t i = b; i < e; ++i) ++hits[i];
  });
  for (auto& h : hits) CHECK(h.load() == 1);
  CHECK(calls.load() <= 2);
  int small_calls = 0;
  parallel_for(0, 10, 1000, [&](std::int64_t b, std::int64_t e) {
    ++small_calls;
    CHECK(b == 0);
    CHECK(e == 10);
  });
  CHECK(small_calls == 1);
  set_num_threads(saved);
}

TEST_CASE("an exception inside a parallel loop reaches the caller") {
  const int saved = get_num_threads();
  set_num_threads(2);
  CHECK_THROWS_WITH_AS(parallel_for(0, 100000, 10,
                                    [](std::int64_t b, std::int64_t) {
                                      if (b > 0) throw Error("boom in a worker");
                                    }),
                       "boom in a worker", Error);
  set_num_threads(saved);
}

TEST_CASE("elementwise and reduction results do not depend on the thread count") {
  manual_seed(31);
  const Tensor x = randn({512, 777});
  const int saved = get_num_threads();
  set_num_threads(1);
  const Tensor a = softmax(gelu(x), 1), s = sum(x, {0});
  set_num_threads(2);
  kiln::test::check_same(softmax(gelu(x), 1), a, 0);
  kiln::test::check_same(sum(x, {0}), s, 0);
  set_num_threads(saved);
}

TEST_CASE("convolution weight gradients repeat bit for bit with more threads than cores") {
  const int saved = get_num_threads();
  set_num_threads(6);  // six tasks' partial sums, added in the order of their images
  manual_seed(5);
  const Tensor x = randn({12, 3, 9, 9}), up = randn({12, 4, 9, 9}), w = randn({4, 3, 3, 3});
  std::vector<float> first_conv, first_transpose;
  for (int run = 0; run < 5; ++run) {
    Tensor wc = w.clone().requires_grad_(), wt = w.clone().requires_grad_();
    sum(conv2d(x, wc, Tensor(), {1, 1}, {1, 1}) * up).backward();
    sum(conv_transpose2d(up, wt, Tensor(), {1, 1}, {1, 1}) * x).backward();
    if (run == 0) {
      first_conv = wc.grad().to_vector<float>();
      first_transpose = wt.grad().to_vector<float>();
    }
    CHECK(wc.grad().to_vector<float>() == first_conv);
    CHECK(wt.grad().to_vector<float>() == first_transpose);
  }
  set_num_threads(saved);
}

TEST_CASE("conv3d's input gradient does not depend on the thread count; its weight gradient repeats") {
  const int saved = get_num_threads();
  manual_seed(7);
  // One volume: its output slices spread over the threads in phases of non-overlapping planes.
  const Tensor x = randn({1, 3, 9, 6, 7}), w = randn({4, 3, 3, 2, 3}), up = randn({1, 4, 6, 7, 7});
  std::vector<float> dx_one, dw_first;
  for (int threads : {1, 2, 5}) {
    CAPTURE(threads);
    set_num_threads(threads);
    for (int run = 0; run < 2; ++run) {
      Tensor xl = x.clone().requires_grad_(), wl = w.clone().requires_grad_();
      sum(conv3d(xl, wl, Tensor(), {2, 1, 1}, {2, 1, 1}, {1, 1, 1}) * up).backward();
      if (dx_one.empty()) dx_one = xl.grad().to_vector<float>();
      CHECK(xl.grad().to_vector<float>() == dx_one);
      if (run == 0) dw_first = wl.grad().to_vector<float>();
      CHECK(wl.grad().to_vector<float>() == dw_first);
    }
  }
  set_num_threads(saved);
}
