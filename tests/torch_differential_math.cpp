// The differential test against PyTorch, continued: the math functions of
// kiln/ops/math.hpp against torch's, with inputs reaching past each domain (NaN must
// match NaN) and operands broadcast; then the arranging ops and other small additions.
#include "torch_differential.hpp"

#include <algorithm>
#include <array>
#include <limits>

using namespace differential;

TEST_CASE("torch differential: trigonometric, hyperbolic, erf, gamma, Bessel and logarithm functions") {
  const std::vector<UnaryCase> ops = {
      {"tan", -1.5, 1.5, [](const KT& x) { return kiln::tan(x); }, [](const TT& x) { return torch::tan(x); }},
      {"asin", -1.1, 1.1, [](const KT& x) { return kiln::asin(x); },
       [](const TT& x) { return torch::asin(x); }},
      {"acos", -1.1, 1.1, [](const KT& x) { return kiln::acos(x); },
       [](const TT& x) { return torch::acos(x); }},
      {"atan", -4, 4, [](const KT& x) { return kiln::atan(x); }, [](const TT& x) { return torch::atan(x); }},
      {"sinh", -3, 3, [](const KT& x) { return kiln::sinh(x); }, [](const TT& x) { return torch::sinh(x); }},
      {"cosh", -3, 3, [](const KT& x) { return kiln::cosh(x); }, [](const TT& x) { return torch::cosh(x); }},
      {"asinh", -4, 4, [](const KT& x) { return kiln::asinh(x); },
       [](const TT& x) { return torch::asinh(x); }},
      {"acosh", 0.5, 4, [](const KT& x) { return kiln::acosh(x); },
       [](const TT& x) { return torch::acosh(x); }},
      {"atanh", -1.1, 1.1, [](const KT& x) { return kiln::atanh(x); },
       [](const TT& x) { return torch::atanh(x); }},
      {"erf", -3, 3, [](const KT& x) { return kiln::erf(x); }, [](const TT& x) { return torch::erf(x); }},
      {"erfc", -3, 6, [](const KT& x) { return kiln::erfc(x); }, [](const TT& x) { return torch::erfc(x); }},
      {"erfinv", -1.1, 1.1, [](const KT& x) { return kiln::erfinv(x); },
       [](const TT& x) { return torch::erfinv(x); }},
      {"rsqrt", -0.5, 3, [](const KT& x) { return kiln::rsqrt(x); },
       [](const TT& x) { return torch::rsqrt(x); }},
      {"reciprocal", 0.2, 3, [](const KT& x) { return kiln::reciprocal(x); },
       [](const TT& x) { return torch::reciprocal(x); }},
      {"square", -3, 3, [](const KT& x) { return kiln::square(x); },
       [](const TT& x) { return torch::square(x); }},
      {"exp2", -4, 4, [](const KT& x) { return kiln::exp2(x); }, [](const TT& x) { return torch::exp2(x); }},
      {"log2", -1, 3, [](const KT& x) { return kiln::log2(x); }, [](const TT& x) { return torch::log2(x); }},
      {"log10", -1, 3, [](const KT& x) { return kiln::log10(x); },
       [](const TT& x) { return torch::log10(x); }},
      {"lgamma", -3.9, 6, [](const KT& x) { return kiln::lgamma(x); },
       [](const TT& x) { return torch::lgamma(x); }},
      // torch's float32 trigamma (digamma's gradient) takes sin(pi x) in float32: near a
      // pole its error reaches 1e-2; kiln computes in double, so compare with torch's double.
      {"digamma", -3.9, 6, [](const KT& x) { return kiln::digamma(x); },
       [](const TT& x) { return torch::digamma(x.to(torch::kDouble)).to(x.scalar_type()); }},
      {"polygamma 1 to 3", 0.05, 6,
       [](const KT& x) { return kiln::polygamma(1, x) + kiln::polygamma(2, x) + kiln::polygamma(3, x); },
       [](const TT& x) {
         const TT d = x.to(torch::kDouble);
         return (torch::polygamma(1, d) + torch::polygamma(2, d) + torch::polygamma(3, d))
             .to(x.scalar_type());
       }},
      // The Bessel functions across |x| = 25, where kiln turns from the series to the
      // asymptotic expansion; torch's float32 ones are Chebyshev fits in float.
      {"i0", -40, 40, [](const KT& x) { return kiln::i0(x); }, [](const TT& x) { return torch::i0(x); }},
      {"i0e", -40, 40, [](const KT& x) { return kiln::i0e(x); },
       [](const TT& x) { return torch::special::i0e(x); }},
      {"i1", -40, 40, [](const KT& x) { return kiln::i1(x); },
       [](const TT& x) { return torch::special::i1(x); }},
      {"i1e", -40, 40, [](const KT& x) { return kiln::i1e(x); },
       [](const TT& x) { return torch::special::i1e(x); }},
      {"mvlgamma", 1.05, 6, [](const KT& x) { return kiln::mvlgamma(x, 3); },
       [](const TT& x) { return torch::mvlgamma(x, 3); }},
      // frexp's mantissa and exponent (its gradient 2^-e); nextafter as the gap to the next
      // number toward 0, and away from it, which x is divided by (no gradient of its own);
      // signbit.
      {"frexp", -1e3, 1e3,
       [](const KT& x) {
         const auto parts = kiln::frexp(x * x - 0.5);
         return parts.mantissa + parts.exponent.to(x.dtype());
       },
       [](const TT& x) {
         const auto [mantissa, exponent] = torch::frexp(x * x - 0.5);
         return mantissa + exponent.to(x.scalar_type());
       }},
      {"nextafter toward 0", -3, 3,
       [](const KT& x) { return x / (kiln::nextafter(x.detach(), kiln::zeros_like(x)) - x.detach()); },
       [](const TT& x) { return x / (torch::nextafter(x.detach(), torch::zeros_like(x)) - x.detach()); }},
      {"nextafter away from 0", -3, 3,
       [](const KT& x) { return x / (kiln::nextafter(x.detach(), x.detach() * 2.0) - x.detach()); },
       [](const TT& x) { return x / (torch::nextafter(x.detach(), x.detach() * 2.0) - x.detach()); }},
      {"signbit", -3, 3, [](const KT& x) { return x + kiln::signbit(x).to(x.dtype()); },
       [](const TT& x) { return x + torch::signbit(x).to(x.scalar_type()); }},
      {"trunc", -3, 3, [](const KT& x) { return kiln::trunc(x * 2.0); },
       [](const TT& x) { return torch::trunc(x * 2.0); }},
      {"frac", -3, 3, [](const KT& x) { return kiln::frac(x * 2.0); },
       [](const TT& x) { return torch::frac(x * 2.0); }},
      {"logit", -0.2, 1.2, [](const KT& x) { return kiln::logit(x); },
       [](const TT& x) { return torch::logit(x); }},
      {"logit eps", -0.2, 1.2, [](const KT& x) { return kiln::logit(x, 0.1); },
       [](const TT& x) { return torch::logit(x, 0.1); }},
      {"nan_to_num", -1, 3, [](const KT& x) { return kiln::nan_to_num(kiln::log(x)); },
       [](const TT& x) { return torch::nan_to_num(torch::log(x)); }},
      {"nan_to_num values", -1, 3,
       [](const KT& x) { return kiln::nan_to_num(kiln::log(x) / x, 1.5, 100.0, -100.0); },
       [](const TT& x) { return torch::nan_to_num(torch::log(x) / x, 1.5, 100.0, -100.0); }},
  };
  run_unary_cases(51, ops);
}

