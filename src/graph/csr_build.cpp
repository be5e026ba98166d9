// Building CSR matrices from lists of entries: from_coo, undirected and transpose all
// run the same counting sort, on every thread.
//
//   1. The entries come in parts (slices of a list, or runs of a matrix's rows). Each part
//      counts its entries per row, on its own thread, and checks that they are in range.
//   2. One pass over the rows turns the counts into where each part's entries of each row
//      go: after the row's entries from the parts before it.
//   3. Each part writes its entries into their places, on its own thread.
//   4. Each row is sorted by column (then by value, so repeated entries always add up in
//      the same order) and its repeats merged, on threads that share the rows by work.
//
// So the matrix is the same, to the bit, on any number of threads.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kiln/core/error.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/graph/csr.hpp"
#include "src/graph/balanced_rows.hpp"

namespace kiln::graph {
namespace {

// Fewest entries per part: smaller lists are built on one thread.
constexpr std::int64_t kMinEntriesPerPart = 65536;
// Rows are sorted in tasks of at least this much work (entries plus rows).
constexpr std::int64_t kMinSortWork = 65536;

// How many parts to cut `entries` entries of a matrix with `rows` rows into: one per
// thread, but never so many that the parts' per-row counts (parts x rows) outweigh
// the entries themselves.
std::int64_t parts_for(std::int64_t entries, std::int64_t rows) {
  const std::int64_t by_entries = entries / kMinEntriesPerPart;
  const std::int64_t by_memory = 1 + 2 * entries / std::max<std::int64_t>(rows, 1);
  return std::clamp<std::int64_t>(std::min(by_entries, by_memory), 1, get_num_threads());
}

// A float's bits as an unsigned key whose order is < on numbers (-0 just before +0) and
// also places NaNs (after +inf, or before -inf when the sign bit is set): a total order,
// as std::sort needs. The key turns back into the same bits.
std::uint32_t order_key(float v) {
  const auto bits = std::bit_cast<std::uint32_t>(v);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}
float from_order_key(std::uint32_t key) {
  return std::bit_cast<float>((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

// Sorts one row's n entries by column and value and merges repeated columns in place,
// summing their values in that order; returns how many remain. value is null for a 0/1
// matrix, whose repeats are kept once. scratch is the calling thread's own.
std::int64_t sort_and_merge_row(std::int64_t* col, float* value, std::int64_t n,
                                std::vector<std::pair<std::int64_t, std::uint32_t>>& scratch) {
  bool rising = true;
  for (std::int64_t i = 1; i < n && rising; ++i) rising = col[i - 1] < col[i];
  // Sorted without repeats already (a transpose's rows are, unless A repeats a column).
  if (rising) return n;
  if (value == nullptr) {
    std::sort(col, col + n);
  } else {
    scratch.resize(n);
    for (std::int64_t i = 0; i < n; ++i) scratch[i] = {col[i], order_key(value[i])};
    std::sort(scratch.begin(), scratch.end());
    for (std::int64_t i = 0; i < n; ++i) {
      col[i] = scratch[i].first;
      value[i] = from_order_key(scratch[i].second);
    }
  }
  std::int64_t kept = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (kept > 0 && col[kept - 1] == col[i]) {
      if (value != nullptr) value[kept - 1] += value[i];
      continue;
    }
    col[kept] = col[i];
    if (value != nullptr) value[kept] = value[i];
    ++kept;
  }
  return kept;
}

// The matrix of the entries that for_each(part, emit) gives, part by part: emit(row,
// col, value) for each entry of the part, in the same order every time it is called
// (it is called twice). With with_values false the matrix is 0/1: emit's third argument
// is ignored and a repeated entry is kept once, not summed. An entry outside rows x cols
// is a kiln::Error with the text bad_entry(row, col) returns, naming the first such
// entry in part order.
template <class ForEach, class BadEntry>
CsrMatrix build_csr(std::int64_t rows, std::int64_t cols, std::int64_t parts, bool with_values,
                    const ForEach& for_each, const BadEntry& bad_entry) {
  // 1. Count each part's entries per row, and find each part's first entry out of range.
  std::vector<std::vector<std::int64_t>> place(parts);
  std::vector<char> has_bad(parts, 0);
  std::vector<std::pair<std::int64_t, std::int64_t>> first_bad(parts);
  parallel_for(0, parts, 1, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t p = first; p < last; ++p) {
      std::vector<std::int64_t>& count = place[p];
      count.assign(rows, 0);  // on this thread, so its pages are this thread's first touch
      for_each(p, [&](std::int64_t r, std::int64_t c, float) {
        if (r >= 0 && r < rows && c >= 0 && c < cols) {
          ++count[r];
        } else if (!has_bad[p]) {
          has_bad[p] = 1;
          first_bad[p] = {r, c};
        }
      });
    }
  });
  for (std::int64_t p = 0; p < parts; ++p)
    if (has_bad[p]) throw Error(bad_entry(first_bad[p].first, first_bad[p].second));

  // 2. Where each part's entries of each row start: after the earlier parts' entries.
  std::vector<std::int64_t> start(rows + 1, 0);
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t at = start[r];
    for (std::int64_t p = 0; p < parts; ++p) {
      const std::int64_t count = place[p][r];
      place[p][r] = at;
      at += count;
    }
    start[r + 1] = at;
  }
  const std::int64_t total = start[rows];

