// Shared test helpers.
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "kiln/kiln.hpp"

namespace kiln::test {

// Every element of `t` (converted to double) is within tol of `expected`.
inline void check_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-6) {
  const std::vector<double> got = t.to_vector<double>();
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": got " << got[i] << ", expected " << expected[i]);
    if (std::isnan(expected[i])) CHECK(std::isnan(got[i]));
    else if (std::isinf(expected[i])) CHECK(got[i] == expected[i]);
    else CHECK(std::abs(got[i] - expected[i]) <= tol * (1 + std::abs(expected[i])));
  }
}

inline void check_same(const Tensor& a, const Tensor& b, double tol = 1e-6) {
  REQUIRE(a.shape() == b.shape());
  check_values(a, b.to_vector<double>(), tol);
}

// Runs gradcheck and reports its message on failure.
#define KILN_CHECK_GRAD(f, ...)                                      \
  do {                                                               \
    const auto kiln_gc = ::kiln::gradcheck(f, __VA_ARGS__);          \
    INFO(kiln_gc.message);                                           \
    CHECK(kiln_gc.ok);                                               \
  } while (0)

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
public:
  explicit TempDir(const char* stem) {
    std::string name = stem;
    name += std::to_string(::getpid());
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  int file_count() const {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(path_)) ++n;
    return n;
  }

private:
  std::filesystem::path path_;
};

inline Tensor rand64(const Shape& shape) { return randn(shape, kFloat64); }
// Values bounded away from 0 (for log, sqrt, div, pow bases).
inline Tensor positive64(const Shape& shape) { return add(rand(shape, kFloat64), scalar_tensor(0.5, kFloat64)); }

}  // namespace kiln::test
