// The differential test against PyTorch, continued: order statistics (kthvalue, median,
// quantile, nanquantile), roll, diff, the scatter family, cdist, the running cumprod, cummax, cummin
// and logcumsumexp, and searchsorted, bucketize, bincount, histc and unique against torch's.
#include <map>
#include <numeric>

#include "torch_differential.hpp"

using namespace differential;

TEST_CASE(
    "torch differential: kthvalue, median, nanmedian, mode, quantile, nanquantile, roll, diff, scatter_add, "
    "cdist") {
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
    // NaN in some draws (nanmedian skips them); whole numbers, so that mode finds repeats.
    std::vector<double> e(static_cast<std::size_t>(numel(s)));
    for (double& v : e) v = irand(0, 5) == 0 ? std::nan("") : static_cast<double>(irand(-3, 3));
    compare(
        "nanmedian values", {from_values(e, s, true)},
        [&](const auto& a) { return kiln::nanmedian(a[0], dim, keepdim).values; },
        [&](const auto& a) { return std::get<0>(torch::nanmedian(a[0], dim, keepdim)); });
    compare(
        "nanmedian indices", {from_values(e, s, false)},
        [&](const auto& a) { return kiln::nanmedian(a[0], dim, keepdim).indices; },
        [&](const auto& a) { return std::get<1>(torch::nanmedian(a[0], dim, keepdim)); }, false);
    compare(
        "nanmedian of all", {from_values(e, s, false)}, [&](const auto& a) { return kiln::nanmedian(a[0]); },
        [&](const auto& a) { return torch::nanmedian(a[0]); }, false);
    compare(
        "median of all", {leaf(s)}, [&](const auto& a) { return kiln::median(view.k(a[0])); },
        [&](const auto& a) { return torch::median(view.t(a[0])); });
    for (double& v : e)
      if (std::isnan(v)) v = 0.5;
    // The values only: of a value's positions, torch's CPU kernel reports the last for short
    // lines and an unspecified one for long ones (an unstable sort); kiln's is the last,
    // and it must hold the value.
    compare(
        "mode values", {from_values(e, s, false)},
        [&](const auto& a) { return kiln::mode(a[0], dim, keepdim).values; },
        [&](const auto& a) { return std::get<0>(torch::mode(a[0], dim, keepdim)); }, false);
    const Both line = from_values(e, s, false);
    const kiln::ValuesIndices found = kiln::mode(line.k, dim, true);
    CHECK(kiln::equal(kiln::gather(line.k, dim, found.indices), found.values));
    // quantile and nanquantile: q a number or a 0-d or 1-D tensor of levels (in x's
    // precision, as torch asks), each interpolation, over a dim or the whole tensor.
    const auto level = [] { return coin() ? unif(0, 1) : static_cast<double>(irand(0, 4)) / 4; };
    const double q = level();
    std::vector<double> qv(static_cast<std::size_t>(irand(1, 3)));
    for (double& v : qv) v = level();
    const std::int64_t q_form = irand(0, 2);  // a number, a 0-d tensor, a 1-D tensor
    if (q_form != 2) qv.resize(1);
    const Both levels =
        from_values(qv, q_form == 2 ? Sizes{static_cast<std::int64_t>(qv.size())} : Sizes{}, false);
    const std::int64_t way = irand(0, 4);
    const auto how = static_cast<kiln::QuantileInterpolation>(way);
    const std::string way_name = std::array{"linear", "lower", "higher", "midpoint", "nearest"}[way];
    const bool whole = irand(0, 3) == 0;
    const auto k_dim = whole ? std::nullopt : std::optional<std::int64_t>(dim);
    const auto t_dim = whole ? c10::nullopt : c10::optional<std::int64_t>(dim);
    const auto k_quantile = [&](const KT& x, bool skip_nan) {
      if (q_form == 0)
        return skip_nan ? kiln::nanquantile(x, q, k_dim, keepdim, how)
                        : kiln::quantile(x, q, k_dim, keepdim, how);
      return skip_nan ? kiln::nanquantile(x, levels.k, k_dim, keepdim, how)
                      : kiln::quantile(x, levels.k, k_dim, keepdim, how);
    };
    const auto t_quantile = [&](const TT& x, bool skip_nan) {
      if (q_form == 0)
        return skip_nan ? torch::nanquantile(x, q, t_dim, keepdim, way_name)
                        : torch::quantile(x, q, t_dim, keepdim, way_name);
      return skip_nan ? torch::nanquantile(x, levels.t, t_dim, keepdim, way_name)
                      : torch::quantile(x, levels.t, t_dim, keepdim, way_name);
    };
    compare(
        "quantile " + way_name, {leaf(s)}, [&](const auto& a) { return k_quantile(view.k(a[0]), false); },
        [&](const auto& a) { return t_quantile(view.t(a[0]), false); });
    // With NaN: a line of NaN in some draws (values only: which NaN a NaN result is read
    // from is the sort's choice), and, gradients too, NaN everywhere but each line's first.
    std::vector<double> some_nan(static_cast<std::size_t>(numel(s))), spared(some_nan.size());
    const std::int64_t d = dim < 0 ? dim + rank : dim;
    std::int64_t inner = 1;
    for (std::int64_t j = d + 1; j < rank; ++j) inner *= s[static_cast<std::size_t>(j)];
    for (std::size_t i = 0; i < some_nan.size(); ++i) {
      const bool first_of_line = (static_cast<std::int64_t>(i) / inner) % len == 0;
      const bool nan = irand(0, 3) == 0;
      some_nan[i] = nan ? std::nan("") : unif(-2, 2);
      spared[i] = nan && !first_of_line ? std::nan("") : unif(-2, 2);
    }
    for (const bool skip_nan : {false, true}) {
      const std::string name = (skip_nan ? "nanquantile " : "quantile ") + way_name + " with NaN";
      compare(
          name, {from_values(some_nan, s, false)}, [&](const auto& a) { return k_quantile(a[0], skip_nan); },
          [&](const auto& a) { return t_quantile(a[0], skip_nan); }, false);
      if (skip_nan)
        compare(
            name + ", a number in each line", {from_values(spared, s, true)},
            [&](const auto& a) { return k_quantile(a[0], true); },
            [&](const auto& a) { return t_quantile(a[0], true); });
    }

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

TEST_CASE("torch differential: scatter, scatter_reduce, index_copy, index_fill") {
  in_both_precisions(45, 120, [] {
    const Sizes s = random_shape(1, 3);
    const std::int64_t rank = static_cast<std::int64_t>(s.size()), dim = irand(-rank, rank - 1);
    const std::size_t d = static_cast<std::size_t>(dim < 0 ? dim + rank : dim);
    Sizes is = s, xs = s;
    for (std::size_t k = 0; k < is.size(); ++k) is[k] = irand(0, s[k]);
    xs[d] = irand(1, 5);
    // An index with repeats (the reductions are defined for them) ...
    const Both repeats = integers(is, 0, xs[d] - 1);
    const kiln::ScatterReduce reduce = std::array{
        kiln::ScatterReduce::sum, kiln::ScatterReduce::prod, kiln::ScatterReduce::mean,
        kiln::ScatterReduce::amax, kiln::ScatterReduce::amin}[static_cast<std::size_t>(irand(0, 4))];
    const bool self = coin();
    // For prod, src no larger than the index: libtorch 1.13's prod backward divides by all
    // of src, giving the entries past the index (which the output never reads) a gradient.
    compare(
        std::string("scatter_reduce ") + kiln::scatter_reduce_name(reduce),
        {leaf(xs), leaf(reduce == kiln::ScatterReduce::prod ? is : s)},
        [&](const auto& a) { return kiln::scatter_reduce(a[0], dim, repeats.k, a[1], reduce, self); },
        [&](const auto& a) {
          return torch::scatter_reduce(a[0], dim, repeats.t, a[1], kiln::scatter_reduce_name(reduce), self);
        });
    // ... and one whose lines along dim never repeat a place, for scatter (torch leaves the
    // winner of a repeated place unspecified).
    is[d] = std::min(is[d], xs[d]);
    std::vector<std::int64_t> values(static_cast<std::size_t>(numel(is)));
    std::map<std::vector<std::int64_t>, std::vector<std::int64_t>> line_places;
    std::vector<std::int64_t> at(is.size(), 0);
    for (std::int64_t& v : values) {
      std::vector<std::int64_t> key = at;
      key[d] = 0;
      auto& places = line_places[key];
      if (places.empty()) {
        places.resize(static_cast<std::size_t>(xs[d]));
        std::iota(places.begin(), places.end(), 0);
        std::shuffle(places.begin(), places.end(), rng);
      }
      v = places[static_cast<std::size_t>(at[d])];
      for (std::size_t k = at.size(); k-- > 0;) {
        if (++at[k] < is[k]) break;
        at[k] = 0;
      }
    }
    const std::int64_t count = static_cast<std::int64_t>(values.size());
    const KT k_index = kiln::from_vector(values, {count}).reshape(kiln::Shape(is.begin(), is.end()));
    const TT t_index = torch::tensor(values, torch::kLong).reshape(is);
    compare(
        "scatter", {leaf(xs), leaf(s)},
        [&](const auto& a) { return kiln::scatter(a[0], dim, k_index, a[1]); },
        [&](const auto& a) { return torch::scatter(a[0], dim, t_index, a[1]); });
    compare(
        "scatter of a value", {leaf(xs)},
        [&](const auto& a) { return kiln::scatter(a[0], dim, k_index, 0.5); },
        [&](const auto& a) { return torch::scatter(a[0], dim, t_index, 0.5); });

    // index_copy (distinct indices) and index_fill (any, negative too) along dim.
    std::vector<std::int64_t> slots(static_cast<std::size_t>(xs[d]));
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), rng);
    slots.resize(static_cast<std::size_t>(irand(0, xs[d])));
    Sizes source = xs;
    source[d] = static_cast<std::int64_t>(slots.size());
    const std::int64_t n_slots = static_cast<std::int64_t>(slots.size());
    const KT k_slots = kiln::from_vector(slots, {n_slots});
    const TT t_slots = torch::tensor(slots, torch::kLong);
    compare(
        "index_copy", {leaf(xs), leaf(source)},
        [&](const auto& a) { return kiln::index_copy(a[0], dim, k_slots, a[1]); },
        [&](const auto& a) { return torch::index_copy(a[0], dim, t_slots, a[1]); });
    const Both fill_at = integers({irand(0, 3)}, -xs[d], xs[d] - 1);
    compare(
        "index_fill", {leaf(xs)}, [&](const auto& a) { return kiln::index_fill(a[0], dim, fill_at.k, -1.5); },
        [&](const auto& a) { return torch::index_fill(a[0], dim, fill_at.t, -1.5); });
  });
}

