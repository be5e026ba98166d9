#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <sstream>
#include <string>

#include "kiln/core/factories.hpp"
#include "kiln/core/rng.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/data/dataset.hpp"
#include "kiln/data/fashion_mnist.hpp"
#include "kiln/data/idx.hpp"

namespace kiln::data {

// ---- ImageDataset ------------------------------------------------------------------------

ImageDataset::ImageDataset(Tensor images, Tensor labels, double mean, double std)
    : images_(std::move(images)), labels_(std::move(labels)), mean_(mean), std_(std) {
  KILN_CHECK(images_.dtype() == kUInt8 && images_.dim() >= 2, "ImageDataset: images must be uint8 (N, ...) but are ",
             images_.dtype(), " of shape ", fmt(images_.shape()));
  KILN_CHECK(labels_.dim() == 1 && labels_.size(0) == images_.size(0), "ImageDataset: ", labels_.numel(),
             " labels for ", images_.size(0), " images; they must match");
  KILN_CHECK(std > 0, "ImageDataset: std must be positive, got ", std);
  labels_ = labels_.to(kInt64).contiguous();
  images_ = images_.contiguous();
}

Shape ImageDataset::sample_shape() const { return Shape(images_.shape().begin() + 1, images_.shape().end()); }

void ImageDataset::fill(const std::vector<std::int64_t>& indices, Tensor& x, Tensor& y) const {
  const std::int64_t per = numel_of(sample_shape());
  const auto* src = images_.data_ptr<std::uint8_t>();
  const auto* lab = labels_.data_ptr<std::int64_t>();
  float* dst = x.data_ptr<float>();
  std::int64_t* out = y.data_ptr<std::int64_t>();
  // x = (v / 255 - mean) / std = v * a + b
  const float a = static_cast<float>(1.0 / (255.0 * std_)), b = static_cast<float>(-mean_ / std_);
  const auto count = static_cast<std::int64_t>(indices.size());
  parallel_for(0, count, std::max<std::int64_t>(1, 16384 / per), [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const std::uint8_t* s = src + indices[i] * per;
      float* d = dst + i * per;
      for (std::int64_t k = 0; k < per; ++k) d[k] = static_cast<float>(s[k]) * a + b;
      out[i] = lab[indices[i]];
    }
  });
}

ImageDataset ImageDataset::head(std::int64_t n) const {
  n = std::clamp<std::int64_t>(n, 0, size());
  return ImageDataset(images_.narrow(0, 0, n), labels_.narrow(0, 0, n), mean_, std_);
}

// ---- TensorDataset ---------------------------------------------------------------------------

TensorDataset::TensorDataset(const Tensor& x, const Tensor& y) {
  KILN_CHECK(x.defined() && y.defined(), "TensorDataset: x and y must both be defined tensors");
  KILN_CHECK(x.dim() >= 1 && y.dim() >= 1 && x.size(0) == y.size(0), "TensorDataset: x of shape ", fmt(x.shape()),
             " and y of shape ", fmt(y.shape()), " must have the same number of samples (dimension 0)");
  KILN_CHECK(x.dtype() != kQ4_0 && y.dtype() != kQ4_0,
             "TensorDataset: x is ", x.dtype(), " and y is ", y.dtype(),
             "; x must hold numbers (served as float32), y class labels (an integer dtype) or float targets");
  if (!is_floating(y.dtype()))
    KILN_CHECK(y.dim() == 1, "TensorDataset: integer y are class labels, one per sample, so y must be (N), not ",
               fmt(y.shape()), "; pass float targets for values of another shape");
  x_ = x.detach().to(Device::cpu()).to(kFloat32).contiguous();
  y_ = y.detach().to(Device::cpu()).to(is_floating(y.dtype()) ? kFloat32 : kInt64).contiguous();
}

Shape TensorDataset::sample_shape() const { return Shape(x_.shape().begin() + 1, x_.shape().end()); }
Shape TensorDataset::target_shape() const { return Shape(y_.shape().begin() + 1, y_.shape().end()); }

