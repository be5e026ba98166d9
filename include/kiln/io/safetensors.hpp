// Reading and writing the safetensors format, so weights move between kiln and
// PyTorch (and anything else that reads it):
//   8 bytes: N, the header length (little-endian uint64)
//   N bytes: a JSON object {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
//            "__metadata__": {"key": "value"}}
//   the data: each tensor's bytes, little-endian, row-major, at [b, e) of this section.
#pragma once

#include <map>
#include <string>

#include "kiln/core/tensor.hpp"

namespace kiln::io {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// Writes atomically: to a temporary file in the same folder, flushed to disk, then
// renamed over `path`. A crash mid-save leaves any previous file intact.
void save(const std::string& path, const TensorMap& tensors, const Metadata& metadata = {});

struct Loaded {
  TensorMap tensors;
  Metadata metadata;
};
// Every size and offset is checked against the file; a truncated or malformed file
// is a kiln::Error that says what is wrong, never a crash.
Loaded load(const std::string& path);

}  // namespace kiln::io
