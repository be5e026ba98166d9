// quantize_fashion: post-training quantization of the Fashion-MNIST networks.
//
// Loads the checkpoints that `mlp_fashion --save` and `cnn_fashion --save` write,
// converts every Linear and Conv2d to int8 weights (one scale per output channel)
// and to 4-bit q4_0 weights (one scale per 32 inputs), and compares fp32 / int8 /
// int4 on the test set: accuracy, size on disk, time for one image and for a
// batch of 256. Activations are quantized to int8 on the fly, per row (or with
// calibrated static scales: --activations calibrated).
//
//   ./build/examples/mlp_fashion --save mlp.safetensors
//   ./build/examples/cnn_fashion --save cnn.safetensors
//   ./build/examples/quantize_fashion --mlp mlp.safetensors --cnn cnn.safetensors
//
// Each quantized model is saved as safetensors, loaded back into a fresh model,
// and that reloaded copy is the one measured. The last line is RESULT {json}.
//
// --prune F first zeroes the fraction F of all Linear and Conv2d weights with the smallest
// magnitudes, the layers ranked together (nn::prune::global_unstructured), and makes it
// permanent (nn::prune::remove): the table then shows what pruning costs, and what
// quantizing a pruned model costs on top.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "example_support.hpp"
#include "fashion_models.hpp"

