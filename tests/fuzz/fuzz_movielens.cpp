// libFuzzer target: the MovieLens-100K parsers (u.data ratings, u.user users, u.item movies),
// each fed the same bytes.
#include "fuzz_support.hpp"
#include "kiln/data/graph_datasets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = kiln::fuzz::scratch_path("movielens.txt");
  kiln::fuzz::write_file(path, data, size);
  kiln::fuzz::expect_ok_or_error([&] { (void)kiln::data::load_movielens_ratings(path); });
  kiln::fuzz::expect_ok_or_error([&] { (void)kiln::data::load_movielens_users(path); });
  kiln::fuzz::expect_ok_or_error([&] { (void)kiln::data::load_movielens_items(path); });
  return 0;
}
