// Fashion-MNIST (or any MNIST-format directory).
#pragma once

#include <string>

#include "kiln/data/dataset.hpp"

namespace kiln::data {

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";
// Mean and standard deviation of Fashion-MNIST's training pixels (scaled to [0, 1]).
inline constexpr double kFashionMnistMean = 0.2860;
inline constexpr double kFashionMnistStd = 0.3530;

enum class Split { train, test };

// Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from `dir`: images (N, 1, 28, 28),
// normalised with the statistics above. Errors name the missing or broken file.
ImageDataset fashion_mnist(const std::string& dir, Split split);

}  // namespace kiln::data
