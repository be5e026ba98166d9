// safetensors: round trips, atomic writes, and every way a file can be broken.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write_file(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
// A file with the given JSON header and raw data section.
std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}
}  // namespace

TEST_CASE("save/load round trip for every dtype, with metadata") {
  const test::TempDir dir("kiln_test_st_");
  manual_seed(6);
  io::TensorMap in{{"fc1.weight", randn({3, 4})},        {"fc1.bias", randn({3}, kFloat64)},
                   {"step", scalar_tensor(7, kInt64)},   {"labels", tensor<std::int32_t>({1, -2})},
                   {"mask", tensor<std::uint8_t>({0, 255})}, {"empty", zeros({0, 2})},
                   {"strided", randn({4, 3}).t()}};
  io::save((dir / "m.safetensors").string(), in, {{"epoch", "3"}, {"note", "hello"}});
  const io::Loaded out = io::load((dir / "m.safetensors").string());
  CHECK(out.tensors.size() == in.size());
  for (const auto& entry : in) {
    const std::string& name = entry.first;
    const Tensor& t = entry.second;
    INFO(name);
    REQUIRE(out.tensors.count(name));
    CHECK(out.tensors.at(name).dtype() == t.dtype());
    check_same(out.tensors.at(name), t, 0);
  }
  CHECK(out.metadata.at("epoch") == "3");
  CHECK(out.metadata.at("note") == "hello");
  // Only the final file is left: the temporary was renamed into place.
  CHECK(dir.file_count() == 1);
  // Overwriting replaces the file whole.
  io::save((dir / "m.safetensors").string(), {{"x", ones({2})}});
  CHECK(io::load((dir / "m.safetensors").string()).tensors.size() == 1);
}

TEST_CASE("a save that fails leaves the previous file intact and no temporary behind") {
  const test::TempDir dir("kiln_test_st_");
  const std::string path = (dir / "keep.safetensors").string();
  io::save(path, {{"a", ones({2})}});
  const std::string before = read_file(path);
  CHECK_THROWS_AS(io::save(path, {{"__metadata__", ones({1})}}), Error);
  CHECK_THROWS_AS(io::save((dir / "no/such/dir/x.safetensors").string(), {{"a", ones({1})}}), Error);
  CHECK(read_file(path) == before);
  CHECK(dir.file_count() == 1);
}

TEST_CASE("broken files are errors, never crashes") {
  const test::TempDir dir("kiln_test_st_");
  const std::string p = (dir / "bad.safetensors").string();
  auto expect_error = [&](const std::string& bytes, const char* fragment) {
    write_file(p, bytes);
    CHECK_THROWS_WITH_AS(io::load(p), doctest::Contains(fragment), Error);
  };
  CHECK_THROWS_WITH_AS(io::load((dir / "missing").string()), doctest::Contains("cannot open"), Error);
  expect_error("abc", "too short");
  expect_error(make_file("{}", "").substr(0, 8) + "{", "larger than the file");
  expect_error(make_file("{not json", ""), "not valid JSON");
  expect_error(make_file("[1, 2]", ""), "must be a JSON object");
  expect_error(make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "1234"),
               "outside the 4-byte data section");
  expect_error(make_file(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", "12345678"),
               "span 8 bytes but shape [3] of F32 needs 12");
  expect_error(make_file(R"({"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}})", "12"), "not one kiln reads");
  expect_error(make_file(R"({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}})", "1"), "negative");
  expect_error(make_file(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                             "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}})",
                         "123"),
               "overlapping or missing");
  expect_error(make_file(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}})", "12"),
               "cover 1 bytes but the data section has 2");
  expect_error(make_file(R"({"a": {"dtype": "U8", "shape": [1]}})", "1"), "needs dtype, shape and data_offsets");
  expect_error(make_file(R"({"__metadata__": {"k": 1}})", ""), "not a string");
  // A real file cut short.
  io::save(p, {{"w", ones({100})}});
  const std::string good = read_file(p);
  write_file(p, good.substr(0, good.size() - 10));
  CHECK_THROWS_AS(io::load(p), Error);
}