void TensorDataset::fill(const std::vector<std::int64_t>& indices, Tensor& x, Tensor& y) const {
  const auto copy_rows = [&indices]<class T>(const Tensor& from, Tensor& to, T) {
    const std::int64_t per = from.size(0) == 0 ? 0 : from.numel() / from.size(0);
    const T* src = from.data_ptr<T>();
    T* dst = to.data_ptr<T>();
    for (std::size_t i = 0; i < indices.size(); ++i)
      std::copy_n(src + indices[i] * per, per, dst + static_cast<std::int64_t>(i) * per);
  };
  copy_rows(x_, x, float{});
  if (y_.dtype() == kInt64) copy_rows(y_, y, std::int64_t{});
  else copy_rows(y_, y, float{});
}

namespace {
// A uniform random permutation of 0, 1, ..., n - 1 (Fisher-Yates) from g.
std::vector<std::int64_t> permutation(std::size_t n, Generator& g) {
  std::vector<std::int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[g.below(i)]);
  return order;
}
}  // namespace

// ---- Subset and random_split -----------------------------------------------------------------

Subset::Subset(const Dataset& parent, std::vector<std::int64_t> indices)
    : parent_(&parent), indices_(std::move(indices)) {
  for (std::int64_t i : indices_)
    KILN_CHECK(i >= 0 && i < parent.size(), "Subset: index ", i, " is out of range for a dataset of ",
               parent.size(), " samples");
}

void Subset::fill(const std::vector<std::int64_t>& indices, Tensor& x, Tensor& y) const {
  std::vector<std::int64_t> in_parent(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i)
    in_parent[i] = indices_.at(static_cast<std::size_t>(indices[i]));
  parent_->fill(in_parent, x, y);
}

ConcatDataset::ConcatDataset(std::vector<const Dataset*> datasets) : datasets_(std::move(datasets)) {
  KILN_CHECK(!datasets_.empty(), "ConcatDataset: give at least one dataset");
  std::int64_t end = 0;
  for (std::size_t k = 0; k < datasets_.size(); ++k) {
    const Dataset* d = datasets_[k];
    KILN_CHECK(d != nullptr, "ConcatDataset: dataset ", k, " is null");
    KILN_CHECK(d->sample_shape() == sample_shape() && d->target_shape() == target_shape() &&
                   d->target_dtype() == target_dtype(),
               "ConcatDataset: dataset ", k, " has samples ", fmt(d->sample_shape()), " and targets ",
               fmt(d->target_shape()), " ", d->target_dtype(), " but dataset 0 has ", fmt(sample_shape()),
               " and ", fmt(target_shape()), " ", target_dtype(), "; they must agree");
    end += d->size();
    ends_.push_back(end);
  }
}

// Each run of indices that fall in one dataset is filled by it into those rows of x and y.
void ConcatDataset::fill(const std::vector<std::int64_t>& indices, Tensor& x, Tensor& y) const {
  std::size_t first = 0;
  while (first < indices.size()) {
    KILN_CHECK(indices[first] >= 0 && indices[first] < size(), "ConcatDataset: index ", indices[first],
               " is out of range for ", size(), " samples");
    const auto k = static_cast<std::size_t>(std::upper_bound(ends_.begin(), ends_.end(), indices[first]) -
                                            ends_.begin());
    const std::int64_t begin = k == 0 ? 0 : ends_[k - 1];
    std::vector<std::int64_t> local;
    std::size_t last = first;
    while (last < indices.size() && indices[last] >= begin && indices[last] < ends_[k])
      local.push_back(indices[last++] - begin);
    const auto start = static_cast<std::int64_t>(first), count = static_cast<std::int64_t>(last - first);
    Tensor xs = x.narrow(0, start, count), ys = y.narrow(0, start, count);
    datasets_[k]->fill(local, xs, ys);
    first = last;
  }
}

