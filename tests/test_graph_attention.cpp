// Graph attention and its pieces: index_add, elu, DeviceCsr::row_idx, edge_softmax
// and GATConv, against hand-computed values, a dense reference and gradchecks.
#include <cmath>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// 0 - 1 - 2 - 3 plus 1 - 3 and 4 - 0, undirected, with self loops: 6 nodes, node 5 alone.
graph::CsrMatrix small_graph() {
  return graph::add_self_loops(graph::CsrMatrix::undirected(6, {{0, 1}, {1, 2}, {2, 3}, {1, 3}, {4, 0}}));
}

// A directed one (row i lists whom i attends to), with a row of no entries.
graph::CsrMatrix directed_graph() {
  return graph::CsrMatrix::from_coo(4, 4, {{0, 0}, {0, 2}, {0, 3}, {2, 1}, {2, 2}, {3, 0}, {3, 3}});
}

// GATConv's definition written densely: per head a softmax over each row of A's
// pattern (-inf off it), then alpha (W_h x); heads side by side or averaged, plus bias.
// A node with no entries in its row gets the bias alone.
Tensor dense_gat(const graph::CsrMatrix& a, const Tensor& x, const nn::GATConv& layer) {
  const auto& o = layer.options;
  const std::int64_t n = a.rows, f = o.out_features();
  const Tensor off_pattern = eq(a.to_dense(), zeros({n, n}));
  std::vector<Tensor> heads;
  for (std::int64_t h = 0; h < o.heads(); ++h) {
    const Tensor wx = matmul(x, layer.weight.narrow(0, h * f, f).t());  // (N, F)
    const Tensor s_dst = matmul(wx, layer.att_dst.select(0, h).unsqueeze(1));
    const Tensor s_src = matmul(wx, layer.att_src.select(0, h).unsqueeze(1));
    Tensor e = leaky_relu(s_dst + s_src.t(), o.negative_slope());  // e[i][j]: i attends to j
    e = where(off_pattern, full({n, n}, -INFINITY, x.dtype()), e);
    Tensor alpha = softmax(e, 1);
    alpha = where(ne(alpha, alpha), zeros_like(alpha), alpha);  // a row with no entries: NaN -> 0
    heads.push_back(matmul(alpha, wx));
  }
  Tensor y = o.concat() ? cat(heads, 1) : mean(stack(heads, 1), {1});
  return layer.bias.defined() ? y + layer.bias : y;
}

}  // namespace

TEST_CASE("index_add sums the source's slices into the indexed ones, repeats included") {
  const Tensor x = tensor<float>({{1, 1}, {2, 2}, {3, 3}});
  const Tensor src = tensor<float>({{10, 20}, {30, 40}, {50, 60}, {70, 80}});
  const Tensor idx = tensor<std::int64_t>({2, 0, 2, -3});  // -3 is row 0
  check_values(index_add(x, 0, idx, src), {1 + 30 + 70, 1 + 40 + 80, 2, 2, 3 + 10 + 50, 3 + 20 + 60});
  check_values(x, {1, 1, 2, 2, 3, 3});  // x itself is untouched
  // Along dimension 1, with an int32 index.
  check_values(index_add(x, 1, tensor<std::int32_t>({1, 1}), ones({3, 2})), {1, 3, 2, 4, 3, 5});
  CHECK_THROWS_WITH_AS(
      index_add(x, 0, idx, ones({3, 2})),
      doctest::Contains("index_add: source has shape (3, 2) but x of shape (3, 2) with 4 indices "
                        "along dimension 0 needs (4, 2)"),
      Error);
  CHECK_THROWS_WITH_AS(index_add(x, 0, tensor<std::int64_t>({3}), ones({1, 2})),
                       doctest::Contains("index_add: index 3 is out of range for dimension 0 of size 3"),
                       Error);
  CHECK_THROWS_WITH_AS(index_add(x, 0, tensor<float>({0}), ones({1, 2})),
                       doctest::Contains("indices must be int64 or int32"), Error);
  CHECK_THROWS_WITH_AS(index_add(x, 0, idx, src.to(kFloat64)), doctest::Contains("index_add"), Error);
}

