// einsum and the small products around it (diag, trace, outer): compositions of views,
// sums and matmul, so differentiable and on either device wherever those ops run.
#include <algorithm>
#include <array>
#include <string>

#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

// Labels: 'A'..'Z' are 0..25 and 'a'..'z' 26..51 (so label order is the letters' ASCII
// order, which the implicit output follows); the dimensions an ellipsis stands for get
// 52, 53, ..., right-aligned across the operands so that they broadcast.
using Labels = std::vector<int>;
constexpr int kLetters = 52;

int letter_label(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -1;
}

std::string label_name(int label) {
  if (label < 26) return std::string(1, static_cast<char>('A' + label));
  if (label < kLetters) return std::string(1, static_cast<char>('a' + label - 26));
  return "... (dimension " + std::to_string(label - kLetters) + ")";
}

// One side of a term: its letters' labels, and where "..." stood among them (-1: none).
struct Term {
  Labels letters;
  std::int64_t ellipsis_at = -1;
};

Term parse_term(const std::string& text, const std::string& equation) {
  Term term;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '.') {
      KILN_CHECK(text.compare(i, 3, "...") == 0 && term.ellipsis_at < 0, "einsum: \"", equation,
                 "\" has a '.' outside a single \"...\" in the term \"", text, "\"");
      term.ellipsis_at = static_cast<std::int64_t>(term.letters.size());
      i += 2;
      continue;
    }
    const int label = letter_label(text[i]);
    KILN_CHECK(label >= 0, "einsum: \"", equation, "\" has the character '", text[i],
               "'; subscripts are letters a-z and A-Z, with \"...\", ',' and \"->\"");
    term.letters.push_back(label);
  }
  return term;
}

// A term's full labels for an operand of `rank` dimensions, given `ellipsis_dims` as the
// most dimensions any operand's ellipsis covers.
Labels expand_term(const Term& term, std::int64_t rank, std::int64_t ellipsis_dims) {
  const std::int64_t covered = rank - static_cast<std::int64_t>(term.letters.size());
  Labels labels(term.letters.begin(), term.letters.begin() + std::max<std::int64_t>(term.ellipsis_at, 0));
  if (term.ellipsis_at >= 0)
    for (std::int64_t d = ellipsis_dims - covered; d < ellipsis_dims; ++d)
      labels.push_back(kLetters + static_cast<int>(d));
  labels.insert(labels.end(), term.letters.begin() + std::max<std::int64_t>(term.ellipsis_at, 0),
                term.letters.end());
  return labels;
}

bool contains(const Labels& labels, int label) {
  return std::find(labels.begin(), labels.end(), label) != labels.end();
}

std::int64_t position(const Labels& labels, int label) {
  return std::find(labels.begin(), labels.end(), label) - labels.begin();
}

// An operand with one label per dimension, none repeated.
struct Labelled {
  Tensor t;
  Labels labels;
};

// Sums out the labels for which `drop` holds.
template <class Drop>
Labelled sum_out(Labelled x, Drop drop) {
  Dims dims;
  Labels kept;
  for (std::size_t d = 0; d < x.labels.size(); ++d) {
    if (drop(x.labels[d]))
      dims.push_back(static_cast<std::int64_t>(d));
    else
      kept.push_back(x.labels[d]);
  }
  if (dims.empty()) return x;
  return {sum(x.t, dims), kept};
}

// x permuted to `order` (a list of its labels) and expanded to each label's full size.
Tensor arrange(const Labelled& x, const Labels& order, const std::array<std::int64_t, 128>& size) {
  std::vector<std::int64_t> perm;
  Shape full;
  for (int label : order) {
    perm.push_back(position(x.labels, label));
    full.push_back(size[static_cast<std::size_t>(label)]);
  }
  return x.t.permute(perm).expand(full);
}

std::int64_t product(const Labels& labels, const std::array<std::int64_t, 128>& size) {
  std::int64_t n = 1;
  for (int label : labels) n *= size[static_cast<std::size_t>(label)];
  return n;
}

