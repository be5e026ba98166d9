// One test per row of docs/errors.md: each failure mode of the public API gives
// the documented kiln::Error. (Keep the two in step.)
#include <cmath>
#include <fstream>

#include "helpers.hpp"

using namespace kiln;
using namespace kiln::test;

namespace {

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// A safetensors file with one F32 tensor described by `entry`, followed by `data`.
std::string safetensors_bytes(const std::string& entry, const std::string& data) {
  const std::string header = "{\"a\":" + entry + "}";
  std::string len(8, '\0');
  len[0] = static_cast<char>(header.size());
  return len + header + data;
}

}  // namespace

TEST_CASE("errors.md: wrong shapes") {
  CHECK_THROWS_WITH_AS(matmul(ones({3, 4}), ones({5, 6})),
                       "matmul: shapes (3, 4) and (5, 6) cannot be multiplied: inner dimensions 4 and 5 differ", Error);
  CHECK_THROWS_WITH_AS(add(ones({3}), ones({4})),
                       "add: shapes (3) and (4) cannot be broadcast: dimension 0 has sizes 3 and 4 (each pair must be "
                       "equal or contain a 1)",
                       Error);
  CHECK_THROWS_WITH_AS(linear(ones({2, 3}), ones({4, 5})),
                       "linear: input of shape (2, 3) has 3 features but weight of shape (4, 5) expects 5", Error);
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 2, 5, 5}), ones({4, 3, 3, 3})),
                       "conv2d: input of shape (1, 2, 5, 5) has 2 channels but weight of shape (4, 3, 3, 3) with groups "
                       "= 1 expects 3",
                       Error);
  CHECK_THROWS_WITH_AS(ones({3, 4}).reshape({5}), "reshape: cannot reshape (3, 4) (12 elements) into (5) (5 elements)",
                       Error);
  CHECK_THROWS_WITH_AS(softmax(ones({2, 3}), 2),
                       "softmax: dimension 2 is out of range for a tensor with 2 dimensions (expected -2 to 1)", Error);
  CHECK_THROWS_WITH_AS(
      index_add(zeros({3, 2}), 0, tensor<std::int64_t>({0, 2}), ones({3, 2})),
      "index_add: source has shape (3, 2) but x of shape (3, 2) with 2 indices along dimension 0 "
      "needs (2, 2)",
      Error);
  const graph::DeviceCsr seven(
      graph::CsrMatrix::from_coo(3, 3, {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {1, 2}, {2, 1}, {2, 2}}));
  CHECK_THROWS_WITH_AS(
      edge_softmax(seven, ones({6})),
      "edge_softmax: scores of shape (6) do not fit a sparse matrix with 7 nonzeros; expected (7) or "
      "(7, H...), one score per nonzero in CSR order",
      Error);
  CHECK_THROWS_WITH_AS(split(ones({2, 7}), {2, 4}, 1),
                       "split: the sizes add up to 6 but dimension 1 of shape (2, 7) has 7; the parts must cover it "
                       "exactly",
                       Error);
  nn::Linear layer(3, 4);
  nn::StateDict state = layer.state_dict();
  state["weight"] = ones({2, 2});
  CHECK_THROWS_WITH_AS(layer.load_state_dict(state),
                       "load_state_dict: 'weight' has shape (2, 2) in the state but (4, 3) in the module", Error);
  CHECK_THROWS_WITH_AS(nn::init::kaiming_uniform_(zeros({10})),
                       "init::kaiming_uniform_: fan_in and fan_out need a weight of at least 2 dimensions (out, in, "
                       "...), got shape (10); use uniform_ or normal_ for a bias or a vector",
                       Error);
}

TEST_CASE("errors.md: wrong dtype") {
  CHECK_THROWS_WITH_AS(exp(ones({3}, kInt64)),
                       "exp: expected a floating tensor but got int64 of shape (3); convert with .to(kiln::kFloat32)",
                       Error);
  CHECK_THROWS_WITH_AS(add(ones({3}), ones({3}, kFloat64)),
                       "add: dtypes float32 and float64 differ (shapes (3) and (3)); convert one with .to(dtype)", Error);
  Tensor a = zeros({2}, kFloat64).requires_grad_(), b = zeros({2}).requires_grad_();
  a.set_grad(ones({2}, kFloat64));
  b.set_grad(ones({2}));
  CHECK_THROWS_WITH_AS(nn::clip_grad_norm_({a, b}, 1.0),
                       "clip_grad_norm_: parameter 0's gradient is float64 on cpu but parameter 1's is float32 on cpu; "
                       "clip the parameters of each dtype and device in a call of their own",
                       Error);
  const Tensor q4 = quant::quantize_q4_0(ones({2, 64}));
  CHECK_THROWS_WITH_AS(add(q4, q4),
                       "this operation needs elements of a plain type, but the tensor is q4_0, a packed quantized "
                       "format; convert it with kiln::quant::dequantize first",
                       Error);
  CHECK_THROWS_WITH_AS(quant::quantize_q4_0(ones({2, 40})),
                       "quantize_q4_0: rows of 40 values (shape (2, 40)) do not split into groups of 32; pad the input "
                       "dimension to a multiple of 32 or use int8",
                       Error);
  CHECK_THROWS_WITH_AS(
      full({2}, 300.0, kUInt8),
      "full: value 300 cannot be converted to uint8 without overflow (its range is 0 to 255); use a "
      "value in that range or a floating dtype",
      Error);
}

