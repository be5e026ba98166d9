// The plumbing the training examples share, so each example file can stay about
// its model: command-line flags, a progress bar, peak memory, per-epoch CSV,
// checkpoints (model + optimizer + random state), and the final RESULT line.
#pragma once

#include <kiln/kiln.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "flags.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace example {

struct CommonArgs {
  std::string data = kiln::data::kFashionMnistDefaultDir;
  int epochs = 10;
  std::uint64_t seed = 0;
  int threads = 0;  // 0: kiln's default (all cores)
  std::int64_t batch_size = 128;
  std::int64_t limit = 0;  // train on the first N images only (0: all)
  std::int64_t test_limit = 0;  // evaluate on the first N test images only (0: all)
  std::string save, resume, metrics;
  std::string device = "cpu";
  bool augment = false;        // flips and shifts of the training images (--augment: add_recipe_flags)
  std::int64_t max_shift = 1;  // pixels, with --augment
  bool cosine = false;         // cosine-annealed learning rate over the epochs (--cosine)
};

// Adds the flags every example takes.
inline void add_common_flags(Flags& flags, CommonArgs& a) {
  flags.option("--data", a.data, "directory with the MNIST-format files").show_default();
  flags.option("--epochs", a.epochs, "training epochs").at_least(0).show_default();
  flags.option("--seed", a.seed, "random seed (initialisation, shuffling, dropout)").show_default();
  flags.option("--threads", a.threads, "threads for kiln and BLAS (default: all cores)").at_least(0);
  flags.option("--batch-size", a.batch_size, "mini-batch size").at_least(1).show_default();
  flags.option("--limit", a.limit, "train on the first N training images only (0: all)").at_least(0);
  flags.option("--test-limit", a.test_limit, "evaluate on the first N test images only (0: all)").at_least(0);
  flags.option("--save", a.save, "write a checkpoint here after every epoch");
  flags.option("--resume", a.resume, "resume training from this checkpoint");
  flags.option("--metrics", a.metrics, "append per-epoch metrics to this CSV file");
  flags.option("--device", a.device, "cpu, cuda or cuda:N (where the model trains)").show_default();
}

// The flags of a longer training recipe: augmented images and a cosine-annealed rate.
inline void add_recipe_flags(Flags& flags, CommonArgs& a) {
  flags.flag("--augment", a.augment, "random left-right flips and shifts of the training images");
  flags.option("--max-shift", a.max_shift, "largest shift in pixels with --augment (0: flips only)")
      .at_least(0)
      .show_default();
  flags.flag("--cosine", a.cosine, "anneal the learning rate to 0 along a cosine over the epochs");
}

// The device named by --device, checked to be usable here.
inline kiln::Device parse_device(const std::string& text) {
  const kiln::Device d = kiln::Device::parse(text);
  if (d.is_cuda())
    KILN_CHECK(d.index < kiln::cuda::device_count(), "--device ", text, ": ",
               kiln::cuda::is_built() ? "this machine has no such GPU visible"
                                      : "this build of kiln has no CUDA backend (rebuild with -DKILN_CUDA=ON)",
               "; use --device cpu");
  return d;
}

// Applies the settings that must precede everything else.
inline void apply_common(const CommonArgs& a) {
  parse_device(a.device);
  KILN_CHECK(a.epochs >= 0 && a.batch_size > 0, "--epochs must be >= 0 and --batch-size > 0");
  if (a.threads > 0) kiln::set_num_threads(a.threads);
  kiln::manual_seed(a.seed);
}

// The flags of the graph examples, which repeat whole runs over seeds.
struct RunArgs {
  std::string data;
  std::uint64_t seed = 0;
  int runs = 1;
  int threads = 0;
  std::string device = "cpu";
};

inline void add_run_flags(Flags& flags, RunArgs& a, const std::string& data_help) {
  flags.option("--data", a.data, data_help).required();
  flags.option("--seed", a.seed, "first seed").show_default();
  flags.option("--runs", a.runs, "independent runs with seeds seed, seed+1, ...; results are their mean")
      .at_least(1)
      .show_default();
  flags.option("--threads", a.threads, "threads for kiln and BLAS (default: all cores)").at_least(0);
  flags.option("--device", a.device, "cpu, cuda or cuda:N (where the model trains)").show_default();
}

// Applies the flags; returns the device to train on.
inline kiln::Device apply_run_flags(const RunArgs& a) {
  KILN_CHECK(a.runs >= 1, "--runs must be at least 1");
  if (a.threads > 0) kiln::set_num_threads(a.threads);
  return parse_device(a.device);
}

// Peak resident memory of this process so far, in MiB (Linux: VmHWM).
inline double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}

