// einsum against the ops it stands for and against a direct loop over every index
// (random equations), diagonal / diag / trace / outer, float64 gradchecks, errors.
#include <map>
#include <random>
#include <string>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using kiln::test::rand64;
using In = std::vector<Tensor>;

namespace {

// einsum by its definition: for every assignment of values to the letters, the product of
// the operands' entries added into the output's entry. Explicit "->", no "...".
Tensor einsum_by_loops(const std::string& equation, const std::vector<Tensor>& operands) {
  const std::size_t arrow = equation.find("->");
  std::vector<std::string> terms;
  for (std::size_t start = 0;;) {
    const std::size_t comma = equation.find(',', start);
    terms.push_back(equation.substr(start, std::min(comma, arrow) - start));
    if (comma == std::string::npos || comma > arrow) break;
    start = comma + 1;
  }
  const std::string out_term = equation.substr(arrow + 2);
  std::map<char, std::int64_t> size;
  for (std::size_t i = 0; i < terms.size(); ++i)
    for (std::size_t d = 0; d < terms[i].size(); ++d)
      size[terms[i][d]] = operands[i].size(static_cast<std::int64_t>(d));
  std::vector<char> letters;
  for (const auto& [c, n] : size) letters.push_back(c);
  Shape out_shape;
  for (char c : out_term) out_shape.push_back(size[c]);
  std::vector<std::vector<double>> values;
  for (const Tensor& t : operands) values.push_back(t.contiguous().to_vector<double>());
  std::vector<double> out(static_cast<std::size_t>(numel_of(out_shape)), 0.0);
  std::map<char, std::int64_t> at;
  for (char c : letters) at[c] = 0;
  const auto flat = [&](const std::string& term, const Shape& shape) {
    std::int64_t f = 0;
    for (std::size_t d = 0; d < term.size(); ++d) f = f * shape[d] + at[term[d]];
    return static_cast<std::size_t>(f);
  };
  for (bool more = true; more;) {
    bool empty = false;
    for (char c : letters) empty = empty || size[c] == 0;
    if (empty) break;
    double p = 1;
    for (std::size_t i = 0; i < terms.size(); ++i) p *= values[i][flat(terms[i], operands[i].shape())];
    out[flat(out_term, out_shape)] += p;
    more = false;
    for (auto it = letters.rbegin(); it != letters.rend(); ++it) {
      if (++at[*it] < size[*it]) {
        more = true;
        break;
      }
      at[*it] = 0;
    }
  }
  return from_vector(out, {static_cast<std::int64_t>(out.size())}).reshape(out_shape);
}

}  // namespace

TEST_CASE("einsum: the products and reductions it names") {
  manual_seed(61);
  const Tensor a = rand64({3, 4}), b = rand64({4, 5}), v = rand64({4}), w = rand64({4});
  check_same(einsum("ij,jk->ik", {a, b}), matmul(a, b), 1e-14);
  check_same(einsum("ij,jk", {a, b}), matmul(a, b), 1e-14);  // implicit output: i, k
  check_same(einsum("ij->ji", {a}), a.t(), 0);
  check_same(einsum("ba", {a}), a.t(), 0);  // implicit output in letter order: a, b
  check_same(einsum("ij->", {a}), sum(a), 1e-14);
  check_same(einsum("ij->j", {a}), sum(a, {0}), 1e-14);
  check_same(einsum("i,i->", {v, w}), sum(v * w), 1e-14);
  check_same(einsum("i,j->ij", {v, w}), outer(v, w), 0);
  check_same(einsum(" i j , j k -> i k ", {a, b}), matmul(a, b), 1e-14);  // spaces are ignored
  const Tensor sq = rand64({4, 4});
  check_same(einsum("ii->i", {sq}), diagonal(sq), 0);
  CHECK(einsum("ii", {sq}).item() == doctest::Approx(trace(sq).item()).epsilon(1e-14));
  // Batched, and attention scores over (batch, head, query, dim) and (batch, head, key, dim).
  const Tensor p = rand64({2, 3, 4}), q = rand64({2, 4, 5});
  check_same(einsum("bij,bjk->bik", {p, q}), matmul(p, q), 1e-14);
  const Tensor qh = rand64({2, 3, 5, 8}), kh = rand64({2, 3, 6, 8});
  check_same(einsum("bhqd,bhkd->bhqk", {qh, kh}), matmul(qh, kh.transpose(-1, -2)), 1e-14);
  // "..." broadcasts, right-aligned.
  const Tensor e1 = rand64({2, 1, 3, 4}), e2 = rand64({5, 4, 2});
  check_same(einsum("...ij,...jk->...ik", {e1, e2}), matmul(e1, e2), 1e-14);
  check_same(einsum("...ij->...ji", {e1}), e1.transpose(-1, -2), 0);
  check_same(einsum("i...->...", {e1}), sum(e1, {0}), 1e-14);
  // Three operands, left to right; a size 1 broadcasts; a 0-d operand; an empty sum is 0.
  const Tensor c = rand64({5, 2});
  check_same(einsum("ij,jk,kl->il", {a, b, c}), matmul(matmul(a, b), c), 1e-13);
  const Tensor col = rand64({3, 1});
  check_same(einsum("ij,ij->ij", {col, a}), col * a, 0);
  const Tensor s = scalar_tensor(2.5, kFloat64);
  check_same(einsum(",i->i", {s, v}), v * 2.5, 0);
  check_same(einsum("ij,jk->ik", {zeros({3, 0}, kFloat64), zeros({0, 2}, kFloat64)}), zeros({3, 2}, kFloat64),
             0);
  // Upper case letters come before lower case in the implicit output.
  CHECK(einsum("aB", {a}).shape() == Shape{4, 3});
}

