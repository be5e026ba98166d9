// The examples' command lines: "--name value" or "--name=value" options, switches
// ("--name"), "--help". Compiled once (flags.cpp) and shared by every example, so each
// example file costs the compiler little beyond its own code.
//
//   example::Flags flags{"Train an MLP on Fashion-MNIST"};
//   double lr = 1e-3;
//   flags.option("--lr", lr, "Adam learning rate").at_least(0).show_default();
//   if (const int exit_code = flags.parse(argc, argv); exit_code >= 0) return exit_code;
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace example {

// One option or switch. The setters return *this, so they chain.
class Flag {
public:
  using Target = std::variant<int*, std::int64_t*, std::uint64_t*, double*, std::string*, bool*>;
  Flag(std::string name, Target target, std::string help);

  Flag& at_least(double lowest);                  // numbers: refuse a value below `lowest`
  Flag& one_of(std::vector<std::string> values);  // text: refuse anything else
  Flag& required();                               // parse fails when it is absent
  Flag& show_default();                           // --help prints the value it starts with
  Flag& negation(std::string name);               // switches: a second name that sets false
  Flag& excludes(std::string other);              // refuse both on one command line

private:
  friend class Flags;
  std::string set(const std::string& text);  // "" when accepted, else why not
  std::string help_line() const;
  std::string describe_value() const;

  std::string name_, help_, negation_;
  Target target_;
  std::string default_text_;
  bool show_default_ = false, required_ = false, given_ = false;
  bool has_lowest_ = false;
  double lowest_ = 0;
  std::vector<std::string> choices_, excludes_;
};

class Flags {
public:
  explicit Flags(std::string description);
  Flags(const Flags&) = delete;
  Flags& operator=(const Flags&) = delete;

  // An option that takes a value; the variable's value now is its default.
  Flag& option(const std::string& name, int& value, const std::string& help);
  Flag& option(const std::string& name, std::int64_t& value, const std::string& help);
  Flag& option(const std::string& name, std::uint64_t& value, const std::string& help);
  Flag& option(const std::string& name, double& value, const std::string& help);
  Flag& option(const std::string& name, std::string& value, const std::string& help);
  // A switch: present sets `value` to true (its negation, if any, to false).
  Flag& flag(const std::string& name, bool& value, const std::string& help);

  // Reads argv into the variables. Returns -1 when the program should go on, or
  // the code main() should return: 0 after --help (usage printed), 2 after a bad
  // command line (the reason printed on stderr, as "error: --epochs: ...").
  int parse(int argc, const char* const* argv);
  int parse(int argc, char** argv) { return parse(argc, const_cast<const char* const*>(argv)); }

  // Whether the command line named this flag (or its negation).
  bool given(const std::string& name) const;
  // The --help text.
  std::string usage(const std::string& program) const;

private:
  Flag& add(const std::string& name, Flag::Target target, const std::string& help);
  Flag* find(const std::string& name);
  const Flag* find(const std::string& name) const;
  std::string parse_or_explain(int argc, const char* const* argv, bool& help);

  std::string description_;
  std::vector<std::unique_ptr<Flag>> flags_;
};

}  // namespace example
