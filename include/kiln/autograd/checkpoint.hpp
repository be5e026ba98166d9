// Activation checkpointing: trade compute for memory.
//
// Training keeps every activation that a backward rule needs until the backward pass
// reaches it, so memory grows with depth. checkpoint(fn, inputs) keeps only fn's inputs
// and outputs; when the backward pass reaches fn it runs fn again, with the random
// generator rewound to where it stood (dropout draws the same mask), and takes the
// gradients through that second run. Memory then holds one checkpointed segment's
// activations at a time, for the price of one more forward pass.
//
//   // A deep MLP: each block's activations live only while its own backward runs.
//   for (auto& block : blocks)
//     h = kiln::checkpoint([&](const Tensor& x) { return (*block)(x); }, h);
//   kiln::cross_entropy(head(h), labels).backward();
//
// The gradients are those of the plain computation: the recorded graph links fn's
// outputs to its inputs and to every tensor fn read that requires grad (the parameters
// of the modules it calls), so backward() fills their .grad() and grad() may ask for
// any of them, as without a checkpoint. A backward pass that records (create_graph: a
// gradient penalty, a Hessian-vector product) runs fn on the inputs themselves and records
// its gradients, so a checkpointed segment differentiates to any order; that recorded walk
// keeps the segment's graph, as the plain one would (the forward pass still saved memory).
//
// fn is called twice (once here, once in the backward pass) and must compute the same
// thing both times from the same inputs: what it captures by reference must still be
// alive at backward time. A module that updates state as it runs (BatchNorm's running
// statistics in training mode) updates it twice. fn runs with grad mode on; under a
// NoGradGuard checkpoint(fn, inputs) is just fn(inputs).
#pragma once

#include <functional>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

struct CheckpointOptions {
  // Rewind the random generator for the second run (PyTorch's preserve_rng_state), so
  // that dropout inside fn draws the same mask; the generator is then put back where
  // the backward pass found it. Turn off only when fn draws no random numbers.
  bool preserve_rng_state = true;
};

using CheckpointFunction = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// fn's outputs, recorded as one node. Floating outputs carry gradients (they must share
// one dtype and device); integer outputs are returned as they are.
std::vector<Tensor> checkpoint(const CheckpointFunction& fn, const std::vector<Tensor>& inputs,
                               const CheckpointOptions& options = {});
// One input, one output.
Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& input,
                  const CheckpointOptions& options = {});

}  // namespace kiln
