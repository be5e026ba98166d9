#include "flags.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <sstream>
#include <type_traits>

namespace example {

namespace {

std::string number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// The whole of `text` as a double; false for anything else, NaN included.
bool read_double(const std::string& text, double& out) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && !std::isnan(out);
}

// The whole of `text` as an integer of type T: "" when it is one, else why not.
template <class T>
std::string read_integer(const std::string& text, T& out) {
  const char* first = text.data();
  const char* last = first + text.size();
  const bool negative = !text.empty() && text[0] == '-';
  bool parsed = false, in_range = false;
  if (negative) {
    long long v = 0;
    const auto [end, ec] = std::from_chars(first, last, v);
    parsed = end == last && ec != std::errc::invalid_argument;
    if constexpr (std::is_signed_v<T>) {
      in_range = ec == std::errc() && v >= std::numeric_limits<T>::min();
      if (in_range) out = static_cast<T>(v);
    } else if (parsed && ec == std::errc()) {
      return "must be at least 0, not " + text;
    }
  } else {
    unsigned long long v = 0;
    const auto [end, ec] = std::from_chars(first, last, v);
    parsed = end == last && ec != std::errc::invalid_argument;
    in_range = ec == std::errc() && v <= static_cast<unsigned long long>(std::numeric_limits<T>::max());
    if (in_range) out = static_cast<T>(v);
  }
  if (parsed && in_range) return "";
  double d = 0;
  if (parsed || read_double(text, d))
    return "must be a whole number from " + std::to_string(std::numeric_limits<T>::min()) + " to " +
           std::to_string(std::numeric_limits<T>::max()) + ", not " + text;
  return "must be a number, not '" + text + "'";
}

}  // namespace

Flag::Flag(std::string name, Target target, std::string help)
    : name_(std::move(name)), help_(std::move(help)), target_(target) {
  default_text_ = describe_value();
}

Flag& Flag::at_least(double lowest) {
  has_lowest_ = true;
  lowest_ = lowest;
  return *this;
}

Flag& Flag::one_of(std::vector<std::string> values) {
  choices_ = std::move(values);
  return *this;
}

Flag& Flag::required() {
  required_ = true;
  return *this;
}

Flag& Flag::show_default() {
  show_default_ = true;
  return *this;
}

Flag& Flag::negation(std::string name) {
  negation_ = std::move(name);
  return *this;
}

Flag& Flag::excludes(std::string other) {
  excludes_.push_back(std::move(other));
  return *this;
}

std::string Flag::describe_value() const {
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>)
          return *p;
        else if constexpr (std::is_same_v<T, bool>)
          return *p ? "on" : "off";
        else if constexpr (std::is_same_v<T, double>)
          return number_text(*p);
        else
          return std::to_string(*p);
      },
      target_);
}

std::string Flag::set(const std::string& text) {
  return std::visit(
      [&](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, bool>) {
          return "takes no value";
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (choices_.empty()) {
            *p = text;
            return "";
          }
          std::string listed;
          for (const std::string& c : choices_) {
            if (c == text) {
              *p = text;
              return "";
            }
            listed += (listed.empty() ? "" : ", ") + c;
          }
          return "must be one of " + listed + "; not '" + text + "'";
        } else {
          T value{};
          std::string why;
          if constexpr (std::is_same_v<T, double>) {
            if (!read_double(text, value)) why = "must be a number, not '" + text + "'";
          } else {
            why = read_integer(text, value);
          }
          if (why.empty() && has_lowest_ && static_cast<double>(value) < lowest_)
            why = "must be at least " + number_text(lowest_) + ", not " + text;
          if (why.empty()) *p = value;
          return why;
        }
      },
      target_);
}

std::string Flag::help_line() const {
  std::string head = "  " + name_;
  if (!negation_.empty()) head += ", " + negation_;
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          std::string listed;
          for (const std::string& c : choices_) listed += (listed.empty() ? "" : "|") + c;
          head += listed.empty() ? " TEXT" : " " + listed;
        } else if constexpr (std::is_same_v<T, double>) {
          head += " X";
        } else if constexpr (!std::is_same_v<T, bool>) {
          head += " N";
        }
      },
      target_);
  constexpr std::size_t kHelpColumn = 32;
  std::string line = head;
  line += head.size() + 2 <= kHelpColumn ? std::string(kHelpColumn - head.size(), ' ')
                                         : "\n" + std::string(kHelpColumn, ' ');
  line += help_;
  if (required_) line += " (required)";
  if (show_default_ && !default_text_.empty()) line += " (default: " + default_text_ + ")";
  return line;
}

Flags::Flags(std::string description) : description_(std::move(description)) {}

Flag& Flags::add(const std::string& name, Flag::Target target, const std::string& help) {
  flags_.push_back(std::make_unique<Flag>(name, target, help));
  return *flags_.back();
}

Flag& Flags::option(const std::string& name, int& value, const std::string& help) {
  return add(name, &value, help);
}
Flag& Flags::option(const std::string& name, std::int64_t& value, const std::string& help) {
  return add(name, &value, help);
}
Flag& Flags::option(const std::string& name, std::uint64_t& value, const std::string& help) {
  return add(name, &value, help);
}
Flag& Flags::option(const std::string& name, double& value, const std::string& help) {
  return add(name, &value, help);
}
Flag& Flags::option(const std::string& name, std::string& value, const std::string& help) {
  return add(name, &value, help);
}
Flag& Flags::flag(const std::string& name, bool& value, const std::string& help) {
  return add(name, &value, help);
}

Flag* Flags::find(const std::string& name) {
  for (const auto& f : flags_)
    if (f->name_ == name || (!f->negation_.empty() && f->negation_ == name)) return f.get();
  return nullptr;
}

const Flag* Flags::find(const std::string& name) const { return const_cast<Flags*>(this)->find(name); }

bool Flags::given(const std::string& name) const {
  const Flag* f = find(name);
  return f != nullptr && f->given_;
}

std::string Flags::usage(const std::string& program) const {
  std::string text = description_ + "\n\nUsage: " + program + " [flags]\n\nFlags:\n";
  text += "  -h, --help                      this text\n";
  for (const auto& f : flags_) text += f->help_line() + "\n";
  return text;
}

std::string Flags::parse_or_explain(int argc, const char* const* argv, bool& help) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      return "";
    }
    if (arg.rfind("--", 0) != 0)
      return "unexpected argument '" + arg + "' (flags start with --; --help lists them)";
    const std::size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    Flag* f = find(name);
    if (f == nullptr) return "unknown flag " + name + " (--help lists them)";
    f->given_ = true;
    if (auto* b = std::get_if<bool*>(&f->target_)) {
      if (eq != std::string::npos) return name + ": takes no value (give the flag alone)";
      **b = name == f->name_;
      continue;
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      value = argv[++i];
    } else {
      return name + ": needs a value";
    }
    if (std::string why = f->set(value); !why.empty()) return name + ": " + why;
  }
  for (const auto& f : flags_) {
    if (f->required_ && !f->given_) return f->name_ + " is required";
    for (const std::string& other : f->excludes_)
      if (f->given_ && given(other)) return f->name_ + " and " + other + " cannot be given together";
  }
  return "";
}

int Flags::parse(int argc, const char* const* argv) {
  bool help = false;
  const std::string why = parse_or_explain(argc, argv, help);
  const std::string program = argc > 0 ? argv[0] : "example";
  if (help) {
    std::cout << usage(program);
    return 0;
  }
  if (why.empty()) return -1;
  std::cerr << "error: " << why << "\nRun with --help for more information.\n";
  return 2;
}

}  // namespace example