// Many rows, skewed indices with repeats: rows of one cache line take the serial loop,
// wider rows are split between threads by destination row; both prefetch ahead. Either
// way each row gets its additions in index order, so the bits match a plain loop.
TEST_CASE("index_add and index_select's backward over many rows match a plain loop bit for bit") {
  Generator gen(41);
  for (const std::int64_t inner : {std::int64_t{3}, std::int64_t{16}, std::int64_t{40}})
    for (const std::int64_t outer : {std::int64_t{1}, std::int64_t{3}})
      for (const int threads : {1, 2}) {
        CAPTURE(inner);
        CAPTURE(outer);
        CAPTURE(threads);
        const int before = get_num_threads();
        set_num_threads(threads);
        const std::int64_t n = 3000, m = 20000;
        std::vector<std::int64_t> idx(m);
        for (auto& i : idx) {  // most of them among the first rows, as with a graph's hubs
          const double u = gen.uniform();
          i = static_cast<std::int64_t>(u * u * u * n);
        }
        const Tensor x = randn({outer, n, inner}), source = randn({outer, m, inner});
        std::vector<float> want = x.to_vector<float>(), from_zero(want.size(), 0.0f);
        const std::vector<float> src = source.to_vector<float>();
        for (std::int64_t o = 0; o < outer; ++o)
          for (std::int64_t j = 0; j < m; ++j)
            for (std::int64_t k = 0; k < inner; ++k) {
              const auto at = static_cast<std::size_t>((o * n + idx[j]) * inner + k);
              const float v = src[static_cast<std::size_t>((o * m + j) * inner + k)];
              want[at] += v;
              from_zero[at] += v;
            }
        const Tensor index = from_vector(idx);
        CHECK(index_add(x, 1, index, source).to_vector<float>() == want);
        Tensor leaf = x.clone().requires_grad_();
        const Tensor picked = index_select(leaf, 1, index);
        std::vector<float> gathered(src.size());
        const std::vector<float> xs = x.to_vector<float>();
        for (std::int64_t o = 0; o < outer; ++o)
          for (std::int64_t j = 0; j < m; ++j)
            for (std::int64_t k = 0; k < inner; ++k)
              gathered[static_cast<std::size_t>((o * m + j) * inner + k)] =
                  xs[static_cast<std::size_t>((o * n + idx[j]) * inner + k)];
        CHECK(picked.to_vector<float>() == gathered);
        picked.backward(source);
        CHECK(leaf.grad().to_vector<float>() == from_zero);
        set_num_threads(before);
      }
}

TEST_CASE("gradcheck: index_add in x and source, elu") {
  manual_seed(71);
  const Tensor idx = tensor<std::int64_t>({1, 1, 0, 3, 1});
  KILN_CHECK_GRAD([idx](const In& in) { return index_add(in[0], 0, idx, in[1]); },
                  {rand64({4, 3}), rand64({5, 3})});
  KILN_CHECK_GRAD([idx](const In& in) { return index_add(in[0], 1, idx, in[1]); },
                  {rand64({2, 4}), rand64({2, 5})});
  // elu away from its kink at 0, and with alpha 0.5.
  const Tensor x = tensor<double>({-3, -0.7, -0.1, 0.2, 1.5});
  KILN_CHECK_GRAD([](const In& in) { return elu(in[0]); }, {x});
  KILN_CHECK_GRAD([](const In& in) { return elu(in[0], 0.5); }, {x});
  check_values(elu(x, 0.5),
               {0.5 * std::expm1(-3.0), 0.5 * std::expm1(-0.7), 0.5 * std::expm1(-0.1), 0.2, 1.5}, 1e-12);
  check_values(nn::ELU()(tensor<float>({-1, 0, 2})), {std::expm1(-1.0), 0, 2});
  // Small negative inputs keep their digits in float32 (e^x - 1 would give 0 and -1.0014e-5).
  const std::vector<float> small = elu(tensor<float>({-1e-8f, -1e-5f})).to_vector<float>();
  CHECK(small[0] == doctest::Approx(-1e-8).epsilon(1e-6));
  CHECK(small[1] == doctest::Approx(std::expm1(-1e-5)).epsilon(1e-6));
  CHECK(nn::ELU(0.5).description() == "ELU(alpha=0.5)");
}