// One line redrawn in place on a terminal; silent when output is a file or pipe.
class Progress {
public:
  Progress(std::int64_t total, std::string label)
      : total_(total), label_(std::move(label)), tty_(isatty(STDOUT_FILENO)), start_(clock::now()) {}
  void update(std::int64_t done, double loss, std::int64_t samples) {
    if (!tty_ || (done % 10 != 0 && done != total_)) return;
    const double secs = std::chrono::duration<double>(clock::now() - start_).count();
    const int width = 30, filled = static_cast<int>(width * done / std::max<std::int64_t>(total_, 1));
    std::printf("\r%s [%s%s] %lld/%lld  loss %.4f  %.0f img/s ", label_.c_str(), std::string(filled, '#').c_str(),
                std::string(width - filled, '.').c_str(), static_cast<long long>(done),
                static_cast<long long>(total_), loss, secs > 0 ? samples / secs : 0.0);
    std::fflush(stdout);
    if (done == total_) std::printf("\r%*s\r", 100, "");
  }

private:
  using clock = std::chrono::steady_clock;
  std::int64_t total_;
  std::string label_;
  bool tty_;
  clock::time_point start_;
};

// Appends one row per epoch; writes the header when the file is new.
class MetricsCsv {
public:
  explicit MetricsCsv(const std::string& path,
                      const std::string& header = "epoch,train_loss,test_loss,test_acc,seconds,peak_rss_mb")
      : path_(path) {
    if (path_.empty()) return;
    std::ifstream probe(path_);
    if (!probe.good()) std::ofstream(path_) << header << '\n';
  }
  void add(int epoch, std::initializer_list<double> values) const {
    if (path_.empty()) return;
    std::ofstream out(path_, std::ios::app);
    out << epoch;
    for (double v : values) out << ',' << v;
    out << '\n';
  }

private:
  std::string path_;
};

// A checkpoint: "model.<name>" and "optim.<name>" tensors, plus the epoch reached
// and the random generator's state, so training resumes exactly where it stopped.
inline void save_checkpoint(const std::string& path, const kiln::nn::Module& model,
                            const kiln::optim::Optimizer& opt, int epoch) {
  kiln::io::TensorMap all;
  for (const auto& [k, t] : model.state_dict()) all["model." + k] = t;
  for (const auto& [k, t] : opt.state_dict()) all["optim." + k] = t;
  kiln::io::save(path, all,
                 {{"epoch", std::to_string(epoch)}, {"rng", kiln::default_generator().state()}, {"format", "kiln-train-1"}});
}

// Returns the number of epochs already done.
inline int load_checkpoint(const std::string& path, kiln::nn::Module& model, kiln::optim::Optimizer& opt) {
  const kiln::io::Loaded file = kiln::io::load(path);
  kiln::nn::StateDict m;
  kiln::optim::StateDict o;
  for (const auto& [k, t] : file.tensors) {
    if (k.rfind("model.", 0) == 0) m[k.substr(6)] = t;
    else if (k.rfind("optim.", 0) == 0) o[k.substr(6)] = t;
  }
  KILN_CHECK(file.metadata.count("epoch") && file.metadata.count("rng"), "--resume ", path,
             ": not a training checkpoint of these examples (no epoch / rng metadata)");
  model.load_state_dict(m);
  opt.load_state_dict(o);
  kiln::default_generator().set_state(file.metadata.at("rng"));
  return std::stoi(file.metadata.at("epoch"));
}

struct Evaluation {
  double loss = 0, accuracy = 0;
  kiln::Tensor predicted, labels;  // every sample's predicted and true class (host int64)
};

// Mean cross-entropy and accuracy of `model` over a whole dataset, in eval mode.
inline Evaluation evaluate(kiln::nn::Module& model, const kiln::data::Dataset& dataset,
                           kiln::Device device = kiln::Device::cpu()) {
  kiln::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  kiln::data::DataLoader loader(dataset, kiln::data::LoaderOptions(256));
  double loss = 0, correct = 0;
  std::vector<kiln::Tensor> predicted, labels;
  for (const auto& batch : loader.epoch(0)) {
    const kiln::Tensor logits = model(batch.x.to(device));
    const kiln::Tensor y = batch.y.to(device);
    const kiln::Tensor classes = kiln::argmax(logits, 1);
    loss += kiln::cross_entropy(logits, y, kiln::Reduction::sum).item();
    correct += kiln::sum(kiln::eq(classes, y)).item();
    predicted.push_back(classes.to(kiln::Device::cpu()));
    labels.push_back(batch.y.clone());  // the loader reuses its batch buffers
  }
  model.train(was_training);
  if (predicted.empty()) return {};
  return {loss / dataset.size(), correct / dataset.size(), kiln::cat(predicted, 0), kiln::cat(labels, 0)};
}

// Precision, recall and F1 of each Fashion-MNIST class, as a table; returns the macro F1.
inline double print_per_class(const Evaluation& eval) {
  static const char* const names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  if (!eval.labels.defined()) return 0;
  const kiln::metrics::ClassificationReport r =
      kiln::metrics::classification_report(eval.predicted, eval.labels, 10);
  std::printf("%-12s %9s %9s %9s %8s\n", "class", "precision", "recall", "F1", "support");
  for (std::size_t k = 0; k < 10; ++k)
    std::printf("%-12s %9.3f %9.3f %9.3f %8lld\n", names[k], r.precision[k], r.recall[k], r.f1[k],
                static_cast<long long>(r.support[k]));
  std::printf("%-12s %9.3f %9.3f %9.3f\n", "macro mean", r.macro_precision, r.macro_recall, r.macro_f1);
  return r.macro_f1;
}

