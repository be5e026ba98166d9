// Adaptive max pooling, 1-D adaptive and power-average pooling, max and average pooling's
// ceil_mode, count_include_pad, positions and unpooling, affine_grid and grid_sample,
// channel_shuffle and gumbel_softmax, the 1-D transposed convolution, RMS and local
// response normalisation, channel and alpha dropout, conv3d, the 3-D poolings and
// normalisations, the 1-D
// and 3-D interpolations, weight and spectral normalisation on the GPU against the CPU:
// outputs, gradients, and the same dropout masks for a seed.
#include <doctest/doctest.h>

#include "kiln/kiln.hpp"
#include "tests/cuda/cuda_parity.hpp"
#include "tests/helpers.hpp"

namespace kiln::test {

TEST_CASE("cuda: adaptive max pooling (values and positions), 1-D adaptive and power-average pooling") {
  manual_seed(90);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor x = randn({2, 3, 7, 5}, dt);
    for (const Pair out : {Pair{1, 1}, Pair{3, 2}, Pair{7, 5}, Pair{9, 6}})
      parity([out](const auto& v) { return adaptive_max_pool2d(v[0], out); }, {x}, tol_for(dt));
    const ValuesIndices on_gpu = adaptive_max_pool2d_with_indices(x.to(gpu), {3, 4});
    CHECK(on_gpu.indices.device() == gpu);
    CHECK(on_gpu.indices.to(Device::cpu()).to_vector<std::int64_t>() ==
          adaptive_max_pool2d_with_indices(x, {3, 4}).indices.to_vector<std::int64_t>());
    const Tensor seq = randn({2, 3, 11}, dt);
    parity([](const auto& v) { return adaptive_max_pool1d(v[0], 4); }, {seq}, tol_for(dt));
    parity([](const auto& v) { return adaptive_avg_pool1d(v[0], 4); }, {seq}, tol_for(dt));
    const Tensor positive = rand({2, 3, 6, 7}, dt) + 0.5;
    parity([](const auto& v) { return lp_pool2d(v[0], 2, {2, 3}); }, {positive}, tol_for(dt));
    parity([](const auto& v) { return lp_pool1d(v[0], 3, 3, 2); }, {positive.narrow(2, 0, 1).squeeze(2)},
           tol_for(dt));
  }
}

TEST_CASE("cuda: max and average pooling with ceil_mode and count_include_pad, positions, unpooling") {
  manual_seed(92);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor x = randn({2, 3, 7, 6}, dt);
    parity([](const auto& v) { return max_pool2d(v[0], {2, 2}, {2, 2}, {0, 0}, true); }, {x}, tol_for(dt));
    parity([](const auto& v) { return max_pool2d(v[0], {3, 3}, {2, 2}, {1, 1}, true); }, {x}, tol_for(dt));
    for (const bool include_pad : {true, false}) {
      parity(
          [include_pad](const auto& v) {
            return avg_pool2d(v[0], {3, 3}, {2, 2}, {1, 1}, true, include_pad);
          },
          {x}, tol_for(dt));
      parity(
          [include_pad](const auto& v) {
            return avg_pool2d(v[0], {3, 2}, {2, 3}, {1, 1}, false, include_pad);
          },
          {x}, tol_for(dt));
    }
    const ValuesIndices on_gpu = max_pool2d_with_indices(x.to(gpu), {3, 3}, {2, 2}, {1, 1}, true);
    const ValuesIndices on_cpu = max_pool2d_with_indices(x, {3, 3}, {2, 2}, {1, 1}, true);
    CHECK(on_gpu.indices.dtype() == kInt64);
    CHECK(on_gpu.indices.to(Device::cpu()).to_vector<std::int64_t>() ==
          on_cpu.indices.to_vector<std::int64_t>());
    const Tensor idx = max_pool2d_with_indices(x, {2, 2}).indices;
    parity(
        [idx](const auto& v) {
          return max_unpool2d(v[0], idx.to(v[0].device()), {2, 2}, {0, 0}, {0, 0}, Pair{7, 6});
        },
        {randn({2, 3, 3, 3}, dt)}, tol_for(dt));
    // The 3-D and 1-D positions and unpooling.
    const Tensor vol = randn({2, 2, 5, 4, 6}, dt);
    const ValuesIndices v_gpu = max_pool3d_with_indices(vol.to(gpu), {2, 3, 2}, {2, 1, 2}, {1, 1, 0}, true);
    const ValuesIndices v_cpu = max_pool3d_with_indices(vol, {2, 3, 2}, {2, 1, 2}, {1, 1, 0}, true);
    CHECK(v_gpu.indices.to(Device::cpu()).to_vector<std::int64_t>() ==
          v_cpu.indices.to_vector<std::int64_t>());
    const Tensor idx3 = max_pool3d_with_indices(vol, {2, 2, 2}).indices;
    parity(
        [idx3](const auto& v) {
          return max_unpool3d(v[0], idx3.to(v[0].device()), {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, Triple{5, 4, 6});
        },
        {randn({2, 2, 2, 2, 3}, dt)}, tol_for(dt));
    const Tensor seq = randn({2, 3, 9}, dt);
    const Tensor idx1 = max_pool1d_with_indices(seq, 3, 2, 1).indices;
    CHECK(max_pool1d_with_indices(seq.to(gpu), 3, 2, 1).indices.to(Device::cpu()).to_vector<std::int64_t>() ==
          idx1.to_vector<std::int64_t>());
    parity([idx1](const auto& v) { return max_unpool1d(v[0], idx1.to(v[0].device()), 3, 2, 1, 9); },
           {randn({2, 3, 5}, dt)}, tol_for(dt));
  }
}