namespace {

std::string lengths_str(const std::vector<double>& lengths) {
  std::ostringstream os;
  os << "(";
  for (std::size_t i = 0; i < lengths.size(); ++i) os << (i ? ", " : "") << lengths[i];
  os << ")";
  return os.str();
}

// The subsets' sizes: PyTorch's rule, fractions first (when they sum to 1), else counts.
std::vector<std::int64_t> split_sizes(std::int64_t n, const std::vector<double>& lengths) {
  KILN_CHECK(!lengths.empty(), "random_split: give at least one length");
  double total = 0;
  for (double l : lengths) {
    KILN_CHECK(std::isfinite(l) && l >= 0, "random_split: lengths ", lengths_str(lengths),
               " must be counts or fractions, none negative");
    total += l;
  }
  std::vector<std::int64_t> sizes;
  if (std::abs(total - 1.0) <= 1e-9 && total <= 1.0) {  // fractions
    std::int64_t given = 0;
    for (double f : lengths) {
      sizes.push_back(static_cast<std::int64_t>(std::floor(static_cast<double>(n) * f)));
      given += sizes.back();
    }
    for (std::int64_t i = 0; i < n - given; ++i) ++sizes[static_cast<std::size_t>(i) % sizes.size()];
    return sizes;
  }
  for (double l : lengths) {
    KILN_CHECK(l == std::floor(l), "random_split: lengths ", lengths_str(lengths),
               " are neither fractions summing to 1 nor whole counts");
    sizes.push_back(static_cast<std::int64_t>(l));
  }
  KILN_CHECK(std::accumulate(sizes.begin(), sizes.end(), std::int64_t{0}) == n, "random_split: lengths ",
             lengths_str(lengths), " sum to ", total, " but the dataset has ", n,
             " samples; give counts that sum to it, or fractions that sum to 1");
  return sizes;
}

}  // namespace

std::vector<Subset> random_split(const Dataset& dataset, const std::vector<double>& lengths,
                                 std::uint64_t seed) {
  const std::vector<std::int64_t> sizes = split_sizes(dataset.size(), lengths);
  Generator g(seed);
  const std::vector<std::int64_t> order = permutation(static_cast<std::size_t>(dataset.size()), g);
  std::vector<Subset> parts;
  auto first = order.begin();
  for (std::int64_t size : sizes) {
    parts.emplace_back(dataset, std::vector<std::int64_t>(first, first + size));
    first += size;
  }
  return parts;
}

// ---- DataLoader ----------------------------------------------------------------------------

DataLoader::DataLoader(const Dataset& dataset, LoaderOptions options) : dataset_(dataset), options_(options) {
  KILN_CHECK(options.batch_size > 0, "DataLoader: batch_size must be positive, got ", options.batch_size);
  KILN_CHECK(options.augment.max_shift >= 0, "DataLoader: augment max_shift must be >= 0, got ",
             options.augment.max_shift);
  if (options.augment.any()) {
    const Shape s = dataset.sample_shape();
    KILN_CHECK(s.size() == 3, "DataLoader: augmentation works on images (C, H, W) but samples are ", fmt(s),
               "; reshape the dataset's images or turn augmentation off");
    KILN_CHECK(options.augment.max_shift < s[1] && options.augment.max_shift < s[2], "DataLoader: augment max_shift ",
               options.augment.max_shift, " must be smaller than the image (", s[1], " x ", s[2], ")");
  }
  std::int64_t epoch_size = dataset.size();
  const WeightedSampling& ws = options.sampling;
  if (!ws.weights.empty()) {
    KILN_CHECK(!options.shuffle,
               "DataLoader: weighted sampling draws each epoch's order itself; leave shuffle off");
    KILN_CHECK(static_cast<std::int64_t>(ws.weights.size()) == dataset.size(),
               "DataLoader: ", ws.weights.size(), " sampling weights for a dataset of ", dataset.size(),
               " samples; give one weight per sample");
    std::int64_t positive = 0;
    for (double w : ws.weights) {
      KILN_CHECK(std::isfinite(w) && w >= 0, "DataLoader: sampling weights must be finite and >= 0, got ", w);
      positive += w > 0;
    }
    KILN_CHECK(positive > 0, "DataLoader: every sampling weight is 0; at least one sample must be drawable");
    KILN_CHECK(ws.count >= 0,
               "DataLoader: the weighted sampling's count must be >= 0 (0: the dataset's size), got ",
               ws.count);
    if (ws.count > 0) epoch_size = ws.count;
    KILN_CHECK(ws.replacement || epoch_size <= positive, "DataLoader: ", epoch_size,
               " draws without replacement, but only ", positive,
               " samples have a nonzero weight; draw fewer or with replacement");
  }
  order_.resize(static_cast<std::size_t>(epoch_size));
  std::iota(order_.begin(), order_.end(), 0);
}

