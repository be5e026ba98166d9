// The harness of the differential test against PyTorch (libtorch): the same random
// inputs on both sides, and comparisons of outputs, gradients and parameters.
// Random draws come from one fixed-seed generator, so a failure reproduces.
#pragma once

#include <doctest/doctest.h>
#include <torch/torch.h>
// libtorch brings glog, whose CHECK (abort the process on failure) replaces doctest's:
// take doctest's back, so a failed check is reported and counted like any other.
#undef CHECK
#define CHECK(...) DOCTEST_CHECK(__VA_ARGS__)

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/kiln.hpp"

namespace differential {

namespace F = torch::nn::functional;
using KT = kiln::Tensor;
using TT = torch::Tensor;
using Sizes = std::vector<std::int64_t>;

inline std::mt19937_64 rng;
inline double unif(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
inline std::int64_t irand(std::int64_t lo, std::int64_t hi) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}
inline bool coin() { return irand(0, 1) == 1; }

inline bool single = false;    // float32 inputs on both sides
inline std::int64_t side = 5;  // largest dimension of a random shape

inline std::string text(const Sizes& s) {
  std::ostringstream o;
  o << "(";
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ")";
  return o.str();
}
inline Sizes sizes_of(const KT& k) { return Sizes(k.shape().begin(), k.shape().end()); }

struct Both {
  KT k;
  TT t;
};

// The same values on both sides, as `s`; float32 where `single`; a leaf that needs a
// gradient where `grad`.
inline Both from_values(const std::vector<double>& v, const Sizes& s, bool grad) {
  KT k = kiln::from_vector(v, kiln::Shape(s.begin(), s.end())).reshape(kiln::Shape(s.begin(), s.end()));
  TT t = torch::tensor(v, torch::kDouble).reshape(s);
  if (single) {
    k = k.to(kiln::kFloat32);
    t = t.to(torch::kFloat);
  }
  if (grad) {
    k.requires_grad_();
    t.requires_grad_();
  }
  return {k, t};
}
inline std::int64_t numel(const Sizes& s) {
  std::int64_t n = 1;
  for (std::int64_t d : s) n *= d;
  return n;
}
// Uniform values in [lo, hi); a leaf that needs a gradient unless told.
inline Both leaf(const Sizes& s, double lo = -2, double hi = 2, bool grad = true) {
  std::vector<double> v(static_cast<std::size_t>(numel(s)));
  for (double& x : v) x = unif(lo, hi);
  return from_values(v, s, grad);
}
inline Both integers(const Sizes& s, std::int64_t lo, std::int64_t hi) {
  const std::int64_t n = numel(s);
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t& x : v) x = irand(lo, hi);
  return {kiln::from_vector(v, {n}).reshape(kiln::Shape(s.begin(), s.end())),
          torch::tensor(v, torch::kLong).reshape(s)};
}

// A random shape of rank in [lo, hi]; a broadcast partner of it (some dims 1, leading ones dropped).
inline Sizes random_shape(int lo, int hi, std::int64_t largest = 0) {
  Sizes s(static_cast<std::size_t>(irand(lo, hi)));
  for (std::int64_t& d : s) d = irand(1, largest ? largest : side);
  return s;
}
inline Sizes broadcast_partner(Sizes s) {
  for (std::int64_t& d : s)
    if (irand(0, 2) == 0) d = 1;
  if (coin()) s.erase(s.begin(), s.begin() + irand(0, static_cast<std::int64_t>(s.size())));
  return s;
}

