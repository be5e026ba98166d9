// libFuzzer target: the MovieLens ratings parser (u.data format).
#include "fuzz_support.hpp"
#include "kiln/data/graph_datasets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = kiln::fuzz::scratch_path("u.data");
  kiln::fuzz::write_file(path, data, size);
  kiln::fuzz::expect_ok_or_error([&] { (void)kiln::data::load_movielens_ratings(path); });
  return 0;
}
