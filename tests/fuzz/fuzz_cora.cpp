// libFuzzer target: the LINQS Cora parser. The input holds cora.content, then a
// NUL byte, then cora.cites, optionally a second NUL and cora.planetoid-split.
#include <filesystem>

#include "fuzz_support.hpp"
#include "kiln/data/graph_datasets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string dir = [] {
    const std::string d = kiln::fuzz::scratch_path("cora");
    std::filesystem::create_directories(d);
    return d;
  }();
  const char* names[3] = {"cora.content", "cora.cites", "cora.planetoid-split"};
  std::size_t begin = 0;
  int part = 0;
  for (std::size_t i = 0; i <= size && part < 3; ++i)
    if (i == size || (data[i] == 0 && part < 2)) {
      kiln::fuzz::write_file(dir + "/" + names[part], data + begin, i - begin);
      begin = i + 1;
      ++part;
    }
  for (; part < 3; ++part) std::filesystem::remove(dir + "/" + names[part]);
  kiln::fuzz::expect_ok_or_error([&] { (void)kiln::data::load_cora(dir); });
  return 0;
}