TEST_CASE("einsum: random equations against the direct loop over every index") {
  std::mt19937_64 rng(62);
  const auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  const std::string alphabet = "abcdeF";
  manual_seed(63);
  for (int trial = 0; trial < 200; ++trial) {
    std::map<char, std::int64_t> size;
    for (char c : alphabet) size[c] = pick(1, 3);
    const std::int64_t count = pick(1, 3);
    std::string equation, used;
    std::vector<Tensor> operands;
    for (std::int64_t i = 0; i < count; ++i) {
      std::string term;
      Shape shape;
      for (std::int64_t d = pick(0, 3); d > 0; --d) {
        const char c = alphabet[static_cast<std::size_t>(pick(0, 5))];
        term += c;
        shape.push_back(size[c]);
        if (used.find(c) == std::string::npos) used += c;
      }
      equation += (i ? "," : "") + term;
      operands.push_back(rand64(shape));
    }
    std::string out;
    for (char c : used)
      if (pick(0, 1)) out = pick(0, 1) ? out + c : c + out;
    equation += "->" + out;
    INFO(equation);
    check_same(einsum(equation, operands), einsum_by_loops(equation, operands), 1e-12);
  }
}

TEST_CASE("einsum: gradients") {
  manual_seed(64);
  KILN_CHECK_GRAD([](const In& in) { return einsum("ij,jk->ik", in); }, {rand64({3, 4}), rand64({4, 2})});
  KILN_CHECK_GRAD([](const In& in) { return einsum("bij,bkj->bik", in); },
                  {rand64({2, 3, 4}), rand64({2, 5, 4})});
  KILN_CHECK_GRAD([](const In& in) { return einsum("ii->i", in); }, {rand64({3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return einsum("iij->j", in); }, {rand64({3, 3, 2})});
  KILN_CHECK_GRAD([](const In& in) { return einsum("...ij,...jk->...ik", in); },
                  {rand64({2, 1, 3, 2}), rand64({4, 2, 3})});
  KILN_CHECK_GRAD([](const In& in) { return einsum("ij,jk,k->i", in); },
                  {rand64({2, 3}), rand64({3, 4}), rand64({4})});
  KILN_CHECK_GRAD([](const In& in) { return einsum("ij,ij->i", in); }, {rand64({3, 1}), rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return einsum("i,j->ji", in); }, {rand64({3}), rand64({2})});
}

TEST_CASE("einsum: malformed equations and mismatched operands are errors naming the equation") {
  const Tensor a = rand64({3, 4}), b = rand64({4, 5});
  CHECK_THROWS_WITH_AS(einsum("ij,jk->ik", {a}), doctest::Contains("2 input terms but 1 operands"), Error);
  CHECK_THROWS_WITH_AS(einsum("ij,j2->i", {a, b}), doctest::Contains("has the character '2'"), Error);
  CHECK_THROWS_WITH_AS(einsum("ijk->i", {a}), doctest::Contains("operand 0 of shape (3, 4) has 2 dimensions"),
                       Error);
  CHECK_THROWS_WITH_AS(einsum("ij,kj->ik", {a, b}), doctest::Contains("subscript j has size 5 in operand 1"),
                       Error);
  CHECK_THROWS_WITH_AS(einsum("ij->iz", {a}),
                       doctest::Contains("the output's subscript z appears in no input"), Error);
  CHECK_THROWS_WITH_AS(einsum("ij->ii", {a}), doctest::Contains("the output repeats subscript i"), Error);
  CHECK_THROWS_WITH_AS(einsum("ij->i->j", {a}), doctest::Contains("more than one \"->\""), Error);
  CHECK_THROWS_WITH_AS(einsum("i..j->i", {a}), doctest::Contains("'.' outside a single \"...\""), Error);
  CHECK_THROWS_WITH_AS(einsum("ii->i", {a}), doctest::Contains("a diagonal needs equal sizes"), Error);
  CHECK_THROWS_WITH_AS(einsum("ij", {a, b}), doctest::Contains("1 input terms but 2 operands"), Error);
  CHECK_THROWS_WITH_AS(einsum("ij,jk", {a, b.to(kFloat32)}), doctest::Contains("einsum: dtypes"), Error);
  CHECK_THROWS_WITH_AS(einsum("i", {tensor<std::int64_t>({1})}),
                       doctest::Contains("einsum: expected a floating"), Error);
}

TEST_CASE("diagonal, diag, trace, outer") {
  const Tensor m = arange(0.0, 12.0, 1.0, kFloat64).reshape({3, 4});
  check_values(diagonal(m), {0, 5, 10}, 0);
  check_values(diagonal(m, 1), {1, 6, 11}, 0);
  check_values(diagonal(m, -1), {4, 9}, 0);
  CHECK(diagonal(m, 4).numel() == 0);
  CHECK(diagonal(m, -3).numel() == 0);
  check_values(diagonal(m, 0, 1, 0), {0, 5, 10}, 0);
  // A view: writes through it reach the matrix.
  Tensor mc = m.clone();
  diagonal(mc).fill_(-1.0);
  check_values(mc.reshape({-1}), {-1, 1, 2, 3, 4, -1, 6, 7, 8, 9, -1, 11}, 0);
  // Over other dimensions of a batch: the diagonal dimension goes last.
  const Tensor b = arange(0.0, 24.0, 1.0, kFloat64).reshape({2, 3, 4});
  CHECK(diagonal(b, 0, 0, 2).shape() == Shape{3, 2});
  check_values(diagonal(b, 0, 0, 2), {0, 13, 4, 17, 8, 21}, 0);
  CHECK_THROWS_WITH_AS(diagonal(m, 0, 1, -1),
                       doctest::Contains("diagonal: dim1 and dim2 are both dimension 1"), Error);

  const Tensor v = tensor<double>({1, 2, 3});
  check_values(diag(v), {1, 0, 0, 0, 2, 0, 0, 0, 3}, 0);
  check_values(diag(v, 1), {0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0}, 0);
  check_values(diag(v, -2), {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0}, 0);
  CHECK(diag(zeros({0}, kFloat64), 2).shape() == Shape{2, 2});
  check_values(diag(m, 1), {1, 6, 11}, 0);
  CHECK(trace(m).item() == 15);
  check_values(outer(v, tensor<double>({1, -1})), {1, -1, 2, -2, 3, -3}, 0);
  CHECK_THROWS_WITH_AS(diag(b), doctest::Contains("diag: needs a 1-D or 2-D tensor"), Error);
  CHECK_THROWS_WITH_AS(trace(v), doctest::Contains("trace: needs a matrix"), Error);
  CHECK_THROWS_WITH_AS(diag(m, 5), doctest::Contains("diag: offset 5 lies outside [-3, 4]"), Error);
  CHECK(diag(m, -3).numel() == 0);
  CHECK_THROWS_WITH_AS(outer(m, v), doctest::Contains("outer: needs two vectors"), Error);

  manual_seed(65);
  KILN_CHECK_GRAD([](const In& in) { return diagonal(in[0], 1); }, {rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return diagonal(in[0], -1, 2, 0); }, {rand64({3, 2, 4})});
  KILN_CHECK_GRAD([](const In& in) { return diag(in[0]); }, {rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return diag(in[0], -2); }, {rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return diag(in[0], 1); }, {rand64({3, 3})});
  KILN_CHECK_GRAD([](const In& in) { return trace(in[0]); }, {rand64({3, 4})});
  KILN_CHECK_GRAD([](const In& in) { return outer(in[0], in[1]); }, {rand64({3}), rand64({2})});
}
