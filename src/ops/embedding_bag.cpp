// embedding_bag: the rows of an embedding table picked by each bag of indices, summed,
// averaged or reduced to their maximum, without the (entries, dim) gather kept as an
// output (torch.nn.functional.embedding_bag). The bags are read on the host (a GPU
// input once): each kept entry's bag number, then index_select, index_add or
// scatter_reduce, so it is differentiable in the weight (and the per-sample weights)
// and runs on either device.
#include <string>
#include <vector>

#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

const char* embedding_bag_mode_name(EmbeddingBagMode mode) {
  switch (mode) {
    case EmbeddingBagMode::sum:
      return "sum";
    case EmbeddingBagMode::mean:
      return "mean";
    case EmbeddingBagMode::max:
      return "max";
  }
  return "?";
}

Tensor embedding_bag(const Tensor& weight, const Tensor& input, const Tensor& offsets, EmbeddingBagMode mode,
                     const Tensor& per_sample_weights, bool include_last_offset,
                     std::optional<std::int64_t> padding_idx) {
  constexpr const char* op = "embedding_bag";
  detail::check_floating(op, weight);
  KILN_CHECK(weight.dim() == 2, op, ": the weight must be a (num_embeddings, dim) table, got shape ",
             fmt(weight.shape()));
  KILN_CHECK(input.dtype() == kInt64 || input.dtype() == kInt32, op, ": indices must be int64 or int32, got ",
             input.dtype());
  const std::int64_t rows = weight.size(0);
  // The bags: rows of a 2-D input, or the runs of a 1-D input that start at `offsets`.
  std::vector<std::int64_t> starts;
  std::int64_t entries = input.numel();
  if (input.dim() == 2) {
    KILN_CHECK(!offsets.defined(), op, ": a 2-D input of shape ", fmt(input.shape()),
               " holds one bag per row; offsets are for a 1-D input");
    for (std::int64_t b = 0; b < input.size(0); ++b) starts.push_back(b * input.size(1));
  } else {
    KILN_CHECK(input.dim() == 1 && offsets.defined() && offsets.dim() == 1, op,
               ": a 1-D input needs 1-D offsets (where each bag starts); got input of shape ",
               fmt(input.shape()),
               offsets.defined() ? " and offsets of " + std::to_string(offsets.dim()) + " dimensions"
                                 : " and no offsets");
    starts = offsets.to(kInt64).to_vector<std::int64_t>();
    if (include_last_offset) {
      KILN_CHECK(!starts.empty(), op, ": include_last_offset needs at least one offset");
      entries = std::min(entries, starts.back());  // torch ignores what lies past the last offset
      starts.pop_back();
    }
    for (std::size_t b = 0; b < starts.size(); ++b)
      KILN_CHECK(starts[b] >= 0 && starts[b] <= entries && (b == 0 || starts[b] >= starts[b - 1]) &&
                     (b > 0 || starts[b] == 0),
                 op, ": offsets must start at 0 and rise within the ", entries, " indices; offset ", b,
                 " is ", starts[b]);
  }
  const std::int64_t bags = static_cast<std::int64_t>(starts.size());
  if (per_sample_weights.defined()) {
    KILN_CHECK(mode == EmbeddingBagMode::sum, op, ": per_sample_weights need mode sum, not ",
               embedding_bag_mode_name(mode));
    KILN_CHECK(per_sample_weights.shape() == input.shape(), op, ": per_sample_weights of shape ",
               fmt(per_sample_weights.shape()), " must match the input's ", fmt(input.shape()));
    detail::check_same_dtype_device(op, {weight, per_sample_weights});
  }
  const std::int64_t pad = padding_idx ? (*padding_idx < 0 ? *padding_idx + rows : *padding_idx) : -1;
  KILN_CHECK(!padding_idx || (pad >= 0 && pad < rows), op, ": padding_idx ", *padding_idx, " is outside the ",
             rows, " rows");
  // Each entry kept (in range; not the padding row), and its bag.
  const std::vector<std::int64_t> index =
      input.to(kInt64).contiguous().reshape({-1}).to_vector<std::int64_t>();
  std::vector<std::int64_t> kept, bag_of, count(static_cast<std::size_t>(bags), 0);
  for (std::int64_t b = 0; b < bags; ++b) {
    const std::int64_t end = b + 1 < bags ? starts[static_cast<std::size_t>(b + 1)] : entries;
    for (std::int64_t e = starts[static_cast<std::size_t>(b)]; e < end; ++e) {
      const std::int64_t v = index[static_cast<std::size_t>(e)];
      KILN_CHECK(v >= 0 && v < rows, op, ": index ", v, " is out of range for a table of ", rows, " rows");
      if (v == pad) continue;
      kept.push_back(e);
      bag_of.push_back(b);
      ++count[static_cast<std::size_t>(b)];
    }
  }
  const Device device = weight.device();
  const auto on_device = [&](const std::vector<std::int64_t>& v) {
    const Tensor t = from_vector(v, {static_cast<std::int64_t>(v.size())});
    return device.is_cuda() ? t.to(device) : t;
  };
  std::vector<std::int64_t> picked_rows;
  picked_rows.reserve(kept.size());
  for (std::int64_t e : kept) picked_rows.push_back(index[static_cast<std::size_t>(e)]);
  Tensor vectors = index_select(weight, 0, on_device(picked_rows));  // (kept, dim)
  if (per_sample_weights.defined())
    vectors = vectors * index_select(per_sample_weights.reshape({-1}), 0, on_device(kept)).unsqueeze(1);
  const Tensor bag_index = on_device(bag_of), empty = zeros({bags, weight.size(1)}, weight.dtype(), device);
  if (mode == EmbeddingBagMode::max) {  // empty bags stay 0, as torch's
    const Tensor spread =
        bag_index.unsqueeze(1).expand({static_cast<std::int64_t>(kept.size()), weight.size(1)});
    return scatter_reduce(empty, 0, spread.contiguous(), vectors, ScatterReduce::amax, false);
  }
  const Tensor total = index_add(empty, 0, bag_index, vectors);
  if (mode == EmbeddingBagMode::sum) return total;
  std::vector<double> divisor(count.begin(), count.end());
  for (double& d : divisor) d = d > 0 ? d : 1;  // an empty bag's mean is 0
  Tensor by = from_vector(divisor, {bags, 1}).to(weight.dtype());
  return total / (device.is_cuda() ? by.to(device) : by);
}

}  // namespace kiln
