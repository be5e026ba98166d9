// The loss modules (kiln/nn/losses.hpp): each forward is its functional form.
#include "kiln/nn/losses.hpp"

#include <sstream>

#include "kiln/ops/elementwise.hpp"
#include "src/ops/loss_reduction.hpp"

namespace kiln::nn {

const char* reduction_name(Reduction reduction) {
  switch (reduction) {
    case Reduction::mean:
      return "mean";
    case Reduction::sum:
      return "sum";
    case Reduction::none:
      return "none";
  }
  return "?";
}

namespace {
// A number as the printout shows it (shortest form that reads back).
std::string number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
std::string flag(bool v) { return v ? "true" : "false"; }

}  // namespace

Tensor LossModule::forward(const Tensor&) {
  KILN_CHECK(false, name_, ": a loss takes ",
             tensors_ == 2   ? "an input and a target; call loss(input, target)"
             : tensors_ == 3 ? "three tensors; call loss(a, b, c) with the ones its class comment names"
                             : "log_probs, targets and both lengths; call loss(log_probs, targets, "
                               "input_lengths, target_lengths)");
  return Tensor();
}
std::string LossModule::description() const {
  return std::string(name_) + "(reduction=" + reduction_name(reduction) + settings() + ")";
}

// --- Two tensors ----------------------------------------------------------------------

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  return mse_loss(input, target, reduction);
}
Tensor L1Loss::forward(const Tensor& input, const Tensor& target) {
  return l1_loss(input, target, reduction);
}
Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) {
  return smooth_l1_loss(input, target, reduction, beta);
}
std::string SmoothL1Loss::settings() const { return ", beta=" + number(beta); }
Tensor HuberLoss::forward(const Tensor& input, const Tensor& target) {
  return huber_loss(input, target, reduction, delta);
}
std::string HuberLoss::settings() const { return ", delta=" + number(delta); }
Tensor SoftMarginLoss::forward(const Tensor& input, const Tensor& target) {
  return soft_margin_loss(input, target, reduction);
}
Tensor HingeEmbeddingLoss::forward(const Tensor& input, const Tensor& target) {
  return hinge_embedding_loss(input, target, margin, reduction);
}
std::string HingeEmbeddingLoss::settings() const { return ", margin=" + number(margin); }
Tensor KLDivLoss::forward(const Tensor& input, const Tensor& target) {
  return kl_div(input, target, reduction, log_target);
}
std::string KLDivLoss::settings() const { return ", log_target=" + flag(log_target); }
Tensor PoissonNLLLoss::forward(const Tensor& input, const Tensor& target) {
  return poisson_nll_loss(input, target, log_input, full, eps, reduction);
}
std::string PoissonNLLLoss::settings() const {
  return ", log_input=" + flag(log_input) + ", full=" + flag(full) + ", eps=" + number(eps);
}

BCELoss::BCELoss(const Tensor& w, Reduction reduction) : Loss("BCELoss", reduction) {
  if (w.defined()) weight = register_buffer("weight", w);
}
Tensor BCELoss::forward(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy(input, target, weight, reduction);
}

MultiLabelSoftMarginLoss::MultiLabelSoftMarginLoss(const Tensor& w, Reduction reduction)
    : Loss("MultiLabelSoftMarginLoss", reduction) {
  if (w.defined()) weight = register_buffer("weight", w);
}
Tensor MultiLabelSoftMarginLoss::forward(const Tensor& input, const Tensor& target) {
  return multilabel_soft_margin_loss(input, target, weight, reduction);
}

BCEWithLogitsLoss::BCEWithLogitsLoss(const BCEWithLogitsLossOptions& o)
    : Loss("BCEWithLogitsLoss", o.reduction()) {
  if (o.weight().defined()) weight = register_buffer("weight", o.weight());
  if (o.pos_weight().defined()) pos_weight = register_buffer("pos_weight", o.pos_weight());
}
Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  if (!weight.defined()) return binary_cross_entropy_with_logits(input, target, pos_weight, reduction);
  // Each element's loss times its weight, then reduced (PyTorch's weight).
  const Tensor each = binary_cross_entropy_with_logits(input, target, pos_weight, Reduction::none);
  KILN_CHECK(broadcast_shapes(weight.shape(), each.shape(), "BCEWithLogitsLoss") == each.shape(),
             "BCEWithLogitsLoss: the weight of shape ", fmt(weight.shape()),
             " does not broadcast to the input's ", fmt(each.shape()));
  return detail::reduce_loss(each * weight, reduction);
}

