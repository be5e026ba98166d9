// Shared by the libFuzzer targets: the readers under test take paths, so each
// input is written to a scratch file first. A kiln::Error is the expected answer
// to a bad file; anything else (a crash, a sanitizer report, another exception)
// is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "kiln/core/error.hpp"

namespace kiln::fuzz {

// The scratch folder under the temporary directory, unique to this process and
// removed when the fuzzer exits (libFuzzer ends a timed run with exit()).
class ScratchDir {
 public:
  ScratchDir()
      : path_(std::filesystem::temp_directory_path() / ("kiln_fuzz_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A file (or folder) inside this process's scratch folder.
inline std::string scratch_path(const std::string& name) {
  static const ScratchDir dir;
  return (dir.path() / name).string();
}

inline void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// Runs fn; a kiln::Error is a correct rejection.
template <class Fn>
void expect_ok_or_error(Fn&& fn) {
  try {
    fn();
  } catch (const kiln::Error&) {
  }
}

}  // namespace kiln::fuzz
