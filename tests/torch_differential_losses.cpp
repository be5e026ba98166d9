// The differential test against PyTorch, continued: the likelihood, margin and
// embedding losses against torch's (gaussian_nll_loss, which libtorch's C++ API lacks,
// against its definition written with torch's ops).
#include "torch_differential.hpp"

using namespace differential;

namespace {

// +1 and -1 at random, the same on both sides, no gradient.
Both signs(const Sizes& s) {
  std::vector<double> v(static_cast<std::size_t>(numel(s)));
  for (double& x : v) x = coin() ? 1.0 : -1.0;
  return from_values(v, s, false);
}

}  // namespace

TEST_CASE("torch differential: likelihood, margin and embedding losses") {
  in_both_precisions(42, 150, [] {
    const RandomReduction red;
    const kiln::Reduction reduction = red.k();

    const Sizes ls = random_shape(1, 3);
    const bool weighted = coin(), target_grad = coin();
    std::vector<Both> bce = {leaf(ls, 0.02, 0.98), leaf(ls, 0, 1, target_grad)};
    if (weighted) bce.push_back(leaf({ls.back()}, 0.1, 3, /*grad=*/false));  // torch takes no gradient for it
    compare(
        "binary_cross_entropy", bce,
        [&](const auto& a) {
          return kiln::binary_cross_entropy(a[0], a[1], weighted ? a[2] : KT(), reduction);
        },
        [&](const auto& a) {
          auto options = F::BinaryCrossEntropyFuncOptions();
          if (weighted) options.weight(a[2]);
          return F::binary_cross_entropy(a[0], a[1], red.options(options));
        });

    // gaussian_nll_loss: var of the input's shape, one per row, or (rows, 1); sometimes
    // below eps, where it counts as eps and its gradient still flows.
    const std::int64_t var_kind = irand(0, 2);
    Sizes vs = ls;
    if (var_kind == 1) vs.pop_back();
    if (var_kind == 2) vs.back() = 1;
    const bool full = coin(), tiny = irand(0, 4) == 0;
    const double eps = 1e-6;
    compare(
        "gaussian_nll_loss", {leaf(ls), leaf(ls), tiny ? leaf(vs, 0, 2e-6) : leaf(vs, 0.05, 2)},
        [&](const auto& a) { return kiln::gaussian_nll_loss(a[0], a[1], a[2], full, eps, reduction); },
        [&](const auto& a) {
          TT v = (var_kind == 1 ? a[2].unsqueeze(-1) : a[2]).clone();
          {
            torch::NoGradGuard no_grad;
            v.clamp_(eps);
          }
          TT loss = 0.5 * (torch::log(v) + (a[0] - a[1]).pow(2) / v);
          if (full) loss = loss + 0.5 * std::log(2 * M_PI);
          return red.apply(loss);
        });

    // poisson_nll_loss on whole counts 0 .. 5 (with `full`, torch's target gradient is NaN
    // at a count of 0, t log t's: only the input's is compared there).
    const bool log_input = coin(), poisson_full = coin();
    std::vector<double> counts(static_cast<std::size_t>(numel(ls)));
    for (double& c : counts) c = static_cast<double>(irand(0, 5));
    compare(
        "poisson_nll_loss",
        {log_input ? leaf(ls, -2, 2) : leaf(ls, 0.05, 3), from_values(counts, ls, !poisson_full && coin())},
        [&](const auto& a) {
          return kiln::poisson_nll_loss(a[0], a[1], log_input, poisson_full, 1e-8, reduction);
        },
        [&](const auto& a) {
          return torch::poisson_nll_loss(a[0], a[1], log_input, poisson_full, 1e-8, red.at());
        });

    // cross_entropy and nll_loss with class weights, an ignored target (-100 or a class
    // number) and label smoothing; a batch where every target is ignored gives NaN on
    // both sides under mean.
    {
      const std::int64_t rows = irand(1, 6), classes = irand(2, 5);
      const std::int64_t ignored = coin() ? -100 : irand(0, classes - 1);
      std::vector<std::int64_t> t(static_cast<std::size_t>(rows));
      for (std::int64_t& v : t) v = irand(0, 3) == 0 ? ignored : irand(0, classes - 1);
      const KT kt = kiln::from_vector(t);
      const TT tt = torch::tensor(t, torch::kLong);
      const bool weighted = coin();
      const double smoothing = coin() ? 0.0 : unif(0, 0.3);
      std::vector<Both> ce = {leaf({rows, classes}, -4, 4)};
      if (weighted) ce.push_back(leaf({classes}, 0.1, 2, false));
      compare(
          "cross_entropy, weighted or ignoring", ce,
          [&](const auto& a) {
            return kiln::cross_entropy(a[0], kt, reduction, smoothing, weighted ? a[1] : KT(), ignored);
          },
          [&](const auto& a) {
            auto options = F::CrossEntropyFuncOptions().ignore_index(ignored).label_smoothing(smoothing);
            if (weighted) options.weight(a[1]);
            return F::cross_entropy(a[0], tt, red.options(options));
          });
      ce[0] = leaf({rows, classes}, -4, 0);
      compare(
          "nll_loss, weighted or ignoring", ce,
          [&](const auto& a) { return kiln::nll_loss(a[0], kt, reduction, weighted ? a[1] : KT(), ignored); },
          [&](const auto& a) {
            auto options = F::NLLLossFuncOptions().ignore_index(ignored);
            if (weighted) options.weight(a[1]);
            return F::nll_loss(a[0], tt, red.options(options));
          });
    }

    const std::int64_t n = irand(1, 5), d = irand(1, 5);
    std::vector<Both> multilabel = {leaf({n, d}, -4, 4), leaf({n, d}, 0, 1)};
    if (weighted) multilabel.push_back(leaf({d}, 0.1, 2, false));
    compare(
        "multilabel_soft_margin_loss", multilabel,
        [&](const auto& a) {
          return kiln::multilabel_soft_margin_loss(a[0], a[1], weighted ? a[2] : KT(), reduction);
        },
        [&](const auto& a) {
          auto options = F::MultilabelSoftMarginLossFuncOptions();
          if (weighted) options.weight(a[2]);
          return F::multilabel_soft_margin_loss(a[0], a[1], red.options(options));
        });

    const double margin = unif(0, 1);
    const Both y = signs(ls);
    compare(
        "margin_ranking_loss", {leaf(ls), leaf(ls), y},
        [&](const auto& a) { return kiln::margin_ranking_loss(a[0], a[1], a[2], margin, reduction); },
        [&](const auto& a) {
          return F::margin_ranking_loss(a[0], a[1], a[2],
                                        red.options(F::MarginRankingLossFuncOptions().margin(margin)));
        });
    compare(
        "hinge_embedding_loss", {leaf(ls), y},
        [&](const auto& a) { return kiln::hinge_embedding_loss(a[0], a[1], margin, reduction); },
        [&](const auto& a) {
          return F::hinge_embedding_loss(a[0], a[1],
                                         red.options(F::HingeEmbeddingLossFuncOptions().margin(margin)));
        });
    compare(
        "soft_margin_loss", {leaf(ls, -4, 4), y},
        [&](const auto& a) { return kiln::soft_margin_loss(a[0], a[1], reduction); },
        [&](const auto& a) {
          return F::soft_margin_loss(a[0], a[1], red.options(F::SoftMarginLossFuncOptions()));
        });

    // Rows (n, d) with targets (n), or one pair of vectors (d) with a 0-d target.
    const bool rows = coin();
    const Sizes es = rows ? Sizes{n, d} : Sizes{d};
    compare(
        "cosine_embedding_loss", {leaf(es), leaf(es), signs(rows ? Sizes{n} : Sizes{})},
        [&](const auto& a) { return kiln::cosine_embedding_loss(a[0], a[1], a[2], margin, reduction); },
        [&](const auto& a) {
          return F::cosine_embedding_loss(a[0], a[1], a[2],
                                          red.options(F::CosineEmbeddingLossFuncOptions().margin(margin)));
        });
    const double p = std::array{1.0, 2.0, 3.0}[static_cast<std::size_t>(irand(0, 2))];
    const bool swap = coin();
    compare(
        "triplet_margin_loss", {leaf(es), leaf(es), leaf(es)},
        [&](const auto& a) {
          return kiln::triplet_margin_loss(a[0], a[1], a[2], margin + 0.5, p, 1e-6, swap, reduction);
        },
        [&](const auto& a) {
          return F::triplet_margin_loss(
              a[0], a[1], a[2],
              red.options(F::TripletMarginLossFuncOptions().margin(margin + 0.5).p(p).eps(1e-6).swap(swap)));
        });
    const bool keepdim = coin();
    compare(
        "pairwise_distance", {leaf(es), leaf(rows && coin() ? Sizes{1, d} : es)},
        [&](const auto& a) { return kiln::pairwise_distance(a[0], a[1], p, 1e-6, keepdim); },
        [&](const auto& a) {
          return F::pairwise_distance(a[0], a[1],
                                      F::PairwiseDistanceFuncOptions().p(p).eps(1e-6).keepdim(keepdim));
        });
  });
}