namespace {

using namespace kiln;

struct Options {
  std::string data = data::kFashionMnistDefaultDir, mlp, cnn, out;
  std::string activations = "dynamic", device = "cpu";
  int threads = 0, calibration_batches = 4, reps_b1 = 300, reps_b256 = 15;
  double prune = 0;             // the fraction of weights to prune before quantizing
  std::int64_t test_limit = 0;  // evaluate on the first N test images only (0: all)
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of one forward pass over `x` (on a GPU: until its kernels have finished).
double time_forward(nn::Module& model, const Tensor& x, int reps) {
  NoGradGuard no_grad;
  model(x);  // warm-up
  cuda::synchronize();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor y = model(x);
    cuda::synchronize();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(t);
}

// Samples [first, first + n) as the model sees them: normalised float32.
Tensor samples(const data::ImageDataset& d, std::int64_t first, std::int64_t n) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[i] = first + i;
  Shape shape = d.sample_shape();
  shape.insert(shape.begin(), n);
  Tensor x = Tensor::empty(shape), y = Tensor::empty({n}, kInt64);
  d.fill(idx, x, y);
  return x;
}

// The model's weights from a training checkpoint ("model.<key>" entries).
void load_weights(nn::Module& model, const std::string& path) {
  io::Loaded file = io::load(path);
  nn::StateDict state;
  for (auto& [key, value] : file.tensors)
    if (key.rfind("model.", 0) == 0) state[key.substr(6)] = value;
  model.load_state_dict(state);
}

// Relative RMS error of quantize -> dequantize on a (out, in) weight matrix.
double round_trip_error(const Tensor& w, quant::Format format) {
  const Tensor back = quant::QuantizedWeight::from_float(w, format).dequantize();
  const double err = std::sqrt(mean(mul(sub(back, w), sub(back, w))).item<double>());
  return err / std::sqrt(mean(mul(w, w)).item<double>());
}

// The round-trip error of every Linear / Conv2d weight of a model, and of a random one.
nlohmann::json round_trips(const nn::Module& model) {
  nlohmann::json out;
  std::printf("%-28s %14s %14s\n", "weight round trip (rel. RMS)", "int8", "q4_0");
  auto row = [&](const std::string& name, const Tensor& w) {
    const Tensor m = w.reshape({w.size(0), -1});
    const double e8 = round_trip_error(m, quant::Format::int8), e4 = round_trip_error(m, quant::Format::q4_0);
    std::printf("%-28s %13.4f%% %13.4f%%\n", name.c_str(), 100 * e8, 100 * e4);
    out[name] = {{"int8", e8}, {"q4_0", e4}};
  };
  for (const auto& [name, t] : model.named_parameters())
    if (t.dim() >= 2) row(name, t);
  manual_seed(0);
  row("random N(0,1) 256x784", randn({256, 784}));
  return out;
}

// Zeroes the fraction `amount` of the Linear and Conv2d weights with the smallest
// magnitudes, ranked across layers, and keeps them zero for good; returns the weights' sparsity.
double prune_weights(nn::Module& model, double amount) {
  std::vector<std::pair<nn::Module*, std::string>> weights;
  for (nn::Module* m : model.modules())
    if (dynamic_cast<nn::Linear*>(m) || dynamic_cast<nn::Conv2d*>(m)) weights.emplace_back(m, "weight");
  nn::prune::global_unstructured(weights, amount);
  double zeros = 0, total = 0;
  for (const auto& [m, name] : weights) {
    nn::prune::remove(*m, name);
    const Tensor w = m->named_parameters(false).back().second;  // the weight, registered last by remove
    zeros += sum(eq(w, 0.0).to(kFloat64)).item<double>();
    total += static_cast<double>(w.numel());
  }
  return zeros / total;
}

struct Row {
  double acc, bytes, b1, b256;
};

nlohmann::json to_json(const Row& r) {
  return {{"test_acc", r.acc}, {"bytes", r.bytes}, {"seconds_b1", r.b1}, {"seconds_b256", r.b256}};
}

nlohmann::json compare(const std::string& name, const std::function<std::shared_ptr<nn::Sequential>()>& build,
                       const std::string& checkpoint, const Options& o, const data::ImageDataset& train,
                       const data::ImageDataset& test) {
  const auto model = build();
  load_weights(*model, checkpoint);
  model->eval();
  nlohmann::json out;
  if (o.prune > 0) {
    const double sparsity = prune_weights(*model, o.prune);
    std::printf("\n%s: pruned to %.1f%% zero weights\n", name.c_str(), 100 * sparsity);
    out["weight_sparsity"] = sparsity;
  }
  // Quantization runs on the CPU; each model then moves to --device to be measured.
  const Device device = example::parse_device(o.device);
  const Tensor one = samples(test, 0, 1).to(device), batch = samples(test, 0, 256).to(device);
  const std::filesystem::path dir = o.out;

  auto measure = [&](nn::Module& m, const std::filesystem::path& file) {
    io::save(file.string(), m.state_dict());
    m.to(device);
    return Row{example::evaluate(m, test, device).accuracy, static_cast<double>(std::filesystem::file_size(file)),
               time_forward(m, one, o.reps_b1), time_forward(m, batch, o.reps_b256)};
  };

  std::printf("\n%s (%s)\n", name.c_str(), checkpoint.c_str());
  out["round_trip_rel_rms"] = round_trips(*model);
  std::printf("%-6s %9s %12s %14s %16s\n", "", "test acc", "size",
              "1 image", "batch of 256");
  auto print = [&](const char* label, const Row& r, const Row& fp32) {
    std::printf("%-6s %8.2f%% %9.0f KiB %11.1f us %13.2f ms   (%.2fx smaller, %.2fx / %.2fx faster)\n", label,
                100 * r.acc, r.bytes / 1024, r.b1 * 1e6, r.b256 * 1e3, fp32.bytes / r.bytes, fp32.b1 / r.b1,
                fp32.b256 / r.b256);
    std::fflush(stdout);
  };
  const Row fp32 = measure(*model, dir / (name + ".fp32.safetensors"));
  model->to(Device::cpu());  // quantize() reads the float weights on the host
  print("fp32", fp32, fp32);
  out["fp32"] = to_json(fp32);

  // Calibration batches: the first training images, as the model sees them.
  quant::QuantConfig config;
  config.activations = o.activations == "calibrated" ? quant::Activations::calibrated : quant::Activations::dynamic;
  for (int b = 0; b < o.calibration_batches; ++b) config.calibration.push_back(samples(train, b * 256, 256));

  for (const auto& [label, format] : {std::pair{"int8", quant::Format::int8}, std::pair{"int4", quant::Format::q4_0}}) {
    config.format = format;
    const auto quantized = quant::quantize(*model, config);
    const std::filesystem::path file = dir / (name + "." + label + ".safetensors");
    io::save(file.string(), quantized->state_dict());
    // Load the file into a freshly built quantized model: what a user deploying it does.
    auto fresh = quant::quantize(*model, config);
    fresh->load_state_dict(io::load(file.string()).tensors);
    const Row r = measure(*fresh, file);
    print(label, r, fp32);
    out[label] = to_json(r);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  example::Flags flags{"Quantize the Fashion-MNIST MLP and CNN to int8 and int4 and compare them with fp32"};
  Options o;
  flags.option("--data", o.data, "Fashion-MNIST folder (IDX files, plain or .gz)").show_default();
  flags.option("--mlp", o.mlp, "checkpoint written by mlp_fashion --save");
  flags.option("--cnn", o.cnn, "checkpoint written by cnn_fashion --save (with or without --batchnorm)");
  flags.option("--out", o.out, "folder for the quantized models (default: a temporary folder)");
  flags.option("--activations", o.activations, "dynamic (per row) or calibrated (static scales)")
      .one_of({"dynamic", "calibrated"})
      .show_default();
  flags.option("--calibration-batches", o.calibration_batches, "batches of 256 training images for calibration")
      .at_least(1)
      .show_default();
  flags
      .option("--prune", o.prune,
              "first prune this fraction of the Linear / Conv2d weights (global, by magnitude)")
      .at_least(0.0);
  flags.option("--threads", o.threads, "threads (0: all cores)").at_least(0);
  flags.option("--test-limit", o.test_limit, "evaluate on the first N test images only (0: all)").at_least(0);
  flags.option("--device", o.device, "where the models are measured: cpu, cuda or cuda:N").show_default();
  flags.option("--reps", o.reps_b256, "timed batches of 256 per model (one-image runs: 20x as many)")
      .at_least(1)
      .show_default();
  if (const int exit_code = flags.parse(argc, argv); exit_code >= 0) return exit_code;
  o.reps_b1 = 20 * o.reps_b256;

  return example::run_main([&] {
    KILN_CHECK(!o.mlp.empty() || !o.cnn.empty(), "quantize_fashion: give --mlp and/or --cnn checkpoints");
    if (o.threads > 0) set_num_threads(o.threads);
    if (o.out.empty()) o.out = (std::filesystem::temp_directory_path() / "kiln_quantize_fashion").string();
    std::filesystem::create_directories(o.out);
    const data::ImageDataset train = data::fashion_mnist(o.data, data::Split::train);
    data::ImageDataset test = data::fashion_mnist(o.data, data::Split::test);
    if (o.test_limit > 0) test = test.head(o.test_limit);
    std::cout << build_info() << ", " << get_num_threads() << " threads, activations " << o.activations
              << ", device " << o.device << "\n";

    nlohmann::json result;
    if (!o.mlp.empty()) result["mlp"] = compare("mlp", example::fashion_mlp, o.mlp, o, train, test);
    if (!o.cnn.empty()) {
      // A checkpoint of the --batchnorm variant has BatchNorm statistics at layer 1.
      const bool bn = io::load(o.cnn).tensors.count("model.1.running_mean") > 0;
      result["cnn"] = compare("cnn", [bn] { return example::fashion_cnn(bn); }, o.cnn, o, train, test);
    }
    result["prune"] = o.prune;
    result["activations"] = o.activations;
    result["threads"] = get_num_threads();
    result["device"] = o.device;
    example::print_result(result);
    return 0;
  });
}