TEST_CASE("torch differential: atan2, hypot, fmod, remainder, logaddexp, xlogy with broadcasting") {
  const std::vector<BinaryCase> ops = {
      {"atan2", -3, 3, [](const KT& a, const KT& b) { return kiln::atan2(a, b); },
       [](const TT& a, const TT& b) { return torch::atan2(a, b); }},
      {"hypot", -3, 3, [](const KT& a, const KT& b) { return kiln::hypot(a, b); },
       [](const TT& a, const TT& b) { return torch::hypot(a, b); }},
      {"fmod", -1.5, 1.5, [](const KT& a, const KT& b) { return kiln::fmod(a * 3.0, b); },
       [](const TT& a, const TT& b) { return torch::fmod(a * 3.0, b); }},
      {"remainder", -1.5, 1.5, [](const KT& a, const KT& b) { return kiln::remainder(a * 3.0, b); },
       [](const TT& a, const TT& b) { return torch::remainder(a * 3.0, b); }},
      {"fmod by a number", -1, 1, [](const KT& a, const KT& b) { return kiln::fmod(a * 3.0, -0.7) + b; },
       [](const TT& a, const TT& b) { return torch::fmod(a * 3.0, -0.7) + b; }},
      {"remainder by a number", -1, 1,
       [](const KT& a, const KT& b) { return kiln::remainder(a * 3.0, -0.7) + b; },
       [](const TT& a, const TT& b) { return torch::remainder(a * 3.0, -0.7) + b; }},
      {"logaddexp", -3, 3, [](const KT& a, const KT& b) { return kiln::logaddexp(a * 10.0, b); },
       [](const TT& a, const TT& b) { return torch::logaddexp(a * 10.0, b); }},
      {"xlogy", -1, 3, [](const KT& a, const KT& b) { return kiln::xlogy(a, b); },
       [](const TT& a, const TT& b) { return torch::xlogy(a, b); }},
      // Hurwitz's zeta, s drawn from [1.2, 8) and q in (0.5, 4.5); then s = 4 with q across 0,
      // where the terms of q + k < 0 count too. Neither defines a gradient in s.
      {"zeta", 1.2, 8, [](const KT& a, const KT& b) { return kiln::zeta(b.detach(), a + 2.5); },
       [](const TT& a, const TT& b) { return torch::special_zeta(b.detach(), a + 2.5); }},
      {"zeta with s = 4", -1, 1, [](const KT& a, const KT& b) { return kiln::zeta(4.0, a) + b; },
       [](const TT& a, const TT& b) { return torch::special_zeta(4.0, a) + b; }},
      {"fmax and fmin", -3, 3,
       [](const KT& a, const KT& b) { return kiln::fmax(a, b) + kiln::fmin(a, b) * 2.0; },
       [](const TT& a, const TT& b) { return torch::fmax(a, b) + torch::fmin(a, b) * 2.0; }},
      {"copysign", -3, 3, [](const KT& a, const KT& b) { return kiln::copysign(a, b); },
       [](const TT& a, const TT& b) { return torch::copysign(a, b); }},
      {"addcmul and addcdiv", -3, 3,
       [](const KT& a, const KT& b) {
         return kiln::addcmul(a, b, a, 0.5) + kiln::addcdiv(b, a, b * b + 1.0, -2);
       },
       [](const TT& a, const TT& b) {
         return torch::addcmul(a, b, a, 0.5) + torch::addcdiv(b, a, b * b + 1.0, -2);
       }},
      {"lerp by a number", -3, 3,
       [](const KT& a, const KT& b) { return kiln::lerp(a, b, 0.3) + kiln::lerp(b, a, 0.8); },
       [](const TT& a, const TT& b) { return torch::lerp(a, b, 0.3) + torch::lerp(b, a, 0.8); }},
  };
  run_binary_cases(52, ops);
}

