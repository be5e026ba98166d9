// Evaluation metrics: classification accuracy, the confusion matrix and per-class
// precision / recall / F1, R^2 for regressions, ROC-AUC and average precision for link
// prediction, and top-k ranking metrics for recommendation.
#pragma once

#include <cstdint>
#include <unordered_set>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln::metrics {

// Fraction of rows whose argmax (for (N, C) logits) or value (for (N) predictions)
// equals the label.
double accuracy(const Tensor& logits_or_predictions, const Tensor& labels);

// The confusion matrix of class predictions: entry (i, j) counts the samples of class i
// predicted as class j, an (C, C) int64 tensor, as sklearn.metrics.confusion_matrix with
// labels = range(C). Predictions are (N, C) logits (their argmax) or (N) classes; C is
// num_classes, or with 0 one more than the largest class seen.
Tensor confusion_matrix(const Tensor& logits_or_predictions, const Tensor& labels,
                        std::int64_t num_classes = 0);

// Precision, recall and F1 per class, and their averages, as
// sklearn.metrics.precision_recall_fscore_support with zero_division = 0: a class never
// predicted has precision 0, one never present recall 0. The macro and weighted means run
// over the classes that occur among the labels or the predictions (sklearn's default);
// weighted means weigh each class by its support. For one label per sample the micro
// averages all equal the accuracy.
struct ClassificationReport {
  std::vector<double> precision, recall, f1;  // per class, 0 .. C - 1
  std::vector<std::int64_t> support;          // samples of each class among the labels
  double macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  double weighted_precision = 0, weighted_recall = 0, weighted_f1 = 0;
  double accuracy = 0;
};
ClassificationReport classification_report(const Tensor& logits_or_predictions, const Tensor& labels,
                                           std::int64_t num_classes = 0);

// The coefficient of determination of a regression, as sklearn.metrics.r2_score:
// 1 - sum (y - p)^2 / sum (y - mean y)^2 per output column of (N) or (N, K) targets,
// averaged over the columns. A constant column scores 1 when predicted exactly and 0
// otherwise (sklearn's force_finite).
double r2_score(const Tensor& predictions, const Tensor& targets);

// Area under the ROC curve, exact and tie-aware (tied scores count one half), as
// sklearn.metrics.roc_auc_score. labels: 1 positive, 0 negative; both classes needed.
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

// Average precision as sklearn.metrics.average_precision_score:
// sum over distinct thresholds of (R_n - R_{n-1}) P_n, tied scores forming one threshold.
double average_precision(const std::vector<double>& scores, const std::vector<int>& labels);

// Top-k ranking quality averaged over users, with binary relevance:
//   precision@k = hits / k,   recall@k = hits / |relevant|,
//   NDCG@k = DCG / ideal DCG with gains 1 / log2(rank + 1),
//   MAP@k  = (sum over hits in the top k of precision at that rank) / |relevant|
// (the definitions of the Microsoft Recommenders evaluation). Users without relevant
// items are skipped. `ranked[u]` is user u's recommendation list, best first.
struct RankingMetrics {
  double precision = 0, recall = 0, ndcg = 0, map = 0;
  std::int64_t users = 0;  // users evaluated
};
RankingMetrics ranking_at_k(const std::vector<std::vector<std::int64_t>>& ranked,
                            const std::vector<std::unordered_set<std::int64_t>>& relevant, std::int64_t k);

// The k highest-scoring items of one user, skipping `exclude` (e.g. items seen in
// training); ties broken by the lower item index.
std::vector<std::int64_t> top_k(const float* scores, std::int64_t items, std::int64_t k,
                                const std::unordered_set<std::int64_t>& exclude);

}  // namespace kiln::metrics
