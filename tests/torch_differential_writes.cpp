// The differential test against PyTorch, continued: the out-of-place writes
// (slice_scatter, select_scatter, diagonal_scatter, masked_scatter, index_put) and the
// NumPy-style splitting and stacking, values and gradients, on random shapes and views.
#include <numeric>

#include "torch_differential.hpp"

using namespace differential;

TEST_CASE("torch differential: slice / select / diagonal / masked scatter and index_put") {
  in_both_precisions(61, 150, [] {
    const Sizes s = random_shape(1, 3);
    const std::int64_t r = static_cast<std::int64_t>(s.size()), dim = irand(-r, r - 1), d = (dim + r) % r;
    const std::int64_t len = s[static_cast<std::size_t>(d)];
    const View v = random_view(s.size());
    switch (irand(0, 4)) {
      case 0: {
        const std::int64_t start = irand(-len, len), end = irand(-len, len + 1), step = irand(1, 3);
        const Sizes part = sizes_of(kiln::zeros(kiln::Shape(s.begin(), s.end())).slice(d, start, end, step));
        compare(
            "slice_scatter", {leaf(s), leaf(part)},
            [&](const auto& a) { return kiln::slice_scatter(v.k(a[0]), a[1], dim, start, end, step); },
            [&](const auto& a) { return torch::slice_scatter(v.t(a[0]), a[1], dim, start, end, step); });
        break;
      }
      case 1: {
        const std::int64_t index = irand(-len, len - 1);
        Sizes part = s;
        part.erase(part.begin() + d);
        compare(
            "select_scatter", {leaf(s), leaf(part)},
            [&](const auto& a) { return kiln::select_scatter(v.k(a[0]), a[1], dim, index); },
            [&](const auto& a) { return torch::select_scatter(v.t(a[0]), a[1], dim, index); });
        break;
      }
      case 2: {
        if (r < 2) return;
        const std::int64_t d1 = irand(0, r - 1), d2 = (d1 + irand(1, r - 1)) % r, offset = irand(-2, 2);
        const Sizes part =
            sizes_of(kiln::diagonal(kiln::zeros(kiln::Shape(s.begin(), s.end())), offset, d1, d2));
        compare(
            "diagonal_scatter", {leaf(s), leaf(part)},
            [&](const auto& a) { return kiln::diagonal_scatter(v.k(a[0]), a[1], offset, d1, d2); },
            [&](const auto& a) { return torch::diagonal_scatter(v.t(a[0]), a[1], offset, d1, d2); });
        break;
      }
      case 3: {
        const Both mask = integers(broadcast_partner(s), 0, 1);
        compare(
            "masked_scatter", {leaf(s), leaf({numel(s) + irand(0, 2)})},
            [&](const auto& a) { return kiln::masked_scatter(v.k(a[0]), mask.k.to(kiln::kUInt8), a[1]); },
            [&](const auto& a) { return v.t(a[0]).masked_scatter(mask.t.to(torch::kBool), a[1]); });
        break;
      }
      default: {
        // Index tensors for the first k dims, broadcast together; with accumulate any
        // positions (repeats add up), without it distinct rows of dim 0 (torch leaves
        // the value at a repeated position unspecified).
        const bool accumulate = coin();
        const std::int64_t k = accumulate ? irand(1, r) : 1, count = irand(0, 4);
        std::vector<Both> indices;
        Sizes placed{count};
        if (accumulate) {
          for (std::int64_t q = 0; q < k; ++q) indices.push_back(integers({count}, -s[q], s[q] - 1));
        } else {
          std::vector<std::int64_t> rows(static_cast<std::size_t>(s[0]));
          std::iota(rows.begin(), rows.end(), 0);
          std::shuffle(rows.begin(), rows.end(), rng);
          rows.resize(static_cast<std::size_t>(std::min<std::int64_t>(count, s[0])));
          placed[0] = static_cast<std::int64_t>(rows.size());
          indices.push_back({kiln::from_vector(rows, {placed[0]}), torch::tensor(rows, torch::kLong)});
        }
        placed.insert(placed.end(), s.begin() + k, s.end());
        std::vector<KT> ki;
        c10::List<c10::optional<TT>> ti;
        for (const Both& i : indices) {
          ki.push_back(i.k);
          ti.push_back(i.t);
        }
        compare(
            accumulate ? "index_put accumulate" : "index_put",
            {leaf(s), leaf(coin() ? placed : broadcast_partner(placed))},
            [&](const auto& a) { return kiln::index_put(v.k(a[0]), ki, a[1], accumulate); },
            [&](const auto& a) { return torch::index_put(v.t(a[0]), ti, a[1], accumulate); });
      }
    }
  });
}