TEST_CASE("torch differential: lerp by a tensor of weights, clamp by tensors of bounds") {
  in_both_precisions(53, 40, [] {
    const Sizes s = random_shape(0, 3), p = broadcast_partner(s), q = broadcast_partner(s);
    const View v = random_view(s.size());
    compare(
        "lerp", {leaf(s), leaf(p), leaf(q, -0.5, 1.5)},
        [&](const auto& a) { return kiln::lerp(v.k(a[0]), a[1], a[2]); },
        [&](const auto& a) { return torch::lerp(v.t(a[0]), a[1], a[2]); });
    compare(
        "clamp by tensors", {leaf(s), leaf(p, -2, 0.5), leaf(q, -0.5, 2)},
        [&](const auto& a) { return kiln::clamp(v.k(a[0]), a[1], a[2]); },
        [&](const auto& a) { return torch::clamp(v.t(a[0]), a[1], a[2]); });
  });
}

TEST_CASE(
    "torch differential: arranging (movedim, rot90, diag_embed, block_diag, meshgrid, take_along_dim, take, "
    "put, fliplr, flipud), renorm, ldexp, float_power, "
    "the batched products, var_mean, aminmax, pad_sequence, rrelu, pdist, trapezoid, vander, isin") {
  in_both_precisions(54, 40, [] {
    const Sizes s = {irand(1, 4), irand(1, 4), irand(1, 4)};
    const std::int64_t from = irand(-3, 2), to = irand(-3, 2), k = irand(-5, 5);
    // sinc in float64 only: torch's float32 gradient cancels to a few digits near sinc's
    // extrema (kiln's is formed in double).
    if (!single)
      compare(
          "sinc", {leaf(s, -3, 3)}, [&](const auto& a) { return kiln::sinc(a[0]); },
          [&](const auto& a) { return torch::sinc(a[0]); });
    compare(
        "movedim", {leaf(s)}, [&](const auto& a) { return kiln::movedim(a[0], from, to) * 1.0; },
        [&](const auto& a) { return torch::movedim(a[0], from, to) * 1.0; });
    compare(
        "rot90", {leaf(s)},
        [&](const auto& a) {
          return kiln::rot90(a[0], k, {2, 0});
        },
        [&](const auto& a) {
          return torch::rot90(a[0], k, {2, 0});
        });
    const std::int64_t offset = irand(-2, 2), d1 = irand(0, 3), d2 = (d1 + irand(1, 3)) % 4;
    compare(
        "diag_embed", {leaf(s)}, [&](const auto& a) { return kiln::diag_embed(a[0], offset, d1, d2); },
        [&](const auto& a) { return torch::diag_embed(a[0], offset, d1, d2); });
    compare(
        "block_diag", {leaf({s[0], s[1]}), leaf({s[2]}), leaf({})},
        [&](const auto& a) {
          return kiln::block_diag({a[0], a[1], a[2]});
        },
        [&](const auto& a) {
          return torch::block_diag({a[0], a[1], a[2]});
        });
    const bool xy = coin();
    compare(
        "meshgrid", {leaf({s[0]}), leaf({s[1]}), leaf({s[2]})},
        [&](const auto& a) {
          const auto g =
              kiln::meshgrid({a[0], a[1], a[2]}, xy ? kiln::MeshIndexing::xy : kiln::MeshIndexing::ij);
          return g[0] * g[1] + g[2];
        },
        [&](const auto& a) {
          const auto g = torch::meshgrid({a[0], a[1], a[2]}, xy ? "xy" : "ij");
          return g[0] * g[1] + g[2];
        });
    std::vector<std::int64_t> picks;
    for (std::int64_t i = 0; i < s[0] * 5 * s[2]; ++i) picks.push_back(irand(0, s[1] - 1));
    compare(
        "take_along_dim", {leaf(s)},
        [&](const auto& a) {
          return kiln::take_along_dim(a[0], kiln::from_vector(picks, {s[0], 5, s[2]}), 1);
        },
        [&](const auto& a) {
          return torch::take_along_dim(a[0], torch::tensor(picks, torch::kLong).reshape({s[0], 5, s[2]}), 1);
        });
    // take and put: flat positions, negative ones too, in a random index shape.
    const std::int64_t entries = s[0] * s[1] * s[2];
    std::vector<std::int64_t> flat_picks(static_cast<std::size_t>(irand(0, 6)));
    for (std::int64_t& p : flat_picks) p = irand(-entries, entries - 1);
    const std::int64_t picks_count = static_cast<std::int64_t>(flat_picks.size());
    const Sizes pick_shape =
        picks_count % 2 == 0 && picks_count > 0 ? Sizes{2, picks_count / 2} : Sizes{picks_count};
    const kiln::Tensor k_picks =
        kiln::from_vector(flat_picks, kiln::Shape(pick_shape.begin(), pick_shape.end()));
    const TT t_picks = torch::tensor(flat_picks, torch::kLong).reshape(pick_shape);
    compare(
        "take", {leaf(s)}, [&](const auto& a) { return kiln::take(a[0].transpose(0, 2), k_picks); },
        [&](const auto& a) { return torch::take(a[0].transpose(0, 2), t_picks); });
    // put without accumulate only at distinct positions (which of a repeat wins is torch's choice).
    std::vector<std::int64_t> distinct;
    for (const std::int64_t p : flat_picks) {
      const std::int64_t wrapped = p < 0 ? p + entries : p;
      if (std::find(distinct.begin(), distinct.end(), wrapped) == distinct.end()) distinct.push_back(wrapped);
    }
    const bool accumulate = coin();
    const std::vector<std::int64_t>& places = accumulate ? flat_picks : distinct;
    const std::int64_t places_count = static_cast<std::int64_t>(places.size());
    compare(
        accumulate ? "put accumulate" : "put", {leaf(s), leaf({places_count})},
        [&](const auto& a) {
          return kiln::put(a[0], kiln::from_vector(places, {places_count}), a[1], accumulate);
        },
        [&](const auto& a) { return a[0].put(torch::tensor(places, torch::kLong), a[1], accumulate); });
    compare(
        "fliplr and flipud", {leaf(s)},
        [&](const auto& a) { return kiln::fliplr(a[0]) * 2.0 + kiln::flipud(a[0]); },
        [&](const auto& a) { return torch::fliplr(a[0]) * 2.0 + torch::flipud(a[0]); });
    const double renorm_p = std::array{
        1.0, 2.0, 3.0, std::numeric_limits<double>::infinity()}[static_cast<std::size_t>(irand(0, 3))];
    const std::int64_t renorm_dim = irand(-3, 2);
    const double maxnorm = unif(0, 3);
    compare(
        "renorm", {leaf(s)}, [&](const auto& a) { return kiln::renorm(a[0], renorm_p, renorm_dim, maxnorm); },
        [&](const auto& a) { return torch::renorm(a[0], renorm_p, renorm_dim, maxnorm); });
    const Both exponents = integers({s[2]}, -4, 4);
    compare(
        "ldexp", {leaf(s)}, [&](const auto& a) { return kiln::ldexp(a[0], exponents.k); },
        [&](const auto& a) { return torch::ldexp(a[0], exponents.t); });
    compare(
        "ldexp by a floating exponent", {leaf(s), leaf({s[2]})},
        [&](const auto& a) { return kiln::ldexp(a[0], a[1]); },
        [&](const auto& a) { return torch::ldexp(a[0], a[1]); });
    // (float64 results, brought back to the inputs' precision for the harness's upstream.)
    compare(
        "float_power", {leaf(s, 0.2, 3), leaf({s[1], 1})},
        [&](const auto& a) {
          return (kiln::float_power(a[0], a[1]) + kiln::float_power(a[0], 2.5)).to(a[0].dtype());
        },
        [&](const auto& a) {
          return (torch::float_power(a[0], a[1]) + torch::float_power(a[0], 2.5)).to(a[0].scalar_type());
        });
    // baddbmm with beta = 0 gives NaN in torch 1.13 (its output is not cleared first):
    // beta = 0 is compared through addmm, whose input it must not read either.
    const double beta = coin() ? 0.0 : unif(-1, 1), alpha = unif(-2, 2),
                 batch_beta = beta == 0.0 ? 0.5 : beta;
    compare(
        "baddbmm", {leaf({1, coin() ? s[1] : 1}), leaf(s), leaf({s[0], s[2], s[1]})},
        [&](const auto& a) { return kiln::baddbmm(a[0], a[1], a[2], batch_beta, alpha); },
        [&](const auto& a) { return torch::baddbmm(a[0], a[1], a[2], batch_beta, alpha); });
    compare(
        "addmm", {leaf({s[0], s[2]}), leaf({s[0], s[1]}), leaf({s[1], s[2]})},
        [&](const auto& a) { return kiln::addmm(a[0], a[1], a[2], beta, alpha); },
        [&](const auto& a) { return torch::addmm(a[0], a[1], a[2], beta, alpha); });
    const std::int64_t dim = irand(0, 2);
    compare(
        "var_mean", {leaf(s)},
        [&](const auto& a) {
          const auto r = kiln::var_mean(a[0], {dim}, false, 0);
          return r.spread + r.mean * 3.0;
        },
        [&](const auto& a) {
          const auto [v, m] = torch::var_mean(a[0], {dim}, /*correction=*/0, false);
          return v + m * 3.0;
        });
    compare(
        "aminmax", {leaf(s)},
        [&](const auto& a) {
          const auto r = kiln::aminmax(a[0], dim, true);
          return r.min * 2.0 + r.max;
        },
        [&](const auto& a) {
          const auto [lo, hi] = torch::aminmax(a[0], dim, true);
          return lo * 2.0 + hi;
        },
        false);  // torch 1.13 has no derivative for aminmax
    const bool batch_first = coin();
    compare(
        "pad_sequence", {leaf({s[0], s[2]}), leaf({s[1], s[2]}), leaf({1, s[2]})},
        [&](const auto& a) {
          return kiln::nn::pad_sequence({a[0], a[1], a[2]}, batch_first, 0.5);
        },
        [&](const auto& a) {
          return torch::nn::utils::rnn::pad_sequence({a[0], a[1], a[2]}, batch_first, 0.5);
        });
    compare(
        "rrelu, evaluation", {leaf(s)}, [&](const auto& a) { return kiln::rrelu(a[0], 0.1, 0.4); },
        [&](const auto& a) { return torch::rrelu(a[0], 0.1, 0.4, false); });
    const double p = std::array{0.5, 1.0, 2.0, 3.0}[static_cast<std::size_t>(irand(0, 3))];
    compare(
        "pdist", {leaf({s[0] + 1, s[2]})}, [&](const auto& a) { return kiln::pdist(a[0], p); },
        [&](const auto& a) { return torch::pdist(a[0], p); });
    const double dx = unif(0.1, 2);
    compare(
        "trapezoid", {leaf(s), leaf({s[1]})},
        [&](const auto& a) {
          return kiln::trapezoid(a[0], a[1], 1) + kiln::sum(kiln::cumulative_trapezoid(a[0], dx, 1));
        },
        [&](const auto& a) {
          return torch::trapezoid(a[0], a[1], 1) + torch::cumulative_trapezoid(a[0], dx, 1).sum();
        });
    const std::int64_t columns = irand(0, 5);
    const bool increasing = coin();
    compare(
        "vander", {leaf({s[0]})}, [&](const auto& a) { return kiln::vander(a[0], columns, increasing); },
        [&](const auto& a) { return torch::vander(a[0], columns, increasing); });
    // Whole numbers, so that matches happen.
    std::vector<double> e, t;
    for (std::int64_t i = 0; i < 12; ++i) e.push_back(static_cast<double>(irand(-4, 4)));
    for (std::int64_t i = 0; i < irand(0, 6); ++i) t.push_back(static_cast<double>(irand(-4, 4)));
    const bool invert = coin();
    compare(
        "isin", {from_values(e, {3, 4}, false), from_values(t, {static_cast<std::int64_t>(t.size())}, false)},
        [&](const auto& a) { return kiln::isin(a[0], a[1], invert).to(kiln::kFloat64); },
        [&](const auto& a) { return torch::isin(a[0], a[1], false, invert).to(torch::kDouble); }, false);
  });
}