  // 3. Each part writes its entries into their places.
  std::vector<std::int64_t> col(total);
  std::vector<float> value(with_values ? total : 0);
  parallel_for(0, parts, 1, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t p = first; p < last; ++p) {
      std::int64_t* next = place[p].data();
      for_each(p, [&](std::int64_t r, std::int64_t c, float v) {
        const std::int64_t k = next[r]++;
        col[k] = c;
        if (with_values) value[k] = v;
      });
      std::vector<std::int64_t>().swap(place[p]);
    }
  });

  // 4. Sort each row and merge its repeats in place, then close the gaps they leave.
  std::vector<std::int64_t> kept(rows);
  detail::parallel_rows_by_work(
      rows, start.data(), total, 1, kMinSortWork, [&](std::int64_t first, std::int64_t last) {
        std::vector<std::pair<std::int64_t, std::uint32_t>> scratch;
        for (std::int64_t r = first; r < last; ++r)
          kept[r] = sort_and_merge_row(col.data() + start[r], with_values ? value.data() + start[r] : nullptr,
                                       start[r + 1] - start[r], scratch);
      });
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.row_ptr.assign(rows + 1, 0);
  for (std::int64_t r = 0; r < rows; ++r) m.row_ptr[r + 1] = m.row_ptr[r] + kept[r];
  if (m.row_ptr[rows] == total) {  // no repeats: the arrays are the matrix's
    m.col_idx = std::move(col);
    if (with_values)
      m.values = std::move(value);
    else
      m.values.assign(total, 1.0f);
    return m;
  }
  m.col_idx.resize(m.row_ptr[rows]);
  m.values.resize(m.row_ptr[rows], 1.0f);
  detail::parallel_rows_by_work(
      rows, m.row_ptr.data(), m.row_ptr[rows], 1, kMinSortWork, [&](std::int64_t first, std::int64_t last) {
        for (std::int64_t r = first; r < last; ++r) {
          std::copy_n(col.data() + start[r], kept[r], m.col_idx.data() + m.row_ptr[r]);
          if (with_values) std::copy_n(value.data() + start[r], kept[r], m.values.data() + m.row_ptr[r]);
        }
      });
  return m;
}

// Splits [0, n) into `parts` slices of about equal size: slice p is [bound(p), bound(p + 1)).
std::int64_t slice_bound(std::int64_t n, std::int64_t parts, std::int64_t p) {
  return n / parts * p + std::min(p, n % parts);
}

}  // namespace

CsrMatrix CsrMatrix::from_coo(std::int64_t rows, std::int64_t cols, const std::vector<Edge>& entries,
                              const std::vector<float>& values) {
  KILN_CHECK(rows >= 0 && cols >= 0, "CsrMatrix::from_coo: negative size ", rows, " x ", cols);
  KILN_CHECK(values.empty() || values.size() == entries.size(), "CsrMatrix::from_coo: ", values.size(),
             " values for ", entries.size(), " entries");
  const auto n = static_cast<std::int64_t>(entries.size());
  const std::int64_t parts = parts_for(n, rows);
  const bool given = !values.empty();
  return build_csr(
      rows, cols, parts, true,  // with values even when none are given: repeats add up to 2, 3, ...
      [&](std::int64_t p, const auto& emit) {
        for (std::int64_t i = slice_bound(n, parts, p), end = slice_bound(n, parts, p + 1); i < end; ++i)
          emit(entries[i].first, entries[i].second, given ? values[i] : 1.0f);
      },
      [&](std::int64_t r, std::int64_t c) {
        return detail::concat("CsrMatrix::from_coo: entry (", r, ", ", c, ") is outside a ", rows, " x ",
                              cols, " matrix");
      });
}

CsrMatrix CsrMatrix::undirected(std::int64_t nodes, const std::vector<Edge>& edges) {
  KILN_CHECK(nodes >= 0, "CsrMatrix::undirected: negative node count ", nodes);
  const auto n = static_cast<std::int64_t>(edges.size());
  const std::int64_t parts = parts_for(2 * n, nodes);
  CsrMatrix m = build_csr(
      nodes, nodes, parts, false,
      [&](std::int64_t p, const auto& emit) {
        for (std::int64_t i = slice_bound(n, parts, p), end = slice_bound(n, parts, p + 1); i < end; ++i) {
          const auto [u, v] = edges[i];
          if (u == v) continue;  // self loops are dropped
          emit(u, v, 1.0f);
          emit(v, u, 1.0f);
        }
      },
      [&](std::int64_t r, std::int64_t c) {
        return detail::concat("CsrMatrix::undirected: edge (", r, ", ", c, ") names a node outside [0, ",
                              nodes, ")");
      });
  m.symmetric = true;
  return m;
}

CsrMatrix CsrMatrix::transpose() const {
  check("CsrMatrix::transpose");
  // The parts are runs of this matrix's rows; each writes its entries in row order, so
  // every row of the transpose comes out sorted (unless this matrix repeats a column).
  const std::vector<std::int64_t> runs =
      detail::split_rows_by_work(rows, row_ptr.data(), nnz(), parts_for(nnz(), cols));
  const auto parts = static_cast<std::int64_t>(runs.size()) - 1;
  CsrMatrix t = build_csr(
      cols, rows, parts, true,
      [&](std::int64_t p, const auto& emit) {
        for (std::int64_t r = runs[p]; r < runs[p + 1]; ++r)
          for (std::int64_t k = row_ptr[r]; k < row_ptr[r + 1]; ++k) emit(col_idx[k], r, values[k]);
      },
      [&](std::int64_t r, std::int64_t c) {
        return detail::concat("CsrMatrix::transpose: entry (", c, ", ", r, ") is outside a ", rows, " x ",
                              cols, " matrix");
      });
  t.symmetric = symmetric;
  return t;
}

}  // namespace kiln::graph
