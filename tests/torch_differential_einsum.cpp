// The differential test against PyTorch, continued: einsum on random equations (repeated
// letters, "...", size-1 broadcasting, implicit outputs), and diagonal, diag, trace and
// outer, against torch's.
#include "torch_differential.hpp"

using namespace differential;

TEST_CASE("torch differential: einsum on random equations") {
  const std::string alphabet = "abcdeXY";
  in_both_precisions(71, 150, [&] {
    std::vector<std::int64_t> size(alphabet.size());
    for (auto& n : size) n = irand(1, single ? 6 : 3);
    const std::int64_t count = irand(1, 3);
    const bool ellipsis = irand(0, 3) == 0;
    const Sizes batch = random_shape(0, 2, 3);
    std::string equation, used;
    std::vector<Both> operands;
    for (std::int64_t i = 0; i < count; ++i) {
      std::string term;
      Sizes shape;
      for (std::int64_t d = irand(0, 3); d > 0; --d) {
        const std::size_t at =
            static_cast<std::size_t>(irand(0, static_cast<std::int64_t>(alphabet.size()) - 1));
        term += alphabet[at];
        // Now and then a size 1, which broadcasts (torch's rule too).
        shape.push_back(irand(0, 7) == 0 ? 1 : size[at]);
        if (used.find(alphabet[at]) == std::string::npos) used += alphabet[at];
      }
      if (ellipsis && coin()) {
        // "..." at the front, over the batch's trailing dimensions (they broadcast).
        const Sizes tail(batch.end() - irand(0, static_cast<std::int64_t>(batch.size())), batch.end());
        term = "..." + term;
        shape.insert(shape.begin(), tail.begin(), tail.end());
      }
      equation += (i ? "," : "") + term;
      operands.push_back(leaf(shape));
    }
    if (coin()) {  // an explicit output: some letters in a random order, and the ellipsis if any
      std::string out = equation.find("...") != std::string::npos && coin() ? "..." : "";
      for (char c : used)
        if (coin()) out += c;
      equation += "->" + out;
    }
    compare(
        "einsum " + equation, operands, [&](const auto& a) { return kiln::einsum(equation, a); },
        [&](const auto& a) { return torch::einsum(equation, a); });
  });
}

TEST_CASE("torch differential: diagonal, diag, trace, outer") {
  in_both_precisions(72, 60, [] {
    const Sizes s = random_shape(2, 4);
    const std::int64_t rank = static_cast<std::int64_t>(s.size());
    const std::int64_t d1 = irand(-rank, rank - 1), d2 = irand(-rank, rank - 1), offset = irand(-3, 3);
    compare(
        "diagonal", {leaf(s)}, [&](const auto& a) { return kiln::diagonal(a[0], offset, d1, d2); },
        [&](const auto& a) { return torch::diagonal(a[0], offset, d1, d2); });
    const Sizes m = {irand(0, 5), irand(0, 5)}, v = {irand(0, 5)};
    compare(
        "diag of a matrix", {leaf(m)}, [&](const auto& a) { return kiln::diag(a[0], offset); },
        [&](const auto& a) { return torch::diag(a[0], offset); });
    compare(
        "diag of a vector", {leaf(v)}, [&](const auto& a) { return kiln::diag(a[0], offset); },
        [&](const auto& a) { return torch::diag(a[0], offset); });
    // No taller than wide: libtorch 1.13's trace backward puts a 1 at every (cols + 1)-th
    // element of a tall matrix, past the diagonal's end (kiln's gradient is the diagonal).
    const Sizes wide = {m[0], m[0] + irand(0, 2)};
    compare(
        "trace", {leaf(wide)}, [&](const auto& a) { return kiln::trace(a[0]); },
        [&](const auto& a) { return torch::trace(a[0]); });
    compare(
        "outer", {leaf(v), leaf({irand(0, 5)})}, [&](const auto& a) { return kiln::outer(a[0], a[1]); },
        [&](const auto& a) { return torch::outer(a[0], a[1]); });
  });
}