TEST_CASE("torch differential: repeat_interleave, tile and isclose") {
  in_both_precisions(53, 40, [] {
    const Sizes s = random_shape(1, 3, 4);
    const std::int64_t rank = static_cast<std::int64_t>(s.size()), dim = irand(-rank, rank - 1);
    const std::int64_t along = s[static_cast<std::size_t>(dim < 0 ? dim + rank : dim)];
    std::vector<std::int64_t> counts;
    for (std::int64_t i = 0; i < along; ++i) counts.push_back(irand(0, 3));
    const KT counts_k = kiln::from_vector(counts, {along});
    const TT counts_t = torch::tensor(counts, torch::kLong);
    compare(
        "repeat_interleave counts", {leaf(s)},
        [&](const auto& a) { return kiln::repeat_interleave(a[0], counts_k, dim); },
        [&](const auto& a) { return torch::repeat_interleave(a[0], counts_t, dim); });
    const std::int64_t times = irand(0, 3);
    compare(
        "repeat_interleave flat", {leaf(s)},
        [&](const auto& a) { return kiln::repeat_interleave(a[0], times); },
        [&](const auto& a) { return torch::repeat_interleave(a[0], times); });
    compare(
        "repeat_interleave indices", {},
        [&](const auto&) { return kiln::repeat_interleave(counts_k).to(kiln::kFloat64); },
        [&](const auto&) { return torch::repeat_interleave(counts_t).to(torch::kDouble); }, false);
    std::vector<std::int64_t> reps;
    for (std::int64_t i = 0, count = irand(0, 4); i < count; ++i) reps.push_back(irand(0, 3));
    compare(
        "tile", {leaf(s)}, [&](const auto& a) { return kiln::tile(a[0], reps); },
        [&](const auto& a) { return torch::tile(a[0], reps); });
    // Pairs at every distance from each other, and the specials.
    std::vector<double> x, y;
    const double specials[] = {0.0, std::nan(""), INFINITY, -INFINITY};
    for (int i = 0; i < 24; ++i) {
      const double v = unif(-3, 3);
      x.push_back(i % 8 == 7 ? specials[irand(0, 3)] : v);
      y.push_back(i % 8 == 6 ? specials[irand(0, 3)]
                             : v + v * std::pow(10.0, unif(-9, -1)) * (coin() ? 1 : -1));
    }
    const double rtol = std::pow(10.0, unif(-7, -2)), atol = coin() ? 0.0 : std::pow(10.0, unif(-9, -3));
    const bool equal_nan = coin();
    compare(
        "isclose", {from_values(x, {4, 6}, false), from_values(y, {4, 6}, false)},
        [&](const auto& a) { return kiln::isclose(a[0], a[1], rtol, atol, equal_nan).to(kiln::kFloat64); },
        [&](const auto& a) { return torch::isclose(a[0], a[1], rtol, atol, equal_nan).to(torch::kDouble); },
        false);
  });
}