std::int64_t DataLoader::num_batches() const {
  const std::int64_t n = epoch_size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

namespace {

// `count` indices drawn with probability proportional to `weights`. With replacement: the
// first cumulative weight above u times the total, for a uniform u. Without: the samples
// of the `count` largest keys log(u) / w (Efraimidis and Spirakis), whose order is that of
// drawing one sample after another, each from those left.
std::vector<std::int64_t> weighted_draws(const WeightedSampling& ws, std::size_t count, Generator& g) {
  std::vector<std::int64_t> drawn(count);
  if (ws.replacement) {
    std::vector<double> cumulative(ws.weights.size());
    std::partial_sum(ws.weights.begin(), ws.weights.end(), cumulative.begin());
    const double total = cumulative.back();
    for (std::int64_t& d : drawn) {
      const auto at = std::upper_bound(cumulative.begin(), cumulative.end(), g.uniform() * total);
      // u * total < total, so `at` is inside; the last positive weight guards rounding.
      d = std::min<std::int64_t>(at - cumulative.begin(), static_cast<std::int64_t>(cumulative.size()) - 1);
      while (ws.weights[static_cast<std::size_t>(d)] == 0) --d;
    }
    return drawn;
  }
  std::vector<std::pair<double, std::int64_t>> keys;
  for (std::size_t i = 0; i < ws.weights.size(); ++i) {
    const double u = g.uniform();
    if (ws.weights[i] > 0) keys.emplace_back(std::log1p(-u) / ws.weights[i], static_cast<std::int64_t>(i));
  }
  std::partial_sort(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(count), keys.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; i < count; ++i) drawn[i] = keys[i].second;
  return drawn;
}

}  // namespace

DataLoader::Epoch DataLoader::epoch(std::int64_t index) {
  epoch_ = index;
  // Its own generator, seeded from (seed, epoch): independent of everything else.
  Generator g(options_.seed * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(index) + 1);
  if (!options_.sampling.weights.empty())
    order_ = weighted_draws(options_.sampling, order_.size(), g);
  else if (options_.shuffle)
    order_ = permutation(order_.size(), g);
  else
    std::iota(order_.begin(), order_.end(), 0);
  return Epoch(this);
}

std::vector<double> class_balance_weights(const Tensor& labels) {
  KILN_CHECK(labels.dim() == 1 && !is_floating(labels.dtype()) && labels.dtype() != kQ4_0,
             "class_balance_weights: labels must be (N) integer class labels, got ", labels.dtype(),
             " of shape ", fmt(labels.shape()));
  const Tensor l = labels.to(Device::cpu()).to(kInt64).contiguous();
  const std::int64_t* v = l.data_ptr<std::int64_t>();
  std::map<std::int64_t, std::int64_t> counts;
  for (std::int64_t i = 0; i < l.numel(); ++i) ++counts[v[i]];
  std::vector<double> weights(static_cast<std::size_t>(l.numel()));
  for (std::int64_t i = 0; i < l.numel(); ++i)
    weights[static_cast<std::size_t>(i)] = 1.0 / static_cast<double>(counts[v[i]]);
  return weights;
}

const Batch& DataLoader::batch(std::int64_t b) {
  KILN_CHECK(b >= 0 && b < num_batches(), "DataLoader: batch ", b, " is out of range (", num_batches(), " batches)");
  const std::int64_t start = b * options_.batch_size;
  const std::int64_t count = std::min(options_.batch_size, epoch_size() - start);
  const std::vector<std::int64_t> idx(order_.begin() + start, order_.begin() + start + count);
  // Reuse last batch's buffers unless someone still holds them (or a view of them).
  auto unshared = [count](const Tensor& t) {
    return t.defined() && t.size(0) == count && t.impl_ptr().use_count() == 1 && t.storage().use_count() == 1;
  };
  if (!unshared(current_.x)) {
    Shape shape = dataset_.sample_shape();
    shape.insert(shape.begin(), count);
    current_.x = Tensor::empty(shape, kFloat32);
  }
  if (!unshared(current_.y)) {
    Shape shape = dataset_.target_shape();
    shape.insert(shape.begin(), count);
    current_.y = Tensor::empty(shape, dataset_.target_dtype());
  }
  dataset_.fill(idx, current_.x, current_.y);
  if (options_.augment.any()) augment(start);
  return current_;
}

// Each image's flip and shift come from its own generator, seeded by (seed, epoch,
// position in the epoch), so the result does not depend on threads or on resuming.
void DataLoader::augment(std::int64_t start) {
  const Shape s = dataset_.sample_shape();
  const std::int64_t channels = s[0], h = s[1], w = s[2], per = channels * h * w;
  const std::int64_t count = current_.x.size(0), max_shift = options_.augment.max_shift;
  const float blank = dataset_.blank_value();
  float* x = current_.x.data_ptr<float>();
  parallel_for(0, count, 16, [&](std::int64_t lo, std::int64_t hi) {
    std::vector<float> image(static_cast<std::size_t>(per));
    for (std::int64_t i = lo; i < hi; ++i) {
      const std::uint64_t position = static_cast<std::uint64_t>(start + i);
      Generator g((options_.seed * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(epoch_)) *
                      0xbf58476d1ce4e5b9ULL + position + 1);
      const bool flip = options_.augment.flip && g.below(2) == 1;
      const auto span = static_cast<std::uint64_t>(2 * max_shift + 1);
      const std::int64_t dy = max_shift ? static_cast<std::int64_t>(g.below(span)) - max_shift : 0;
      const std::int64_t dx = max_shift ? static_cast<std::int64_t>(g.below(span)) - max_shift : 0;
      if (!flip && dy == 0 && dx == 0) continue;
      float* d = x + i * per;
      std::copy(d, d + per, image.begin());
      // out(r, c) = in(r - dy, c' - dx), c' the mirrored column when flipping.
      for (std::int64_t ch = 0; ch < channels; ++ch)
        for (std::int64_t r = 0; r < h; ++r)
          for (std::int64_t c = 0; c < w; ++c) {
            const std::int64_t sr = r - dy, sc = (flip ? w - 1 - c : c) - dx;
            const bool inside = sr >= 0 && sr < h && sc >= 0 && sc < w;
            d[(ch * h + r) * w + c] = inside ? image[static_cast<std::size_t>((ch * h + sr) * w + sc)] : blank;
          }
    }
  });
}

// ---- Fashion-MNIST --------------------------------------------------------------------------

namespace {
std::string find_file(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem + ".gz", stem}) {
    const std::filesystem::path p = std::filesystem::path(dir) / name;
    if (std::filesystem::exists(p)) return p.string();
  }
  throw Error("fashion_mnist: neither " + stem + ".gz nor " + stem + " is in '" + dir +
              "'; install Debian's dataset-fashion-mnist or pass --data DIR with MNIST-format files");
}
}  // namespace

ImageDataset fashion_mnist(const std::string& dir, Split split) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  Tensor images = read_idx(find_file(dir, prefix + "-images-idx3-ubyte"));
  Tensor labels = read_idx(find_file(dir, prefix + "-labels-idx1-ubyte"));
  KILN_CHECK(images.dim() == 3 && images.dtype() == kUInt8, "fashion_mnist: images in ", dir,
             " must be uint8 (N, H, W) but are ", images.dtype(), " ", fmt(images.shape()));
  KILN_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "fashion_mnist: ", labels.numel(),
             " labels for ", images.size(0), " images in ", dir);
  images = images.reshape({images.size(0), 1, images.size(1), images.size(2)});
  return ImageDataset(images, labels, kFashionMnistMean, kFashionMnistStd);
}

}  // namespace kiln::data