TEST_CASE("DeviceCsr::row_idx lists each nonzero's row, once made shared by copies") {
  const graph::CsrMatrix a = directed_graph();
  const graph::DeviceCsr d(a);
  check_values(d.row_idx(), {0, 0, 0, 2, 2, 3, 3});
  const graph::DeviceCsr copy =
      d;  // NOLINT(performance-unnecessary-copy-initialization): the copy is the point
  CHECK(copy.row_idx().data_ptr<std::int64_t>() == d.row_idx().data_ptr<std::int64_t>());
}

TEST_CASE("edge_softmax: a softmax over each row's entries, per column") {
  const graph::CsrMatrix a = directed_graph();  // rows of 3, 0, 2 and 2 entries
  const graph::DeviceCsr d(a);
  const std::vector<double> s{1, 2, 3, -1, 1, 0.5, 0.5};
  std::vector<double> want(7);
  const auto fill_row = [&](int b, int e) {
    double z = 0;
    for (int k = b; k < e; ++k) z += std::exp(s[k]);
    for (int k = b; k < e; ++k) want[k] = std::exp(s[k]) / z;
  };
  fill_row(0, 3);
  fill_row(3, 5);
  fill_row(5, 7);
  for (DType dt : {kFloat32, kFloat64}) {
    check_values(edge_softmax(d, from_vector(s).to(dt)), want, dt == kFloat64 ? 1e-14 : 1e-6);
  }
  // Columns are independent: (nnz, 2, 2) holds four score sets.
  const Tensor many = randn({7, 2, 2}, kFloat64) * 5.0;
  const Tensor y = edge_softmax(d, many);
  for (std::int64_t c = 0; c < 4; ++c) {
    std::vector<double> col = many.reshape({7, 4}).select(1, c).contiguous().to_vector<double>();
    const Tensor one = edge_softmax(d, from_vector(col));
    check_same(y.reshape({7, 4}).select(1, c).contiguous(), one, 1e-14);
  }
  check_same(edge_softmax(a, many), y, 0);  // the CsrMatrix overload
  // Large scores do not overflow (the row's maximum is subtracted first).
  check_values(edge_softmax(d, full({7}, 1000.0)), {1 / 3.0, 1 / 3.0, 1 / 3.0, 0.5, 0.5, 0.5, 0.5});
  CHECK_THROWS_WITH_AS(
      edge_softmax(d, randn({6, 2})),
      doctest::Contains("edge_softmax: scores of shape (6, 2) do not fit a sparse matrix with 7 "
                        "nonzeros"),
      Error);
  CHECK_THROWS_WITH_AS(edge_softmax(d, tensor<std::int64_t>({1, 2, 3, 4, 5, 6, 7})),
                       doctest::Contains("edge_softmax"), Error);
}

TEST_CASE("gradcheck: edge_softmax, one column and several, an empty row included") {
  manual_seed(72);
  const graph::DeviceCsr d(directed_graph());
  KILN_CHECK_GRAD([d](const In& in) { return edge_softmax(d, in[0]); }, {rand64({7})});
  KILN_CHECK_GRAD([d](const In& in) { return edge_softmax(d, in[0]); }, {rand64({7, 3})});
  // A non-contiguous score tensor.
  KILN_CHECK_GRAD([d](const In& in) { return edge_softmax(d, in[0].t()); }, {rand64({2, 7})});
  // Second derivatives: while a walk records, the backward is y (g - the row's sum of y g) in
  // recorded ops (index_add, index_select).
  KILN_CHECK_GRADGRAD([d](const In& in) { return edge_softmax(d, in[0] * 2.0); }, {rand64({7, 2})});
  KILN_CHECK_GRADGRAD([d](const In& in) { return square(edge_softmax(d, in[0].t())); }, {rand64({3, 7})});
}

