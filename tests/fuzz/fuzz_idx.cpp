// libFuzzer target: the IDX reader, plain and gzip-compressed (it tells them apart by
// the gzip magic, so one target covers both; the corpus has examples of each).
#include "fuzz_support.hpp"
#include "kiln/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = kiln::fuzz::scratch_path("input.idx");
  kiln::fuzz::write_file(path, data, size);
  kiln::fuzz::expect_ok_or_error([&] { (void)kiln::data::read_idx(path); });
  return 0;
}