TEST_CASE("cuda: affine_grid and grid_sample, every mode and padding") {
  manual_seed(93);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor x = randn({2, 3, 5, 6}, dt), grid = rand({2, 4, 3, 2}, dt) * 3.0 - 1.5;
    for (const Interpolation mode : {Interpolation::bilinear, Interpolation::nearest})
      for (const GridPadding padding : {GridPadding::zeros, GridPadding::border, GridPadding::reflection})
        for (const bool corners : {false, true})
          parity([=](const auto& v) { return grid_sample(v[0], v[1], mode, padding, corners); }, {x, grid},
                 tol_for(dt));
    parity(
        [](const auto& v) {
          return grid_sample(v[0], affine_grid(v[1], {2, 3, 4, 4}));
        },
        {x, randn({2, 2, 3}, dt) * 0.5}, tol_for(dt));
  }
}

TEST_CASE("cuda: channel_shuffle, and gumbel_softmax's samples on the device") {
  manual_seed(94);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    parity([](const auto& v) { return channel_shuffle(v[0], 3); }, {randn({2, 6, 4, 3}, dt)}, tol_for(dt));
    const Tensor logits = randn({500, 6}, dt).to(gpu);
    const Tensor soft = gumbel_softmax(logits, 0.5);
    CHECK(soft.device() == gpu);
    check_same(sum(soft, {1}).to(Device::cpu()), ones({500}, dt), tol_for(dt) * 10);
    const Tensor hard = gumbel_softmax(logits, 1.0, true);
    CHECK(sum(eq(hard, 1.0).to(kFloat64)).item() == 500);
    CHECK(sum(eq(hard, 0.0).to(kFloat64)).item() == 5 * 500);
  }
}

TEST_CASE("cuda: conv_transpose1d, rms_norm and local_response_norm") {
  manual_seed(91);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    parity([](const auto& v) { return conv_transpose1d(v[0], v[1], v[2], 2, 1, 1); },
           {randn({2, 4, 6}, dt), randn({4, 3, 3}, dt), randn({3}, dt)}, tol_for(dt));
    parity([](const auto& v) { return conv_transpose1d(v[0], v[1], Tensor(), 1, 0, 0, 2, 2); },
           {randn({2, 4, 6}, dt), randn({4, 2, 2}, dt)}, tol_for(dt));
    parity([](const auto& v) { return rms_norm(v[0], {8}, v[1]); }, {randn({4, 5, 8}, dt), randn({8}, dt)},
           tol_for(dt));
    parity(
        [](const auto& v) {
          return rms_norm(v[0], {5, 8}, Tensor(), 1e-3);
        },
        {randn({4, 5, 8}, dt)}, tol_for(dt));
    parity([](const auto& v) { return local_response_norm(v[0], 3, 0.5); }, {randn({2, 6, 4, 3}, dt)},
           tol_for(dt));
  }
}

