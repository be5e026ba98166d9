// Scalar reference kernels of the normalisation ops (batch_norm, layer_norm,
// group_norm): the definition norm_simd.inl is held to, bit for bit.
//
// The arithmetic is in double for float32 data too: a float32 mean of values far from 0
// would round off their spread. Every sum is kept in 8 interleaved lanes (element k goes
// to lane k % 8) added as ((0+1)+(2+3))+((4+5)+(6+7)) at the end: a fixed order whose
// additions need not wait on each other, and one a 4- or 8-wide vector can follow
// exactly. Compiled with -ffp-contract=off, like the SIMD variants: no fused
// multiply-adds, so every variant rounds each step alike.
#pragma once

#include <cstdint>

namespace kiln::cpu::norm_ref {

inline constexpr std::int64_t kLanes = 8;

inline double lane_total(const double* p) {
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

// f(k, lane) for k in [0, len), lane = k % 8, walked in whole groups of 8 and then the rest.
template <class F>
void for_lanes(std::int64_t len, F f) {
  std::int64_t k = 0;
  for (; k + kLanes <= len; k += kLanes)
    for (std::int64_t j = 0; j < kLanes; ++j) f(k + j, j);
  for (std::int64_t j = 0; k < len; ++k, ++j) f(k, j);
}

// Mean and biased variance over `runs` runs of len values, run i at x + i * stride
// (layer_norm's row: one run; batch_norm's channel: one run per sample). Two passes.
template <class T>
void moments(std::int64_t runs, std::int64_t stride, std::int64_t len, const T* x, double* mean,
             double* var) {
  const double count = static_cast<double>(runs * len);
  double s = 0;
  for (std::int64_t i = 0; i < runs; ++i) {
    double part[kLanes] = {};
    const T* run = x + i * stride;
    for_lanes(len, [&](std::int64_t k, std::int64_t j) { part[j] += static_cast<double>(run[k]); });
    s += lane_total(part);
  }
  const double mu = s / count;
  double ss = 0;
  for (std::int64_t i = 0; i < runs; ++i) {
    double part[kLanes] = {};
    const T* run = x + i * stride;
    for_lanes(len, [&](std::int64_t k, std::int64_t j) {
      const double d = run[k] - mu;
      part[j] += d * d;
    });
    ss += lane_total(part);
  }
  *mean = mu;
  *var = ss / count;
}

// y = ((x - mean) rstd) w + b, w and b read at k * ws (ws 1: per element; 0: one value).
template <class T>
void apply(std::int64_t len, const T* x, double mean, double rstd, const T* w, const T* b, std::int64_t ws,
           T* y) {
  for (std::int64_t k = 0; k < len; ++k) {
    double v = (x[k] - mean) * rstd;
    if (w) v *= w[k * ws];
    if (b) v += b[k * ws];
    y[k] = static_cast<T>(v);
  }
}

// With xhat = (x - mean) rstd and gw = g w (g where w is null): sums[0] = sum gw and
// sums[1] = sum gw xhat; where given, share_gxhat[k] += g xhat and share_g[k] += g
// (one row's part of the weight's and the bias's gradients).
template <class T>
void grad_sums(std::int64_t len, const T* x, const T* g, const T* w, double mean, double rstd,
               double* share_gxhat, double* share_g, double* sums) {
  double pa[kLanes] = {}, pb[kLanes] = {};
  for_lanes(len, [&](std::int64_t k, std::int64_t j) {
    const double xhat = (x[k] - mean) * rstd;
    if (share_gxhat) share_gxhat[k] += g[k] * xhat;
    if (share_g) share_g[k] += g[k];
    const double gw = w ? g[k] * static_cast<double>(w[k]) : static_cast<double>(g[k]);
    pa[j] += gw;
    pb[j] += gw * xhat;
  });
  sums[0] = lane_total(pa);
  sums[1] = lane_total(pb);
}

// gx = rstd (gw - a - xhat b), with xhat and gw as above, w read at k * ws.
template <class T>
void grad_apply(std::int64_t len, const T* x, const T* g, const T* w, std::int64_t ws, double mean,
                double rstd, double a, double b, T* gx) {
  for (std::int64_t k = 0; k < len; ++k) {
    const double gw = w ? g[k] * static_cast<double>(w[k * ws]) : static_cast<double>(g[k]);
    gx[k] = static_cast<T>(rstd * (gw - a - (x[k] - mean) * rstd * b));
  }
}

}  // namespace kiln::cpu::norm_ref
