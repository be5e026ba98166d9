// Datasets and the DataLoader.
//
//   data::ImageDataset train = data::fashion_mnist(dir, data::Split::train);
//   data::DataLoader loader(train, data::LoaderOptions(128).set_shuffle(true).set_seed(0));
//   for (std::int64_t epoch = 0; epoch < 10; ++epoch)
//     for (const data::Batch& batch : loader.epoch(epoch)) { ... batch.x, batch.y ... }
//
// Batches are written into buffers that are reused while nobody else holds them,
// so a training loop allocates no new batch memory after the first step.
//
// Training images can be augmented as they are batched (flips and small shifts),
// drawn from (seed, epoch, position): an epoch sees the same images whether or not
// training was resumed.
//   data::LoaderOptions(128).set_shuffle(true).set_augment(data::Augment().set_flip(true).set_max_shift(2))
//
// Your own data in tensors: data::TensorDataset(x, y) with class labels or float targets;
// a validation set held out of it: data::random_split(dataset, {0.9, 0.1}, seed); rare
// classes drawn as often as the others: LoaderOptions::set_weighted_sampling.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln::data {

struct Batch {
  Tensor x;  // (B, ...) float32
  Tensor y;  // (B) int64 labels, or the dataset's targets: (B, ...) of target_dtype()
};

class Dataset {
public:
  virtual ~Dataset() = default;
  virtual std::int64_t size() const = 0;
  virtual Shape sample_shape() const = 0;  // shape of one x
  // One target: a class label (a 0-d int64) unless the dataset says otherwise.
  virtual Shape target_shape() const { return {}; }
  virtual DType target_dtype() const { return kInt64; }
  // Writes samples `indices` into x (count, sample_shape...) and y (count, target_shape...),
  // both preallocated.
  virtual void fill(const std::vector<std::int64_t>& indices, Tensor& x, Tensor& y) const = 0;
  // The value a blank (zero) input takes once served: what a shifted image is padded with.
  virtual float blank_value() const { return 0.0f; }
};

// uint8 images (N, ...) with int64 labels, served as float32 (pixel / 255 - mean) / std.
class ImageDataset : public Dataset {
public:
  ImageDataset(Tensor images, Tensor labels, double mean = 0.0, double std = 1.0);
  std::int64_t size() const override { return images_.size(0); }
  Shape sample_shape() const override;
  void fill(const std::vector<std::int64_t>& indices, Tensor& x, Tensor& y) const override;
  float blank_value() const override { return static_cast<float>(-mean_ / std_); }
  // The first n samples (a view: no copy), for quick runs and tests.
  ImageDataset head(std::int64_t n) const;
  const Tensor& images() const { return images_; }
  const Tensor& labels() const { return labels_; }
  double mean() const { return mean_; }
  double std() const { return std_; }

private:
  Tensor images_, labels_;
  double mean_, std_;
};

// Samples and targets held in tensors, for data of your own:
//   data::TensorDataset ds(features, labels);   // (N, ...) and (N) integer class labels
//   data::TensorDataset reg(features, values);  // (N, ...) and (N, ...) float targets
// x is served as float32 (other real dtypes converted). Integer y are class labels,
// served as int64; floating y are targets of any shape, served as float32. The dataset
// holds contiguous host tensors: yours, shared, when they already are such (float32 x,
// int64 or float32 y, on the CPU); otherwise converted copies, made at construction.
class TensorDataset : public Dataset {
public:
  TensorDataset(const Tensor& x, const Tensor& y);
  std::int64_t size() const override { return x_.size(0); }
  Shape sample_shape() const override;
  Shape target_shape() const override;
  DType target_dtype() const override { return y_.dtype(); }
  void fill(const std::vector<std::int64_t>& indices, Tensor& x, Tensor& y) const override;
  const Tensor& x() const { return x_; }
  const Tensor& y() const { return y_; }

private:
  Tensor x_, y_;
};

// The samples of `parent` at `indices`, in that order (as torch.utils.data.Subset): a
// validation split, one class, a quick run on fewer samples. A view: the parent must
// outlive the subset. Indices may repeat; each must lie in [0, parent.size()).
class Subset : public Dataset {
public:
  Subset(const Dataset& parent, std::vector<std::int64_t> indices);
  std::int64_t size() const override { return static_cast<std::int64_t>(indices_.size()); }
  Shape sample_shape() const override { return parent_->sample_shape(); }
  Shape target_shape() const override { return parent_->target_shape(); }
  DType target_dtype() const override { return parent_->target_dtype(); }
  void fill(const std::vector<std::int64_t>& indices, Tensor& x, Tensor& y) const override;
  float blank_value() const override { return parent_->blank_value(); }
  const Dataset& parent() const { return *parent_; }
  // The parent's index of each sample.
  const std::vector<std::int64_t>& indices() const { return indices_; }

private:
  const Dataset* parent_;
  std::vector<std::int64_t> indices_;
};

