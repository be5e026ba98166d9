// A small deterministic training run, shared by the checkpoint crash test and the
// writer process it kills (tests/checkpoint_writer.cpp).
#pragma once

#include <string>

#include "kiln/kiln.hpp"

namespace kiln::test {

struct CrashTraining {
  nn::Sequential model;
  optim::Adam opt;
  Tensor x, y;

  CrashTraining()
      : model((manual_seed(42), nn::Sequential{std::make_shared<nn::Linear>(16, 32), std::make_shared<nn::ReLU>(),
                                              std::make_shared<nn::Linear>(32, 4)})),
        opt(model.parameters(), optim::AdamOptions(1e-2)),
        x(randn({64, 16})),
        y(randint(0, 4, {64})) {}

  double step() {
    opt.zero_grad();
    Tensor loss = cross_entropy(model(x), y);
    loss.backward();
    opt.step();
    return loss.item();
  }

  // Model, optimizer and the number of steps done, in one atomic safetensors write.
  void save(const std::string& path, int steps) const {
    io::TensorMap all;
    for (const auto& [k, t] : model.state_dict()) all["model." + k] = t;
    for (const auto& [k, t] : opt.state_dict()) all["optim." + k] = t;
    io::save(path, all, {{"steps", std::to_string(steps)}});
  }

  // Returns the number of steps the checkpoint had done.
  int load(const std::string& path) {
    const io::Loaded file = io::load(path);
    nn::StateDict m;
    optim::StateDict o;
    for (const auto& [k, t] : file.tensors) {
      if (k.rfind("model.", 0) == 0) m[k.substr(6)] = t;
      else if (k.rfind("optim.", 0) == 0) o[k.substr(6)] = t;
    }
    model.load_state_dict(m);
    opt.load_state_dict(o);
    return std::stoi(file.metadata.at("steps"));
  }
};

}  // namespace kiln::test
