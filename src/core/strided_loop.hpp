// Internal: walking N operands of one shape, each with its own strides.
//
// The loop is split into "runs" along the innermost dimension: fn(offsets, n,
// inner_strides) is called with each operand's element offset at the start of
// a run of n elements. Dimensions that are contiguous for every operand are
// merged first, so a contiguous tensor is a single run (split across threads).
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kiln/core/shape.hpp"
#include "kiln/core/threads.hpp"

namespace kiln::detail {

template <std::size_t N>
struct LoopPlan {
  Shape shape;                    // after merging; at least one dimension
  std::array<Strides, N> strides;
};

template <std::size_t N>
LoopPlan<N> make_loop_plan(const Shape& shape, const std::array<const Strides*, N>& strides) {
  LoopPlan<N> plan;
  // Drop size-1 dimensions (their strides never matter).
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    plan.shape.push_back(shape[d]);
    for (std::size_t k = 0; k < N; ++k) plan.strides[k].push_back((*strides[k])[d]);
  }
  if (plan.shape.empty()) {
    plan.shape.push_back(numel_of(shape));  // 1, or 0 for an empty tensor
    for (auto& s : plan.strides) s.push_back(1);
    return plan;
  }
  // Merge dimension d into d+1 when every operand steps through them as one.
  Shape merged_shape{plan.shape.back()};
  std::array<Strides, N> merged;
  for (std::size_t k = 0; k < N; ++k) merged[k] = {plan.strides[k].back()};
  for (std::size_t d = plan.shape.size() - 1; d-- > 0;) {
    bool can_merge = true;
    for (std::size_t k = 0; k < N; ++k)
      can_merge = can_merge && plan.strides[k][d] == merged[k].front() * merged_shape.front();
    if (can_merge) {
      merged_shape.front() *= plan.shape[d];
    } else {
      merged_shape.insert(merged_shape.begin(), plan.shape[d]);
      for (std::size_t k = 0; k < N; ++k) merged[k].insert(merged[k].begin(), plan.strides[k][d]);
    }
  }
  plan.shape = std::move(merged_shape);
  plan.strides = std::move(merged);
  return plan;
}

// fn(const std::array<int64_t, N>& offsets, int64_t n, const std::array<int64_t, N>& inner_strides)
template <std::size_t N, class Fn>
void for_each_run(const LoopPlan<N>& plan, std::int64_t grain, Fn&& fn) {
  const std::size_t nd = plan.shape.size();
  const std::int64_t inner = plan.shape.back();
  if (inner == 0) return;
  std::array<std::int64_t, N> inner_strides;
  for (std::size_t k = 0; k < N; ++k) inner_strides[k] = plan.strides[k].back();
  std::int64_t rows = 1;
  for (std::size_t d = 0; d + 1 < nd; ++d) rows *= plan.shape[d];
  if (rows == 0) return;

  if (rows == 1) {  // one long run: split it
    parallel_for(0, inner, grain, [&](std::int64_t lo, std::int64_t hi) {
      std::array<std::int64_t, N> offs;
      for (std::size_t k = 0; k < N; ++k) offs[k] = lo * inner_strides[k];
      fn(offs, hi - lo, inner_strides);
    });
    return;
  }
  const std::int64_t row_grain = grain / inner > 0 ? grain / inner : 1;
  parallel_for(0, rows, row_grain, [&](std::int64_t lo, std::int64_t hi) {
    // Unravel `lo` over the outer dimensions, then count up.
    std::vector<std::int64_t> idx(nd - 1);
    std::array<std::int64_t, N> offs{};
    std::int64_t rem = lo;
    for (std::size_t d = nd - 1; d-- > 0;) {
      idx[d] = rem % plan.shape[d];
      rem /= plan.shape[d];
      for (std::size_t k = 0; k < N; ++k) offs[k] += idx[d] * plan.strides[k][d];
    }
    for (std::int64_t r = lo; r < hi; ++r) {
      fn(offs, inner, inner_strides);
      for (std::size_t d = nd - 1; d-- > 0;) {
        for (std::size_t k = 0; k < N; ++k) offs[k] += plan.strides[k][d];
        if (++idx[d] < plan.shape[d]) break;
        for (std::size_t k = 0; k < N; ++k) offs[k] -= plan.shape[d] * plan.strides[k][d];
        idx[d] = 0;
      }
    }
  });
}

// Calls f(sa, sb) with the two inner strides as std::integral_constant 0 or 1 (a run, or one
// number broadcast along it), so that the loop inside knows them and vectorises, and
// returns true; returns false, calling nothing, when either is another stride.
template <class F>
bool with_unit_strides(std::int64_t sa, std::int64_t sb, F&& f) {
  using Zero = std::integral_constant<std::int64_t, 0>;
  using One = std::integral_constant<std::int64_t, 1>;
  if ((sa != 0 && sa != 1) || (sb != 0 && sb != 1)) return false;
  if (sa == 1) {
    if (sb == 1)
      f(One{}, One{});
    else
      f(One{}, Zero{});
  } else {
    if (sb == 1)
      f(Zero{}, One{});
    else
      f(Zero{}, Zero{});
  }
  return true;
}

}  // namespace kiln::detail