TEST_CASE("GATConv equals its dense definition: heads concatenated or averaged, directed or not") {
  manual_seed(73);
  for (const graph::CsrMatrix& a : {small_graph(), directed_graph()}) {
    const graph::DeviceCsr d(a);
    const Tensor x = randn({a.rows, 5});
    for (bool concat : {true, false}) {
      nn::GATConv layer(nn::GATConvOptions(5, 3).heads(2).concat(concat));
      nn::init::normal_(layer.bias);  // not zeros, so the bias's place is checked too
      const Tensor y = layer.forward(d, x);
      CHECK(y.shape() == Shape{a.rows, concat ? 6 : 3});
      check_same(y, dense_gat(a, x, layer), 1e-5);
      check_same(layer.forward(a, x), y, 0);  // a host matrix gives the same
      CHECK(layer.last_attention().shape() == Shape{a.nnz(), 2});
    }
  }
  // With both attention vectors zero every neighbour weighs the same: mean aggregation,
  // D^-1 A (W x) (the row-normalised matrix through spmm).
  const graph::CsrMatrix a = small_graph();
  nn::GATConv layer(nn::GATConvOptions(5, 4).bias(false));
  nn::init::zeros_(layer.att_src);
  nn::init::zeros_(layer.att_dst);
  const Tensor x = randn({6, 5});
  check_same(layer.forward(graph::DeviceCsr(a), x), spmm(graph::normalize_rows(a), linear(x, layer.weight)),
             1e-5);
  CHECK(layer.description() ==
        "GATConv(5, 4, heads=1, concat=true, negative_slope=0.2, dropout=0, bias=false)");
  CHECK(layer.named_parameters().size() == 3);
  CHECK_THROWS_WITH_AS(
      layer.forward(graph::DeviceCsr(a), randn({5, 5})),
      doctest::Contains("GATConv: features of shape (5, 5) do not fit a graph of 6 x 6 nodes"), Error);
  CHECK_THROWS_WITH_AS(nn::GATConv(nn::GATConvOptions(5, 4).dropout(1.0)),
                       doctest::Contains("GATConv: dropout"), Error);
}

TEST_CASE("GATConv: attention dropout acts in training only") {
  manual_seed(74);
  const graph::DeviceCsr d(small_graph());
  nn::GATConv layer(nn::GATConvOptions(5, 3).heads(4).dropout(0.5));
  const Tensor x = randn({6, 5});
  layer.train();
  layer.forward(d, x);
  const double dropped = sum(eq(layer.last_attention(), zeros_like(layer.last_attention()))).item();
  CHECK(dropped > 0);
  layer.eval();
  const Tensor y = layer.forward(d, x);
  CHECK(sum(eq(layer.last_attention(), zeros_like(layer.last_attention()))).item() == 0);
  // Each row's weights sum to 1 per head in evaluation.
  check_values(index_add(zeros({6, 4}), 0, d.row_idx(), layer.last_attention()), std::vector<double>(24, 1.0),
               1e-6);
  check_same(layer.forward(d, x), y, 0);  // and are repeatable
}

TEST_CASE("gradcheck: GATConv in x, weight, both attention vectors and bias") {
  manual_seed(75);
  for (const graph::CsrMatrix& a : {small_graph(), directed_graph()}) {
    const graph::DeviceCsr d(a);
    for (bool concat : {true, false}) {
      nn::GATConv layer(nn::GATConvOptions(4, 3).heads(2).concat(concat));
      const auto f = [&](const In& in) {
        layer.weight = in[1];
        layer.att_src = in[2];
        layer.att_dst = in[3];
        layer.bias = in[4];
        return layer.forward(d, in[0]);
      };
      KILN_CHECK_GRAD(
          f, {rand64({a.rows, 4}), rand64({6, 4}), rand64({2, 3}), rand64({2, 3}), rand64({concat ? 6 : 3})});
    }
  }
}
