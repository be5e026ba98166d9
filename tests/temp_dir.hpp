// A scratch folder for tests and fuzz targets (no test framework needed).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace kiln::test {

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

}  // namespace kiln::test