// Values agree within rtol/atol (looser in float32); NaN matches NaN, and two non-finite
// gradients count as agreeing (both are undefined there, e.g. var of one element).
inline bool agree(const KT& k, const TT& t, const std::string& what, double rtol, double atol,
                  bool nonfinite_ok = false) {
  if (single) {
    rtol = std::max(rtol, 2e-4);
    atol = std::max(atol, 2e-5);
  }
  const TT tc = t.detach().to(torch::kDouble).contiguous();
  const Sizes ts(tc.sizes().begin(), tc.sizes().end());
  if (sizes_of(k) != ts) {
    FAIL_CHECK(what << ": kiln's shape " << text(sizes_of(k)) << ", torch's " << text(ts));
    return false;
  }
  const std::vector<double> kv = k.detach().contiguous().to(kiln::kFloat64).to_vector<double>();
  const double* tv = tc.data_ptr<double>();
  for (std::size_t i = 0; i < kv.size(); ++i) {
    const double a = kv[i], b = tv[i];
    if (a == b || (std::isnan(a) && std::isnan(b))) continue;
    if (nonfinite_ok && !std::isfinite(a) && !std::isfinite(b)) continue;
    if (!(std::fabs(a - b) <= atol + rtol * std::fabs(b))) {
      FAIL_CHECK(what << " at flat index " << i << " of shape " << text(ts) << ": kiln " << a << ", torch "
                      << b);
      return false;
    }
  }
  return true;
}

using KernelK = std::function<KT(const std::vector<KT>&)>;
using KernelT = std::function<TT(const std::vector<TT>&)>;

inline int compared = 0;

// The inputs' two sides, and their shapes and precision as text for the failure report.
struct Sides {
  std::vector<KT> ks;
  std::vector<TT> ts;
  std::string description;
};
inline Sides sides_of(const std::vector<Both>& in) {
  Sides s;
  for (const Both& b : in) {
    s.ks.push_back(b.k);
    s.ts.push_back(b.t);
    s.description += text(sizes_of(b.k)) + " ";
  }
  s.description += single ? "float32" : "float64";
  return s;
}

// Runs both sides; an input that torch rejects must make kiln throw too, and the other way.
// Then, where `grad`, backpropagates the same random upstream and compares each input's gradient.
inline void compare(const std::string& name, const std::vector<Both>& in, const KernelK& fk,
                    const KernelT& ft, bool grad = true, double rtol = 1e-9) {
  const auto [ks, ts, description] = sides_of(in);
  INFO(name << " on " << description);
  KT ok;
  TT ot;
  bool kiln_threw = false, torch_threw = false;
  std::string message;
  try {
    ok = fk(ks);
  } catch (const kiln::Error& e) {
    kiln_threw = true;
    message = e.what();
  }
  try {
    ot = ft(ts);
  } catch (const c10::Error&) {
    torch_threw = true;
  }
  if (kiln_threw || torch_threw) {
    CHECK_MESSAGE(kiln_threw == torch_threw, "kiln " << (kiln_threw ? "threw: " + message : "did not throw")
                                                     << "; torch " << (torch_threw ? "threw" : "did not"));
    return;
  }
  ++compared;
  if (!agree(ok, ot, name + " forward", rtol, 1e-11) || !grad || !ok.requires_grad()) return;
  const Both upstream = leaf(sizes_of(ok), -1, 1, false);
  try {
    (ot * upstream.t).sum().backward();
  } catch (const c10::Error&) {
    return;  // torch's own backward has no rule here (var of a one-element tensor in 1.13)
  }
  kiln::sum(ok * upstream.k).backward();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (!in[i].t.requires_grad()) continue;
    const TT tg = in[i].t.grad().defined() ? in[i].t.grad() : torch::zeros_like(in[i].t);
    if (!in[i].k.grad().defined()) {
      CHECK_MESSAGE(!in[i].t.grad().defined(), name << ": kiln left input " << i << " without a gradient");
      continue;
    }
    agree(in[i].k.grad(), tg, name + " gradient of input " + std::to_string(i), rtol * 10, 1e-10, true);
  }
}