TEST_CASE("errors.md: wrong device / no GPU") {
  // The rows for mixed devices and ops without a GPU kernel need a GPU: tests/cuda/.
  if (cuda::is_available()) return;
  if (!cuda::is_built())
    CHECK_THROWS_WITH_AS(ones({3}).to(Device::cuda(0)),
                         "to: cannot move a tensor to cuda:0: this build of kiln has no CUDA backend; rebuild with "
                         "-DKILN_CUDA=ON on a machine with the CUDA toolkit",
                         Error);
  else
    CHECK_THROWS_WITH_AS(ones({3}).to(Device::cuda(0)),
                         "cuda:0 does not exist: this process sees 0 GPU(s) (no NVIDIA driver or device visible; use "
                         "Device::cpu())",
                         Error);
}

TEST_CASE("errors.md: empty tensors") {
  CHECK_THROWS_WITH_AS(zeros({0}).item(), "item: the tensor has shape (0) (0 elements); item() needs exactly one element",
                       Error);
  CHECK_THROWS_WITH_AS(kiln::max(zeros({3, 0})),
                       "max: the tensor of shape (3, 0) is empty; there is no extreme value to return",
                       Error);
  CHECK_THROWS_WITH_AS(kiln::max(zeros({3, 0}), 1),
                       "max: dimension 1 of shape (3, 0) is empty; there is no extreme value to return",
                       Error);
  CHECK_THROWS_WITH_AS((void)scalar_tensor(2.0).size(-1),
                       "size: a 0-d tensor has no dimension -1; reshape it with .reshape({1}) first", Error);
}

TEST_CASE("errors.md: NaN where it matters, and non-finite losses") {
  CHECK_THROWS_WITH_AS(metrics::roc_auc(std::vector<double>{NAN, 1}, std::vector<int>{0, 1}), "roc_auc: a score is NaN",
                       Error);
  Tensor w = zeros({2}).requires_grad_();
  w.set_grad(from_vector(std::vector<float>{1, NAN}, {2}));
  CHECK_THROWS_WITH_AS(nn::clip_grad_norm_({w}, 1.0, 2.0, true),
                       "clip_grad_norm_: the gradients' total norm of order 2 is nan; some gradient holds NaN or "
                       "infinity (kiln::set_detect_anomaly(true) finds the op that made it)",
                       Error);
  DetectAnomalyGuard on;
  const Tensor p = zeros({2}).requires_grad_();
  CHECK_THROWS_WITH_AS(mean(log(p)),
                       "anomaly detected: the forward of 'log' produced NaN or Inf in its output (shape (2)); the op's "
                       "inputs: (2) float32. This is the first op, in execution order, to do so",
                       Error);
}

TEST_CASE("errors.md: a saved tensor changed before backward") {
  const Tensor a = ones({3}).requires_grad_();
  Tensor b = ones({3});
  const Tensor c = sum(a * b);
  b.fill_(0.0);
  CHECK_THROWS_WITH_AS(
      c.backward(),
      "backward: 'mul' saved a tensor of shape (3) for its gradient, and it was changed in place after "
      "the forward pass (fill_, copy_, add_, mul_, +=, an optimizer step), so the gradient would be wrong; "
      "change a clone() of it instead, or change it after backward()",
      Error);
}

TEST_CASE("errors.md: grad with respect to an input the outputs do not use") {
  const Tensor w = ones({2}).requires_grad_(), b = ones({3}).requires_grad_();
  CHECK_THROWS_WITH_AS(
      grad(sum(w * 2.0), {w, b}),
      "grad: input 1 (shape (3)) is not used to compute the outputs, so it has no gradient; pass "
      "allow_unused = true to get an undefined Tensor for it",
      Error);
}

TEST_CASE("errors.md: an in-place op while autograd records") {
  const Tensor w = ones({2}).requires_grad_();
  Tensor h = w * 2.0;
  CHECK_THROWS_WITH_AS(
      h.mul_(2.0),
      "mul_: in-place update of a tensor of shape (2) that autograd computed (or a view of one) while "
      "it is recording; in-place ops are not recorded, so its gradient would be wrong: write the "
      "out-of-place form (h = h + y), or wrap the update in kiln::NoGradGuard",
      Error);
  Tensor acc = zeros({2});
  CHECK_THROWS_WITH_AS(
      acc += h,
      "add_: the update (shape (2)) requires grad, but in-place ops are not recorded, so its gradient "
      "would be lost: write the out-of-place form (acc = acc + y), or pass y.detach()",
      Error);
}