TEST_CASE("torch differential: ctc_loss, multi_margin_loss and multilabel_margin_loss") {
  in_both_precisions(43, 60, [] {
    const RandomReduction red;
    const std::int64_t steps = irand(1, 12), batch = irand(1, 4), classes = irand(2, 6);
    const std::int64_t blank = irand(0, classes - 1);
    // Without zero_infinity every item's labels fit its steps (L <= T_b / 2 leaves room for
    // a blank between repeats); with it, some need not.
    const bool zero_infinity = coin(), padded = coin();
    std::vector<std::int64_t> input_lengths, target_lengths, labels;
    for (std::int64_t b = 0; b < batch; ++b) {
      input_lengths.push_back(irand(1, steps));
      target_lengths.push_back(irand(0, zero_infinity ? input_lengths.back() : input_lengths.back() / 2));
    }
    const std::int64_t widest = *std::max_element(target_lengths.begin(), target_lengths.end());
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t i = 0; i < (padded ? widest : target_lengths[static_cast<std::size_t>(b)]); ++i) {
        std::int64_t c = irand(0, classes - 2);  // a label other than the blank
        labels.push_back(i < target_lengths[static_cast<std::size_t>(b)] ? (c >= blank ? c + 1 : c) : 0);
      }
    const Sizes target_sizes =
        padded ? Sizes{batch, widest} : Sizes{static_cast<std::int64_t>(labels.size())};
    const KT kt = kiln::from_vector(labels, target_sizes);
    const TT tt = torch::tensor(labels, torch::kLong).reshape(target_sizes);
    const TT t_inputs = torch::tensor(input_lengths, torch::kLong),
             t_targets = torch::tensor(target_lengths, torch::kLong);
    // The logits' gradient (through log_softmax), where kiln's and torch's agree.
    compare(
        "ctc_loss", {leaf({steps, batch, classes}, -3, 3)},
        [&](const auto& a) {
          return kiln::ctc_loss(kiln::log_softmax(a[0], 2), kt, input_lengths, target_lengths, blank, red.k(),
                                zero_infinity);
        },
        [&](const auto& a) {
          return F::ctc_loss(torch::log_softmax(a[0], 2), tt, t_inputs, t_targets,
                             red.options(F::CTCLossFuncOptions().blank(blank).zero_infinity(zero_infinity)));
        },
        true, 1e-8);

    const std::int64_t rows = irand(1, 5), classes_m = irand(1, 6);
    std::vector<std::int64_t> picked, listed;
    for (std::int64_t r = 0; r < rows; ++r) {
      picked.push_back(irand(0, classes_m - 1));
      const std::int64_t count = irand(0, classes_m);  // then -1, then anything
      for (std::int64_t k = 0; k < classes_m; ++k)
        listed.push_back(k < count ? irand(0, classes_m - 1) : k == count ? -1 : irand(-1, classes_m - 1));
    }
    const std::int64_t p = irand(1, 2);
    const double margin = unif(0.2, 1.5);
    const bool weighted = coin();
    std::vector<Both> mm = {leaf({rows, classes_m}, -2, 2)};
    if (weighted) mm.push_back(leaf({classes_m}, 0.1, 2, false));
    compare(
        "multi_margin_loss", mm,
        [&](const auto& a) {
          return kiln::multi_margin_loss(a[0], kiln::from_vector(picked), p, margin, weighted ? a[1] : KT(),
                                         red.k());
        },
        [&](const auto& a) {
          auto options = F::MultiMarginLossFuncOptions().p(p).margin(margin);
          if (weighted) options.weight(a[1]);
          return F::multi_margin_loss(a[0], torch::tensor(picked, torch::kLong), red.options(options));
        });
    compare(
        "multilabel_margin_loss", {leaf({rows, classes_m}, -2, 2)},
        [&](const auto& a) {
          return kiln::multilabel_margin_loss(a[0], kiln::from_vector(listed, {rows, classes_m}), red.k());
        },
        [&](const auto& a) {
          return F::multilabel_margin_loss(a[0],
                                           torch::tensor(listed, torch::kLong).reshape({rows, classes_m}),
                                           red.options(F::MultilabelMarginLossFuncOptions()));
        });
  });
}
