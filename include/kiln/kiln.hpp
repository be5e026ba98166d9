// kiln: a C++ tensor library with reverse-mode autograd.
//
// A short tour (this compiles; see examples/autograd_demo.cpp for more):
//
//   #include <kiln/kiln.hpp>
//
//   kiln::manual_seed(0);
//   auto w = kiln::randn({3, 2}).requires_grad_();      // a leaf: gradients collect in w.grad()
//   auto x = kiln::tensor<float>({{1, 2, 3}, {4, 5, 6}}); // (2, 3)
//   auto y = kiln::relu(kiln::matmul(x, w));            // (2, 2); the graph is recorded as ops run
//   auto loss = kiln::mean(y * y);                      // a 0-d tensor
//   loss.backward();                                    // d loss / d w, into w.grad()
//   std::cout << w.grad() << "\n";
//
//   { kiln::NoGradGuard no_grad; w.add_(w.grad(), -0.1); }  // one SGD step, not recorded
//
// Errors are kiln::Error exceptions whose message names the op and the shapes.
// Threads: kiln::set_num_threads(n) or KILN_NUM_THREADS (BLAS follows the same setting).
#pragma once

#include "kiln/autograd/anomaly.hpp"
#include "kiln/autograd/checkpoint.hpp"
#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/functional.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/gradcheck.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/cuda.hpp"
#include "kiln/core/device.hpp"
#include "kiln/core/dtype.hpp"
#include "kiln/core/error.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/rng.hpp"
#include "kiln/core/shape.hpp"
#include "kiln/core/storage.hpp"
#include "kiln/core/tensor.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/data/csv.hpp"
#include "kiln/data/dataset.hpp"
#include "kiln/data/fashion_mnist.hpp"
#include "kiln/data/graph_datasets.hpp"
#include "kiln/data/idx.hpp"
#include "kiln/distributions.hpp"
#include "kiln/graph/csr.hpp"
#include "kiln/graph/edges.hpp"
#include "kiln/io/safetensors.hpp"
#include "kiln/metrics.hpp"
#include "kiln/nn/activation_layers.hpp"
#include "kiln/nn/attention.hpp"
#include "kiln/nn/clip_grad.hpp"
#include "kiln/nn/graph_layers.hpp"
#include "kiln/nn/init.hpp"
#include "kiln/nn/layers.hpp"
#include "kiln/nn/losses.hpp"
#include "kiln/nn/module.hpp"
#include "kiln/nn/parameter_vector.hpp"
#include "kiln/nn/pooling_layers.hpp"
#include "kiln/nn/prune.hpp"
#include "kiln/nn/recurrent.hpp"
#include "kiln/nn/transformer.hpp"
#include "kiln/nn/weight_norms.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/attention.hpp"
#include "kiln/ops/bitwise.hpp"
#include "kiln/ops/conv.hpp"
#include "kiln/ops/counting.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/fft.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/loss.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/sampling.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/optim/averaging.hpp"
#include "kiln/optim/lbfgs.hpp"
#include "kiln/optim/lr_scheduler.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/quant/format.hpp"
#include "kiln/quant/layers.hpp"
#include "kiln/quant/linear.hpp"
#include "kiln/version.hpp"