TEST_CASE("cuda: channel and alpha dropout draw the CPU's masks for a seed") {
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor img = randn({8, 16, 3, 3}, dt);
    const auto same_draw = [&](auto op, const Tensor& x) {
      manual_seed(62);
      const Tensor on_cpu = op(x, 0.3, true);
      manual_seed(62);
      Tensor leaf = x.to(gpu).requires_grad_();
      const Tensor on_gpu = op(leaf, 0.3, true);
      check_same(on_gpu.to(Device::cpu()), on_cpu, tol_for(dt));
      sum(on_gpu).backward();
      manual_seed(62);
      Tensor cpu_leaf = x.clone().requires_grad_();
      sum(op(cpu_leaf, 0.3, true)).backward();
      check_same(leaf.grad().to(Device::cpu()), cpu_leaf.grad(), tol_for(dt));
    };
    same_draw(dropout2d, img);
    same_draw(dropout1d, randn({8, 16, 5}, dt));
    same_draw(dropout3d, randn({4, 8, 2, 2, 2}, dt));
    same_draw(alpha_dropout, img);
    same_draw(feature_alpha_dropout, img);
  }
}

TEST_CASE("cuda: conv3d, conv_transpose3d, the 3-D poolings, interpolate1d and interpolate3d") {
  manual_seed(97);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor x = randn({2, 4, 5, 6, 5}, dt);
    parity(
        [](const auto& v) {
          return conv3d(v[0], v[1], v[2], {2, 1, 1}, {1, 1, 0}, {1, 2, 1}, 2);
        },
        {x, randn({6, 2, 2, 3, 2}, dt), randn({6}, dt)}, tol_for(dt) * 10);
    parity(
        [](const auto& v) {
          return conv_transpose3d(v[0], v[1], v[2], {2, 1, 2}, {1, 0, 1}, {1, 0, 0}, 2);
        },
        {x, randn({4, 3, 2, 2, 3}, dt), randn({6}, dt)}, tol_for(dt) * 10);
    parity(
        [](const auto& v) {
          return max_pool3d(v[0], {2, 3, 2}, {2, 2, 1}, {1, 1, 0}, true);
        },
        {x}, tol_for(dt));
    parity(
        [](const auto& v) {
          return avg_pool3d(v[0], {3, 2, 3}, {1, 2, 2}, {1, 0, 1}, false, false);
        },
        {x}, tol_for(dt));
    parity(
        [](const auto& v) {
          return adaptive_avg_pool3d(v[0], {3, 4, 2}) + adaptive_max_pool3d(v[0], {3, 4, 2});
        },
        {x}, tol_for(dt));
    for (const Interpolation mode :
         {Interpolation::trilinear, Interpolation::nearest, Interpolation::nearest_exact})
      parity([mode](const auto& v) { return interpolate3d(v[0], {7, 3, 8}, mode); }, {x}, tol_for(dt));
    parity([](const auto& v) { return interpolate1d(v[0], 9, Interpolation::linear, true); },
           {x.select(2, 0).select(2, 0)}, tol_for(dt));
    // BatchNorm3d's and InstanceNorm3d's statistics over volumes.
    parity([](const auto& v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); },
           {x, randn({4}, dt), randn({4}, dt)}, tol_for(dt) * 10);
    parity([](const auto& v) { return instance_norm(v[0], Tensor(), Tensor(), v[1], v[2]); },
           {x, randn({4}, dt), randn({4}, dt)}, tol_for(dt) * 10);
  }
}

