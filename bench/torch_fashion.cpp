// The peer for examples/mlp_fashion and examples/cnn_fashion: the same networks,
// optimizer, batch size and batch order, in libtorch. Batches come from kiln's
// DataLoader (same seed => same order) and are wrapped without copying.
//
//   ./build/bench/torch_fashion --model mlp|cnn [--batchnorm] --epochs N --threads T
// Ends with "RESULT {json}" holding seconds_per_epoch and test_acc, like the examples.
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "kiln/kiln.hpp"

namespace {

struct Args {
  std::string model = "mlp", data = kiln::data::kFashionMnistDefaultDir;
  int epochs = 2, threads = 1;
  bool batchnorm = false;
  std::uint64_t seed = 0;
};

torch::nn::Sequential make_model(const Args& a) {
  namespace tnn = torch::nn;
  if (a.model == "mlp")
    return tnn::Sequential(tnn::Flatten(), tnn::Linear(784, 256), tnn::ReLU(), tnn::Linear(256, 128), tnn::ReLU(),
                           tnn::Linear(128, 10));
  tnn::Sequential net;
  auto block = [&](int in, int out) {
    net->push_back(tnn::Conv2d(tnn::Conv2dOptions(in, out, 3).padding(1)));
    if (a.batchnorm) net->push_back(tnn::BatchNorm2d(out));
    net->push_back(tnn::ReLU());
    net->push_back(tnn::MaxPool2d(2));
  };
  block(1, 32);
  block(32, 64);
  net->push_back(tnn::Flatten());
  net->push_back(tnn::Linear(3136, 128));
  net->push_back(tnn::ReLU());
  net->push_back(tnn::Linear(128, 10));
  return net;
}

double peak_rss_mb() {  // Linux: VmHWM
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}

torch::Tensor wrap(const kiln::Tensor& t) {
  std::vector<int64_t> sizes(t.shape().begin(), t.shape().end());
  const auto dtype = t.dtype() == kiln::kFloat32 ? torch::kFloat32 : torch::kInt64;
  return torch::from_blob(t.raw_data_ptr(), sizes, dtype);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (f == "--model") a.model = next();
    else if (f == "--data") a.data = next();
    else if (f == "--epochs") a.epochs = std::stoi(next());
    else if (f == "--threads") a.threads = std::stoi(next());
    else if (f == "--seed") a.seed = std::stoull(next());
    else if (f == "--batchnorm") a.batchnorm = true;
    else {
      std::cerr << "unknown flag " << f << "\n";
      return 2;
    }
  }
  torch::set_num_threads(a.threads);
  torch::manual_seed(a.seed);
  const kiln::data::ImageDataset train = kiln::data::fashion_mnist(a.data, kiln::data::Split::train);
  const kiln::data::ImageDataset test = kiln::data::fashion_mnist(a.data, kiln::data::Split::test);
  kiln::data::DataLoader loader(train, kiln::data::LoaderOptions(128).set_shuffle(true).set_seed(a.seed));

  auto model = make_model(a);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  double seconds = 0;
  for (int epoch = 0; epoch < a.epochs; ++epoch) {
    model->train();
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    for (const auto& batch : loader.epoch(epoch)) {
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(model->forward(wrap(batch.x)), wrap(batch.y));
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    seconds += s;
    std::cout << "libtorch " << a.model << " epoch " << epoch + 1 << "  train loss " << loss_sum / loader.num_batches()
              << "  " << s << " s" << std::endl;
  }
  torch::NoGradGuard no_grad;
  model->eval();
  kiln::data::DataLoader test_loader(test, kiln::data::LoaderOptions(256));
  double correct = 0;
  for (const auto& batch : test_loader.epoch(0))
    correct += model->forward(wrap(batch.x)).argmax(1).eq(wrap(batch.y)).sum().item<double>();
  std::cout << "RESULT {\"framework\":\"libtorch\",\"model\":\"" << a.model << (a.batchnorm ? "_bn" : "")
            << "\",\"threads\":" << a.threads << ",\"epochs\":" << a.epochs
            << ",\"seconds_per_epoch\":" << seconds / std::max(a.epochs, 1)
            << ",\"test_acc\":" << correct / test.size() << ",\"peak_rss_mb\":" << peak_rss_mb() << "}" << std::endl;
  return 0;
}
