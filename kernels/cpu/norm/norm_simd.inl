// The normalisation kernels (norm_ref.hpp) for float32 data on a vector of W doubles
// (`N`: NormAvx2, W = 4, or NormAvx512, W = 8), included by each ISA's translation
// unit inside an anonymous namespace. Each converts its floats to double on loading and
// does the reference's operations in the reference's order: 8 / W registers hold the 8
// lanes of every sum, and the elements past the last whole group of 8 go through the
// reference's own arithmetic into the same lanes. So the results are the reference's
// bits; tests/test_kernel_parity.cpp checks that.

using D = N::D;
constexpr std::int64_t kLanes = norm_ref::kLanes;
constexpr int kRegs = static_cast<int>(kLanes) / N::W;

// The lane sums of fv(k) (W values from element k on) over whole groups of 8, then of
// fs(k) (one value) over the rest, in the reference's lanes: `parts` sums at once.
template <int parts, class FV, class FS>
void lane_sums(std::int64_t len, FV fv, FS fs, double* out) {
  D acc[parts][kRegs];
  for (auto& p : acc)
    for (D& r : p) r = N::zero();
  std::int64_t k = 0;
  for (; k + kLanes <= len; k += kLanes)
    for (int j = 0; j < kRegs; ++j) {
      D v[parts];
      fv(k + j * N::W, v);
      for (int p = 0; p < parts; ++p) acc[p][j] = N::add(acc[p][j], v[p]);
    }
  double lanes[parts][kLanes];
  for (int p = 0; p < parts; ++p)
    for (int j = 0; j < kRegs; ++j) N::store_lanes(lanes[p] + j * N::W, acc[p][j]);
  for (std::int64_t j = 0; k < len; ++k, ++j) {
    double v[parts];
    fs(k, v);
    for (int p = 0; p < parts; ++p) lanes[p][j] += v[p];
  }
  for (int p = 0; p < parts; ++p) out[p] = norm_ref::lane_total(lanes[p]);
}

void norm_moments(std::int64_t runs, std::int64_t stride, std::int64_t len, const float* x, double* mean,
                  double* var) {
  const double count = static_cast<double>(runs * len);
  double s = 0;
  for (std::int64_t i = 0; i < runs; ++i) {
    const float* run = x + i * stride;
    double part;
    lane_sums<1>(
        len, [run](std::int64_t k, D* v) { v[0] = N::load(run + k); },
        [run](std::int64_t k, double* v) { v[0] = static_cast<double>(run[k]); }, &part);
    s += part;
  }
  const double mu = s / count;
  const D muv = N::set1(mu);
  double ss = 0;
  for (std::int64_t i = 0; i < runs; ++i) {
    const float* run = x + i * stride;
    double part;
    lane_sums<1>(
        len,
        [run, muv](std::int64_t k, D* v) {
          const D d = N::sub(N::load(run + k), muv);
          v[0] = N::mul(d, d);
        },
        [run, mu](std::int64_t k, double* v) {
          const double d = run[k] - mu;
          v[0] = d * d;
        },
        &part);
    ss += part;
  }
  *mean = mu;
  *var = ss / count;
}

// y = ((x - mean) rstd) w + b over the whole groups of W, the reference for the rest.
template <bool kW, bool kB, bool kOneWeight>
void norm_apply_as(std::int64_t len, const float* x, double mean, double rstd, const float* w, const float* b,
                   float* y) {
  const D muv = N::set1(mean), rsv = N::set1(rstd);
  const D w0 = kW && kOneWeight ? N::set1(w[0]) : N::zero(), b0 = kB && kOneWeight ? N::set1(b[0]) : N::zero();
  std::int64_t k = 0;
  for (; k + N::W <= len; k += N::W) {
    D v = N::mul(N::sub(N::load(x + k), muv), rsv);
    if constexpr (kW) v = N::mul(v, kOneWeight ? w0 : N::load(w + k));
    if constexpr (kB) v = N::add(v, kOneWeight ? b0 : N::load(b + k));
    N::store(y + k, v);
  }
  const std::int64_t ws = kOneWeight ? 0 : 1;
  norm_ref::apply(len - k, x + k, mean, rstd, kW ? w + k * ws : nullptr, kB ? b + k * ws : nullptr, ws, y + k);
}

