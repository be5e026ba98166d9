// The differential test against PyTorch, continued: order statistics (kthvalue, median,
// quantile), roll, diff, scatter_add and cdist against torch's.
#include "torch_differential.hpp"

using namespace differential;

TEST_CASE("torch differential: kthvalue, median, quantile, roll, diff, scatter_add, cdist") {
  in_both_precisions(44, 150, [] {
    const Sizes s = random_shape(1, 3);
    const std::int64_t rank = static_cast<std::int64_t>(s.size()), dim = irand(-rank, rank - 1);
    const std::int64_t len = s[static_cast<std::size_t>(dim < 0 ? dim + rank : dim)];
    const bool keepdim = coin();
    const View view = random_view(s.size());
    // k up to one past the line: both sides must refuse that.
    const std::int64_t k = irand(1, len + 1);
    compare(
        "kthvalue values", {leaf(s)},
        [&](const auto& a) { return kiln::kthvalue(view.k(a[0]), k, dim, keepdim).values; },
        [&](const auto& a) { return std::get<0>(torch::kthvalue(view.t(a[0]), k, dim, keepdim)); });
    compare(
        "kthvalue indices", {leaf(s, -2, 2, false)},
        [&](const auto& a) { return kiln::kthvalue(a[0], k, dim, keepdim).indices; },
        [&](const auto& a) { return std::get<1>(torch::kthvalue(a[0], k, dim, keepdim)); }, false);
    compare(
        "median values", {leaf(s)},
        [&](const auto& a) { return kiln::median(view.k(a[0]), dim, keepdim).values; },
        [&](const auto& a) { return std::get<0>(torch::median(view.t(a[0]), dim, keepdim)); });
    compare(
        "median indices", {leaf(s, -2, 2, false)},
        [&](const auto& a) { return kiln::median(a[0], dim, keepdim).indices; },
        [&](const auto& a) { return std::get<1>(torch::median(a[0], dim, keepdim)); }, false);
    const double q = coin() ? unif(0, 1) : static_cast<double>(irand(0, 4)) / 4;
    // Over the whole tensor in float64 only: torch computes the place q (n - 1) in float32
    // there, up to a few ten-thousandths of a place off for thousands of entries, where kiln
    // uses double.
    const bool whole = !single && irand(0, 3) == 0;
    compare(
        "quantile", {leaf(s)},
        [&](const auto& a) {
          return kiln::quantile(view.k(a[0]), q, whole ? std::nullopt : std::optional<std::int64_t>(dim),
                                keepdim);
        },
        [&](const auto& a) {
          return torch::quantile(view.t(a[0]), q, whole ? c10::nullopt : c10::optional<std::int64_t>(dim),
                                 keepdim);
        });

    const std::int64_t shift = irand(-2 * len, 2 * len);
    const bool flat = irand(0, 3) == 0;
    compare(
        "roll", {leaf(s)},
        [&](const auto& a) {
          return flat ? kiln::roll(view.k(a[0]), {shift}) : kiln::roll(view.k(a[0]), {shift}, {dim});
        },
        [&](const auto& a) {
          return flat ? torch::roll(view.t(a[0]), {shift}) : torch::roll(view.t(a[0]), {shift}, {dim});
        });
    const std::int64_t order = irand(0, 3);
    compare(
        "diff", {leaf(s)}, [&](const auto& a) { return kiln::diff(view.k(a[0]), order, dim); },
        [&](const auto& a) { return torch::diff(view.t(a[0]), order, dim); });

    // scatter_add along dim, the index no larger than src (nor than x outside dim).
    Sizes is = s, xs = s;
    for (std::size_t d = 0; d < is.size(); ++d) is[d] = irand(0, s[d]);
    xs[static_cast<std::size_t>(dim < 0 ? dim + rank : dim)] = irand(1, 4);
    const Both where = integers(is, 0, xs[static_cast<std::size_t>(dim < 0 ? dim + rank : dim)] - 1);
    compare(
        "scatter_add", {leaf(xs), leaf(s)},
        [&](const auto& a) { return kiln::scatter_add(a[0], dim, where.k, a[1]); },
        [&](const auto& a) { return torch::scatter_add(a[0], dim, where.t, a[1]); });

    // cdist: sometimes over 25 rows (the product path), batches broadcast, p in {1, 2, 3, inf}.
    const std::int64_t p_rows = irand(1, 30), r_rows = irand(1, 8), m = irand(1, 4);
    const double p = std::array{
        1.0, 2.0, 2.0, 3.0, std::numeric_limits<double>::infinity()}[static_cast<std::size_t>(irand(0, 4))];
    const bool batched = coin();
    const Sizes s1 = batched ? Sizes{2, p_rows, m} : Sizes{p_rows, m};
    const Sizes s2 = batched ? Sizes{1, r_rows, m} : Sizes{r_rows, m};
    compare(
        "cdist", {leaf(s1), leaf(s2)}, [&](const auto& a) { return kiln::cdist(a[0], a[1], p); },
        [&](const auto& a) { return torch::cdist(a[0], a[1], p); }, true, 1e-7);
  });
}
