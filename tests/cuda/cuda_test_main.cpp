// Runner of the CUDA parity tests. Without a visible GPU (or in a build without
// the CUDA backend) the run reports itself skipped: exit code 77, which CTest is
// told means "skipped".
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "kiln/core/cuda.hpp"

int main(int argc, char** argv) {
  if (!kiln::cuda::is_available()) {
    std::cout << (kiln::cuda::is_built() ? "no CUDA device visible" : "kiln built without CUDA")
              << ": skipping the CUDA tests\n";
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