void norm_apply(std::int64_t len, const float* x, double mean, double rstd, const float* w, const float* b,
                std::int64_t ws, float* y) {
  using Fn = void (*)(std::int64_t, const float*, double, double, const float*, const float*, float*);
  static constexpr Fn kVariants[8] = {
      norm_apply_as<false, false, false>, norm_apply_as<false, false, true>, norm_apply_as<false, true, false>,
      norm_apply_as<false, true, true>,   norm_apply_as<true, false, false>, norm_apply_as<true, false, true>,
      norm_apply_as<true, true, false>,   norm_apply_as<true, true, true>};
  kVariants[(w ? 4 : 0) + (b ? 2 : 0) + (ws == 0 ? 1 : 0)](len, x, mean, rstd, w, b, y);
}

template <bool kW, bool kShares>
void norm_grad_sums_as(std::int64_t len, const float* x, const float* g, const float* w, double mean, double rstd,
                       double* share_gxhat, double* share_g, double* sums) {
  const D muv = N::set1(mean), rsv = N::set1(rstd);
  lane_sums<2>(
      len,
      [&](std::int64_t k, D* v) {
        const D xhat = N::mul(N::sub(N::load(x + k), muv), rsv);
        const D gv = N::load(g + k);
        if constexpr (kShares) {
          N::store_lanes(share_gxhat + k, N::add(N::load_lanes(share_gxhat + k), N::mul(gv, xhat)));
          N::store_lanes(share_g + k, N::add(N::load_lanes(share_g + k), gv));
        }
        const D gw = kW ? N::mul(gv, N::load(w + k)) : gv;
        v[0] = gw;
        v[1] = N::mul(gw, xhat);
      },
      [&](std::int64_t k, double* v) {
        const double xhat = (x[k] - mean) * rstd;
        if constexpr (kShares) {
          share_gxhat[k] += g[k] * xhat;
          share_g[k] += g[k];
        }
        const double gw = kW ? g[k] * static_cast<double>(w[k]) : static_cast<double>(g[k]);
        v[0] = gw;
        v[1] = gw * xhat;
      },
      sums);
}

void norm_grad_sums(std::int64_t len, const float* x, const float* g, const float* w, double mean, double rstd,
                    double* share_gxhat, double* share_g, double* sums) {
  if (share_gxhat && share_g) {
    (w ? norm_grad_sums_as<true, true> : norm_grad_sums_as<false, true>)(len, x, g, w, mean, rstd, share_gxhat,
                                                                          share_g, sums);
  } else if (!share_gxhat && !share_g) {
    (w ? norm_grad_sums_as<true, false> : norm_grad_sums_as<false, false>)(len, x, g, w, mean, rstd, nullptr,
                                                                            nullptr, sums);
  } else {
    norm_ref::grad_sums(len, x, g, w, mean, rstd, share_gxhat, share_g, sums);  // one share alone: rare
  }
}

template <bool kW, bool kOneWeight>
void norm_grad_apply_as(std::int64_t len, const float* x, const float* g, const float* w, double mean, double rstd,
                        double a, double b, float* gx) {
  const D muv = N::set1(mean), rsv = N::set1(rstd), av = N::set1(a), bv = N::set1(b);
  const D w0 = kW && kOneWeight ? N::set1(w[0]) : N::zero();
  std::int64_t k = 0;
  for (; k + N::W <= len; k += N::W) {
    const D gv = N::load(g + k);
    const D gw = kW ? N::mul(gv, kOneWeight ? w0 : N::load(w + k)) : gv;
    const D xhat_b = N::mul(N::mul(N::sub(N::load(x + k), muv), rsv), bv);
    N::store(gx + k, N::mul(rsv, N::sub(N::sub(gw, av), xhat_b)));
  }
  const std::int64_t ws = kOneWeight ? 0 : 1;
  norm_ref::grad_apply(len - k, x + k, g + k, kW ? w + k * ws : nullptr, ws, mean, rstd, a, b, gx + k);
}

void norm_grad_apply(std::int64_t len, const float* x, const float* g, const float* w, std::int64_t ws,
                     double mean, double rstd, double a, double b, float* gx) {
  if (!w) return norm_grad_apply_as<false, false>(len, x, g, w, mean, rstd, a, b, gx);
  (ws == 0 ? norm_grad_apply_as<true, true> : norm_grad_apply_as<true, false>)(len, x, g, w, mean, rstd, a, b, gx);
}

void fill_norm(KernelTable<float>& t) {
  t.norm_moments = norm_moments;
  t.norm_apply = norm_apply;
  t.norm_grad_sums = norm_grad_sums;
  t.norm_grad_apply = norm_grad_apply;
}