TEST_CASE("torch differential: embedding_bag") {
  in_both_precisions(46, 80, [] {
    const std::int64_t rows = irand(1, 8), dim = irand(1, 5), n = irand(0, 12);
    const Both input = integers({n}, 0, rows - 1);
    std::vector<std::int64_t> starts = {0};
    for (std::int64_t b = irand(0, 4); b > 0; --b) starts.push_back(irand(starts.back(), n));
    // include_last_offset with the input's length as the last offset, as its CSR form has it
    // (libtorch 1.13 aborts in mode mean when the last offset falls short of it).
    const bool last = coin();
    if (last) starts.push_back(n);
    const std::int64_t bags = static_cast<std::int64_t>(starts.size());
    const KT k_offsets = kiln::from_vector(starts, {bags});
    const TT t_offsets = torch::tensor(starts, torch::kLong);
    const std::size_t m = static_cast<std::size_t>(irand(0, 2));
    const kiln::EmbeddingBagMode mode =
        std::array{kiln::EmbeddingBagMode::sum, kiln::EmbeddingBagMode::mean, kiln::EmbeddingBagMode::max}[m];
    // No padding_idx with mode mean: libtorch 1.13 still counts the padding entries in a bag's
    // size there, which PyTorch 2.15 no longer does (kiln leaves them out, as 2.15).
    const std::optional<std::int64_t> padding = mode != kiln::EmbeddingBagMode::mean && coin()
                                                    ? std::optional<std::int64_t>(irand(0, rows - 1))
                                                    : std::nullopt;
    const bool weighted = mode == kiln::EmbeddingBagMode::sum && coin();
    std::vector<Both> in = {leaf({rows, dim})};
    if (weighted) in.push_back(leaf({n}));
    compare(
        std::string("embedding_bag ") + kiln::embedding_bag_mode_name(mode), in,
        [&](const auto& a) {
          return kiln::embedding_bag(a[0], input.k, k_offsets, mode, weighted ? a[1] : KT(), last, padding);
        },
        [&](const auto& a) {
          auto o = F::EmbeddingBagFuncOptions().offsets(t_offsets).include_last_offset(last);
          if (m == 0)
            o = o.mode(torch::kSum);
          else if (m == 1)
            o = o.mode(torch::kMean);
          else
            o = o.mode(torch::kMax);
          if (weighted) o = o.per_sample_weights(a[1]);
          if (padding) o = o.padding_idx(*padding);
          return F::embedding_bag(input.t, a[0], o);
        });
  });
}

