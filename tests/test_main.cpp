// Test runner. When KILN_CPU_ISA forces a level this CPU lacks, the run is
// reported as skipped (exit code 77, which CTest is told means "skipped"). With
// --skip-best-level (CTest's forced-level runs), a forced level that is this CPU's
// best is skipped too: the plain run already used it.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "kernels/cpu/dispatch.hpp"
#include "kiln/core/error.hpp"

int main(int argc, char** argv) {
  bool skip_best_level = false;
  if (argc > 1 && std::string(argv[1]) == "--skip-best-level") {
    skip_best_level = true;
    argv[1] = argv[0];  // doctest reads what follows
    --argc, ++argv;
  }
  if (const char* forced = std::getenv("KILN_CPU_ISA"); forced && *forced) {
    const std::string level = forced;
    for (kiln::cpu::Isa isa : {kiln::cpu::Isa::scalar, kiln::cpu::Isa::avx2, kiln::cpu::Isa::avx512}) {
      if (level == kiln::cpu::isa_name(isa) && !kiln::cpu::isa_supported(isa)) {
        std::cout << "KILN_CPU_ISA=" << level << ": this CPU lacks it; skipping this run\n";
        return 77;
      }
      if (level == kiln::cpu::isa_name(isa) && skip_best_level && isa == kiln::cpu::best_supported_isa()) {
        std::cout << "KILN_CPU_ISA=" << level
                  << ": this CPU's best level, which the plain run used; skipping\n";
        return 77;
      }
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
