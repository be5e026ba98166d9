// Graphs: CSR construction and normalisation, spmm (values, gradient, kernel
// parity), edge splits and negative sampling, graph layers, VAE pieces.
#include <cmath>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>

#include "helpers.hpp"
#include "kernels/cpu/dispatch.hpp"
#include "src/graph/balanced_rows.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {
// A path 0 - 1 - 2 plus an isolated node 3.
graph::CsrMatrix path3() { return graph::CsrMatrix::undirected(4, {{0, 1}, {2, 1}, {1, 0}, {2, 2}}); }

// A layer run two ways (run(true), run(false): e.g. on sparse and on dense features)
// gives the same output and the same gradient in every parameter, within tol.
void same_both_ways(nn::Module& layer, const std::function<Tensor(bool first)>& run, double tol) {
  const Tensor y_first = run(true);
  const Tensor g = randn(y_first.shape());
  y_first.backward(g);
  std::vector<Tensor> grads;
  for (const Tensor& p : layer.parameters()) grads.push_back(p.grad().clone());
  layer.zero_grad();
  const Tensor y_second = run(false);
  y_second.backward(g);
  check_same(y_first, y_second, tol);
  const std::vector<Tensor> params = layer.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) check_same(grads[i], params[i].grad(), tol);
}
}  // namespace

TEST_CASE("CSR from COO and from undirected edges") {
  const auto m = graph::CsrMatrix::from_coo(2, 3, {{1, 2}, {0, 1}, {1, 2}, {1, 0}}, {1, 2, 3, 4});
  CHECK(m.nnz() == 3);  // the duplicate (1, 2) is summed
  check_values(m.to_dense(), {0, 2, 0, 4, 0, 4});
  check_values(m.transpose().to_dense(), {0, 4, 2, 0, 0, 4});
  const auto a = path3();
  CHECK(a.symmetric);
  CHECK(a.nnz() == 4);  // duplicates and the self loop dropped
  check_values(a.row_sums(), {1, 2, 1, 0});
  CHECK_THROWS_WITH_AS(graph::CsrMatrix::from_coo(2, 2, {{2, 0}}), doctest::Contains("outside a 2 x 2"), Error);
}

