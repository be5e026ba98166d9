#include "kiln/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kiln/core/factories.hpp"
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

// The predicted and true classes as int64 host vectors, after checking the shapes.
void classes_of(const char* op, const Tensor& x, const Tensor& labels, std::vector<std::int64_t>& predicted,
                std::vector<std::int64_t>& truth) {
  KILN_CHECK(labels.dim() == 1 && !is_floating(labels.dtype()) && labels.dtype() != kQ4_0, op,
             ": labels must be (N) integer classes, got ", labels.dtype(), " of shape ", fmt(labels.shape()));
  KILN_CHECK((x.dim() == 2 || (x.dim() == 1 && !is_floating(x.dtype()))) && x.size(0) == labels.size(0), op,
             ": predictions must be (N, C) logits or (N) integer classes for ", labels.size(0),
             " labels, got ", x.dtype(), " of shape ", fmt(x.shape()));
  const Tensor pred = (x.dim() == 2 ? argmax(x, 1) : x).to(Device::cpu()).to(kInt64).contiguous();
  const Tensor lab = labels.to(Device::cpu()).to(kInt64).contiguous();
  predicted.assign(pred.data_ptr<std::int64_t>(), pred.data_ptr<std::int64_t>() + pred.numel());
  truth.assign(lab.data_ptr<std::int64_t>(), lab.data_ptr<std::int64_t>() + lab.numel());
  for (std::size_t i = 0; i < truth.size(); ++i)
    KILN_CHECK(truth[i] >= 0 && predicted[i] >= 0, op, ": classes must be >= 0, got label ", truth[i],
               " and prediction ", predicted[i], " for sample ", i);
}

// The (C, C) counts, row-major, with C checked against or taken from the classes seen.
std::vector<std::int64_t> confusion_counts(const char* op, const std::vector<std::int64_t>& predicted,
                                           const std::vector<std::int64_t>& truth, std::int64_t& classes) {
  std::int64_t largest = -1;
  for (std::size_t i = 0; i < truth.size(); ++i) largest = std::max({largest, truth[i], predicted[i]});
  KILN_CHECK(classes >= 0, op, ": num_classes must be >= 0 (0: from the data), got ", classes);
  if (classes == 0) classes = largest + 1;
  KILN_CHECK(largest < classes, op, ": class ", largest, " appears but num_classes is ", classes);
  std::vector<std::int64_t> counts(static_cast<std::size_t>(classes * classes), 0);
  for (std::size_t i = 0; i < truth.size(); ++i)
    ++counts[static_cast<std::size_t>(truth[i] * classes + predicted[i])];
  return counts;
}

}  // namespace

Tensor confusion_matrix(const Tensor& x, const Tensor& labels, std::int64_t num_classes) {
  std::vector<std::int64_t> predicted, truth;
  classes_of("confusion_matrix", x, labels, predicted, truth);
  std::vector<std::int64_t> counts = confusion_counts("confusion_matrix", predicted, truth, num_classes);
  return from_vector(counts, {num_classes, num_classes});
}

ClassificationReport classification_report(const Tensor& x, const Tensor& labels, std::int64_t num_classes) {
  std::vector<std::int64_t> predicted, truth;
  classes_of("classification_report", x, labels, predicted, truth);
  KILN_CHECK(!truth.empty(), "classification_report: no samples");
  const std::int64_t n = static_cast<std::int64_t>(truth.size());
  const std::vector<std::int64_t> m =
      confusion_counts("classification_report", predicted, truth, num_classes);
  const auto c = static_cast<std::size_t>(num_classes);
  ClassificationReport r;
  r.precision.assign(c, 0);
  r.recall.assign(c, 0);
  r.f1.assign(c, 0);
  r.support.assign(c, 0);
  std::int64_t correct = 0, present = 0;
  for (std::size_t k = 0; k < c; ++k) {
    std::int64_t predicted_k = 0;
    for (std::size_t i = 0; i < c; ++i) {
      r.support[k] += m[k * c + i];
      predicted_k += m[i * c + k];
    }
    const std::int64_t tp = m[k * c + k];
    correct += tp;
    if (predicted_k > 0) r.precision[k] = static_cast<double>(tp) / static_cast<double>(predicted_k);
    if (r.support[k] > 0) r.recall[k] = static_cast<double>(tp) / static_cast<double>(r.support[k]);
    // 2 tp / (2 tp + fp + fn): the harmonic mean of the two, 0 when both are.
    const std::int64_t denominator = r.support[k] + predicted_k;
    if (denominator > 0) r.f1[k] = 2.0 * static_cast<double>(tp) / static_cast<double>(denominator);
    if (denominator == 0) continue;  // a class absent from labels and predictions: not averaged
    ++present;
    r.macro_precision += r.precision[k];
    r.macro_recall += r.recall[k];
    r.macro_f1 += r.f1[k];
    const double share = static_cast<double>(r.support[k]) / static_cast<double>(n);
    r.weighted_precision += share * r.precision[k];
    r.weighted_recall += share * r.recall[k];
    r.weighted_f1 += share * r.f1[k];
  }
  r.macro_precision /= static_cast<double>(present);
  r.macro_recall /= static_cast<double>(present);
  r.macro_f1 /= static_cast<double>(present);
  r.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  return r;
}

double r2_score(const Tensor& predictions, const Tensor& targets) {
  KILN_CHECK(predictions.shape() == targets.shape() && (targets.dim() == 1 || targets.dim() == 2),
             "r2_score: ", "predictions ", fmt(predictions.shape()), " and targets ", fmt(targets.shape()),
             " must have the same (N) or (N, K) shape");
  KILN_CHECK(targets.size(0) >= 2, "r2_score: needs at least two samples, got ", targets.size(0));
  const Tensor y = targets.to(Device::cpu()).to(kFloat64).reshape({targets.size(0), -1}).contiguous();
  const Tensor p = predictions.to(Device::cpu()).to(kFloat64).reshape({targets.size(0), -1}).contiguous();
  const std::int64_t n = y.size(0), k = y.size(1);
  const double* yv = y.data_ptr<double>();
  const double* pv = p.data_ptr<double>();
  double total = 0;
  for (std::int64_t j = 0; j < k; ++j) {
    double mean = 0;
    for (std::int64_t i = 0; i < n; ++i) mean += yv[i * k + j];
    mean /= static_cast<double>(n);
    double residual = 0, spread = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      residual += (yv[i * k + j] - pv[i * k + j]) * (yv[i * k + j] - pv[i * k + j]);
      spread += (yv[i * k + j] - mean) * (yv[i * k + j] - mean);
    }
    total += spread > 0 ? 1 - residual / spread : (residual == 0 ? 1.0 : 0.0);
  }
  return total / static_cast<double>(k);
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
