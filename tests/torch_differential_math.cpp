// The differential test against PyTorch, continued: the math functions of
// kiln/ops/math.hpp against torch's, with inputs reaching past each domain (NaN must
// match NaN) and operands broadcast.
#include "torch_differential.hpp"

using namespace differential;

TEST_CASE("torch differential: trigonometric, hyperbolic, erf, gamma and logarithm functions") {
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
