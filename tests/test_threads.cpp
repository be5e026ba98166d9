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