// Several datasets one after another, as torch.utils.data.ConcatDataset: sample i of the
// second follows the first's last. They must agree on the shapes and the target dtype.
// A view: the datasets must outlive it. E.g. training again on the training and the
// validation parts once the settings are chosen.
class ConcatDataset : public Dataset {
public:
  explicit ConcatDataset(std::vector<const Dataset*> datasets);
  std::int64_t size() const override { return ends_.empty() ? 0 : ends_.back(); }
  Shape sample_shape() const override { return datasets_.front()->sample_shape(); }
  Shape target_shape() const override { return datasets_.front()->target_shape(); }
  DType target_dtype() const override { return datasets_.front()->target_dtype(); }
  void fill(const std::vector<std::int64_t>& indices, Tensor& x, Tensor& y) const override;
  float blank_value() const override { return datasets_.front()->blank_value(); }

private:
  std::vector<const Dataset*> datasets_;
  std::vector<std::int64_t> ends_;  // ends_[k]: one past dataset k's last sample
};

// Splits `dataset` into disjoint subsets of randomly chosen samples, as
// torch.utils.data.random_split: `lengths` are counts that sum to dataset.size(), or
// fractions that sum to 1 (subset i gets floor(N fraction_i) samples, and the samples
// left over go one each to the first subsets). The permutation is drawn from `seed`
// alone, so a split repeats from run to run.
//   std::vector<data::Subset> parts = data::random_split(all, {0.8, 0.2}, 0);
//   data::DataLoader train(parts[0], ...), validation(parts[1], ...);
std::vector<Subset> random_split(const Dataset& dataset, const std::vector<double>& lengths,
                                 std::uint64_t seed);

// Random changes to each training image (C, H, W), applied by the DataLoader:
// a mirror image left-right with probability 1/2, and a shift by up to max_shift
// pixels in each direction (the uncovered border takes the dataset's blank value,
// like a crop of the image padded by max_shift).
struct Augment {
  bool flip = false;
  std::int64_t max_shift = 0;
  Augment& set_flip(bool v) { flip = v; return *this; }
  Augment& set_max_shift(std::int64_t v) { max_shift = v; return *this; }
  bool any() const { return flip || max_shift > 0; }
};

// Each epoch's samples drawn with probability proportional to their weights, as
// torch.utils.data.WeightedRandomSampler: `count` draws an epoch (0: as many as the
// dataset has samples), with replacement, or without (then each sample at most once).
// With weights from class_balance_weights every class comes up about equally often.
struct WeightedSampling {
  std::vector<double> weights;  // one per sample, >= 0, not all 0
  std::int64_t count = 0;
  bool replacement = true;
};

struct LoaderOptions {
  explicit LoaderOptions(std::int64_t batch_size) : batch_size(batch_size) {}
  std::int64_t batch_size;
  bool shuffle = false;
  std::uint64_t seed = 0;
  bool drop_last = false;
  Augment augment;
  WeightedSampling sampling;  // used when it has weights; then shuffle must stay off
  LoaderOptions& set_augment(Augment v) { augment = v; return *this; }
  LoaderOptions& set_shuffle(bool v) { shuffle = v; return *this; }
  LoaderOptions& set_seed(std::uint64_t v) { seed = v; return *this; }
  LoaderOptions& set_drop_last(bool v) { drop_last = v; return *this; }
  LoaderOptions& set_weighted_sampling(std::vector<double> weights, std::int64_t count = 0,
                                       bool replacement = true) {
    sampling = {std::move(weights), count, replacement};
    return *this;
  }
};

// 1 / (the number of samples of its class) for each of `labels` (N integer class labels):
// the weights that make WeightedSampling draw the classes equally often.
std::vector<double> class_balance_weights(const Tensor& labels);

class DataLoader {
public:
  DataLoader(const Dataset& dataset, LoaderOptions options);
  std::int64_t num_batches() const;
  // Samples an epoch serves: the dataset's size, or the weighted sampling's count.
  std::int64_t epoch_size() const { return static_cast<std::int64_t>(order_.size()); }
  const LoaderOptions& options() const { return options_; }

  // The order of one epoch: a permutation (shuffle) or the weighted draws (sampling)
  // from (seed, epoch), so an epoch's batches are the same whether or not training was
  // resumed.
  class Epoch;
  Epoch epoch(std::int64_t index);
  // Batch `b` of the epoch whose order was last set by epoch().
  const Batch& batch(std::int64_t b);

private:
  const Dataset& dataset_;
  LoaderOptions options_;
  std::vector<std::int64_t> order_;
  std::int64_t epoch_ = 0;
  Batch current_;
  void augment(std::int64_t start);
};

class DataLoader::Epoch {
public:
  class iterator {
  public:
    iterator(DataLoader* loader, std::int64_t b) : loader_(loader), b_(b) {}
    const Batch& operator*() const { return loader_->batch(b_); }
    iterator& operator++() { ++b_; return *this; }
    bool operator!=(const iterator& o) const { return b_ != o.b_; }
  private:
    DataLoader* loader_;
    std::int64_t b_;
  };
  explicit Epoch(DataLoader* loader) : loader_(loader) {}
  iterator begin() const { return {loader_, 0}; }
  iterator end() const { return {loader_, loader_->num_batches()}; }
private:
  DataLoader* loader_;
};

}  // namespace kiln::data