// One of the three reductions, drawn at random when made, in kiln's terms and torch's.
struct RandomReduction {
  std::int64_t which = irand(0, 2);  // mean, sum, none
  kiln::Reduction k() const {
    return which == 0 ? kiln::Reduction::mean : which == 1 ? kiln::Reduction::sum : kiln::Reduction::none;
  }
  at::Reduction::Reduction at() const {
    return which == 0 ? at::Reduction::Mean : which == 1 ? at::Reduction::Sum : at::Reduction::None;
  }
  template <class Options>
  Options options(Options o) const {  // a functional's options, set to this reduction
    if (which == 0)
      o.reduction(torch::kMean);
    else if (which == 1)
      o.reduction(torch::kSum);
    else
      o.reduction(torch::kNone);
    return o;
  }
  TT apply(const TT& t) const { return which == 0 ? t.mean() : which == 1 ? t.sum() : t; }
};

// Input 0 as it is or transposed (a strided view).
struct View {
  std::function<KT(const KT&)> k;
  std::function<TT(const TT&)> t;
};
inline View random_view(std::size_t rank) {
  if (rank >= 2 && irand(0, 3) == 1) {
    const std::int64_t a = irand(0, static_cast<std::int64_t>(rank) - 1),
                       b = irand(0, static_cast<std::int64_t>(rank) - 1);
    return {[=](const KT& x) { return x.transpose(a, b); }, [=](const TT& x) { return x.transpose(a, b); }};
  }
  return {[](const KT& x) { return x; }, [](const TT& x) { return x; }};
}

// Each family runs in float64 with small shapes, then in float32 with sides up to 33
// (long enough for the vector kernels' main loops and their tails).
template <class Body>
void in_both_precisions(std::uint64_t seed, int count, Body body) {
  for (const bool f32 : {false, true}) {
    rng.seed(seed + f32);
    single = f32;
    side = f32 ? 33 : 5;
    compared = 0;
    for (int i = 0; i < count; ++i) body();
    CHECK(compared > count / 2);  // most draws are valid inputs that both sides ran
  }
  single = false;
  side = 5;
}

// An elementwise function of one tensor, its input drawn from [lo, hi).
struct UnaryCase {
  const char* name;
  double lo, hi;
  std::function<KT(const KT&)> k;
  std::function<TT(const TT&)> t;
  double rtol = 1e-9;  // compare's default
};
// Each case 25 times per precision on shapes of rank 0 to 3 (2 to 3 for the names
// starting "tri", which take matrices), the input sometimes transposed.
inline void run_unary_cases(std::uint64_t seed, const std::vector<UnaryCase>& ops) {
  for (const UnaryCase& op : ops) {
    const bool matrix = std::string(op.name).rfind("tri", 0) == 0;
    in_both_precisions(seed, 25, [&] {
      const Sizes s = random_shape(matrix ? 2 : 0, 3);
      const View v = random_view(s.size());
      compare(
          op.name, {leaf(s, op.lo, op.hi)}, [&](const auto& a) { return op.k(v.k(a[0])); },
          [&](const auto& a) { return op.t(v.t(a[0])); }, true, op.rtol);
    });
  }
}

// An elementwise function of two tensors: the first drawn from [-2, 2), the second from
// [blo, bhi).
struct BinaryCase {
  const char* name;
  double blo, bhi;
  std::function<KT(const KT&, const KT&)> k;
  std::function<TT(const TT&, const TT&)> t;
  double rtol = 1e-9;
};
// Each case 40 times per precision: a random shape and a broadcast partner of it (in
// either order), the first operand sometimes transposed.
inline void run_binary_cases(std::uint64_t seed, const std::vector<BinaryCase>& ops) {
  for (const BinaryCase& op : ops)
    in_both_precisions(seed, 40, [&] {
      Sizes s = random_shape(0, 4), p = broadcast_partner(s);
      if (coin()) std::swap(s, p);
      const View v = random_view(s.size());
      compare(
          op.name, {leaf(s), leaf(p, op.blo, op.bhi)}, [&](const auto& a) { return op.k(v.k(a[0]), a[1]); },
          [&](const auto& a) { return op.t(v.t(a[0]), a[1]); }, true, op.rtol);
    });
}

}  // namespace differential
