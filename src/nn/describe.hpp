// Pieces of the layers' descriptions (Module::description), shared by their sources.
#pragma once

#include <sstream>
#include <string>

#include "kiln/ops/conv.hpp"  // Pair, Triple

namespace kiln::nn {

// "(h, w)", as PyTorch prints a pair of sizes.
inline std::string pair_str(Pair p) {
  std::ostringstream os;
  os << '(' << p[0] << ", " << p[1] << ')';
  return os.str();
}

// "(d, h, w)".
inline std::string triple_str(const Triple& t) {
  std::ostringstream os;
  os << '(' << t[0] << ", " << t[1] << ", " << t[2] << ')';
  return os.str();
}

}  // namespace kiln::nn
