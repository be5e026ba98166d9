// libFuzzer target: loading a quantized model's checkpoint. A fixed quantized
// model (an int8 layer with a calibrated input scale, a q4_0 layer with dynamic
// activations) takes the fuzzed file with load_state_dict, then runs a forward
// pass, so whatever the file holds must be rejected or be harmless to the kernels.
#include "fuzz_support.hpp"
#include "kiln/kiln.hpp"

namespace {
std::shared_ptr<kiln::nn::Sequential> make_model() {
  using namespace kiln;
  manual_seed(0);
  nn::Sequential model{std::make_shared<nn::Linear>(64, 16), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(16, 4)};
  quant::QuantConfig config;
  config.activations = quant::Activations::calibrated;
  config.calibration = {randn({8, 64})};
  config.layers["2"] = {true, quant::Format::q4_0, quant::Activations::dynamic};
  return quant::quantize(model, config);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = kiln::fuzz::scratch_path("model.safetensors");
  static const auto model = make_model();
  static const kiln::Tensor input = kiln::randn({3, 64});
  kiln::fuzz::write_file(path, data, size);
  kiln::fuzz::expect_ok_or_error([&] {
    model->load_state_dict(kiln::io::load(path).tensors);
    (void)(*model)(input);
  });
  return 0;
}