TEST_CASE("cuda: weight_norm and spectral_norm, as functions and on a layer moved to the GPU") {
  manual_seed(98);
  for (DType dt : {kFloat64, kFloat32}) {
    INFO(dtype_name(dt));
    const Tensor v = randn({5, 3, 2}, dt);
    parity([](const auto& in) { return nn::weight_norm_weight(in[0], in[1], 1); }, {v, randn({1, 3, 1}, dt)},
           tol_for(dt));
    parity([](const auto& in) { return nn::weight_norm_weight(in[0], in[1], std::nullopt); },
           {v, randn({}, dt)}, tol_for(dt));
    const Tensor u0 = normalize(randn({3}, dt), 2, 0), v0 = normalize(randn({10}, dt), 2, 0);
    parity(
        [&](const auto& in) {
          Tensor u = u0.clone().to(in[0].device()), w = v0.clone().to(in[0].device());
          return nn::spectral_norm_weight(in[0], u, w, 1, 3);
        },
        {v}, tol_for(dt) * 10);
  }
  // A layer's state moved to the GPU: the same steps of the power iteration and gradients.
  auto on_cpu = nn::spectral_norm(std::make_shared<nn::Linear>(6, 4));
  auto on_gpu = nn::spectral_norm(std::make_shared<nn::Linear>(6, 4));
  on_gpu->load_state_dict(on_cpu->state_dict());
  on_gpu->to(gpu);
  CHECK(on_gpu->weight.device() == gpu);  // refreshed on the device by the move
  const Tensor x = randn({3, 6});
  for (int step = 0; step < 3; ++step) {
    sum(square((*on_cpu)(x))).backward();
    sum(square((*on_gpu)(x.to(gpu)))).backward();
  }
  const auto cpu_state = on_cpu->state_dict(), gpu_state = on_gpu->state_dict();
  for (const char* name : {"weight_u", "weight_v"})
    check_same(gpu_state.at(name).to(Device::cpu()), cpu_state.at(name), 1e-5);
  check_same(gpu_state.at("weight_orig").grad().to(Device::cpu()), cpu_state.at("weight_orig").grad(), 1e-4);
  auto wn = nn::weight_norm(std::make_shared<nn::Linear>(6, 4));
  const Tensor expected = (*wn)(x);
  wn->to(gpu);
  check_same((*wn)(x.to(gpu)).to(Device::cpu()), expected, 1e-5);
}

// Pruning a layer that lives on the GPU: the CPU's masks, its outputs and masked gradients.
TEST_CASE("cuda: pruning a layer on the GPU follows the CPU") {
  manual_seed(99);
  auto on_cpu = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 6, 3));
  auto on_gpu = std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 6, 3));
  on_gpu->load_state_dict(on_cpu->state_dict());
  on_gpu->to(gpu);
  for (nn::Module* m : {static_cast<nn::Module*>(on_cpu.get()), static_cast<nn::Module*>(on_gpu.get())}) {
    nn::prune::l1_unstructured(*m, "weight", 0.3);
    nn::prune::ln_structured(*m, "weight", 2, 1.0, 0);
    manual_seed(5);
    nn::prune::random_unstructured(*m, "bias", 1);
  }
  CHECK(on_gpu->named_buffers()[0].second.device() == gpu);
  const auto cpu_state = on_cpu->state_dict(), gpu_state = on_gpu->state_dict();
  for (const char* name : {"weight_mask", "bias_mask"})
    CHECK(equal(gpu_state.at(name).to(Device::cpu()), cpu_state.at(name)));
  const Tensor x = randn({2, 3, 7, 7});
  sum(square((*on_cpu)(x))).backward();
  sum(square((*on_gpu)(x.to(gpu)))).backward();
  check_same(gpu_state.at("weight_orig").grad().to(Device::cpu()), cpu_state.at("weight_orig").grad(), 1e-4);
  nn::prune::remove(*on_gpu, "weight");
  check_same(on_gpu->weight.to(Device::cpu()), on_cpu->weight, 1e-6);
}

}  // namespace kiln::test