TEST_CASE("normalisations: D^-1/2 (A + I) D^-1/2 and D^-1 A") {
  const auto a = path3();
  const Tensor s = graph::normalize_symmetric(a).to_dense();
  // degrees with self loops: 2, 3, 2, 1
  const double r6 = 1 / std::sqrt(6.0);
  check_values(s, {0.5, r6, 0, 0, r6, 1.0 / 3, r6, 0, 0, r6, 0.5, 0, 0, 0, 0, 1}, 1e-6);
  check_values(graph::normalize_rows(a).to_dense(), {0, 1, 0, 0, 0.5, 0, 0.5, 0, 0, 1, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("spmm equals the dense product; its gradient is A^T G") {
  manual_seed(51);
  const auto m = graph::CsrMatrix::from_coo(3, 4, {{0, 1}, {0, 3}, {2, 0}, {2, 2}, {1, 1}}, {0.5f, -1, 2, 1, 3});
  const Tensor x = randn({4, 5});
  check_same(spmm(m, x), matmul(m.to_dense(), x), 1e-6);
  Tensor xg = x.clone().requires_grad_();
  const Tensor g = randn({3, 5});
  spmm(m, xg).backward(g);
  check_same(xg.grad(), matmul(m.to_dense().t(), g), 1e-6);
  // float64 gradcheck through a symmetric matrix (A^T = A path) and a general one.
  const auto sym = graph::normalize_symmetric(path3());
  KILN_CHECK_GRAD([sym](const In& in) { return spmm(sym, in[0]) * 2.0; }, {rand64({4, 3})});
  KILN_CHECK_GRAD([m](const In& in) { return spmm(m, in[0]); }, {rand64({4, 2})});
  CHECK_THROWS_WITH_AS(spmm(m, randn({3, 5})), doctest::Contains("cannot multiply dense shape (3, 5)"), Error);
}

TEST_CASE("DeviceCsr: spmm and its gradient as with the CsrMatrix, arrays made once and shared") {
  manual_seed(53);
  const auto directed = graph::CsrMatrix::from_coo(3, 4, {{0, 1}, {0, 3}, {2, 0}, {2, 2}, {1, 1}}, {0.5f, -1, 2, 1, 3});
  const auto sym = graph::normalize_symmetric(path3());
  for (const graph::CsrMatrix* a : {&directed, &sym}) {
    const graph::DeviceCsr d(*a);
    CHECK(d.rows() == a->rows);
    CHECK(d.cols() == a->cols);
    CHECK(d.nnz() == a->nnz());
    CHECK(d.symmetric() == a->symmetric);
    for (DType dt : {kFloat32, kFloat64}) {
      const Tensor x = randn({a->cols, 5}, dt), g = randn({a->rows, 5}, dt);
      Tensor x1 = x.clone().requires_grad_(), x2 = x.clone().requires_grad_();
      const Tensor y1 = spmm(*a, x1), y2 = spmm(d, x2);
      check_same(y2, y1, 0.0);  // the same kernel on the same arrays
      y1.backward(g);
      y2.backward(g);
      check_same(x2.grad(), x1.grad(), 0.0);
    }
    KILN_CHECK_GRAD([d](const In& in) { return spmm(d, in[0]); }, {rand64({a->cols, 3})});
  }
  // Copies and transposes share the arrays; the transpose's transpose is the matrix.
  const graph::DeviceCsr d(directed), copy = d;
  CHECK(copy.values().data_ptr<float>() == d.values().data_ptr<float>());
  CHECK(d.transpose().rows() == 4);
  CHECK(d.transpose().transpose().col_idx().data_ptr<std::int64_t>() == d.col_idx().data_ptr<std::int64_t>());
  check_same(spmm(d.transpose(), ones({3, 1})), matmul(directed.to_dense().t(), ones({3, 1})), 1e-6);
  // The layers take it too.
  nn::GCNConv conv(2, 3);
  const Tensor h = randn({4, 2});
  check_same(conv.forward(graph::DeviceCsr(sym), h), conv.forward(sym, h), 0.0);
  nn::SAGEConv sage(2, 3);
  const auto mean_adj = graph::normalize_rows(path3());
  check_same(sage.forward(graph::DeviceCsr(mean_adj), h), sage.forward(mean_adj, h), 0.0);
  // Checked when made; the dense operand as for the CsrMatrix.
  graph::CsrMatrix bad = directed;
  bad.col_idx[0] = 4;
  CHECK_THROWS_WITH_AS(graph::DeviceCsr{bad}, doctest::Contains("DeviceCsr: malformed CSR matrix"), Error);
  CHECK_THROWS_WITH_AS(spmm(d, randn({3, 5})), doctest::Contains("cannot multiply dense shape (3, 5)"), Error);
}

TEST_CASE("a hand-assembled CSR matrix with a fault is an Error, never a stray read") {
  const auto good = graph::CsrMatrix::from_coo(3, 4, {{0, 1}, {0, 3}, {2, 0}, {2, 2}, {1, 1}});
  const Tensor x = ones({4, 2});
  struct Fault {
    const char* what;
    void (*apply)(graph::CsrMatrix&);
  };
  const Fault faults[] = {
      {"column index 7 (nonzero 2) is outside [0, 4)", [](graph::CsrMatrix& m) { m.col_idx[2] = 7; }},
      {"column index -1 (nonzero 4) is outside [0, 4)", [](graph::CsrMatrix& m) { m.col_idx[4] = -1; }},
      {"row pointer 2 (1) is below row pointer 1 (2)", [](graph::CsrMatrix& m) { m.row_ptr[2] = 1; }},
      {"they must run from 0 to the 5 nonzeros", [](graph::CsrMatrix& m) { m.row_ptr[3] = 9; }},
      {"they must run from 0 to the 5 nonzeros", [](graph::CsrMatrix& m) { m.row_ptr[0] = -2; }},
      {"expected rows + 1 row pointers", [](graph::CsrMatrix& m) { m.values.pop_back(); }},
      {"expected rows + 1 row pointers", [](graph::CsrMatrix& m) { m.row_ptr.pop_back(); }},
  };
  for (const Fault& fault : faults) {
    graph::CsrMatrix m = good;
    fault.apply(m);
    INFO(fault.what);
    CHECK_THROWS_WITH_AS(spmm(m, x), doctest::Contains(fault.what), Error);
    CHECK_THROWS_WITH_AS(m.to_dense(), doctest::Contains(fault.what), Error);
    CHECK_THROWS_WITH_AS(m.transpose(), doctest::Contains(fault.what), Error);
    CHECK_THROWS_WITH_AS(graph::normalize_rows(m), doctest::Contains(fault.what), Error);
  }
  // A fault far down a large matrix is found by the task that reaches it.
  graph::CsrMatrix big = graph::CsrMatrix::from_coo(50000, 8, [] {
    std::vector<graph::Edge> e;
    for (std::int64_t r = 0; r < 50000; ++r) e.emplace_back(r, r % 8);
    return e;
  }());
  big.col_idx[49999] = 8;
  CHECK_THROWS_WITH_AS(spmm(big, ones({8, 64})),
                       doctest::Contains("spmm: malformed CSR matrix (50000 x 8): column index 8 (nonzero 49999)"),
                       Error);
  big.col_idx[49999] = 7;
  CHECK(sum(spmm(big, ones({8, 64}))).item() == 50000.0 * 64);
}

TEST_CASE("parity: spmm kernel on ragged rows and feature widths") {
  manual_seed(52);
  const auto& ref = cpu::kernels_f32_for(cpu::Isa::scalar);
  std::vector<graph::Edge> e;
  for (int r = 0; r < 40; ++r)
    for (int k = 0; k < r % 7; ++k) e.emplace_back(r, (r * 13 + k * 7) % 50);
  const auto m = graph::CsrMatrix::from_coo(40, 50, e);
  for (cpu::Isa isa : {cpu::Isa::avx2, cpu::Isa::avx512}) {
    if (!cpu::isa_supported(isa)) continue;
    const auto& simd = cpu::kernels_f32_for(isa);
    for (std::int64_t f : {1, 3, 8, 16, 17, 64, 65, 100}) {
      const Tensor x = randn({50, f});
      std::vector<float> want(40 * f), got(40 * f);
      CHECK(ref.spmm(40, f, m.row_ptr.data(), m.col_idx.data(), m.cols, m.values.data(), x.data_ptr<float>(),
                     want.data()));
      CHECK(simd.spmm(40, f, m.row_ptr.data(), m.col_idx.data(), m.cols, m.values.data(), x.data_ptr<float>(),
                      got.data()));
      for (std::size_t i = 0; i < want.size(); ++i) {
        INFO(cpu::isa_name(isa) << " f=" << f << " i=" << i);
        CHECK(std::abs(got[i] - want[i]) <= 1e-5f * (1 + std::abs(want[i])));
      }
    }
  }
  // Every level stops at a fault in the structure (x has 50 rows: column 50 is outside).
  for (cpu::Isa isa : {cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::avx512}) {
    if (!cpu::isa_supported(isa)) continue;
    const auto& k = cpu::kernels_f32_for(isa);
    for (std::int64_t f : {3, 16, 64}) {
      const Tensor x = randn({50, f});
      std::vector<float> y(40 * f);
      const auto run = [&](const graph::CsrMatrix& a) {
        return k.spmm(40, f, a.row_ptr.data(), a.col_idx.data(), a.cols, a.values.data(), x.data_ptr<float>(),
                      y.data());
      };
      INFO(cpu::isa_name(isa) << " f=" << f);
      graph::CsrMatrix bad = m;
      bad.col_idx.back() = 50;
      CHECK_FALSE(run(bad));
      bad = m;
      bad.col_idx[3] = -1;
      CHECK_FALSE(run(bad));
      bad = m;
      bad.row_ptr[10] = bad.row_ptr[9] - 1;  // row 9 would end before it starts
      CHECK_FALSE(run(bad));
      bad = m;
      bad.row_ptr[5] = bad.row_ptr[40] + 1;  // past the last entry
      CHECK_FALSE(run(bad));
      CHECK(run(m));
    }
  }
}

TEST_CASE("CSR rows are split between threads by work: hubs first, malformed offsets, small matrices") {
  const int before = get_num_threads();
  // Each call's tasks, as (first row, end row), in row order.
  const auto split = [](std::int64_t rows, const std::vector<std::int64_t>& row_ptr, std::int64_t nnz,
                        std::int64_t per_entry, std::int64_t min_work) {
    std::mutex held;
    std::vector<std::pair<std::int64_t, std::int64_t>> tasks;
    detail::parallel_rows_by_work(rows, row_ptr.data(), nnz, per_entry, min_work,
                                  [&](std::int64_t b, std::int64_t e) {
                                    const std::lock_guard<std::mutex> lock(held);
                                    tasks.emplace_back(b, e);
                                  });
    std::sort(tasks.begin(), tasks.end());
    return tasks;
  };
  const auto tiles = [](const std::vector<std::pair<std::int64_t, std::int64_t>>& tasks, std::int64_t rows) {
    std::int64_t next = 0;
    for (const auto& [b, e] : tasks) {
      if (b != next || e <= b) return false;
      next = e;
    }
    return next == rows;
  };
  // A power-law row length, hubs numbered first: the first 5 % of the rows hold most entries.
  const std::int64_t rows = 20000;
  std::vector<std::int64_t> row_ptr(rows + 1, 0);
  for (std::int64_t r = 0; r < rows; ++r) row_ptr[r + 1] = row_ptr[r] + 1 + 4000 / (r + 1);
  const std::int64_t nnz = row_ptr[rows], longest = row_ptr[1] - row_ptr[0] + 1;
  for (const int threads : {2, 3}) {
    CAPTURE(threads);
    set_num_threads(threads);
    const auto tasks = split(rows, row_ptr, nnz, 16, 1024);
    CHECK(tiles(tasks, rows));
    CHECK(tasks.size() == static_cast<std::size_t>(threads));
    for (const auto& task : tasks) {  // each within one row of an equal share of entries + rows
      const std::int64_t b = task.first, e = task.second;
      INFO("rows [" << b << ", " << e << ")");
      CHECK(std::abs((row_ptr[e] - row_ptr[b] + e - b) - (nnz + rows) / threads) <= longest);
    }
    // Offsets that fall, jump past nnz or go negative still give whole rows, each once.
    std::vector<std::int64_t> bad = row_ptr;
    for (std::int64_t r = 1; r < rows; r += 7) bad[r] = (r % 3 == 0) ? -5 : (r % 3 == 1 ? nnz * 9 : 0);
    CHECK(tiles(split(rows, bad, nnz, 16, 1024), rows));
    // Below the minimum work per task, one task takes every row.
    CHECK(split(rows, row_ptr, nnz, 1, 4 * (nnz + rows)) ==
          std::vector<std::pair<std::int64_t, std::int64_t>>{{0, rows}});
    CHECK(split(2, {0, 5, 9}, 9, 1000000, 1024).size() == 2);  // no more tasks than rows
    CHECK(split(1, {0, 5}, 5, 1000000, 1024).size() == 1);
    CHECK(split(0, {0}, 0, 16, 1024).empty());
  }
  // spmm over such a matrix: the same bits on 1, 2 and 3 threads, and the dense product.
  std::vector<graph::Edge> e;
  Generator gen(5);
  for (std::int64_t r = 0; r < 3000; ++r)
    for (std::int64_t k = 0; k < 1 + 600 / (r + 1); ++k)
      e.emplace_back(r, static_cast<std::int64_t>(gen.below(3000)));
  const auto m = graph::CsrMatrix::from_coo(3000, 3000, e);
  manual_seed(6);  // the same x whichever tests ran before
  const Tensor x = randn({3000, 16});
  std::vector<std::vector<float>> got;
  for (const int threads : {1, 2, 3}) {
    set_num_threads(threads);
    got.push_back(spmm(m, x).to_vector<float>());
  }
  set_num_threads(before);
  CHECK(got[0] == got[1]);
  CHECK(got[0] == got[2]);
  // Against float64: float32 sums of up to 601 terms, compared to (1 + |exact|).
  check_same(from_vector(got[1]).reshape({3000, 16}), matmul(m.to_dense().to(kFloat64), x.to(kFloat64)),
             5e-5);
}

TEST_CASE("unique_undirected and add_self_loops against plain definitions") {
  // unique_undirected: the first of each undirected edge, in list order, as (min, max);
  // self loops dropped. Enough edges that its probes run ahead of the list.
  Generator gen(11);
  std::vector<graph::Edge> edges;
  for (int i = 0; i < 5000; ++i)
    edges.emplace_back(static_cast<std::int64_t>(gen.below(90)), static_cast<std::int64_t>(gen.below(90)));
  std::vector<graph::Edge> want;
  std::set<graph::Edge> seen;
  for (auto [u, v] : edges)
    if (u != v && seen.insert({std::min(u, v), std::max(u, v)}).second)
      want.emplace_back(std::min(u, v), std::max(u, v));
  CHECK(graph::unique_undirected(edges) == want);
  CHECK(graph::unique_undirected({}).empty());
  CHECK_THROWS_AS(graph::unique_undirected({{0, 1}, {2, -1}}), Error);

  // add_self_loops: sorted rows take a one-pass path, others go through from_coo; both
  // must give the matrix from_coo builds from the entries plus the missing diagonal.
  std::vector<graph::Edge> entries;
  std::vector<float> values;
  for (std::int64_t r = 0; r < 60; ++r)
    for (std::int64_t c = 0; c < 60; ++c)
      if (gen.below(5) == 0 || (r == 7 && c == 0) || (r == 8 && c == 59) || (r == 9 && c == 9)) {
        entries.emplace_back(r, c);
        values.push_back(static_cast<float>(1 + gen.below(9)));
      }
  // Rows 20 and 21 are left empty; row 9 has its diagonal, rows 7 and 8 their first and last columns.
  std::erase_if(entries, [](const graph::Edge& e) { return e.first == 20 || e.first == 21; });
  values.resize(entries.size());
  std::vector<graph::Edge> with_diag = entries;
  std::vector<float> with_values = values;
  std::set<std::int64_t> has_loop;
  for (const auto& [r, c] : entries)
    if (r == c) has_loop.insert(r);
  for (std::int64_t r = 0; r < 60; ++r)
    if (!has_loop.count(r)) {
      with_diag.emplace_back(r, r);
      with_values.push_back(1.0f);
    }
  const auto expect = graph::CsrMatrix::from_coo(60, 60, with_diag, with_values);
  const auto sorted = graph::CsrMatrix::from_coo(60, 60, entries, values);
  graph::CsrMatrix unsorted = sorted;  // row 3 reversed: same matrix, not sorted
  std::reverse(unsorted.col_idx.begin() + unsorted.row_ptr[3],
               unsorted.col_idx.begin() + unsorted.row_ptr[4]);
  std::reverse(unsorted.values.begin() + unsorted.row_ptr[3], unsorted.values.begin() + unsorted.row_ptr[4]);
  REQUIRE(unsorted.row_ptr[4] - unsorted.row_ptr[3] > 2);
  for (const graph::CsrMatrix* a : {&sorted, static_cast<const graph::CsrMatrix*>(&unsorted)}) {
    const auto got = graph::add_self_loops(*a);
    CHECK(got.row_ptr == expect.row_ptr);
    CHECK(got.col_idx == expect.col_idx);
    CHECK(got.values == expect.values);
    CHECK(got.symmetric == a->symmetric);
  }
  const auto sym = graph::add_self_loops(path3());
  CHECK(sym.symmetric);
  check_values(sym.to_dense(), {1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1});
}

TEST_CASE("EdgeSet: an undirected set that grows, against std::set") {
  graph::EdgeSet set;
  std::set<std::pair<std::int64_t, std::int64_t>> reference;
  Generator gen(3);
  for (int i = 0; i < 20000; ++i) {  // many growths; repeats in both orientations
    const auto u = static_cast<std::int64_t>(gen.below(300)), v = static_cast<std::int64_t>(gen.below(300));
    const bool added = set.insert(u, v);
    CHECK(added == reference.insert({std::min(u, v), std::max(u, v)}).second);
    CHECK(set.size() == reference.size());
  }
  for (std::int64_t u = 0; u < 300; ++u)
    for (std::int64_t v = 0; v < 300; ++v)
      CHECK(set.contains(u, v) == (reference.count({std::min(u, v), std::max(u, v)}) == 1));
  const std::int64_t big = (std::int64_t{1} << 31) - 1;  // the largest node
  set.insert(big, 7);
  CHECK(set.contains(7, big));
  CHECK_FALSE(set.contains(big, 8));
  CHECK_FALSE(set.contains(-1, 7));
  CHECK_FALSE(set.contains(7, big + 1));
  CHECK_THROWS_WITH_AS(set.insert(big + 1, 7), doctest::Contains("EdgeSet: edge (2147483648, 7) has a node outside"),
                       Error);
  CHECK_THROWS_AS(set.insert(3, -2), Error);
  CHECK(graph::EdgeSet().size() == 0);
  CHECK_FALSE(graph::EdgeSet().contains(0, 1));
}

TEST_CASE("edge split: disjoint, complete, negatives are true non-edges") {
  std::vector<graph::Edge> edges;
  for (int u = 0; u < 60; ++u)
    for (int v = u + 1; v < 60; v += 7) edges.emplace_back(u, v);
  const auto s = graph::split_edges(60, edges, 0.05, 0.10, 9);
  const graph::EdgeSet all(edges);
  CHECK(s.train.size() + s.val.size() + s.test.size() == all.size());
  CHECK(s.test.size() == static_cast<std::size_t>(std::floor(all.size() * 0.10)));
  CHECK(s.val_negative.size() == s.val.size());
  CHECK(s.test_negative.size() == s.test.size());
  const graph::EdgeSet train(s.train);
  for (const auto& [u, v] : s.test) CHECK_FALSE(train.contains(u, v));
  for (const auto& [u, v] : s.val) CHECK_FALSE(train.contains(u, v));
  std::set<std::pair<std::int64_t, std::int64_t>> negs;
  for (const auto* list : {&s.val_negative, &s.test_negative})
    for (const auto& [u, v] : *list) {
      CHECK(u != v);
      CHECK_FALSE(all.contains(u, v));
      CHECK(negs.insert({u, v}).second);  // no repeats, across validation and test
    }
  const auto again = graph::split_edges(60, edges, 0.05, 0.10, 9);
  CHECK(again.test == s.test);  // seeded
  Generator gen(1);
  CHECK_THROWS_AS(graph::sample_negatives(3, 4, graph::EdgeSet(), gen), Error);
  CHECK_THROWS_WITH_AS(graph::split_edges(3, {{0, 1}, {1, 5}}, 0.1, 0.1, 1),
                       doctest::Contains("edge (1, 5) has a node outside the graph's 3 nodes"), Error);
}

// sample_negatives draws its candidates in batches, prefetching their hash slots; its
// definition is the loop below, one candidate at a time. Same pairs, same order, and
// the generator left in the same state, for counts around the batch size, on a small
// dense graph where many candidates are rejected.
TEST_CASE("sample_negatives gives the pairs of drawing one candidate at a time") {
  // The definition: draw (u, v) until `count` pairs are kept, keeping each that is not a
  // self loop, not known and not kept before.
  const auto one_at_a_time = [](std::int64_t nodes, std::int64_t count, const graph::EdgeSet& known,
                                Generator& gen) {
    graph::EdgeSet taken;
    std::vector<graph::Edge> want;
    while (static_cast<std::int64_t>(want.size()) < count) {
      const auto u = static_cast<std::int64_t>(gen.below(nodes));
      const auto v = static_cast<std::int64_t>(gen.below(nodes));
      if (u == v || known.contains(u, v) || taken.contains(u, v)) continue;
      taken.insert(u, v);
      want.emplace_back(std::min(u, v), std::max(u, v));
    }
    return want;
  };
  std::vector<graph::Edge> edges;
  for (int u = 0; u < 40; ++u)
    for (int v = u + 1; v < 40; v += 2) edges.emplace_back(u, v);
  const graph::EdgeSet known(edges);
  for (const std::int64_t count : {1, 31, 32, 33, 200}) {
    CAPTURE(count);
    Generator gen(77), ref_gen(77);
    CHECK(graph::sample_negatives(40, count, known, gen) == one_at_a_time(40, count, known, ref_gen));
    CHECK(gen.next_u64() == ref_gen.next_u64());
  }
  // Larger draws: the known edges are checked on every thread, in rounds of at most
  // 65,536 candidates (150,000 pairs take several, each short of what is rejected).
  std::vector<graph::Edge> many;
  for (int u = 0; u < 1000; ++u)
    for (int v = u + 1; v < 1000; ++v)
      if ((u * 7 + v * 3) % 5 == 0) many.emplace_back(u, v);
  const graph::EdgeSet many_known(many);
  const int before = get_num_threads();
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (const std::int64_t count : {5000, 150000}) {
      CAPTURE(threads);
      CAPTURE(count);
      Generator gen(78), ref_gen(78);
      CHECK(graph::sample_negatives(1000, count, many_known, gen) ==
            one_at_a_time(1000, count, many_known, ref_gen));
      CHECK(gen.next_u64() == ref_gen.next_u64());
    }
  }
  set_num_threads(before);
  // On an empty set prefetch is a harmless hint (of a null address), as on any other.
  const graph::EdgeSet none;
  none.prefetch(3, 5);
  CHECK_FALSE(none.contains(3, 5));
}

// On the CPU the decoder is one pass each way; its definition is the composite of
// index_select, mul and sum. Many pairs with hubs, repeats and pairs of a node with
// itself; rows of one cache line (one thread adds) and wider (threads split the rows):
// the same gradient bits on 1 and 2 threads, and the composite's values.
TEST_CASE("inner_product_logits on the CPU matches its composite, on any number of threads") {
  Generator gen(59);
  for (const std::int64_t d : {std::int64_t{16}, std::int64_t{40}}) {
    CAPTURE(d);
    const std::int64_t n = 2000, pairs = 30000;
    std::vector<std::int64_t> s(pairs), t(pairs);
    for (std::int64_t k = 0; k < pairs; ++k) {
      const double u = gen.uniform();
      s[k] = static_cast<std::int64_t>(u * u * u * n);  // most among the first nodes
      t[k] = k % 97 == 0 ? s[k] : static_cast<std::int64_t>(gen.below(n));
    }
    const Tensor src = from_vector(s), dst = from_vector(t), z = randn({n, d}), upstream = randn({pairs});
    // The composite in float64; a hub's gradient sums thousands of float32 terms.
    const Tensor want = sum(index_select(z.to(kFloat64), 0, src) * index_select(z.to(kFloat64), 0, dst), {1});
    Tensor leaf = z.to(kFloat64).requires_grad_();
    sum(index_select(leaf, 0, src) * index_select(leaf, 0, dst), {1}).backward(upstream.to(kFloat64));
    const Tensor want_grad = leaf.grad();
    std::vector<std::vector<float>> grads;
    for (const int threads : {1, 2}) {
      CAPTURE(threads);
      const int before = get_num_threads();
      set_num_threads(threads);
      Tensor zl = z.clone().requires_grad_();
      const Tensor got = nn::inner_product_logits(zl, src, dst);
      check_same(got, want, 1e-5);
      got.backward(upstream);
      check_same(zl.grad(), want_grad, 1e-4);
      grads.push_back(zl.grad().to_vector<float>());
      set_num_threads(before);
    }
    CHECK(grads[0] == grads[1]);
  }
  // Negative node numbers count from the end, as index_select's do; int32 works too.
  const Tensor z = randn({5, 3});
  check_same(nn::inner_product_logits(z, tensor<std::int32_t>({-1, 0}), tensor<std::int64_t>({2, -5})),
             nn::inner_product_logits(z, tensor<std::int64_t>({4, 0}), tensor<std::int64_t>({2, 0})), 0);
  CHECK_THROWS_WITH_AS(
      nn::inner_product_logits(z, tensor<std::int64_t>({0, 5}), tensor<std::int64_t>({1, 1})),
      doctest::Contains(
          "inner_product_logits: src[1] = 5 is not a node of z (shape (5, 3): 5 nodes, numbered 0 "
          "to 4, or -5 to -1 from the end)"),
      Error);
  CHECK_THROWS_WITH_AS(nn::inner_product_logits(z, tensor<std::int64_t>({0}), tensor<float>({1})),
                       doctest::Contains("inner_product_logits: dst must hold int64 or int32 node numbers"),
                       Error);
}

TEST_CASE("bipartite adjacency puts items after users") {
  const auto a = graph::bipartite_adjacency(2, 3, {{0, 2}, {1, 0}, {1, 2}});
  CHECK(a.rows == 5);
  check_values(a.row_sums(), {1, 2, 1, 0, 2});
  CHECK(a.to_dense().at<float>({0, 4}) == 1.0f);
  CHECK(a.to_dense().at<float>({4, 0}) == 1.0f);
  CHECK_THROWS_AS(graph::bipartite_adjacency(2, 3, {{2, 0}}), Error);
}

TEST_CASE("gradcheck: GCNConv, SAGEConv, decoder, reparameterisation, KL") {
  manual_seed(53);
  const auto a_hat = graph::normalize_symmetric(path3());
  const auto a_mean = graph::normalize_rows(path3());
  nn::GCNConv gcn(3, 2);
  const Tensor w = gcn.weight.detach().to(kFloat64);
  // GCNConv's rule, checked through the same ops it uses, in float64.
  KILN_CHECK_GRAD([a_hat](const In& in) { return spmm(a_hat, linear(in[0], in[1])) + in[2]; },
                  {rand64({4, 3}), rand64({2, 3}), rand64({2})});
  check_same(gcn.forward(a_hat, ones({4, 3})), spmm(a_hat, linear(ones({4, 3}), gcn.weight)) + gcn.bias, 1e-6);
  nn::SAGEConv sage(3, 2);
  CHECK(sage.forward(a_mean, randn({4, 3})).shape() == Shape{4, 2});
  const Tensor src = tensor<std::int64_t>({0, 1, 3}), dst = tensor<std::int64_t>({2, 1, 0});
  KILN_CHECK_GRAD([src, dst](const In& in) { return nn::inner_product_logits(in[0], src, dst); }, {rand64({4, 3})});
  // Its second derivatives (a pair of a node with itself, a repeat, a node number from the end),
  // and the VAE's sampling and KL term with it.
  const Tensor src2 = tensor<std::int64_t>({0, 1, 1, -1}), dst2 = tensor<std::int64_t>({0, 2, 2, 1});
  KILN_CHECK_GRADGRAD(
      [src2, dst2](const In& in) { return square(nn::inner_product_logits(in[0], src2, dst2)); },
      {rand64({4, 3})});
  KILN_CHECK_GRADGRAD([](const In& in) { return nn::gaussian_kl(in[0] * in[1], in[1]); },
                      {rand64({3, 2}), rand64({3, 2})});
  const Tensor z = randn({4, 3});
  check_same(nn::inner_product_logits(z, src, dst),
             gather(index_select(nn::inner_product_all(z), 0, src), 1, dst.unsqueeze(1)).squeeze(1), 1e-5);
  // reparameterize with a fixed seed: the same noise in every evaluation.
  KILN_CHECK_GRAD(
      [](const In& in) {
        manual_seed(7);
        return nn::reparameterize(in[0], in[1]);
      },
      {rand64({3, 2}), rand64({3, 2})});
  KILN_CHECK_GRAD([](const In& in) { return nn::gaussian_kl(in[0], in[1]); }, {rand64({3, 2}), rand64({3, 2})});
  // KL(N(0, 1) || N(0, 1)) = 0; KL(N(1, 1) || N(0, 1)) = 1/2 per dimension.
  CHECK(nn::gaussian_kl(zeros({2, 3}), zeros({2, 3})).item() == doctest::Approx(0.0));
  CHECK(nn::gaussian_kl(ones({2, 3}), zeros({2, 3})).item() == doctest::Approx(1.5));
}

TEST_CASE("sparse input features: from_dense, dropout of a CsrMatrix, GCNConv on them") {
  manual_seed(54);
  // from_dense keeps every nonzero (NaN too; -0 is zero), row by row, as float32.
  const Tensor d = tensor<double>({{0, 1.5, 0, -0.0}, {0, 0, 0, 0}, {NAN, 0, 2, -3}});
  const auto m = graph::CsrMatrix::from_dense(d);
  CHECK(m.rows == 3);
  CHECK(m.cols == 4);
  CHECK(m.row_ptr == std::vector<std::int64_t>{0, 1, 1, 4});
  CHECK(m.col_idx == std::vector<std::int64_t>{1, 0, 2, 3});
  CHECK(std::isnan(m.values[1]));
  CHECK(m.values[2] == 2.0f);
  CHECK(m.values[3] == -3.0f);
  CHECK_FALSE(m.symmetric);
  const Tensor dense = where(gt(randn({30, 20}), scalar_tensor(0.8)), randn({30, 20}), zeros({30, 20}));
  check_same(graph::CsrMatrix::from_dense(dense).to_dense(), dense, 0.0);
  check_same(graph::CsrMatrix::from_dense(dense.t()).to_dense(), dense.t(), 0.0);  // a view reads right
  CHECK_THROWS_WITH_AS(graph::CsrMatrix::from_dense(ones({3})), doctest::Contains("expected a 2-D"), Error);
  CHECK_THROWS_WITH_AS(graph::CsrMatrix::from_dense(tensor<std::int64_t>({{1}})),
                       doctest::Contains("from_dense"), Error);

  // dropout: the stored values only, with dropout(Tensor)'s keep rule and scale, from
  // one draw of the generator: the same seed gives the mask dropout(Tensor) gives the
  // values as a vector. The structure stays; a symmetric matrix is no longer marked so.
  const auto sym = graph::normalize_symmetric(graph::CsrMatrix::undirected(200, [] {
    std::vector<graph::Edge> e;
    for (std::int64_t i = 0; i < 200; ++i) e.emplace_back(i, (i * 7 + 3) % 200);
    return e;
  }()));
  REQUIRE(sym.symmetric);
  for (const double p : {0.0, 0.25, 0.5, 0.9, 1.0}) {
    manual_seed(9);
    const auto dropped = dropout(sym, p, true);
    manual_seed(9);
    const Tensor expect = dropout(from_vector(sym.values), p, true);
    CHECK(dropped.row_ptr == sym.row_ptr);
    CHECK(dropped.col_idx == sym.col_idx);
    check_same(from_vector(dropped.values), expect, 0.0);
    CHECK(dropped.symmetric == (p == 0.0));  // p = 0 returns the matrix itself
    std::int64_t kept = 0;
    for (std::size_t k = 0; k < sym.values.size(); ++k) {
      const float v = dropped.values[k];
      CHECK((v == 0.0f || v == static_cast<float>(sym.values[k] * (1.0f / static_cast<float>(1.0 - p)))));
      kept += v != 0.0f;
    }
    // 600 values: the share kept is within 0.1 of 1 - p.
    CHECK(std::abs(static_cast<double>(kept) / sym.nnz() - (1.0 - p)) < 0.1);
  }
  manual_seed(10);
  const auto same = dropout(sym, 0.5, false);  // evaluation: the matrix as it is, nothing drawn
  CHECK(same.values == sym.values);
  CHECK(default_generator().next_u64() == Generator(10).next_u64());
  CHECK_THROWS_WITH_AS(dropout(sym, 1.5, true), doctest::Contains("must be in [0, 1]"), Error);

  // GCNConv on sparse features: Â (X W^T) + b as the dense path computes it, and the
  // same gradients in W and b; its rule checked in float64 through spmm(X, W^T).
  const auto a_hat = graph::normalize_symmetric(path3());
  const Tensor xd = where(gt(randn({4, 6}), scalar_tensor(0.3)), rand({4, 6}), zeros({4, 6}));
  const auto xs = graph::CsrMatrix::from_dense(xd);
  // A layer on the sparse features against itself on the dense ones: the output and
  // every parameter's gradient.
  const auto matches_dense = [](nn::Module& layer, const std::function<Tensor(bool sparse)>& run) {
    same_both_ways(layer, run, 1e-6);
  };
  nn::GCNConv gcn(6, 3);
  matches_dense(gcn, [&](bool sparse) { return sparse ? gcn.forward(a_hat, xs) : gcn.forward(a_hat, xd); });
  check_same(gcn.forward(graph::DeviceCsr(a_hat), xs), gcn.forward(a_hat, xs), 0.0);
  KILN_CHECK_GRAD([a_hat, xs](const In& in) { return spmm(a_hat, spmm(xs, in[0].t())) + in[1]; },
                  {rand64({3, 6}), rand64({3})});
  CHECK_THROWS_WITH_AS(gcn.forward(a_hat, graph::CsrMatrix::from_dense(ones({4, 5}))),
                       doctest::Contains("GCNConv(6 -> 3): sparse input features of shape (4, 5)"), Error);

  // SAGEConv likewise, and its rule in float64.
  const auto a_mean = graph::normalize_rows(path3());
  nn::SAGEConv sage(6, 3);
  matches_dense(sage,
                [&](bool sparse) { return sparse ? sage.forward(a_mean, xs) : sage.forward(a_mean, xd); });
  check_same(sage.forward(graph::DeviceCsr(a_mean), xs), sage.forward(a_mean, xs), 0.0);
  KILN_CHECK_GRAD(
      [a_mean, xs](const In& in) { return spmm(xs, in[0].t()) + in[2] + spmm(a_mean, spmm(xs, in[1].t())); },
      {rand64({3, 6}), rand64({3, 6}), rand64({3})});
  CHECK_THROWS_WITH_AS(sage.forward(a_mean, graph::CsrMatrix::from_dense(ones({4, 5}))),
                       doctest::Contains("SAGEConv(6 -> 3): sparse input features of shape (4, 5)"), Error);

  // GATConv likewise (2 heads, with self loops), in the weight and the attention vectors.
  const graph::DeviceCsr loops(graph::add_self_loops(path3()));
  nn::GATConv gat(nn::GATConvOptions(6, 2).heads(2));
  matches_dense(gat, [&](bool sparse) { return sparse ? gat.forward(loops, xs) : gat.forward(loops, xd); });
  CHECK_THROWS_WITH_AS(gat.forward(loops, graph::CsrMatrix::from_dense(ones({4, 5}))),
                       doctest::Contains("GATConv: sparse features of shape (4, 5) do not fit"), Error);
}

TEST_CASE("DeviceCsr::with_values and dropout of a DeviceCsr: the pattern shared, the transpose following") {
  manual_seed(55);
  // The values of a matrix and of its transpose, read through spmm with the identity.
  const auto dense_of = [](const graph::DeviceCsr& m) { return spmm(m, eye(m.cols())); };
  const Tensor xd = where(gt(randn({30, 20}), scalar_tensor(0.7)), randn({30, 20}), zeros({30, 20}));
  const auto xs = graph::CsrMatrix::from_dense(xd);
  const graph::DeviceCsr x(xs);
  const Tensor v = randn({x.nnz()});
  const graph::DeviceCsr y = x.with_values(v);
  graph::CsrMatrix expect = xs;
  expect.values = v.to_vector<float>();
  check_same(dense_of(y), expect.to_dense(), 0.0);
  check_same(dense_of(y.transpose()), expect.to_dense().t(), 0.0);
  CHECK(y.row_ptr().data_ptr<std::int64_t>() == x.row_ptr().data_ptr<std::int64_t>());  // shared, not copied
  CHECK(y.transpose().col_idx().data_ptr<std::int64_t>() == x.transpose().col_idx().data_ptr<std::int64_t>());
  check_same(dense_of(x), xd, 0.0);  // x itself unchanged

  // A symmetric matrix: the result is not marked so, and its transpose mirrors it.
  const auto sym = graph::normalize_symmetric(path3());
  const graph::DeviceCsr s(sym);
  const graph::DeviceCsr s2 = s.with_values(randn({s.nnz()}));
  CHECK(s.symmetric());
  CHECK_FALSE(s2.symmetric());
  check_same(dense_of(s2.transpose()), dense_of(s2).t(), 0.0);

  // Entries repeated within a row (assembled by hand) add up in the transpose, which merged them.
  const graph::CsrMatrix rep{
      .rows = 2, .cols = 3, .row_ptr = {0, 3, 4}, .col_idx = {2, 0, 2, 1}, .values = {1, 1, 1, 1}};
  const graph::DeviceCsr r = graph::DeviceCsr(rep).with_values(tensor<float>({1.5f, -2, 4, 0.25f}));
  CHECK(r.transpose().nnz() == 3);
  check_values(dense_of(r), {-2, 0, 5.5, 0, 0.25, 0});
  check_values(dense_of(r.transpose()), {-2, 0, 0, 0.25, 5.5, 0});

  // A symmetric matrix assembled by hand, a row out of order: each entry still finds its mirror.
  const graph::CsrMatrix unordered{.rows = 2,
                                   .cols = 2,
                                   .row_ptr = {0, 2, 3},
                                   .col_idx = {1, 0, 0},
                                   .values = {1, 1, 1},
                                   .symmetric = true};
  const graph::DeviceCsr u = graph::DeviceCsr(unordered).with_values(tensor<float>({2, 3, 5}));
  check_values(dense_of(u), {3, 2, 5, 0});
  check_values(dense_of(u.transpose()), {3, 5, 2, 0});
  // A matrix marked symmetric whose entries have no mirror cannot follow its transpose.
  graph::CsrMatrix lopsided = graph::CsrMatrix::from_coo(2, 2, {{0, 1}});
  lopsided.symmetric = true;
  CHECK_THROWS_WITH_AS(graph::DeviceCsr(lopsided).with_values(ones({1})),
                       doctest::Contains("entry (0, 1) has no mirror (1, 0)"), Error);
  CHECK_THROWS_WITH_AS(x.with_values(ones({3})),
                       doctest::Contains(("expected float32 (" + std::to_string(x.nnz())).c_str()), Error);
  CHECK_THROWS_WITH_AS(x.with_values(ones({x.nnz()}, kFloat64)), doctest::Contains("DeviceCsr::with_values"),
                       Error);

  // dropout: the mask dropout(CsrMatrix) draws for the same seed, on the matrix and its transpose.
  for (const double p : {0.25, 0.5, 1.0}) {
    manual_seed(12);
    const graph::DeviceCsr dropped = dropout(x, p, true);
    manual_seed(12);
    const graph::CsrMatrix host = dropout(xs, p, true);
    check_same(dropped.values(), from_vector(host.values), 0.0);
    check_same(dense_of(dropped.transpose()), host.transpose().to_dense(), 0.0);
  }
  manual_seed(13);
  CHECK(dropout(x, 0.5, false).values().data_ptr<float>() == x.values().data_ptr<float>());  // itself
  CHECK(dropout(x, 0.0, true).values().data_ptr<float>() == x.values().data_ptr<float>());
  CHECK(default_generator().next_u64() == Generator(13).next_u64());  // nothing drawn
  CHECK_THROWS_WITH_AS(dropout(x, -0.5, true), doctest::Contains("must be in [0, 1]"), Error);

  // The layers on features held as a DeviceCsr: as on the CsrMatrix, output and gradients.
  // In float64, the gradient in W through the dropped matrix's transpose.
  const auto a_hat = graph::normalize_symmetric(graph::CsrMatrix::undirected(30, [] {
    std::vector<graph::Edge> e;
    for (std::int64_t i = 0; i < 30; ++i) e.emplace_back(i, (i * 7 + 3) % 30);
    return e;
  }()));
  const graph::DeviceCsr a_dev(a_hat);
  const graph::DeviceCsr x_dropped = dropout(x, 0.5, true);
  graph::CsrMatrix xs_dropped = xs;
  xs_dropped.values = x_dropped.values().to_vector<float>();
  const auto same_as_host = [](nn::Module& layer, const std::function<Tensor(bool held)>& run) {
    same_both_ways(layer, run, 0.0);
  };
  nn::GCNConv gcn(20, 4);
  same_as_host(
      gcn, [&](bool held) { return held ? gcn.forward(a_dev, x_dropped) : gcn.forward(a_dev, xs_dropped); });
  nn::SAGEConv sage(20, 4);
  const graph::DeviceCsr a_mean(graph::normalize_rows(a_hat));
  same_as_host(sage, [&](bool held) {
    return held ? sage.forward(a_mean, x_dropped) : sage.forward(a_mean, xs_dropped);
  });
  nn::GATConv gat(nn::GATConvOptions(20, 3).heads(2));
  const graph::DeviceCsr loops(graph::add_self_loops(a_hat));
  same_as_host(
      gat, [&](bool held) { return held ? gat.forward(loops, x_dropped) : gat.forward(loops, xs_dropped); });
  KILN_CHECK_GRAD([a_dev, x_dropped](const In& in) { return spmm(a_dev, spmm(x_dropped, in[0].t())); },
                  {rand64({3, 20})});
  CHECK_THROWS_WITH_AS(gcn.forward(a_dev, graph::DeviceCsr(graph::CsrMatrix::from_dense(ones({30, 5})))),
                       doctest::Contains("GCNConv(20 -> 4): sparse input features of shape (30, 5)"), Error);
}

TEST_CASE("a VGAE finds the links of a stochastic block model (test AUC > 0.85)") {
  // Ten communities of 15 nodes: links inside a block with p = 0.4, across with 0.002.
  // (With few blocks, many sampled non-links fall inside a block and look like links
  // to any community model, which caps the reachable AUC; ten blocks leave room.)
  Generator gen(11);
  std::vector<graph::Edge> edges;
  const std::int64_t n = 150;
  for (std::int64_t u = 0; u < n; ++u)
    for (std::int64_t v = u + 1; v < n; ++v)
      if (gen.uniform() < (u / 15 == v / 15 ? 0.4 : 0.002)) edges.emplace_back(u, v);
  const auto split = graph::split_edges(n, edges, 0.05, 0.10, 3);
  const auto train_adj = graph::CsrMatrix::undirected(n, split.train);
  const auto a_hat = graph::normalize_symmetric(train_adj);
  const Tensor target = graph::add_self_loops(train_adj).to_dense();
  const double pos = sum(target).item(), total = double(n) * n;
  const Tensor pos_weight = scalar_tensor((total - pos) / pos);
  Tensor features = zeros({n, n});  // featureless: one-hot node identities
  for (std::int64_t i = 0; i < n; ++i) features.at<float>({i, i}) = 1.0f;
  manual_seed(5);
  nn::GCNConv enc(n, 16, false), enc_mu(16, 8, false), enc_logstd(16, 8, false);
  std::vector<Tensor> params = enc.parameters();
  for (const auto* m : {&enc_mu, &enc_logstd})
    for (const Tensor& p : m->parameters()) params.push_back(p);
  optim::Adam opt(params, optim::AdamOptions(0.01));
  Tensor mu;
  for (int epoch = 0; epoch < 150; ++epoch) {
    opt.zero_grad();
    const Tensor h = relu(enc.forward(a_hat, features));
    mu = enc_mu.forward(a_hat, h);
    const Tensor logstd = enc_logstd.forward(a_hat, h);
    const Tensor z = nn::reparameterize(mu, logstd);
    Tensor loss = binary_cross_entropy_with_logits(nn::inner_product_all(z), target, pos_weight) +
                  nn::gaussian_kl(mu, logstd) / double(n);
    loss.backward();
    opt.step();
  }
  std::vector<std::int64_t> s, d;
  std::vector<int> labels;
  for (const auto* list : {&split.test, &split.test_negative})
    for (const auto& [u, v] : *list) {
      s.push_back(u);
      d.push_back(v);
      labels.push_back(list == &split.test);
    }
  NoGradGuard no_grad;
  const auto scores = nn::inner_product_logits(mu, from_vector(s), from_vector(d)).to_vector<double>();
  const double auc = metrics::roc_auc(scores, labels);
  MESSAGE("SBM test AUC " << auc << " on " << split.test.size() << " held-out links");
  CHECK(auc > 0.85);
}
