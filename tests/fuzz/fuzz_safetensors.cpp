// libFuzzer target: the safetensors reader.
#include "fuzz_support.hpp"
#include "kiln/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = kiln::fuzz::scratch_path("input.safetensors");
  kiln::fuzz::write_file(path, data, size);
  kiln::fuzz::expect_ok_or_error([&] { (void)kiln::io::load(path); });
  return 0;
}
