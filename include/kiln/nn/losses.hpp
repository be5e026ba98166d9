// The loss functions of kiln/ops/loss.hpp as modules, with PyTorch's names and defaults
// (nn::CrossEntropyLoss, nn::MSELoss, ...): construct once with the options, call with
// (input, target), or with three tensors for the losses that take three. Class weights
// are buffers, so .to(device) moves them and state_dict holds them. Each forward is the
// functional form, so the values, gradients and errors are the same.
#pragma once

#include <optional>
#include <string>

#include "kiln/nn/module.hpp"
#include "kiln/nn/options.hpp"
#include "kiln/ops/loss.hpp"

namespace kiln::nn {

const char* reduction_name(Reduction reduction);  // "mean", "sum", "none"

// What every loss module holds: its reduction, and its name for the printout and for the
// error that forward(x) with one tensor raises.
class LossModule : public Module {
public:
  Tensor forward(const Tensor& x) override;  // refuses: a loss takes two or three tensors
  std::string description() const override;
  Reduction reduction;

protected:
  LossModule(const char* name, int tensors, Reduction reduction)
      : reduction(reduction), name_(name), tensors_(tensors) {}
  virtual std::string settings() const { return ""; }  // ", margin=..." after the reduction

private:
  const char* name_;
  int tensors_;
};

// A loss of an input and a target.
class Loss : public LossModule {
public:
  Loss(const char* name, Reduction reduction) : LossModule(name, 2, reduction) {}
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  Tensor operator()(const Tensor& input, const Tensor& target) {
    return call_with_hooks([&] { return forward(input, target); });
  }
  using LossModule::forward;
  using Module::operator();
};

// A loss of three tensors (margin_ranking_loss's two inputs and target, gaussian_nll_loss's
// input, target and variance, triplet_margin_loss's anchor, positive and negative).
class Loss3 : public LossModule {
public:
  Loss3(const char* name, Reduction reduction) : LossModule(name, 3, reduction) {}
  virtual Tensor forward(const Tensor& a, const Tensor& b, const Tensor& c) = 0;
  Tensor operator()(const Tensor& a, const Tensor& b, const Tensor& c) {
    return call_with_hooks([&] { return forward(a, b, c); });
  }
  using LossModule::forward;
  using Module::operator();
};

class MSELoss : public Loss {
public:
  explicit MSELoss(Reduction reduction = Reduction::mean) : Loss("MSELoss", reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
};
class L1Loss : public Loss {
public:
  explicit L1Loss(Reduction reduction = Reduction::mean) : Loss("L1Loss", reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
};
class SmoothL1Loss : public Loss {
public:
  explicit SmoothL1Loss(Reduction reduction = Reduction::mean, double beta = 1.0)
      : Loss("SmoothL1Loss", reduction), beta(beta) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  std::string settings() const override;
  double beta;
};
class HuberLoss : public Loss {
public:
  explicit HuberLoss(Reduction reduction = Reduction::mean, double delta = 1.0)
      : Loss("HuberLoss", reduction), delta(delta) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  std::string settings() const override;
  double delta;
};
class SoftMarginLoss : public Loss {
public:
  explicit SoftMarginLoss(Reduction reduction = Reduction::mean) : Loss("SoftMarginLoss", reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
};
class HingeEmbeddingLoss : public Loss {
public:
  explicit HingeEmbeddingLoss(double margin = 1.0, Reduction reduction = Reduction::mean)
      : Loss("HingeEmbeddingLoss", reduction), margin(margin) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  std::string settings() const override;
  double margin;
};
// input: log-probabilities; PyTorch's reduction "batchmean" is Reduction::sum over N.
class KLDivLoss : public Loss {
public:
  explicit KLDivLoss(Reduction reduction = Reduction::mean, bool log_target = false)
      : Loss("KLDivLoss", reduction), log_target(log_target) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  std::string settings() const override;
  bool log_target;
};
class PoissonNLLLoss : public Loss {
public:
  explicit PoissonNLLLoss(bool log_input = true, bool full = false, double eps = 1e-8,
                          Reduction reduction = Reduction::mean)
      : Loss("PoissonNLLLoss", reduction), log_input(log_input), full(full), eps(eps) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  std::string settings() const override;
  bool log_input, full;
  double eps;
};

// The losses with class or element weights: the weight (undefined: none) is a buffer.
class BCELoss : public Loss {
public:
  explicit BCELoss(const Tensor& weight = Tensor(), Reduction reduction = Reduction::mean);
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  Tensor weight;
};
class MultiLabelSoftMarginLoss : public Loss {
public:
  explicit MultiLabelSoftMarginLoss(const Tensor& weight = Tensor(), Reduction reduction = Reduction::mean);
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  Tensor weight;
};

struct BCEWithLogitsLossOptions {
  KILN_OPTION(Tensor, weight)      // each element's weight, broadcast to the input
  KILN_OPTION(Tensor, pos_weight)  // the positive class' weight, broadcast over the last dimension
  KILN_OPTION(Reduction, reduction)
private:
  Tensor weight_, pos_weight_;
  Reduction reduction_ = Reduction::mean;
};
class BCEWithLogitsLoss : public Loss {
public:
  explicit BCEWithLogitsLoss(const BCEWithLogitsLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  Tensor weight, pos_weight;
};

// cross_entropy's and nll_loss's options: class weights, a target to ignore (none unless
// given, where PyTorch's default is -100), label smoothing (cross-entropy only).
struct CrossEntropyLossOptions {
  KILN_OPTION(Tensor, weight)
  KILN_OPTION(std::optional<std::int64_t>, ignore_index)
  KILN_OPTION(Reduction, reduction)
  KILN_OPTION(double, label_smoothing)
private:
  Tensor weight_;
  std::optional<std::int64_t> ignore_index_;
  Reduction reduction_ = Reduction::mean;
  double label_smoothing_ = 0.0;
};
class CrossEntropyLoss : public Loss {
public:
  explicit CrossEntropyLoss(const CrossEntropyLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  std::string settings() const override;
  Tensor weight;
  std::optional<std::int64_t> ignore_index;
  double label_smoothing;
};
struct NLLLossOptions {
  KILN_OPTION(Tensor, weight)
  KILN_OPTION(std::optional<std::int64_t>, ignore_index)
  KILN_OPTION(Reduction, reduction)
private:
  Tensor weight_;
  std::optional<std::int64_t> ignore_index_;
  Reduction reduction_ = Reduction::mean;
};
class NLLLoss : public Loss {
public:
  explicit NLLLoss(const NLLLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  std::string settings() const override;
  Tensor weight;
  std::optional<std::int64_t> ignore_index;
};

// (input, target, var)
class GaussianNLLLoss : public Loss3 {
public:
  explicit GaussianNLLLoss(bool full = false, double eps = 1e-6, Reduction reduction = Reduction::mean)
      : Loss3("GaussianNLLLoss", reduction), full(full), eps(eps) {}
  Tensor forward(const Tensor& a, const Tensor& b, const Tensor& c) override;
  using Loss3::forward;
  std::string settings() const override;
  bool full;
  double eps;
};
// (input1, input2, target)
class MarginRankingLoss : public Loss3 {
public:
  explicit MarginRankingLoss(double margin = 0.0, Reduction reduction = Reduction::mean)
      : Loss3("MarginRankingLoss", reduction), margin(margin) {}
  Tensor forward(const Tensor& a, const Tensor& b, const Tensor& c) override;
  using Loss3::forward;
  std::string settings() const override;
  double margin;
};
// (input1, input2, target)
class CosineEmbeddingLoss : public Loss3 {
public:
  explicit CosineEmbeddingLoss(double margin = 0.0, Reduction reduction = Reduction::mean)
      : Loss3("CosineEmbeddingLoss", reduction), margin(margin) {}
  Tensor forward(const Tensor& a, const Tensor& b, const Tensor& c) override;
  using Loss3::forward;
  std::string settings() const override;
  double margin;
};
struct TripletMarginLossOptions {
  KILN_OPTION(double, margin)
  KILN_OPTION(double, p)
  KILN_OPTION(double, eps)
  KILN_OPTION(bool, swap)
  KILN_OPTION(Reduction, reduction)
private:
  double margin_ = 1.0, p_ = 2.0, eps_ = 1e-6;
  bool swap_ = false;
  Reduction reduction_ = Reduction::mean;
};
// (anchor, positive, negative)
class TripletMarginLoss : public Loss3 {
public:
  explicit TripletMarginLoss(const TripletMarginLossOptions& options = {});
  Tensor forward(const Tensor& a, const Tensor& b, const Tensor& c) override;
  using Loss3::forward;
  std::string settings() const override;
  double margin, p, eps;
  bool swap;
};

struct MultiMarginLossOptions {
  KILN_OPTION(std::int64_t, p)
  KILN_OPTION(double, margin)
  KILN_OPTION(Tensor, weight)  // one per class; a buffer of the module
  KILN_OPTION(Reduction, reduction)
private:
  std::int64_t p_ = 1;
  double margin_ = 1.0;
  Tensor weight_;
  Reduction reduction_ = Reduction::mean;
};
// multi_margin_loss: loss(scores, classes).
class MultiMarginLoss : public Loss {
public:
  explicit MultiMarginLoss(const MultiMarginLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
  std::string settings() const override;
  std::int64_t p;
  double margin;
  Tensor weight;
};
// multilabel_margin_loss: loss(scores, class lists ended by -1).
class MultiLabelMarginLoss : public Loss {
public:
  explicit MultiLabelMarginLoss(Reduction reduction = Reduction::mean)
      : Loss("MultiLabelMarginLoss", reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  using Loss::forward;
};

struct CTCLossOptions {
  KILN_OPTION(std::int64_t, blank)
  KILN_OPTION(Reduction, reduction)
  KILN_OPTION(bool, zero_infinity)
private:
  std::int64_t blank_ = 0;
  Reduction reduction_ = Reduction::mean;
  bool zero_infinity_ = false;
};
// ctc_loss: loss(log_probs, targets, input_lengths, target_lengths).
class CTCLoss : public LossModule {
public:
  explicit CTCLoss(const CTCLossOptions& options = {});
  Tensor forward(const Tensor& log_probs, const Tensor& targets,
                 const std::vector<std::int64_t>& input_lengths,
                 const std::vector<std::int64_t>& target_lengths);
  Tensor operator()(const Tensor& log_probs, const Tensor& targets,
                    const std::vector<std::int64_t>& input_lengths,
                    const std::vector<std::int64_t>& target_lengths) {
    return call_with_hooks([&] { return forward(log_probs, targets, input_lengths, target_lengths); });
  }
  using LossModule::forward;
  using Module::operator();
  std::string settings() const override;
  std::int64_t blank;
  bool zero_infinity;
};

}  // namespace kiln::nn