TEST_CASE("torch differential: amax, amin, nansum, nanmean, count_nonzero") {
  in_both_precisions(47, 100, [] {
    const Sizes s = random_shape(1, 3);
    const std::int64_t rank = static_cast<std::int64_t>(s.size());
    kiln::Dims dims;
    for (std::int64_t d = 0; d < rank; ++d)
      if (coin()) dims.push_back(coin() ? d : d - rank);
    const bool keepdim = coin();
    const View view = random_view(s.size());
    // Values on a coarse grid, so that ties happen (the gradient is split among them).
    std::vector<double> grid(static_cast<std::size_t>(numel(s)));
    for (double& v : grid) v = static_cast<double>(irand(-3, 3)) / 2;
    const Both tied = from_values(grid, s, true);
    const std::vector<std::int64_t> tdims(dims.begin(), dims.end());
    compare(
        "amax", {tied}, [&](const auto& a) { return kiln::amax(view.k(a[0]), dims, keepdim); },
        [&](const auto& a) { return torch::amax(view.t(a[0]), tdims, keepdim); });
    compare(
        "amin", {from_values(grid, s, true)},
        [&](const auto& a) { return kiln::amin(view.k(a[0]), dims, keepdim); },
        [&](const auto& a) { return torch::amin(view.t(a[0]), tdims, keepdim); });
    // log of values in [-1, 2): NaN below 0.
    compare(
        "nansum", {leaf(s, -1, 2)},
        [&](const auto& a) { return kiln::nansum(kiln::log(view.k(a[0])), dims, keepdim); },
        [&](const auto& a) { return torch::nansum(torch::log(view.t(a[0])), tdims, keepdim); });
    // Where a slice is all NaN, torch's nanmean gradient is NaN (the 1 / 0 of its count times
    // a mask of zeros), kiln's 0: compare the gradients only where every slice has a number.
    const Both nan_input = leaf(s, -1, 2);
    const bool all_nan_slice = torch::logical_not(torch::isnan(torch::log(view.t(nan_input.t.detach()))))
                                   .sum(tdims, true)
                                   .min()
                                   .item<double>() == 0;
    compare(
        "nanmean", {nan_input},
        [&](const auto& a) { return kiln::nanmean(kiln::log(view.k(a[0])), dims, keepdim); },
        [&](const auto& a) { return torch::nanmean(torch::log(view.t(a[0])), tdims, keepdim); },
        !all_nan_slice);
    compare(
        "count_nonzero", {from_values(grid, s, false)},
        [&](const auto& a) { return kiln::count_nonzero(a[0], dims); },
        [&](const auto& a) { return torch::count_nonzero(a[0], tdims); }, false);
  });
}