TEST_CASE("torch differential: floor_divide, and remainder and fmod of integer tensors") {
  in_both_precisions(63, 60, [] {
    const Sizes s = random_shape(1, 3), p = broadcast_partner(s);
    // Divisors near whole fractions of the dividends, where rounding decides the quotient.
    std::vector<double> divisors(static_cast<std::size_t>(numel(p)));
    for (double& d : divisors)
      d = (coin() ? 1 : -1) * (irand(0, 3) == 0 ? 0.1 * static_cast<double>(irand(1, 9)) : unif(0.05, 3));
    compare(
        "floor_divide", {leaf(s, -20, 20, false), from_values(divisors, p, false)},
        [](const auto& a) { return kiln::floor_divide(a[0], a[1]); },
        [](const auto& a) { return torch::floor_divide(a[0], a[1]); }, false);
    const std::int64_t sign = coin() ? 1 : -1;  // divisors of one sign, never 0
    Both u = integers(s, -50, 50), v = integers(p, 1, 9);
    v.k = v.k * static_cast<double>(sign);
    v.t = v.t * sign;
    compare(
        "integer floor_divide, remainder, fmod, div trunc", {u, v},
        [](const auto& a) {
          return kiln::stack({kiln::floor_divide(a[0], a[1]), a[0] % a[1], kiln::fmod(a[0], a[1]),
                              kiln::div(a[0], a[1], kiln::Rounding::trunc)})
              .to(kiln::kFloat64);
        },
        [](const auto& a) {
          return torch::stack({torch::floor_divide(a[0], a[1]), torch::remainder(a[0], a[1]),
                               torch::fmod(a[0], a[1]), torch::div(a[0], a[1], "trunc")})
              .to(torch::kDouble);
        },
        false);
    // True division of integers and integers times a fraction: float32 in both.
    compare(
        "integer true division", {u, v},
        [](const auto& a) {
          const kiln::Tensor q = a[0] / a[1], h = a[0] * 0.5, r = 3.0 / a[1];
          CHECK(q.dtype() == kiln::kFloat32);
          CHECK(h.dtype() == kiln::kFloat32);
          return kiln::stack({q, h, r}).to(kiln::kFloat64);
        },
        [](const auto& a) {
          // (libtorch 1.13's C++ 3.0 / tensor refuses integers; torch.div takes a float32 0-d.)
          return torch::stack(
                     {a[0] / a[1], a[0] * 0.5, torch::div(torch::scalar_tensor(3.0, torch::kFloat), a[1])})
              .to(torch::kDouble);
        },
        false);
    // Bit operations, shifts by counts inside the width, gcd and lcm of int64.
    const Both w = integers(s, -100000, 100000), x = integers(p, -100000, 100000), n = integers(p, 0, 40);
    compare(
        "bit operations, gcd and lcm", {w, x, n},
        [](const auto& a) {
          return kiln::stack({kiln::bitwise_and(a[0], a[1]), kiln::bitwise_or(a[0], a[1]),
                              kiln::bitwise_xor(a[0], a[1]), kiln::bitwise_not(a[0] + a[1] * 0.0),
                              kiln::bitwise_left_shift(a[0], a[2]), kiln::bitwise_right_shift(a[0], a[2]),
                              kiln::gcd(a[0], a[1]), kiln::lcm(a[0], a[1])})
              .to(kiln::kFloat64);
        },
        [](const auto& a) {
          return torch::stack({torch::bitwise_and(a[0], a[1]), torch::bitwise_or(a[0], a[1]),
                               torch::bitwise_xor(a[0], a[1]), torch::bitwise_not(a[0] + a[1] * 0),
                               torch::bitwise_left_shift(a[0], a[2]), torch::bitwise_right_shift(a[0], a[2]),
                               torch::gcd(a[0], a[1]), torch::lcm(a[0], a[1])})
              .to(torch::kDouble);
        },
        false);
    compare(
        "integer pow and clamp", {w, n},
        [](const auto& a) {
          return kiln::stack({kiln::pow(a[0] + a[1] * 0.0, a[1] + a[0] * 0.0),
                              kiln::clamp(a[0] + a[1] * 0.0, -500, 700)})
              .to(kiln::kFloat64);
        },
        [](const auto& a) {
          return torch::stack(
                     {torch::pow(a[0] + a[1] * 0, a[1] + a[0] * 0), torch::clamp(a[0] + a[1] * 0, -500, 700)})
              .to(torch::kDouble);
        },
        false);
    compare(
        "floating div trunc", {leaf(s, -20, 20, false), from_values(divisors, p, false)},
        [](const auto& a) { return kiln::div(a[0], a[1], kiln::Rounding::trunc); },
        [](const auto& a) { return torch::div(a[0], a[1], "trunc"); }, false);
  });
}
