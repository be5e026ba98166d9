// Building CSR matrices (from_coo, undirected, transpose) against plain definitions
// (a std::map of entries, a std::set of edges), with the same bits on 1, 2 and 3 threads.
#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "helpers.hpp"

using namespace kiln;

namespace {

// The bits of each value, so that -0 and +0 (and NaNs) compare as stored.
std::vector<std::uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<std::uint32_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = std::bit_cast<std::uint32_t>(v[i]);
  return out;
}

// The CSR arrays of a map from (row, col) to the values given there: each entry's values
// summed in rising order, as from_coo defines it.
graph::CsrMatrix from_map(std::int64_t rows, std::int64_t cols,
                          const std::map<graph::Edge, std::vector<float>>& m) {
  graph::CsrMatrix out;
  out.rows = rows;
  out.cols = cols;
  out.row_ptr.assign(rows + 1, 0);
  for (const auto& [at, given] : m) {
    std::vector<float> v = given;
    std::sort(v.begin(), v.end());
    float sum = v[0];
    for (std::size_t i = 1; i < v.size(); ++i) sum += v[i];
    ++out.row_ptr[at.first + 1];
    out.col_idx.push_back(at.second);
    out.values.push_back(sum);
  }
  for (std::int64_t r = 0; r < rows; ++r) out.row_ptr[r + 1] += out.row_ptr[r];
  return out;
}

void check_same_arrays(const graph::CsrMatrix& got, const graph::CsrMatrix& want) {
  CHECK(got.rows == want.rows);
  CHECK(got.cols == want.cols);
  CHECK(got.row_ptr == want.row_ptr);
  CHECK(got.col_idx == want.col_idx);
  CHECK(bits_of(got.values) == bits_of(want.values));
}

}  // namespace

TEST_CASE("from_coo and transpose against a map of entries, the same bits on 1, 2 and 3 threads") {
  const int before = get_num_threads();
  // 300,000 entries (several parts on 2 and 3 threads), hub rows first, every seventh row
  // drawing its columns from 20 so that it repeats them; values with signs, zeros of both
  // signs and repeats that add up in an order-sensitive way.
  const std::int64_t rows = 5000, cols = 3000;
  Generator gen(17);
  std::vector<graph::Edge> entries;
  std::vector<float> values;
  std::map<graph::Edge, std::vector<float>> by_entry, counts, by_entry_t;
  for (int i = 0; i < 300000; ++i) {
    const auto r = static_cast<std::int64_t>(gen.below(gen.below(rows) + 1));
    const auto c = static_cast<std::int64_t>(gen.below(r % 7 == 0 ? 20 : cols));
    const std::uint64_t pick = gen.below(1000);
    const float v = pick == 0 ? -0.0f : pick == 1 ? 0.0f : (static_cast<float>(pick) - 500.0f) * 1.37e-3f;
    entries.emplace_back(r, c);
    values.push_back(v);
    by_entry[{r, c}].push_back(v);
    counts[{r, c}].push_back(1.0f);
  }
  const graph::CsrMatrix want = from_map(rows, cols, by_entry);
  // The transpose of want: its (summed) values moved to (col, row).
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t k = want.row_ptr[r]; k < want.row_ptr[r + 1]; ++k)
      by_entry_t[{want.col_idx[k], r}].push_back(want.values[k]);
  const graph::CsrMatrix want_t = from_map(cols, rows, by_entry_t);
  const graph::CsrMatrix want_counts = from_map(rows, cols, counts);
  REQUIRE(want.nnz() < static_cast<std::int64_t>(entries.size()));  // there are repeats
  for (const int threads : {1, 2, 3}) {
    CAPTURE(threads);
    set_num_threads(threads);
    const graph::CsrMatrix got = graph::CsrMatrix::from_coo(rows, cols, entries, values);
    check_same_arrays(got, want);
    CHECK_FALSE(got.symmetric);
    check_same_arrays(graph::CsrMatrix::from_coo(rows, cols, entries), want_counts);  // repeats count up
    check_same_arrays(got.transpose(), want_t);
    check_same_arrays(got.transpose().transpose(), want);
  }
  set_num_threads(before);

  // A hand-assembled matrix that repeats a column in a row: its transpose sums them.
  const graph::CsrMatrix repeats{.rows = 2,
                                 .cols = 3,
                                 .row_ptr = {0, 3, 4},
                                 .col_idx = {2, 2, 1, 2},
                                 .values = {1.0f, 2.0f, 4.0f, 8.0f}};
  const graph::CsrMatrix t = repeats.transpose();
  CHECK(t.row_ptr == std::vector<std::int64_t>{0, 0, 1, 3});
  CHECK(t.col_idx == std::vector<std::int64_t>{0, 0, 1});
  CHECK(t.values == std::vector<float>{4.0f, 3.0f, 8.0f});

  // NaN values among repeats: a NaN result, and no fault in the sort.
  std::vector<graph::Edge> same(200, graph::Edge{1, 1});
  std::vector<float> nan_values(200);
  for (std::size_t i = 0; i < nan_values.size(); ++i)
    nan_values[i] = i % 3 == 0 ? std::numeric_limits<float>::quiet_NaN() : (i % 2 ? -1.0f : 2.5f);
  const graph::CsrMatrix with_nan = graph::CsrMatrix::from_coo(2, 2, same, nan_values);
  CHECK(with_nan.nnz() == 1);
  CHECK(std::isnan(with_nan.values[0]));
}