// a and b contracted into one operand with the labels in `keep` (the ones later operands
// or the output need): shared labels kept are batch dimensions, shared labels not kept
// are summed by the product, each side's own labels become its rows or columns.
Labelled contract(const Labelled& a_in, const Labelled& b_in, const Labels& keep,
                  const std::array<std::int64_t, 128>& size) {
  const Labelled a = sum_out(a_in, [&](int l) { return !contains(b_in.labels, l) && !contains(keep, l); });
  const Labelled b = sum_out(b_in, [&](int l) { return !contains(a.labels, l) && !contains(keep, l); });
  Labels batch, summed, rows, cols;
  for (int l : a.labels) {
    if (!contains(b.labels, l))
      rows.push_back(l);
    else if (contains(keep, l))
      batch.push_back(l);
    else
      summed.push_back(l);
  }
  for (int l : b.labels)
    if (!contains(a.labels, l)) cols.push_back(l);
  Labels a_order = batch, b_order = batch;
  a_order.insert(a_order.end(), rows.begin(), rows.end());
  a_order.insert(a_order.end(), summed.begin(), summed.end());
  b_order.insert(b_order.end(), summed.begin(), summed.end());
  b_order.insert(b_order.end(), cols.begin(), cols.end());
  const std::int64_t nb = product(batch, size), m = product(rows, size), k = product(summed, size),
                     n = product(cols, size);
  const Tensor am = arrange(a, a_order, size).reshape({nb, m, k});
  const Tensor bm = arrange(b, b_order, size).reshape({nb, k, n});
  const Tensor out = batch.empty() ? matmul(am.squeeze(0), bm.squeeze(0)) : matmul(am, bm);
  Labels labels = batch;
  labels.insert(labels.end(), rows.begin(), rows.end());
  labels.insert(labels.end(), cols.begin(), cols.end());
  Shape shape;
  for (int l : labels) shape.push_back(size[static_cast<std::size_t>(l)]);
  return {out.reshape(shape), labels};
}

}  // namespace

Tensor einsum(const std::string& equation_in, const std::vector<Tensor>& operands) {
  std::string equation;
  for (char c : equation_in)
    if (c != ' ') equation += c;
  KILN_CHECK(!operands.empty(), "einsum: \"", equation_in, "\" was given no operands");
  detail::check_floating("einsum", operands.front());
  for (const Tensor& t : operands) detail::check_same_dtype_device("einsum", {operands.front(), t});
  const std::size_t arrow = equation.find("->");
  KILN_CHECK(arrow == std::string::npos || equation.find("->", arrow + 1) == std::string::npos, "einsum: \"",
             equation_in, "\" has more than one \"->\"");
  const std::string lhs = equation.substr(0, arrow);
  std::vector<Term> terms;
  for (std::size_t start = 0;;) {
    const std::size_t comma = lhs.find(',', start);
    terms.push_back(parse_term(lhs.substr(start, comma - start), equation_in));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  KILN_CHECK(terms.size() == operands.size(), "einsum: \"", equation_in, "\" has ", terms.size(),
             " input terms but ", operands.size(), " operands were given");

  // Each operand's labels, and each label's size (a size 1 broadcasts to the others).
  std::int64_t ellipsis_dims = 0;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const std::int64_t letters = static_cast<std::int64_t>(terms[i].letters.size()), rank = operands[i].dim();
    const bool fits = terms[i].ellipsis_at >= 0 ? letters <= rank : letters == rank;
    KILN_CHECK(fits, "einsum: \"", equation_in, "\": operand ", i, " of shape ", fmt(operands[i].shape()),
               " has ", rank, " dimensions but its term gives ", letters, " subscripts",
               terms[i].ellipsis_at >= 0 ? " and \"...\"" : "");
    if (terms[i].ellipsis_at >= 0) ellipsis_dims = std::max(ellipsis_dims, rank - letters);
  }
  KILN_CHECK(kLetters + ellipsis_dims <= 128, "einsum: \"...\" stands for ", ellipsis_dims,
             " dimensions; at most ", 128 - kLetters, " are supported");
  std::array<std::int64_t, 128> size;
  size.fill(-1);
  std::vector<Labelled> inputs;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    Labelled x{operands[i], expand_term(terms[i], operands[i].dim(), ellipsis_dims)};
    for (std::size_t p = 0; p < x.labels.size(); ++p)
      for (std::size_t q = p + 1; q < x.labels.size(); ++q)
        KILN_CHECK(x.labels[p] != x.labels[q] ||
                       x.t.size(static_cast<std::int64_t>(p)) == x.t.size(static_cast<std::int64_t>(q)),
                   "einsum: \"", equation_in, "\": subscript ", label_name(x.labels[p]),
                   " repeats in operand ", i, " over dimensions of sizes ",
                   x.t.size(static_cast<std::int64_t>(p)), " and ", x.t.size(static_cast<std::int64_t>(q)),
                   " (shape ", fmt(operands[i].shape()), "); a diagonal needs equal sizes");
    for (std::size_t d = 0; d < x.labels.size(); ++d) {
      std::int64_t& known = size[static_cast<std::size_t>(x.labels[d])];
      const std::int64_t here = x.t.size(static_cast<std::int64_t>(d));
      KILN_CHECK(known < 0 || known == here || known == 1 || here == 1, "einsum: \"", equation_in,
                 "\": subscript ", label_name(x.labels[d]), " has size ", here, " in operand ", i,
                 " of shape ", fmt(x.t.shape()), " but ", known,
                 " in an operand before; sizes must agree (or be 1, which broadcasts)");
      if (known < 0 || known == 1) known = here;
    }
    // A label repeated within a term takes the diagonal.
    for (bool repeated = true; repeated;) {
      repeated = false;
      for (std::size_t p = 0; p < x.labels.size() && !repeated; ++p)
        for (std::size_t q = p + 1; q < x.labels.size() && !repeated; ++q) {
          if (x.labels[p] != x.labels[q]) continue;
          const int label = x.labels[p];
          x.t = diagonal(x.t, 0, static_cast<std::int64_t>(p), static_cast<std::int64_t>(q));
          x.labels.erase(x.labels.begin() + static_cast<std::ptrdiff_t>(q));
          x.labels.erase(x.labels.begin() + static_cast<std::ptrdiff_t>(p));
          x.labels.push_back(label);
          repeated = true;
        }
    }
    inputs.push_back(std::move(x));
  }

  // The output's labels: as written, or (with no "->") the ellipsis' and then each letter
  // used exactly once, in order.
  Labels output;
  if (arrow != std::string::npos) {
    const Term out = parse_term(equation.substr(arrow + 2), equation_in);
    output = expand_term(
        out, static_cast<std::int64_t>(out.letters.size()) + (out.ellipsis_at >= 0 ? ellipsis_dims : 0),
        ellipsis_dims);
    for (std::size_t d = 0; d < output.size(); ++d) {
      const int l = output[d];
      KILN_CHECK(std::count(output.begin(), output.end(), l) == 1, "einsum: \"", equation_in,
                 "\": the output repeats subscript ", label_name(l));
      KILN_CHECK(size[static_cast<std::size_t>(l)] >= 0, "einsum: \"", equation_in,
                 "\": the output's subscript ", label_name(l), " appears in no input");
    }
  } else {
    std::array<int, 128> uses{};
    for (const Term& term : terms)
      for (int l : term.letters) ++uses[static_cast<std::size_t>(l)];
    for (std::int64_t d = 0; d < ellipsis_dims; ++d) output.push_back(kLetters + static_cast<int>(d));
    for (int l = 0; l < kLetters; ++l)
      if (uses[static_cast<std::size_t>(l)] == 1) output.push_back(l);
  }

  // Left to right: each contraction keeps the labels that the output or a later operand needs.
  Labelled acc = inputs[0];
  for (std::size_t i = 1; i < inputs.size(); ++i) {
    Labels keep = output;
    for (std::size_t j = i + 1; j < inputs.size(); ++j)
      keep.insert(keep.end(), inputs[j].labels.begin(), inputs[j].labels.end());
    acc = contract(acc, inputs[i], keep, size);
  }
  acc = sum_out(acc, [&](int l) { return !contains(output, l); });
  return arrange(acc, output, size).contiguous();
}

