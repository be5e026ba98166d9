// The IDX format of (Fashion-)MNIST, plain or gzip-compressed.
#pragma once

#include <string>

#include "kiln/core/tensor.hpp"

namespace kiln::data {

// Reads an IDX file (gzip or plain: detected from the bytes, not the name).
// Supported element types: unsigned byte (0x08) -> uint8, int (0x0C) -> int32,
// float (0x0D) -> float32. A missing, truncated or malformed file is a kiln::Error
// naming the file and what is wrong.
Tensor read_idx(const std::string& path);

}  // namespace kiln::data
