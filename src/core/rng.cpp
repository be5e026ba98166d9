#include "kiln/core/rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

#include "kiln/core/error.hpp"
#include "kiln/core/threads.hpp"

namespace kiln {
namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Box-Muller: two uniforms (u1 in (0, 1]) -> two independent normals, the first returned
// before the second.
void box_muller(double u1, double u2, double& first, double& second) {
  const double r = std::sqrt(-2.0 * std::log(u1));
  second = r * std::sin(2.0 * M_PI * u2);
  first = r * std::cos(2.0 * M_PI * u2);
}
}  // namespace

void Generator::seed_(std::uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
  has_spare_ = false;
}

std::uint64_t Generator::next_u64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
  const double u2 = uniform();
  double first;
  box_muller(u1, u2, first, spare_);
  has_spare_ = true;
  return first;
}

template <class T>
void Generator::fill_normal(T* out, std::int64_t n) {
  std::int64_t at = 0;
  if (n > 0 && has_spare_) {
    out[at++] = static_cast<T>(spare_);
    has_spare_ = false;
  }
  // Chunks of pairs: their uniforms drawn in order, then the transforms (the cost: a log,
  // a sine and a cosine per pair) over the threads.
  constexpr std::int64_t kChunkPairs = 1 << 15;
  std::vector<double> u;
  while (at < n) {
    const std::int64_t pairs = std::min(kChunkPairs, (n - at + 1) / 2);
    u.resize(static_cast<std::size_t>(2 * pairs));
    for (std::int64_t p = 0; p < pairs; ++p) {
      u[static_cast<std::size_t>(2 * p)] = 1.0 - uniform();
      u[static_cast<std::size_t>(2 * p + 1)] = uniform();
    }
    const std::int64_t first = at;
    parallel_for(0, pairs, 2048, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t p = b; p < e; ++p) {
        double c, s;
        box_muller(u[static_cast<std::size_t>(2 * p)], u[static_cast<std::size_t>(2 * p + 1)], c, s);
        const std::int64_t i = first + 2 * p;
        out[i] = static_cast<T>(c);
        if (i + 1 < n)
          out[i + 1] = static_cast<T>(s);
        else
          spare_ = s;  // an odd count: the last pair's second value waits, as normal() keeps it
      }
    });
    at += 2 * pairs;
    has_spare_ = at > n;
  }
}
template void Generator::fill_normal<float>(float*, std::int64_t);
template void Generator::fill_normal<double>(double*, std::int64_t);

std::uint64_t Generator::below(std::uint64_t n) {
  // Rejection sampling removes the modulo bias.
  const std::uint64_t limit = ~0ULL - (~0ULL % n);
  std::uint64_t x;
  do x = next_u64(); while (x >= limit);
  return x % n;
}

std::string Generator::state() const {
  std::ostringstream os;
  os << s_[0] << ' ' << s_[1] << ' ' << s_[2] << ' ' << s_[3] << ' ' << has_spare_ << ' ';
  char buf[32];
  std::snprintf(buf, sizeof buf, "%a", spare_);  // exact
  return os.str() + buf;
}

void Generator::set_state(const std::string& state) {
  std::istringstream is(state);
  std::uint64_t s[4];
  bool spare_flag = false;
  std::string spare_text;
  is >> s[0] >> s[1] >> s[2] >> s[3] >> spare_flag >> spare_text;
  KILN_CHECK(!is.fail() && !spare_text.empty(), "Generator::set_state: '", state, "' is not a generator state");
  for (int i = 0; i < 4; ++i) s_[i] = s[i];
  has_spare_ = spare_flag;
  spare_ = std::strtod(spare_text.c_str(), nullptr);
}

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(std::uint64_t seed) { default_generator().seed_(seed); }

}  // namespace kiln
