// One seedable random generator for the whole library, so that a run is
// reproducible from `kiln::manual_seed(s)` (for a given thread count).
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

// xoshiro256** seeded through splitmix64: fast, small state, good statistics.
class Generator {
public:
  explicit Generator(std::uint64_t seed = 0x6b696c6eULL) { seed_(seed); }
  void seed_(std::uint64_t seed);
  std::uint64_t next_u64();
  double uniform();           // [0, 1) with 53 random bits
  double normal();            // standard normal (Box-Muller, caches its pair)
  // The next n values normal() would give, the same bits, with the transforms spread over
  // the threads (float or double).
  template <class T>
  void fill_normal(T* out, std::int64_t n);
  std::uint64_t below(std::uint64_t n);  // uniform integer in [0, n), unbiased

  // The full state as text (for checkpoints), and back.
  std::string state() const;
  void set_state(const std::string& state);

private:
  std::uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

Generator& default_generator();
void manual_seed(std::uint64_t seed);

}  // namespace kiln