// --- diag, trace, outer ------------------------------------------------------------------

Tensor diag(const Tensor& x, std::int64_t offset) {
  KILN_CHECK(x.dim() == 1 || x.dim() == 2, "diag: needs a 1-D or 2-D tensor, got shape ", fmt(x.shape()),
             "; use diagonal for other ranks");
  if (x.dim() == 2) {
    KILN_CHECK(offset >= -x.size(0) && offset <= x.size(1), "diag: offset ", offset, " lies outside [",
               -x.size(0), ", ", x.size(1), "] for a matrix of shape ", fmt(x.shape()),
               " (as in torch.diag)");
    return diagonal(x, offset).contiguous();
  }
  // An n x n matrix with x on the diagonal `offset`: x's entries spaced n + 1 apart (each
  // followed by n zeros) and laid out row by row put x on the main diagonal; a pad then
  // moves that diagonal right (offset > 0) or down (offset < 0). Each step is a pad, a
  // view or a narrow, so the gradient is the diagonal of g.
  const std::int64_t len = x.size(0), n = len + (offset < 0 ? -offset : offset);
  Tensor band;
  if (len == 0) {
    band = pad(x, {0, n * n}).reshape({n, n});
  } else {
    const Tensor spaced = pad(x.unsqueeze(1), {0, n}).reshape({-1}).narrow(0, 0, (len - 1) * (n + 1) + 1);
    band = pad(spaced, {0, n * n - spaced.numel()}).reshape({n, n});
  }
  if (offset > 0) return pad(band, {offset, 0}).narrow(1, 0, n);
  if (offset < 0) return pad(band, {0, 0, -offset, 0}).narrow(0, 0, n);
  return band;
}

Tensor trace(const Tensor& x) {
  KILN_CHECK(x.dim() == 2, "trace: needs a matrix, got shape ", fmt(x.shape()));
  return sum(diagonal(x));
}

Tensor outer(const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.dim() == 1 && b.dim() == 1, "outer: needs two vectors, got shapes ", fmt(a.shape()), " and ",
             fmt(b.shape()));
  return mul(a.unsqueeze(1), b.unsqueeze(0));
}

}  // namespace kiln
