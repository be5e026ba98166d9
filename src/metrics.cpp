#include "kiln/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"

namespace kiln::metrics {

double accuracy(const Tensor& x, const Tensor& labels) {
  KILN_CHECK(labels.dim() == 1 && x.size(0) == labels.size(0), "accuracy: ", x.size(0), " predictions for ",
             labels.numel(), " labels");
  KILN_CHECK(labels.numel() > 0, "accuracy: no samples");
  const Tensor pred = x.dim() == 2 ? argmax(x, 1) : x.to(kInt64);
  return sum(eq(pred, labels.to(kInt64))).item() / static_cast<double>(labels.numel());
}

namespace {
void check_binary(const char* op, const std::vector<double>& scores, const std::vector<int>& labels,
                  std::int64_t& pos, std::int64_t& neg) {
  KILN_CHECK(scores.size() == labels.size(), op, ": ", scores.size(), " scores for ", labels.size(), " labels");
  pos = neg = 0;
  for (int l : labels) {
    KILN_CHECK(l == 0 || l == 1, op, ": labels must be 0 or 1, got ", l);
    (l ? pos : neg) += 1;
  }
  for (double s : scores) KILN_CHECK(!std::isnan(s), op, ": a score is NaN");
}

// Indices ordered by descending score.
std::vector<std::size_t> by_score_desc(const std::vector<double>& scores) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  return order;
}
}  // namespace

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  std::int64_t pos, neg;
  check_binary("roc_auc", scores, labels, pos, neg);
  KILN_CHECK(pos > 0 && neg > 0, "roc_auc: needs both positive and negative labels (got ", pos, " and ", neg, ")");
  // Mann-Whitney: AUC = (sum of positive ranks - P(P+1)/2) / (P N), tied scores sharing their mean rank.
  std::vector<std::size_t> order = by_score_desc(scores);
  std::reverse(order.begin(), order.end());  // ascending
  double rank_sum = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;  // ranks i+1..j
    for (std::size_t k = i; k < j; ++k)
      if (labels[order[k]]) rank_sum += mean_rank;
    i = j;
  }
  return (rank_sum - static_cast<double>(pos) * (pos + 1) / 2) / (static_cast<double>(pos) * neg);
}

double average_precision(const std::vector<double>& scores, const std::vector<int>& labels) {
  std::int64_t pos, neg;
  check_binary("average_precision", scores, labels, pos, neg);
  KILN_CHECK(pos > 0, "average_precision: needs at least one positive label");
  const std::vector<std::size_t> order = by_score_desc(scores);
  double ap = 0, prev_recall = 0;
  std::int64_t tp = 0, seen = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) {
      tp += labels[order[j]];
      ++seen;
      ++j;
    }
    const double recall = static_cast<double>(tp) / pos, precision = static_cast<double>(tp) / seen;
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
    i = j;
  }
  return ap;
}

RankingMetrics ranking_at_k(const std::vector<std::vector<std::int64_t>>& ranked,
                            const std::vector<std::unordered_set<std::int64_t>>& relevant, std::int64_t k) {
  KILN_CHECK(k > 0, "ranking_at_k: k must be positive, got ", k);
  KILN_CHECK(ranked.size() == relevant.size(), "ranking_at_k: ", ranked.size(), " ranked lists for ",
             relevant.size(), " users");
  RankingMetrics m;
  for (std::size_t u = 0; u < ranked.size(); ++u) {
    const auto& rel = relevant[u];
    if (rel.empty()) continue;
    double hits = 0, dcg = 0, ap = 0, idcg = 0;
    const std::int64_t n = std::min<std::int64_t>(k, static_cast<std::int64_t>(ranked[u].size()));
    for (std::int64_t r = 0; r < n; ++r) {
      if (!rel.count(ranked[u][r])) continue;
      hits += 1;
      dcg += 1 / std::log2(r + 2.0);
      ap += hits / (r + 1.0);
    }
    for (std::int64_t r = 0; r < std::min<std::int64_t>(k, static_cast<std::int64_t>(rel.size())); ++r)
      idcg += 1 / std::log2(r + 2.0);
    m.precision += hits / k;
    m.recall += hits / rel.size();
    m.ndcg += dcg / idcg;
    m.map += ap / rel.size();
    ++m.users;
  }
  if (m.users) {
    const double n = static_cast<double>(m.users);
    m.precision /= n;
    m.recall /= n;
    m.ndcg /= n;
    m.map /= n;
  }
  return m;
}

std::vector<std::int64_t> top_k(const float* scores, std::int64_t items, std::int64_t k,
                                const std::unordered_set<std::int64_t>& exclude) {
  KILN_CHECK(items >= 0 && k >= 0, "top_k: needs items >= 0 and k >= 0, got ", items, " items and k = ", k);
  std::vector<std::int64_t> candidates;
  candidates.reserve(items);
  for (std::int64_t i = 0; i < items; ++i)
    if (!exclude.count(i)) candidates.push_back(i);
  const auto better = [&](std::int64_t a, std::int64_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  };
  const auto n = std::min<std::int64_t>(k, static_cast<std::int64_t>(candidates.size()));
  std::partial_sort(candidates.begin(), candidates.begin() + n, candidates.end(), better);
  candidates.resize(n);
  return candidates;
}

}  // namespace kiln::metrics
