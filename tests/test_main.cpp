// Test runner. When KILN_CPU_ISA forces a level this CPU lacks, the run is
// reported as skipped (exit code 77, which CTest is told means "skipped").
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "kernels/cpu/dispatch.hpp"
#include "kiln/core/error.hpp"

int main(int argc, char** argv) {
  if (const char* forced = std::getenv("KILN_CPU_ISA"); forced && *forced) {
    const std::string level = forced;
    for (kiln::cpu::Isa isa : {kiln::cpu::Isa::scalar, kiln::cpu::Isa::avx2, kiln::cpu::Isa::avx512})
      if (level == kiln::cpu::isa_name(isa) && !kiln::cpu::isa_supported(isa)) {
        std::cout << "KILN_CPU_ISA=" << level << ": this CPU lacks it; skipping this run\n";
        return 77;
      }
    try {
      std::cout << "kernels forced to " << kiln::cpu::isa_name(kiln::cpu::active_isa()) << "\n";
    } catch (const kiln::Error& e) {  // an unknown level: the library's own message
      std::cout << "error: " << e.what() << "\n";
      return 1;
    }
  }
  doctest::Context context(argc, argv);
  return context.run();
}
