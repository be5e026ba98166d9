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

#include "kiln/core/error.hpp"
#include "tests/temp_dir.hpp"

namespace kiln::fuzz {

// A file (or folder) inside this process's scratch folder, which is removed at exit
// (libFuzzer ends a timed run with exit()).
inline std::string scratch_path(const std::string& name) {
  static const kiln::test::TempDir dir("kiln_fuzz_");
  return (dir / name).string();
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