TEST_CASE("undirected against a set of edges, the same arrays on 1, 2 and 3 threads") {
  const int before = get_num_threads();
  // 200,000 edges over 4,000 nodes, hubs first: repeats in both directions and self loops.
  const std::int64_t nodes = 4000;
  Generator gen(23);
  std::vector<graph::Edge> edges;
  std::set<graph::Edge> both;
  for (int i = 0; i < 200000; ++i) {
    const auto u = static_cast<std::int64_t>(gen.below(gen.below(nodes) + 1));
    const auto v = static_cast<std::int64_t>(i % 50 == 0 ? u : gen.below(nodes));
    edges.emplace_back(u, v);
    if (u != v) {
      both.emplace(u, v);
      both.emplace(v, u);
    }
  }
  std::map<graph::Edge, std::vector<float>> ones;
  for (const graph::Edge& e : both) ones[e] = {1.0f};
  const graph::CsrMatrix want = from_map(nodes, nodes, ones);
  for (const int threads : {1, 2, 3}) {
    CAPTURE(threads);
    set_num_threads(threads);
    const graph::CsrMatrix got = graph::CsrMatrix::undirected(nodes, edges);
    check_same_arrays(got, want);
    CHECK(got.symmetric);
  }
  set_num_threads(before);
}

TEST_CASE("from_coo and undirected name the first entry out of range, on any number of threads") {
  const int before = get_num_threads();
  // Bad entries far apart, so that on 2 or 3 threads different parts find one each.
  std::vector<graph::Edge> entries(300000, graph::Edge{1, 2});
  entries[1000] = {7, 1};
  entries[250000] = {0, -4};
  std::vector<graph::Edge> edges(300000, graph::Edge{1, 2});
  edges[2000] = {-3, 1};
  edges[260000] = {1, 9};
  for (const int threads : {1, 2, 3}) {
    CAPTURE(threads);
    set_num_threads(threads);
    CHECK_THROWS_WITH_AS(graph::CsrMatrix::from_coo(5, 6, entries),
                         doctest::Contains("from_coo: entry (7, 1) is outside a 5 x 6 matrix"), Error);
    CHECK_THROWS_WITH_AS(graph::CsrMatrix::undirected(5, edges),
                         doctest::Contains("undirected: edge (-3, 1) names a node outside [0, 5)"), Error);
  }
  set_num_threads(before);
  CHECK_THROWS_WITH_AS(graph::CsrMatrix::from_coo(2, 2, {{0, 0}}, {1.0f, 2.0f}),
                       doctest::Contains("2 values for 1 entries"), Error);
  CHECK_THROWS_AS(graph::CsrMatrix::undirected(-1, {}), Error);
  // Empty inputs give empty matrices.
  const graph::CsrMatrix empty = graph::CsrMatrix::from_coo(3, 0, {});
  CHECK(empty.row_ptr == std::vector<std::int64_t>{0, 0, 0, 0});
  CHECK(graph::CsrMatrix::undirected(0, {}).nnz() == 0);
  CHECK(empty.transpose().row_ptr == std::vector<std::int64_t>{0});
}