TEST_CASE("torch differential: cumprod, cummax, cummin, logcumsumexp") {
  in_both_precisions(48, 120, [] {
    const Sizes s = random_shape(1, 3, single ? 12 : 6);
    const std::int64_t rank = static_cast<std::int64_t>(s.size()), dim = irand(-rank, rank - 1);
    const View view = random_view(s.size());
    // Values on a coarse grid with zeros (cumprod's gradient has its own rule past a 0)
    // and ties (cummax reports the later position).
    std::vector<double> grid(static_cast<std::size_t>(numel(s)));
    for (double& v : grid) v = static_cast<double>(irand(-3, 3)) / 2;
    compare(
        "cumprod", {leaf(s)}, [&](const auto& a) { return kiln::cumprod(view.k(a[0]), dim); },
        [&](const auto& a) { return torch::cumprod(view.t(a[0]), dim); });
    compare(
        "cumprod with zeros", {from_values(grid, s, true)},
        [&](const auto& a) { return kiln::cumprod(view.k(a[0]), dim); },
        [&](const auto& a) { return torch::cumprod(view.t(a[0]), dim); });
    for (const bool largest : {true, false}) {
      compare(
          largest ? "cummax" : "cummin", {from_values(grid, s, true)},
          [&](const auto& a) {
            return largest ? kiln::cummax(view.k(a[0]), dim).values : kiln::cummin(view.k(a[0]), dim).values;
          },
          [&](const auto& a) {
            return largest ? std::get<0>(torch::cummax(view.t(a[0]), dim))
                           : std::get<0>(torch::cummin(view.t(a[0]), dim));
          });
      compare(
          largest ? "cummax indices" : "cummin indices", {from_values(grid, s, false)},
          [&](const auto& a) {
            return largest ? kiln::cummax(view.k(a[0]), dim).indices
                           : kiln::cummin(view.k(a[0]), dim).indices;
          },
          [&](const auto& a) {
            return largest ? std::get<1>(torch::cummax(view.t(a[0]), dim))
                           : std::get<1>(torch::cummin(view.t(a[0]), dim));
          },
          false);
    }
    compare(
        "logcumsumexp", {leaf(s, -30, 30)},
        [&](const auto& a) { return kiln::logcumsumexp(view.k(a[0]), dim); },
        [&](const auto& a) { return torch::logcumsumexp(view.t(a[0]), dim); });
  });
}