TEST_CASE("errors.md: out-of-range indices") {
  CHECK_THROWS_WITH_AS(index_select(ones({3, 2}), 0, tensor<std::int64_t>({5})),
                       "index_select: index 5 is out of range for dimension 0 of size 3 (tensor shape (3, 2))", Error);
  CHECK_THROWS_WITH_AS(embedding(ones({3, 2}), tensor<std::int64_t>({3})),
                       "index_select: index 3 is out of range for dimension 0 of size 3 (tensor shape (3, 2))", Error);
  CHECK_THROWS_WITH_AS(
      nn::inner_product_logits(ones({3, 2}), tensor<std::int64_t>({0, 1}), tensor<std::int64_t>({2, 3})),
      "inner_product_logits: dst[1] = 3 is not a node of z (shape (3, 2): 3 nodes, numbered 0 to 2, "
      "or -3 to -1 from the end)",
      Error);
  CHECK_THROWS_WITH_AS(cross_entropy(ones({2, 3}), tensor<std::int64_t>({0, 3})),
                       "cross_entropy: target 3 of sample 1 is not a class index in [0, 3)", Error);
  CHECK_THROWS_WITH_AS(
      one_hot(tensor<std::int64_t>({1, 4, 0}), 4),
      "one_hot: index 4 (entry 1 of the indices, in row-major order) is not a class in [0, 4)", Error);
  graph::CsrMatrix a = graph::CsrMatrix::from_coo(3, 4, {{0, 1}, {0, 3}, {2, 0}, {2, 2}, {1, 1}});
  a.col_idx[2] = 7;
  CHECK_THROWS_WITH_AS(spmm(a, ones({4, 2})),
                       "spmm: malformed CSR matrix (3 x 4): column index 7 (nonzero 2) is outside [0, 4)", Error);
  // The GPU row: tests/cuda/test_cuda_ops.cpp (on a GPU, and on the emulated one).
}

TEST_CASE("errors.md: missing, truncated and malformed files") {
  const TempDir dir("kiln_error_table_");
  const std::string missing = (dir.path() / "missing").string();
  CHECK_THROWS_WITH_AS(data::read_idx(missing), ("read_idx: cannot open '" + missing + "'; check the path (and --data)").c_str(),
                       Error);
  CHECK_THROWS_WITH_AS(io::load(missing), ("load: cannot open '" + missing + "'; check the path").c_str(), Error);
  CHECK_THROWS_WITH_AS(data::load_cora(missing),
                       ("load_cora: cannot open '" + missing + "/cora.content'; pass the folder that holds it with --data").c_str(),
                       Error);

  const auto magic = dir.path() / "magic.idx";
  write_bytes(magic, std::string("PK\x08\x01\0\0\0\x01x", 9));
  CHECK_THROWS_WITH_AS(data::read_idx(magic.string()),
                       ("read_idx: " + magic.string() +
                        ": not an IDX file (wrong magic number; expected 0x0000 then type and rank)").c_str(),
                       Error);
  const auto truncated = dir.path() / "truncated.safetensors";
  write_bytes(truncated, std::string("\x10\0\0\0\0\0\0\0{\"a\":", 13));
  CHECK_THROWS_WITH_AS(io::load(truncated.string()),
                       doctest::Contains("header length 16 is larger than the file (13 bytes) or than 100 MiB: "
                                         "truncated or not safetensors"),
                       Error);
  const auto offsets = dir.path() / "offsets.safetensors";
  write_bytes(offsets, safetensors_bytes("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", "xxxxxxxx"));
  CHECK_THROWS_WITH_AS(io::load(offsets.string()),
                       doctest::Contains("tensor 'a': data_offsets [0, 16) fall outside the 8-byte data section "
                                         "(truncated file?)"),
                       Error);
  const auto shape = dir.path() / "shape.safetensors";
  write_bytes(shape, safetensors_bytes("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}", std::string(16, 'x')));
  CHECK_THROWS_WITH_AS(io::load(shape.string()),
                       doctest::Contains("tensor 'a': data_offsets span 16 bytes but shape [3] of F32 needs 12"), Error);
  const auto liar = dir.path() / "liar.idx";
  write_bytes(liar, std::string("\0\0\x0d\x01\x40\0\0\0abcd", 12));
  CHECK_THROWS_WITH_AS(data::read_idx(liar.string()),
                       doctest::Contains("truncated: the header promises shape (1073741824) (4294967296 bytes of data) "
                                         "but a file of 12 bytes cannot hold that many"),
                       Error);
}

TEST_CASE("errors.md: checkpoints that do not fit the model") {
  nn::Sequential m{std::make_shared<nn::Linear>(64, 4)};
  const auto int8 = quant::quantize(m);
  quant::QuantConfig c4;
  c4.format = quant::Format::q4_0;
  const auto q4 = quant::quantize(m, c4);
  CHECK_THROWS_WITH_AS(q4->load_state_dict(int8->state_dict()),
                       "load_state_dict: keys do not match Sequential. Missing: 0.weight_q4_0. Unexpected: "
                       "0.weight_int8 0.weight_scale. Pass strict=false to load the keys that match.",
                       Error);
  CHECK_THROWS_WITH_AS(io::save((std::filesystem::temp_directory_path() / "kiln-no-such-dir" / "x").string(),
                                {{"a", ones({1})}}),
                       doctest::Contains("' failed: No such file or directory"), Error);
}
