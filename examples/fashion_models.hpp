// The two Fashion-MNIST networks, defined once: mlp_fashion and cnn_fashion
// train them, quantize_fashion rebuilds them to load those checkpoints.
//
// Each is a Sequential of numbered layers, so checkpoint keys are "1.weight",
// "1.bias", ... as PyTorch's nn.Sequential would name them.
#pragma once

#include <memory>

#include "kiln/kiln.hpp"

namespace example {

// 784 -> 256 -> 128 -> 10 with ReLUs.
inline std::shared_ptr<kiln::nn::Sequential> fashion_mlp() {
  using namespace kiln;
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(),         // (B, 1, 28, 28) -> (B, 784)
      std::make_shared<nn::Linear>(784, 256),  // (B, 256)
      std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(256, 128),  // (B, 128)
      std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(128, 10),   // (B, 10) logits
  });
}

//   (B, 1, 28, 28) -> conv 3x3, 32, pad 1 -> [BatchNorm] -> ReLU -> maxpool 2 -> (B, 32, 14, 14)
//                  -> conv 3x3, 64, pad 1 -> [BatchNorm] -> ReLU -> maxpool 2 -> (B, 64, 7, 7)
//                  -> flatten 3136 -> Linear 128 -> ReLU -> Linear 10
inline std::shared_ptr<kiln::nn::Sequential> fashion_cnn(bool batchnorm) {
  using namespace kiln;
  auto model = std::make_shared<nn::Sequential>();
  // One convolution block: conv -> [batchnorm] -> ReLU -> 2x2 max-pool.
  auto block = [&](std::int64_t in, std::int64_t out) {
    model->push_back(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(in, out, 3).padding(1)));
    if (batchnorm) model->push_back(std::make_shared<nn::BatchNorm2d>(out));
    model->push_back(std::make_shared<nn::ReLU>());
    model->push_back(std::make_shared<nn::MaxPool2d>(2));
  };
  block(1, 32);                                         // (B, 32, 14, 14)
  block(32, 64);                                        // (B, 64, 7, 7)
  model->push_back(std::make_shared<nn::Flatten>());    // (B, 3136)
  model->push_back(std::make_shared<nn::Linear>(3136, 128));
  model->push_back(std::make_shared<nn::ReLU>());
  model->push_back(std::make_shared<nn::Linear>(128, 10));  // (B, 10) logits
  return model;
}

}  // namespace example
