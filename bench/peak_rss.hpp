// The benchmarks' memory figure: this process's peak resident memory so far, in MiB
// (Linux's VmHWM; 0 where /proc is missing).
#pragma once

#include <fstream>
#include <string>

namespace kiln::bench {

inline double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}

}  // namespace kiln::bench
