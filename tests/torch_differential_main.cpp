// main() of the differential test against PyTorch: doctest's runner. The cases are in
// the torch_differential*.cpp files, which share one precompiled harness header.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