CrossEntropyLoss::CrossEntropyLoss(const CrossEntropyLossOptions& o)
    : Loss("CrossEntropyLoss", o.reduction()),
      ignore_index(o.ignore_index()),
      label_smoothing(o.label_smoothing()) {
  if (o.weight().defined()) weight = register_buffer("weight", o.weight());
}
Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return cross_entropy(input, target, reduction, label_smoothing, weight, ignore_index);
}
std::string CrossEntropyLoss::settings() const {
  return (ignore_index ? ", ignore_index=" + std::to_string(*ignore_index) : "") +
         (label_smoothing != 0 ? ", label_smoothing=" + number(label_smoothing) : "");
}

NLLLoss::NLLLoss(const NLLLossOptions& o) : Loss("NLLLoss", o.reduction()), ignore_index(o.ignore_index()) {
  if (o.weight().defined()) weight = register_buffer("weight", o.weight());
}
Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return nll_loss(input, target, reduction, weight, ignore_index);
}
std::string NLLLoss::settings() const {
  return ignore_index ? ", ignore_index=" + std::to_string(*ignore_index) : "";
}

// --- Three tensors --------------------------------------------------------------------

Tensor GaussianNLLLoss::forward(const Tensor& input, const Tensor& target, const Tensor& var) {
  return gaussian_nll_loss(input, target, var, full, eps, reduction);
}
std::string GaussianNLLLoss::settings() const { return ", full=" + flag(full) + ", eps=" + number(eps); }
Tensor MarginRankingLoss::forward(const Tensor& x1, const Tensor& x2, const Tensor& target) {
  return margin_ranking_loss(x1, x2, target, margin, reduction);
}
std::string MarginRankingLoss::settings() const { return ", margin=" + number(margin); }
Tensor CosineEmbeddingLoss::forward(const Tensor& x1, const Tensor& x2, const Tensor& target) {
  return cosine_embedding_loss(x1, x2, target, margin, reduction);
}
std::string CosineEmbeddingLoss::settings() const { return ", margin=" + number(margin); }

TripletMarginLoss::TripletMarginLoss(const TripletMarginLossOptions& o)
    : Loss3("TripletMarginLoss", o.reduction()), margin(o.margin()), p(o.p()), eps(o.eps()), swap(o.swap()) {}
Tensor TripletMarginLoss::forward(const Tensor& anchor, const Tensor& positive, const Tensor& negative) {
  return triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction);
}
std::string TripletMarginLoss::settings() const {
  return ", margin=" + number(margin) + ", p=" + number(p) + ", eps=" + number(eps) + ", swap=" + flag(swap);
}

MultiMarginLoss::MultiMarginLoss(const MultiMarginLossOptions& o)
    : Loss("MultiMarginLoss", o.reduction()), p(o.p()), margin(o.margin()) {
  if (o.weight().defined()) weight = register_buffer("weight", o.weight());
}
Tensor MultiMarginLoss::forward(const Tensor& input, const Tensor& target) {
  return multi_margin_loss(input, target, p, margin, weight, reduction);
}
std::string MultiMarginLoss::settings() const {
  return ", p=" + std::to_string(p) + ", margin=" + number(margin);
}
Tensor MultiLabelMarginLoss::forward(const Tensor& input, const Tensor& target) {
  return multilabel_margin_loss(input, target, reduction);
}

CTCLoss::CTCLoss(const CTCLossOptions& o)
    : LossModule("CTCLoss", 4, o.reduction()), blank(o.blank()), zero_infinity(o.zero_infinity()) {}
Tensor CTCLoss::forward(const Tensor& log_probs, const Tensor& targets,
                        const std::vector<std::int64_t>& input_lengths,
                        const std::vector<std::int64_t>& target_lengths) {
  return ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity);
}
std::string CTCLoss::settings() const {
  return ", blank=" + std::to_string(blank) + ", zero_infinity=" + flag(zero_infinity);
}

}  // namespace kiln::nn