TEST_CASE("torch differential: tensor_split, h/v/dstack, column_stack, unflatten") {
  in_both_precisions(62, 100, [] {
    const Sizes s = random_shape(1, 3);
    const std::int64_t r = static_cast<std::int64_t>(s.size()), dim = irand(-r, r - 1);
    const View v = random_view(s.size());
    // The parts joined again in reverse order, so that one output holds them all.
    const auto joined_k = [dim](std::vector<KT> parts) {
      std::reverse(parts.begin(), parts.end());
      return kiln::cat(parts, dim);
    };
    const auto joined_t = [dim](std::vector<TT> parts) {
      std::reverse(parts.begin(), parts.end());
      return torch::cat(parts, dim);
    };
    if (coin()) {
      const std::int64_t sections = irand(1, 4);
      compare(
          "tensor_split sections", {leaf(s)},
          [&](const auto& a) { return joined_k(kiln::tensor_split(v.k(a[0]), sections, dim)); },
          [&](const auto& a) { return joined_t(torch::tensor_split(v.t(a[0]), sections, dim)); });
    } else {
      const std::int64_t len = s[static_cast<std::size_t>((dim + r) % r)];
      std::vector<std::int64_t> at(static_cast<std::size_t>(irand(0, 3)));
      for (std::int64_t& i : at) i = irand(-len - 1, len + 1);
      compare(
          "tensor_split indices", {leaf(s)},
          [&](const auto& a) { return joined_k(kiln::tensor_split(v.k(a[0]), at, dim)); },
          [&](const auto& a) { return joined_t(torch::tensor_split(v.t(a[0]), at, dim)); });
    }
    // Two tensors of shape s, or a vector against a matrix, stacked the four ways.
    const Sizes other = r == 1 && coin() ? Sizes{s[0], irand(1, 3)} : s;
    const auto stacks = std::vector<std::pair<const char*, int>>{
        {"hstack", 0}, {"vstack", 1}, {"dstack", 2}, {"column_stack", 3}};
    for (const auto& [name, which] : stacks) {
      const int w = which;
      compare(
          name, {leaf(s), leaf(other)},
          [w](const auto& a) {
            const std::vector<KT> t{a[0], a[1]};
            return w == 0   ? kiln::hstack(t)
                   : w == 1 ? kiln::vstack(t)
                   : w == 2 ? kiln::dstack(t)
                            : kiln::column_stack(t);
          },
          [w](const auto& a) {
            const std::vector<TT> t{a[0], a[1]};
            return w == 0   ? torch::hstack(t)
                   : w == 1 ? torch::vstack(t)
                   : w == 2 ? torch::dstack(t)
                            : torch::column_stack(t);
          });
    }
    const std::int64_t d = (dim + r) % r, len = s[static_cast<std::size_t>(d)];
    const std::vector<std::int64_t> sizes =
        len % 2 == 0 ? std::vector<std::int64_t>{2, -1} : std::vector<std::int64_t>{len, 1};
    compare(
        "unflatten", {leaf(s)}, [&](const auto& a) { return kiln::unflatten(v.k(a[0]), dim, sizes) * 2.0; },
        [&](const auto& a) { return v.t(a[0]).unflatten(dim, sizes) * 2.0; });
  });
}
