// End to end: an MLP learns Fashion-MNIST from a small subset, and a checkpoint
// taken mid-training resumes to exactly the same losses.
#include <unistd.h>

#include <filesystem>

#include "helpers.hpp"

using namespace kiln;
namespace fs = std::filesystem;

namespace {


bool have_fashion_mnist() {
  if (fs::exists(data::kFashionMnistDefaultDir)) return true;
  MESSAGE("skipping: " << data::kFashionMnistDefaultDir << " is absent (apt-get install dataset-fashion-mnist)");
  return false;
}

std::shared_ptr<nn::Sequential> make_mlp() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 64), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Dropout>(0.2), std::make_shared<nn::Linear>(64, 10)});
}

// Trains one epoch; returns every batch's loss.
std::vector<double> train_epoch(nn::Module& model, optim::Optimizer& opt, data::DataLoader& loader, int epoch) {
  std::vector<double> losses;
  model.train();
  for (const auto& batch : loader.epoch(epoch)) {
    opt.zero_grad();
    Tensor loss = cross_entropy(model(batch.x), batch.y);
    loss.backward();
    opt.step();
    losses.push_back(loss.item());
  }
  return losses;
}

double accuracy(nn::Module& model, const data::Dataset& ds) {
  NoGradGuard no_grad;
  model.eval();
  data::DataLoader loader(ds, data::LoaderOptions(500));
  double correct = 0;
  for (const auto& b : loader.epoch(0)) correct += sum(eq(argmax(model(b.x), 1), b.y)).item();
  return correct / ds.size();
}

}  // namespace

TEST_CASE("an MLP learns Fashion-MNIST from 3,000 images") {
  if (!have_fashion_mnist()) return;
  manual_seed(0);
  const auto train = data::fashion_mnist(data::kFashionMnistDefaultDir, data::Split::train).head(3000);
  const auto test = data::fashion_mnist(data::kFashionMnistDefaultDir, data::Split::test).head(2000);
  auto model = make_mlp();
  optim::Adam opt(model->parameters(), optim::AdamOptions(1e-3));
  data::DataLoader loader(train, data::LoaderOptions(64).set_shuffle(true).set_seed(1));
  const double before = accuracy(*model, test);
  std::vector<double> first, last;
  for (int epoch = 0; epoch < 4; ++epoch) {
    const auto losses = train_epoch(*model, opt, loader, epoch);
    (epoch == 0 ? first : last) = losses;
  }
  const double after = accuracy(*model, test);
  MESSAGE("accuracy " << before << " -> " << after << ", loss " << first.front() << " -> " << last.back());
  CHECK(last.back() < 0.6 * first.front());
  CHECK(after > 0.7);  // chance is 0.1
}

// Data of one's own: a regression from tensors, with the weights set by nn::init and
// the gradients clipped every step. y = x A + b plus a little noise.
TEST_CASE("a regression on a TensorDataset, with nn::init and clipped gradients, recovers its weights") {
  manual_seed(6);
  const Tensor a = tensor<float>({{1.5f, -2.0f}, {0.5f, 3.0f}, {-1.0f, 0.25f}});  // (3, 2)
  const Tensor b = tensor<float>({0.5f, -1.0f});
  const Tensor x = randn({512, 3});
  const Tensor y = matmul(x, a) + b + randn({512, 2}) * 0.01;
  const data::TensorDataset ds(x, y);
  data::DataLoader loader(ds, data::LoaderOptions(32).set_shuffle(true).set_seed(2));

  nn::Linear fc(3, 2);
  nn::init::xavier_normal_(fc.weight);
  nn::init::zeros_(fc.bias);
  optim::SGD opt(fc.parameters(), optim::SGDOptions(0.1));
  double largest_norm = 0;
  for (int epoch = 0; epoch < 20; ++epoch) {
    for (const data::Batch& batch : loader.epoch(epoch)) {
      opt.zero_grad();
      mse_loss(fc(batch.x), batch.y).backward();
      largest_norm = std::max(largest_norm, nn::clip_grad_norm_(fc.parameters(), 1.0).item());
      opt.step();
    }
  }
  MESSAGE("largest gradient norm before clipping: " << largest_norm);
  CHECK(largest_norm > 1.0);  // the clipping did act early on
  test::check_same(fc.weight.t(), a, 0.01);
  test::check_same(fc.bias, b, 0.01);
}

TEST_CASE("a checkpoint resumes training to bit-identical losses") {
  if (!have_fashion_mnist()) return;
  const test::TempDir dir("kiln_test_ckpt_");
  const std::string path = (dir / "ckpt.safetensors").string();
  const auto train = data::fashion_mnist(data::kFashionMnistDefaultDir, data::Split::train).head(1000);

  auto save = [&](const nn::Module& m, const optim::Optimizer& o) {
    io::TensorMap all;
    for (const auto& [k, t] : m.state_dict()) all["model." + k] = t;
    for (const auto& [k, t] : o.state_dict()) all["optim." + k] = t;
    io::save(path, all, {{"rng", default_generator().state()}});
  };
  auto load = [&](nn::Module& m, optim::Optimizer& o) {
    const io::Loaded f = io::load(path);
    nn::StateDict ms;
    optim::StateDict os;
    for (const auto& [k, t] : f.tensors) (k.rfind("model.", 0) == 0 ? ms[k.substr(6)] : os[k.substr(6)]) = t;
    m.load_state_dict(ms);
    o.load_state_dict(os);
    default_generator().set_state(f.metadata.at("rng"));
  };

  manual_seed(3);
  auto model = make_mlp();
  optim::Adam opt(model->parameters(), optim::AdamOptions(1e-3));
  data::DataLoader loader(train, data::LoaderOptions(100).set_shuffle(true).set_seed(2));
  train_epoch(*model, opt, loader, 0);
  save(*model, opt);
  const auto expected = train_epoch(*model, opt, loader, 1);

  manual_seed(99);  // a different process state, replaced by the checkpoint
  auto resumed = make_mlp();
  optim::Adam opt2(resumed->parameters(), optim::AdamOptions(1e-3));
  data::DataLoader loader2(train, data::LoaderOptions(100).set_shuffle(true).set_seed(2));
  load(*resumed, opt2);
  const auto got = train_epoch(*resumed, opt2, loader2, 1);
  CHECK(got == expected);
}
