// kiln::Error and the KILN_CHECK macro.
//
// Every failure a user can cause (bad shapes, wrong dtypes, unreadable files)
// throws kiln::Error with a message that names the operation, what it got and
// what to do. The library never calls abort() or exit() on user input.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace kiln {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
}  // namespace detail

}  // namespace kiln

// KILN_CHECK(cond, "op: what went wrong ", shape, " ...") throws kiln::Error
// with the streamed parts when cond is false. Parts are only formatted on failure.
#define KILN_CHECK(cond, ...)                                         \
  do {                                                                \
    if (!(cond)) [[unlikely]] {                                       \
      throw ::kiln::Error(::kiln::detail::concat(__VA_ARGS__));       \
    }                                                                 \
  } while (0)

// Internal invariants (never user input). Checked in every build, and a broken one
// is a kiln::Error too: a bug in kiln must not abort the program that links it.
#define KILN_ASSERT(cond)                                                                              \
  KILN_CHECK(cond, "kiln internal error: ", #cond, " does not hold (", __FILE__, ":", __LINE__,        \
             "); please report it with the code that triggered it")
