// The examples' command-line parser (examples/flags.hpp).
#include <doctest/doctest.h>

#include <cstdint>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "examples/flags.hpp"

namespace {

// Parses `args` (after a program name); returns parse()'s code and what went to stderr.
struct Parsed {
  int code;
  std::string err;
};
Parsed parse(example::Flags& flags, std::vector<const char*> args) {
  args.insert(args.begin(), "prog");
  std::ostringstream err, out;
  std::streambuf* old_err = std::cerr.rdbuf(err.rdbuf());
  std::streambuf* old_out = std::cout.rdbuf(out.rdbuf());
  const int code = flags.parse(static_cast<int>(args.size()), args.data());
  std::cerr.rdbuf(old_err);
  std::cout.rdbuf(old_out);
  return {code, err.str()};
}

}  // namespace

TEST_CASE("flags: values in both spellings, switches, negations, and what was given") {
  example::Flags flags{"test"};
  int epochs = 10;
  std::int64_t limit = 0;
  std::uint64_t seed = 0;
  double lr = 1e-3;
  std::string model = "gcn";
  bool bias = false, item_bias = true;
  flags.option("--epochs", epochs, "epochs").at_least(0);
  flags.option("--limit", limit, "limit");
  flags.option("--seed", seed, "seed");
  flags.option("--lr", lr, "learning rate");
  flags.option("--model", model, "model").one_of({"gcn", "gat"});
  flags.flag("--bias", bias, "bias");
  flags.flag("--item-bias", item_bias, "item bias").negation("--no-item-bias");
  const Parsed p = parse(flags, {"--epochs", "3", "--limit=-5", "--seed", "18446744073709551615", "--lr=2.5e-2",
                                 "--model", "gat", "--bias", "--no-item-bias"});
  CHECK(p.code == -1);
  CHECK(p.err.empty());
  CHECK(epochs == 3);
  CHECK(limit == -5);
  CHECK(seed == std::numeric_limits<std::uint64_t>::max());
  CHECK(lr == doctest::Approx(0.025));
  CHECK(model == "gat");
  CHECK(bias);
  CHECK_FALSE(item_bias);
  CHECK(flags.given("--epochs"));
  CHECK(flags.given("--item-bias"));  // through its negation
  CHECK(flags.given("--no-item-bias"));

  example::Flags untouched{"test"};
  int kept = 7;
  untouched.option("--kept", kept, "kept");
  CHECK(parse(untouched, {}).code == -1);
  CHECK(kept == 7);
  CHECK_FALSE(untouched.given("--kept"));
}

TEST_CASE("flags: a bad command line names the flag and the reason, and exits 2") {
  const auto error_of = [](std::vector<const char*> args) {
    example::Flags flags{"test"};
    int epochs = 1, runs = 1;
    std::uint64_t seed = 0;
    double lr = 0.1;
    std::string data, model = "gcn";
    bool with_side = false, without_side = false;
    flags.option("--epochs", epochs, "epochs").at_least(0);
    flags.option("--runs", runs, "runs").at_least(1);
    flags.option("--seed", seed, "seed");
    flags.option("--lr", lr, "lr").at_least(0);
    flags.option("--data", data, "data").required();
    flags.option("--model", model, "model").one_of({"gcn", "gat"});
    flags.flag("--side", with_side, "side");
    flags.flag("--no-side", without_side, "no side").excludes("--side");
    if (args.empty() || std::string(args[0]) != "--data") args.insert(args.begin(), {"--data", "d"});
    const Parsed p = parse(flags, args);
    CHECK(p.code == 2);
    return p.err;
  };
  CHECK(error_of({"--epochs", "-2"}).find("error: --epochs: must be at least 0, not -2\n") == 0);
  CHECK(error_of({"--runs", "three"}).find("--runs: must be a number, not 'three'") != std::string::npos);
  CHECK(error_of({"--runs", "2.5"}).find("--runs: must be a whole number from") != std::string::npos);
  CHECK(error_of({"--runs", "99999999999"}).find("--runs: must be a whole number from") != std::string::npos);
  CHECK(error_of({"--seed", "-1"}).find("--seed: must be at least 0, not -1") != std::string::npos);
  CHECK(error_of({"--lr", "nan"}).find("--lr: must be a number, not 'nan'") != std::string::npos);
  CHECK(error_of({"--lr", "0.1x"}).find("--lr: must be a number, not '0.1x'") != std::string::npos);
  CHECK(error_of({"--lr", "-0.5"}).find("--lr: must be at least 0, not -0.5") != std::string::npos);
  CHECK(error_of({"--model", "mlp"}).find("--model: must be one of gcn, gat; not 'mlp'") != std::string::npos);
  CHECK(error_of({"--epochs"}).find("--epochs: needs a value") != std::string::npos);
  CHECK(error_of({"--epochs", "--lr", "1"}).find("--epochs: needs a value") != std::string::npos);
  CHECK(error_of({"--side=1"}).find("--side: takes no value") != std::string::npos);
  CHECK(error_of({"--sdie"}).find("unknown flag --sdie (--help lists them)") != std::string::npos);
  CHECK(error_of({"stray"}).find("unexpected argument 'stray'") != std::string::npos);
  CHECK(error_of({"--side", "--no-side"}).find("--no-side and --side cannot be given together") !=
        std::string::npos);
  CHECK(error_of({"--data"}).find("--data: needs a value") != std::string::npos);

  example::Flags flags{"test"};
  std::string data;
  flags.option("--data", data, "data").required();
  const Parsed missing = parse(flags, {});
  CHECK(missing.code == 2);
  CHECK(missing.err.find("--data is required") != std::string::npos);
}

TEST_CASE("flags: --help lists every flag with its choices and shown defaults, and exits 0") {
  example::Flags flags{"Train something"};
  int epochs = 10;
  double lr = 0.001;
  std::string model = "gcn", out;
  bool bias = true;
  flags.option("--epochs", epochs, "training epochs").at_least(0).show_default();
  flags.option("--lr", lr, "Adam learning rate").show_default();
  flags.option("--model", model, "which model").one_of({"gcn", "gat"});
  flags.option("--out", out, "output folder").show_default();  // empty: no default shown
  flags.flag("--bias", bias, "with bias").negation("--no-bias");
  const std::string text = flags.usage("prog");
  CHECK(text.find("Train something") == 0);
  CHECK(text.find("Usage: prog [flags]") != std::string::npos);
  CHECK(text.find("--epochs N") != std::string::npos);
  CHECK(text.find("training epochs (default: 10)") != std::string::npos);
  CHECK(text.find("Adam learning rate (default: 0.001)") != std::string::npos);
  CHECK(text.find("--model gcn|gat") != std::string::npos);
  CHECK(text.find("which model\n") != std::string::npos);
  CHECK(text.find("output folder\n") != std::string::npos);
  CHECK(text.find("--bias, --no-bias") != std::string::npos);
  CHECK(parse(flags, {"--epochs", "5", "--help"}).code == 0);
  CHECK(parse(flags, {"-h"}).code == 0);
}