TEST_CASE("torch differential: searchsorted, bucketize, bincount, histc, unique, unique_consecutive") {
  in_both_precisions(49, 120, [] {
    // Values on a coarse grid, so that ties with the sequence happen; a NaN now and then.
    const auto grid = [](const Sizes& s, bool nan) {
      std::vector<double> v(static_cast<std::size_t>(numel(s)));
      for (double& e : v) e = nan && irand(0, 9) == 0 ? NAN : static_cast<double>(irand(-4, 4)) / 2;
      return from_values(v, s, false);
    };
    const bool shared = coin(), right = coin();
    const Sizes lead = random_shape(0, 2, 3);
    Sizes ss = shared ? Sizes{} : lead, sv = lead;
    ss.push_back(irand(0, 6));
    sv.push_back(irand(0, 6));
    // NaN values but no NaN in the sequence: torch's binary search treats a NaN entry as
    // below some values and above others, depending on the path it takes.
    const Both seq_raw = grid(ss, false);
    const TT sorted = std::get<0>(torch::sort(seq_raw.t, -1));  // NaN last, as kiln's sort
    const KT sorted_k = kiln::sort(seq_raw.k, -1).values;
    const Both values = grid(sv, coin());
    compare(
        "searchsorted", {}, [&](const auto&) { return kiln::searchsorted(sorted_k, values.k, right); },
        [&](const auto&) { return torch::searchsorted(sorted, values.t, false, right); }, false);
    if (shared)
      compare(
          "bucketize", {}, [&](const auto&) { return kiln::bucketize(values.k, sorted_k, right); },
          [&](const auto&) { return torch::bucketize(values.t, sorted, false, right); }, false);
    const Both counts = integers({irand(0, 30)}, 0, irand(0, 9));
    const std::int64_t minlength = irand(0, 12);
    compare(
        "bincount", {}, [&](const auto&) { return kiln::bincount(counts.k, kiln::Tensor(), minlength); },
        [&](const auto&) { return torch::bincount(counts.t, {}, minlength); }, false);
    // Values only: libtorch has no derivative for bincount's weights (kiln's is index_add's).
    compare(
        "bincount weighted", {leaf({counts.k.numel()}, -2, 2, false)},
        [&](const auto& a) { return kiln::bincount(counts.k, a[0], minlength); },
        [&](const auto& a) { return torch::bincount(counts.t, a[0], minlength); }, false);
    const std::int64_t bins = irand(1, 12);
    const bool own_range = coin();
    const double lo = own_range ? 0 : unif(-2, 0), hi = own_range ? 0 : unif(0.5, 2);
    compare(
        "histc", {leaf({irand(1, 40)}, -2.5, 2.5, false)},
        [&](const auto& a) { return kiln::histc(a[0], bins, lo, hi); },
        [&](const auto& a) { return torch::histc(a[0], bins, lo, hi); }, false);
    const Both u = grid(random_shape(0, 3, 5), false);
    compare(
        "unique values", {}, [&](const auto&) { return kiln::unique(u.k).values; },
        [&](const auto&) { return std::get<0>(torch::_unique2(u.t, true, true, true)); }, false);
    compare(
        "unique inverse", {}, [&](const auto&) { return kiln::unique(u.k).inverse; },
        [&](const auto&) { return std::get<1>(torch::_unique2(u.t, true, true, true)); }, false);
    compare(
        "unique counts", {}, [&](const auto&) { return kiln::unique(u.k).counts; },
        [&](const auto&) { return std::get<2>(torch::_unique2(u.t, true, true, true)); }, false);
    for (const int part : {0, 1, 2})
      compare(
          "unique_consecutive " + std::to_string(part), {},
          [&](const auto&) {
            const kiln::Unique r = kiln::unique_consecutive(u.k);
            return part == 0 ? r.values : (part == 1 ? r.inverse : r.counts).to(kiln::kFloat64);
          },
          [&](const auto&) {
            const auto r = torch::unique_consecutive(u.t, true, true);
            return part == 0 ? std::get<0>(r)
                             : (part == 1 ? std::get<1>(r) : std::get<2>(r)).to(torch::kDouble);
          },
          false);
  });
}
