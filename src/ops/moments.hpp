// Statistics for the normalisation ops (batch_norm, layer_norm) on the CPU, in double.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "kiln/core/threads.hpp"

namespace kiln::detail {

// The sum of f(k) over k in [0, n), in double, kept in 8 interleaved partial sums
// added at the end: a fixed order (the same result every run) whose additions need not
// wait for each other, unlike a single running sum.
template <class F>
double interleaved_sum(std::int64_t n, F f) {
  constexpr std::int64_t kLanes = 8;
  double part[kLanes] = {};
  std::int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (std::int64_t j = 0; j < kLanes; ++j) part[j] += f(k + j);
  for (std::int64_t j = 0; k < n; ++k, ++j) part[j] += f(k);
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// Two sums of f(k) = {a, b} over k in [0, n) in one pass, each added exactly as
// interleaved_sum adds it (the same lanes, the same order), so the same bits.
template <class F>
std::pair<double, double> interleaved_sums(std::int64_t n, F f) {
  constexpr std::int64_t kLanes = 8;
  double pa[kLanes] = {}, pb[kLanes] = {};
  std::int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (std::int64_t j = 0; j < kLanes; ++j) {
      const auto [a, b] = f(k + j);
      pa[j] += a;
      pb[j] += b;
    }
  for (std::int64_t j = 0; k < n; ++k, ++j) {
    const auto [a, b] = f(k);
    pa[j] += a;
    pb[j] += b;
  }
  const auto total = [](const double* p) {
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
  };
  return {total(pa), total(pb)};
}

// Mean and biased variance of each channel of x viewed as (N, C, L): batch_norm's
// channels, or, with N = 1, layer_norm's rows of L values. Two passes (no
// cancellation for values far from 0), channels spread over threads.
template <class T>
void channel_moments(const T* x, std::int64_t n, std::int64_t c, std::int64_t l, std::vector<double>& mean,
                     std::vector<double>& var) {
  mean.assign(static_cast<std::size_t>(c), 0.0);
  var.assign(static_cast<std::size_t>(c), 0.0);
  parallel_for(0, c, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t ch = b; ch < e; ++ch) {
      double s = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const T* run = x + (i * c + ch) * l;
        s += interleaved_sum(l, [run](std::int64_t k) { return static_cast<double>(run[k]); });
      }
      const double mu = s / static_cast<double>(n * l);
      double ss = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const T* run = x + (i * c + ch) * l;
        ss += interleaved_sum(l, [run, mu](std::int64_t k) {
          const double d = run[k] - mu;
          return d * d;
        });
      }
      mean[ch] = mu;
      var[ch] = ss / static_cast<double>(n * l);
    }
  });
}

}  // namespace kiln::detail