// Mean and (population) standard deviation of repeated measurements.
inline std::pair<double, double> mean_std(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= std::max<std::size_t>(v.size(), 1);
  for (double x : v) s += (x - m) * (x - m);
  return {m, std::sqrt(s / std::max<std::size_t>(v.size(), 1))};
}

// The last line of every example: "RESULT {json}".
inline void print_result(const nlohmann::json& fields) { std::cout << "RESULT " << fields.dump() << std::endl; }

}  // namespace example

namespace example {

// The training loop the Fashion-MNIST examples share: Adam on cross-entropy,
// an evaluation on the test set after each epoch, checkpoints, CSV, RESULT.
// `optimizer` must hold `model`'s parameters. Returns the RESULT fields.
inline nlohmann::json train_classifier(kiln::nn::Module& model, kiln::optim::Optimizer& optimizer,
                                       const CommonArgs& args, const std::string& name) {
  using namespace kiln;
  data::ImageDataset train = data::fashion_mnist(args.data, data::Split::train);
  data::ImageDataset test = data::fashion_mnist(args.data, data::Split::test);
  if (args.limit > 0) train = train.head(args.limit);
  if (args.test_limit > 0) test = test.head(args.test_limit);
  data::LoaderOptions loader_options = data::LoaderOptions(args.batch_size).set_shuffle(true).set_seed(args.seed);
  if (args.augment) loader_options.set_augment(data::Augment().set_flip(true).set_max_shift(args.max_shift));
  data::DataLoader loader(train, loader_options);

  // Parameters move in place, so the optimizer made before still holds them;
  // each batch is copied to the device as it is used.
  const Device device = parse_device(args.device);
  model.to(device);

  int start_epoch = 0;
  if (!args.resume.empty()) {
    start_epoch = load_checkpoint(args.resume, model, optimizer);
    std::cout << "resumed from " << args.resume << " after epoch " << start_epoch << "\n";
  }
  std::cout << build_info() << ", " << get_num_threads() << " threads, device " << device << "\n" << model << "\n";
  std::cout << name << ": " << train.size() << " training images, " << test.size() << " test images, batch "
            << args.batch_size << "\n";

  const MetricsCsv csv(args.metrics);
  double train_seconds = 0, last_loss = 0;
  Evaluation eval;
  int epochs_run = 0;
  for (int epoch = start_epoch; epoch < args.epochs; ++epoch) {
    model.train();
    // Cosine annealing: the rate falls from its initial value to 0 over the run
    // (set from the epoch, so a resumed run continues the same curve).
    if (args.cosine)
      optimizer.set_lr(optimizer.initial_lr() * (1 + std::cos(M_PI * epoch / args.epochs)) / 2);
    Progress progress(loader.num_batches(), "epoch " + std::to_string(epoch + 1));
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::int64_t step = 0, seen = 0;
    for (const data::Batch& batch : loader.epoch(epoch)) {
      optimizer.zero_grad();
      const Tensor logits = model(batch.x.to(device));         // (B, 10)
      Tensor loss = cross_entropy(logits, batch.y.to(device));  // mean over the batch
      loss.backward();                                 // gradients of every parameter
      optimizer.step();                                // Adam update
      loss_sum += loss.item();
      seen += batch.y.size(0);
      ++step;
      progress.update(step, loss_sum / step, seen);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train_seconds += secs;
    ++epochs_run;
    last_loss = loss_sum / std::max<std::int64_t>(step, 1);
    eval = evaluate(model, test, device);
    std::printf("epoch %2d  train loss %.4f  test loss %.4f  test acc %.4f  %.2f s  peak RSS %.0f MiB\n", epoch + 1,
                last_loss, eval.loss, eval.accuracy, secs, peak_rss_mb());
    std::fflush(stdout);  // progress reaches a log file as it happens
    csv.add(epoch + 1, {last_loss, eval.loss, eval.accuracy, secs, peak_rss_mb()});
    if (!args.save.empty()) save_checkpoint(args.save, model, optimizer, epoch + 1);
  }
  if (epochs_run == 0) eval = evaluate(model, test, device);
  const double macro_f1 = print_per_class(eval);
  const double per_epoch = epochs_run ? train_seconds / epochs_run : 0.0;
  return {{"model", name},
          {"test_acc", eval.accuracy},
          {"test_macro_f1", macro_f1},
          {"test_images", test.size()},
          {"test_loss", eval.loss},
          {"train_loss", last_loss},
          {"epochs", args.epochs},
          {"train_seconds", train_seconds},
          {"seconds_per_epoch", per_epoch},
          {"images_per_second", per_epoch > 0 ? train.size() / per_epoch : 0.0},
          {"peak_rss_mb", peak_rss_mb()},
          {"threads", get_num_threads()},
          {"device", args.device},
          {"augment", args.augment},
          {"cosine", args.cosine},
          {"seed", args.seed}};
}

// Runs an example's main body, turning errors into a message and exit code 1.
template <class Body>
int run_main(Body body) {
  try {
    return body();
  } catch (const kiln::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace example
