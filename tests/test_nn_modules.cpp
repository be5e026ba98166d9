// Modules: the registry, state dicts, modes, printing, initialisation.
#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_same;
using kiln::test::check_values;
using In = std::vector<Tensor>;

namespace {
// A module with its own children, as users write them.
struct Net : nn::Module {
  std::shared_ptr<nn::Conv2d> conv1 =
      register_module("conv1", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3).padding(1)));
  std::shared_ptr<nn::BatchNorm2d> bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(4));
  std::shared_ptr<nn::Linear> fc1 = register_module("fc1", std::make_shared<nn::Linear>(4 * 4 * 4, 3));
  Tensor forward(const Tensor& x) override {
    return fc1->forward(relu(bn1->forward(conv1->forward(x))).flatten(1));
  }
  std::string description() const override { return "Net"; }
};
}  // namespace

TEST_CASE("parameters and buffers are named by path, as in PyTorch") {
  Net net;
  std::vector<std::string> names;
  for (const auto& [n, _] : net.named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "fc1.weight", "fc1.bias"});
  const auto sd = net.state_dict();
  CHECK(sd.size() == 9);
  CHECK(sd.count("bn1.running_mean"));
  CHECK(sd.count("bn1.running_var"));
  CHECK(sd.count("bn1.num_batches_tracked"));
  CHECK(sd.at("fc1.weight").shape() == Shape{3, 64});
  CHECK(net.parameters().size() == 6);
  for (const Tensor& p : net.parameters()) CHECK(p.requires_grad());
  // The registry holds the very tensors the layer uses.
  CHECK(sd.at("conv1.weight").shares_storage(net.conv1->weight));
}

TEST_CASE("Sequential names children 0, 1, ... and chains them") {
  nn::Sequential seq{std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(3, 2)};
  CHECK(seq.size() == 3);
  CHECK(seq.state_dict().count("2.bias"));
  manual_seed(1);
  const Tensor x = randn({5, 4});
  auto l0 = std::dynamic_pointer_cast<nn::Linear>(seq[0]);
  auto l2 = std::dynamic_pointer_cast<nn::Linear>(seq[2]);
  check_same(seq(x), linear(relu(linear(x, l0->weight, l0->bias)), l2->weight, l2->bias), 1e-6);
  const std::string s = seq.str();
  CHECK(s.find("(0): Linear(in_features=4, out_features=3, bias=true)") != std::string::npos);
  CHECK(s.find("(1): ReLU()") != std::string::npos);
}

TEST_CASE("ModuleList holds layers for a forward written by hand; Identity passes its input on") {
  manual_seed(3);
  nn::ModuleList layers{std::make_shared<nn::Linear>(4, 4), std::make_shared<nn::Identity>()};
  layers.push_back(std::make_shared<nn::Linear>(4, 2));
  CHECK(layers.size() == 3);
  std::vector<std::string> names;
  for (const auto& [n, _] : layers.named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  const Tensor x = randn({5, 4});
  Tensor h = x;
  for (std::size_t i = 0; i < layers.size(); ++i) h = layers[i]->forward(h);
  const auto fc0 = layers.at<nn::Linear>(0), fc2 = layers.at<nn::Linear>(2);
  check_same(h, linear(linear(x, fc0->weight, fc0->bias), fc2->weight, fc2->bias), 0);
  layers.eval();  // modes reach every module
  CHECK(!layers[1]->is_training());
  CHECK(layers.str().find("(1): Identity()") != std::string::npos);
  CHECK_THROWS_WITH_AS(layers.at<nn::ReLU>(1), doctest::Contains("module 1 is Identity(), not the type"), Error);
  CHECK_THROWS_WITH_AS(layers[3], doctest::Contains("ModuleList: index 3 is out of range for 3 modules"), Error);
  CHECK_THROWS_WITH_AS(layers(x), doctest::Contains("no single-input forward"), Error);
  CHECK_THROWS_WITH_AS(nn::Sequential({nullptr}), doctest::Contains("Sequential: cannot add a null module"), Error);
  // Graph layers take two inputs: a list of them, as the examples' stacks could be.
  const graph::CsrMatrix a_hat =
      graph::normalize_symmetric(graph::CsrMatrix::from_coo(5, 5, {{0, 1}, {1, 0}, {3, 4}}));
  nn::ModuleList convs{std::make_shared<nn::GCNConv>(4, 8), std::make_shared<nn::GCNConv>(8, 3)};
  Tensor g = x;
  for (std::size_t i = 0; i < convs.size(); ++i) g = convs.at<nn::GCNConv>(i)->forward(a_hat, g);
  CHECK(g.shape() == Shape{5, 3});
  CHECK(convs.parameters().size() == 4);
}

TEST_CASE("load_state_dict copies values, and refuses mismatches without changing anything") {
  Net a, b;
  manual_seed(2);
  Net c;
  b.load_state_dict(a.state_dict());
  for (const auto& [name, t] : a.state_dict()) check_same(b.state_dict().at(name), t, 0);
  auto sd = c.state_dict();
  sd.erase("fc1.bias");
  sd["extra.weight"] = zeros({1});
  CHECK_THROWS_WITH_AS(b.load_state_dict(sd), doctest::Contains("Missing: fc1.bias. Unexpected: extra.weight."), Error);
  b.load_state_dict(sd, /*strict=*/false);
  check_same(b.fc1->weight, c.fc1->weight, 0);
  check_same(b.fc1->bias, a.fc1->bias, 0);  // not in the state: untouched
  auto bad = a.state_dict();
  bad["conv1.weight"] = zeros({4, 1, 2, 2});
  const Tensor before = b.bn1->weight.clone();
  CHECK_THROWS_WITH_AS(b.load_state_dict(bad), doctest::Contains("'conv1.weight' has shape (4, 1, 2, 2)"), Error);
  check_same(b.bn1->weight, before, 0);
}

TEST_CASE("train/eval reach every child; zero_grad clears gradients") {
  Net net;
  CHECK(net.is_training());
  net.eval();
  CHECK_FALSE(net.bn1->is_training());
  net.train();
  CHECK(net.bn1->is_training());
  manual_seed(3);
  sum(net(randn({2, 1, 4, 4}))).backward();
  CHECK(net.fc1->weight.grad().defined());
  CHECK(net.bn1->num_batches_tracked.item() == 1);
  net.zero_grad();
  for (const Tensor& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("default initialisation is PyTorch's: U(-1/sqrt(fan_in), 1/sqrt(fan_in))") {
  manual_seed(4);
  nn::Linear fc(400, 300);
  const double bound = 1 / std::sqrt(400.0);
  CHECK(max(fc.weight).item() <= bound);
  CHECK(min(fc.weight).item() >= -bound);
  CHECK(max(fc.weight).item() > 0.95 * bound);
  CHECK(std::abs(kiln::std(fc.weight).item() - bound / std::sqrt(3.0)) < 0.01 * bound);
  nn::Conv2d conv(nn::Conv2dOptions(8, 16, 3).stride(2).bias(false));
  CHECK_FALSE(conv.bias.defined());
  CHECK(conv.weight.shape() == Shape{16, 8, 3, 3});
  CHECK(max(conv.weight).item() <= 1 / std::sqrt(72.0));
  CHECK(conv.description() == "Conv2d(8, 16, kernel_size=(3, 3), stride=(2, 2), bias=false)");
}

TEST_CASE("layers check their input shapes") {
  nn::BatchNorm2d bn(3);
  CHECK_THROWS_WITH_AS(bn(zeros({2, 3})), doctest::Contains("(N, C, H, W)"), Error);
  nn::Linear fc(3, 2);
  CHECK_THROWS_AS(fc(zeros({2, 4})), Error);
  CHECK_THROWS_AS(nn::Conv2d(nn::Conv2dOptions(3, 4, 3).groups(2)), Error);
  nn::Dropout drop(0.5);
  drop.eval();
  const Tensor x = ones({4});
  CHECK(drop(x).shares_storage(x));
  CHECK(nn::Flatten()(zeros({2, 3, 4})).shape() == Shape{2, 12});
  nn::Embedding emb(10, 3);
  CHECK(emb(tensor<std::int64_t>({1, 2})).shape() == Shape{2, 3});
}

TEST_CASE("apply visits every module, children before their parent, e.g. to initialise every Linear") {
  nn::Sequential seq{std::make_shared<nn::Linear>(40, 30), std::make_shared<nn::ReLU>(),
                     std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
                         std::make_shared<nn::Linear>(30, 20), std::make_shared<nn::Tanh>()})};
  std::vector<std::string> order;
  seq.apply([&](nn::Module& m) { order.push_back(m.description().substr(0, 6)); });
  CHECK(order == std::vector<std::string>{"Linear", "ReLU()", "Linear", "Tanh()", "Sequen", "Sequen"});

  manual_seed(8);
  seq.apply([](nn::Module& m) {
    if (auto* fc = dynamic_cast<nn::Linear*>(&m)) {
      nn::init::constant_(fc->weight, 0.5);
      nn::init::zeros_(fc->bias);
    }
  });
  for (const auto& named : seq.named_parameters()) {
    const std::string& name = named.first;
    const Tensor& p = named.second;
    INFO(name);
    const double expected = name.ends_with("weight") ? 0.5 : 0.0;
    for (double v : p.to_vector<double>()) CHECK(v == expected);
  }
}

TEST_CASE("instance_norm: each sample's channel on its own, running statistics, gradients, the layers") {
  using kiln::test::rand64;

  manual_seed(91);
  const Tensor x = rand64({3, 4, 5, 6}) * 2.0 + 1.0, w = rand64({4}), b = rand64({4});
  check_same(instance_norm(x, Tensor(), Tensor(), w, b), group_norm(x, 4, w, b), 1e-12);
  // Running statistics: the planes' means and unbiased variances, averaged over the samples.
  const double m = 0.3;
  Tensor rm = zeros({4}, kFloat64), rv = ones({4}, kFloat64);
  instance_norm(x, rm, rv, Tensor(), Tensor(), true, m);
  const Tensor planes = x.reshape({3, 4, 30});
  check_same(rm, mean(mean(planes, {2}), {0}) * m, 1e-12);
  check_same(rv, mean(var(planes, {2}), {0}) * m + (1 - m), 1e-12);
  // Without use_input_stats the running statistics normalise, as in evaluation.
  check_same(
      instance_norm(x, rm, rv, w, b, false),
      (x - rm.reshape({1, 4, 1, 1})) / sqrt(rv.reshape({1, 4, 1, 1}) + 1e-5) * w.reshape({1, 4, 1, 1}) +
          b.reshape({1, 4, 1, 1}),
      1e-12);
  KILN_CHECK_GRAD([](const In& in) { return instance_norm(in[0], Tensor(), Tensor(), in[1], in[2]); },
                  {rand64({2, 3, 4}), rand64({3}), rand64({3})});
  CHECK_THROWS_WITH_AS(instance_norm(rand64({3, 4})), doctest::Contains("must be (N, C, L) or (N, C, ...)"),
                       Error);
  CHECK_THROWS_WITH_AS(instance_norm(rand64({3, 4, 1})),
                       doctest::Contains("has one value, which normalises to 0"), Error);
  CHECK_THROWS_WITH_AS(instance_norm(x, Tensor(), Tensor(), rand64({3})),
                       doctest::Contains("per-channel tensor of shape (3) must be (4)"), Error);

  nn::InstanceNorm2d plain(4);
  CHECK(plain.parameters().empty());
  CHECK(plain.description() ==
        "InstanceNorm2d(4, eps=1e-05, momentum=0.1, affine=false, track_running_stats=false)");
  const Tensor x32 = x.to(kFloat32);
  check_same(plain(x32), group_norm(x32, 4), 1e-5);
  check_same(plain(x32[1]), plain(x32).select(0, 1), 1e-6);  // unbatched (C, H, W)
  nn::InstanceNorm1d tracked(nn::InstanceNormOptions(4).affine(true).track_running_stats(true));
  const auto sd = tracked.state_dict();
  for (const char* key : {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"})
    CHECK(sd.count(key) == 1);
  const Tensor seq = x32.reshape({3, 4, 30});
  tracked(seq);
  CHECK(tracked.num_batches_tracked.item() == 1.0);
  check_same(tracked.running_mean, mean(mean(seq, {2}), {0}) * 0.1, 1e-6);
  tracked.eval();
  check_same(
      tracked(seq),
      (seq - tracked.running_mean.reshape({1, 4, 1})) / sqrt(tracked.running_var.reshape({1, 4, 1}) + 1e-5),
      1e-5);  // weight 1, bias 0
  CHECK_THROWS_WITH_AS(tracked(x32),
                       doctest::Contains("InstanceNorm1d(4, eps=1e-05, momentum=0.1, affine=true, "
                                         "track_running_stats=true): expected (N, C, L)"),
                       Error);
}

TEST_CASE("prelu: a learned slope below zero, one or per channel; gradients; the layer") {
  using kiln::test::rand64;
  using In = std::vector<Tensor>;
  check_values(prelu(tensor<double>({-2.0, 0.0, 3.0}), tensor<double>({0.5})), {-1.0, 0.0, 3.0});
  const Tensor x = tensor<double>({{-1.0, -1.0}, {2.0, -4.0}});
  check_values(prelu(x, tensor<double>({0.1, 0.2})), {-0.1, -0.2, 2.0, -0.8});  // the slope per column
  manual_seed(92);
  KILN_CHECK_GRAD([](const In& in) { return prelu(in[0], in[1]); }, {rand64({2, 3, 4}), rand64({3})});
  KILN_CHECK_GRAD([](const In& in) { return prelu(in[0], in[1]); }, {rand64({5}), rand64({1})});
  CHECK_THROWS_WITH_AS(
      prelu(rand64({2, 3}), rand64({2})),
      "prelu: weight of shape (2) for input of shape (2, 3); give one slope, or one per channel "
      "(3) along dimension 1",
      Error);
  nn::PReLU act(3);
  check_values(act.weight, {0.25, 0.25, 0.25});
  CHECK(act.description() == "PReLU(num_parameters=3)");
  const Tensor y = act(-ones({2, 3, 2}));
  check_values(y, std::vector<double>(12, -0.25));
  sum(y).backward();
  check_values(act.weight.grad(), {-4, -4, -4});  // each slope's four inputs of -1
  CHECK(nn::PReLU().weight.numel() == 1);
  CHECK_THROWS_AS(nn::PReLU(0), Error);
}

TEST_CASE("bilinear and nn::Bilinear: each row pair's x1 W x2 + b, gradients, the layer") {
  using kiln::test::rand64;
  using In = std::vector<Tensor>;
  manual_seed(93);
  const Tensor x1 = rand64({2, 3, 4}), x2 = rand64({2, 3, 5}), w = rand64({6, 4, 5}), b = rand64({6});
  const Tensor y = bilinear(x1, x2, w, b);
  REQUIRE(y.shape() == Shape{2, 3, 6});
  const auto a = x1.to_vector<double>(), c = x2.to_vector<double>(), wv = w.to_vector<double>(),
             bv = b.to_vector<double>(), yv = y.to_vector<double>();
  for (std::int64_t n = 0; n < 6; ++n)
    for (std::int64_t o = 0; o < 6; ++o) {
      double want = bv[o];
      for (std::int64_t i = 0; i < 4; ++i)
        for (std::int64_t j = 0; j < 5; ++j) want += a[n * 4 + i] * wv[(o * 4 + i) * 5 + j] * c[n * 5 + j];
      CHECK(yv[n * 6 + o] == doctest::Approx(want).epsilon(1e-12));
    }
  KILN_CHECK_GRAD([](const In& in) { return bilinear(in[0], in[1], in[2], in[3]); },
                  {rand64({3, 2}), rand64({3, 3}), rand64({2, 2, 3}), rand64({2})});
  CHECK_THROWS_WITH_AS(bilinear(x1, x2, rand64({6, 5, 5})), doctest::Contains("do not fit"), Error);
  nn::Bilinear layer(4, 5, 6);
  CHECK(layer.weight.shape() == Shape{6, 4, 5});
  CHECK(max(abs(layer.weight)).item() <= 0.5);  // U(-1/sqrt(4), 1/sqrt(4))
  CHECK(layer.description() == "Bilinear(in1_features=4, in2_features=5, out_features=6, bias=true)");
  check_same(layer(x1.to(kFloat32), x2.to(kFloat32)),
             bilinear(x1.to(kFloat32), x2.to(kFloat32), layer.weight, layer.bias), 0);
  CHECK_THROWS_WITH_AS(layer(x1), doctest::Contains("it takes two inputs"), Error);
  CHECK(nn::Bilinear(2, 2, 1, false).named_parameters().size() == 1);
}

TEST_CASE("Unflatten, CosineSimilarity and PairwiseDistance layers") {
  using kiln::test::rand64;
  manual_seed(94);
  const Tensor x = rand64({2, 12, 5});
  nn::Unflatten unflatten(1, {3, 4});
  CHECK(unflatten(x).shape() == Shape{2, 3, 4, 5});
  check_same(nn::Flatten(1, 2)(unflatten(x)), x, 0);
  CHECK(nn::Unflatten(-1, {5, 1})(x).shape() == Shape{2, 12, 5, 1});
  CHECK(unflatten.description() == "Unflatten(dim=1, unflattened_size=(3, 4))");
  CHECK_THROWS_AS(nn::Unflatten(1, {5, 5})(x), Error);
  const Tensor a = rand64({4, 3}), b = rand64({4, 3});
  nn::CosineSimilarity cosine;
  check_same(cosine(a, b), cosine_similarity(a, b, 1, 1e-8), 0);
  CHECK(cosine.description() == "CosineSimilarity(dim=1, eps=1e-08)");
  nn::PairwiseDistance distance(1.0);
  check_same(distance(a, b), pairwise_distance(a, b, 1.0), 0);
  CHECK(distance.description() == "PairwiseDistance(p=1, eps=1e-06)");
  CHECK_THROWS_WITH_AS(distance(a), doctest::Contains("PairwiseDistance: it takes two inputs"), Error);
}

TEST_CASE("embedding_bag and nn::EmbeddingBag: sums, means, maxima of bags; padding; weights; gradients") {
  const Tensor w = tensor<double>({{1, 10}, {2, 20}, {3, 30}, {4, -40}});
  const Tensor input = tensor<std::int64_t>({0, 1, 3, 2, 2}), offsets = tensor<std::int64_t>({0, 2, 2});
  using M = EmbeddingBagMode;
  // Bags {0, 1}, {} and {3, 2, 2}.
  check_values(embedding_bag(w, input, offsets, M::sum), {3, 30, 0, 0, 10, 20}, 0);
  check_values(embedding_bag(w, input, offsets, M::mean), {1.5, 15, 0, 0, 10.0 / 3, 20.0 / 3}, 1e-15);
  check_values(embedding_bag(w, input, offsets, M::max), {2, 20, 0, 0, 4, 30}, 0);
  // include_last_offset: the last offset ends the last bag (here the third entry).
  check_values(embedding_bag(w, input, tensor<std::int64_t>({0, 2, 3}), M::sum, Tensor(), true),
               {3, 30, 4, -40}, 0);
  // padding_idx rows are left out, and not counted by mean.
  check_values(embedding_bag(w, input, offsets, M::mean, Tensor(), false, 2), {1.5, 15, 0, 0, 4, -40}, 0);
  // per-sample weights scale each row (mode sum); a 2-D input is one bag per row.
  check_values(embedding_bag(w, input, offsets, M::sum, tensor<double>({1, 0.5, 2, 1, -1})),
               {2, 20, 0, 0, 8, -80}, 0);
  check_values(embedding_bag(w, tensor<std::int64_t>({{0, 3}, {1, 1}}), Tensor(), M::max), {4, 10, 2, 20}, 0);

  manual_seed(97);
  const Tensor table = randn({6, 3}, kFloat64), bags = randint(0, 6, {4, 5});
  // mean of a 2-D input: the mean of embedding's rows.
  check_same(embedding_bag(table, bags), mean(embedding(table, bags), {1}), 1e-15);
  const Tensor flat = tensor<std::int64_t>({5, 0, 0, 2, 1, 5, 4}), cuts = tensor<std::int64_t>({0, 3, 3, 4});
  for (M mode : {M::sum, M::mean, M::max}) {
    INFO(embedding_bag_mode_name(mode));
    KILN_CHECK_GRAD([&](const In& in) { return embedding_bag(in[0], flat, cuts, mode); },
                    {randn({6, 3}, kFloat64)});
  }
  KILN_CHECK_GRAD([&](const In& in) { return embedding_bag(in[0], flat, cuts, M::sum, in[1]); },
                  {randn({6, 3}, kFloat64), randn({7}, kFloat64)});

  nn::EmbeddingBag layer(nn::EmbeddingBagOptions(10, 4).mode(M::sum).padding_idx(-1));
  CHECK(layer.str() == "EmbeddingBag(10, 4, mode=sum, padding_idx=-1)");
  check_values(layer.weight[9], {0, 0, 0, 0}, 0);
  CHECK(layer(tensor<std::int64_t>({{1, 2}, {9, 9}})).shape() == Shape{2, 4});
  check_same(
      layer(tensor<std::int64_t>({1, 2, 9}), tensor<std::int64_t>({0, 2})),
      embedding_bag(layer.weight, tensor<std::int64_t>({1, 2, 9}), tensor<std::int64_t>({0, 2}), M::sum), 0);

  CHECK_THROWS_WITH_AS(embedding_bag(w, input), doctest::Contains("a 1-D input needs 1-D offsets"), Error);
  CHECK_THROWS_WITH_AS(embedding_bag(w, tensor<std::int64_t>({{0}}), offsets),
                       doctest::Contains("offsets are for a 1-D input"), Error);
  CHECK_THROWS_WITH_AS(embedding_bag(w, input, tensor<std::int64_t>({1, 2})),
                       doctest::Contains("offsets must start at 0"), Error);
  CHECK_THROWS_WITH_AS(embedding_bag(w, tensor<std::int64_t>({4}), tensor<std::int64_t>({0})),
                       doctest::Contains("index 4 is out of range for a table of 4 rows"), Error);
  CHECK_THROWS_WITH_AS(embedding_bag(w, input, offsets, M::mean, tensor<double>({1, 1, 1, 1, 1})),
                       doctest::Contains("per_sample_weights need mode sum"), Error);
}

TEST_CASE("named_modules, requires_grad_ freezing a part, ModuleDict, parameter vectors") {
  manual_seed(40);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<Net>(), std::make_shared<nn::Linear>(3, 2)});
  std::vector<std::string> names;
  for (const auto& [n, m] : model->named_modules()) names.push_back(n + ":" + m->description().substr(0, 6));
  CHECK(names == std::vector<std::string>{":Sequen", "0:Net", "0.conv1:Conv2d", "0.bn1:BatchN",
                                          "0.fc1:Linear", "1:Linear"});
  CHECK(model->modules().size() == 6);

  // Freeze the body, train the head: only the head's parameters get gradients and move.
  auto body = model->at<Net>(0);
  auto head = model->at<nn::Linear>(1);
  body->requires_grad_(false);
  for (const Tensor& p : body->parameters()) CHECK_FALSE(p.requires_grad());
  const Tensor body_weight = body->fc1->weight.clone(), head_weight = head->weight.clone();
  optim::SGD opt(model->parameters(), optim::SGDOptions(0.1));
  sum((*model)(randn({2, 1, 4, 4}))).backward();
  CHECK_FALSE(body->fc1->weight.grad().defined());
  CHECK(head->weight.grad().defined());
  opt.step();
  check_same(body->fc1->weight, body_weight, 0);
  CHECK(max(abs(head->weight - head_weight)).item() > 0);
  body->requires_grad_(true);
  CHECK(body->conv1->weight.requires_grad());

  nn::ModuleDict heads{{"age", std::make_shared<nn::Linear>(4, 1)},
                       {"kind", std::make_shared<nn::Linear>(4, 3)}};
  heads.insert("score", std::make_shared<nn::Linear>(4, 1));
  CHECK(heads.size() == 3);
  CHECK(heads.contains("kind"));
  CHECK_FALSE(heads.contains("weight"));
  CHECK(heads.keys() == std::vector<std::string>{"age", "kind", "score"});
  CHECK((*heads["kind"])(randn({5, 4})).shape() == Shape{5, 3});
  CHECK(heads.at<nn::Linear>("age")->options.out_features() == 1);
  CHECK(heads.state_dict().count("score.bias") == 1);
  CHECK_THROWS_WITH_AS(heads["height"],
                       doctest::Contains("no module named 'height' (keys: age, kind, score)"), Error);
  CHECK_THROWS_WITH_AS(heads.insert("age", std::make_shared<nn::ReLU>()), doctest::Contains("already used"),
                       Error);
  CHECK_THROWS_WITH_AS(heads.at<nn::ReLU>("age"), doctest::Contains("not the type asked for"), Error);

  nn::Linear fc(3, 2);
  const Tensor theta = nn::parameters_to_vector(fc.parameters());
  CHECK(theta.shape() == Shape{8});
  check_same(theta.narrow(0, 0, 6), fc.weight.reshape({6}), 0);
  check_same(theta.narrow(0, 6, 2), fc.bias, 0);
  nn::vector_to_parameters(arange(0.0, 8.0, 1.0), fc.parameters());
  check_values(fc.weight, {0, 1, 2, 3, 4, 5}, 0);
  check_values(fc.bias, {6, 7}, 0);
  CHECK(fc.weight.requires_grad());
  // Differentiable: the gradient of the joined vector reaches each parameter.
  sum(nn::parameters_to_vector(fc.parameters()) * arange(0.0, 8.0, 1.0)).backward();
  check_values(fc.bias.grad(), {6, 7}, 0);
  CHECK_THROWS_WITH_AS(nn::vector_to_parameters(zeros({7}), fc.parameters()),
                       doctest::Contains("must be a vector of 8 values"), Error);
}

namespace {
// A module with a table it can rebuild: kept out of its checkpoints.
struct WithTable : nn::Module {
  Tensor scale, table;
  WithTable() {
    scale = register_buffer("scale", ones({2}));
    table = register_buffer("table", arange(0.0, 4.0, 1.0), /*persistent=*/false);
  }
  std::string description() const override { return "WithTable"; }
};
}  // namespace

TEST_CASE("non-persistent buffers move with the module but stay out of state dicts") {
  nn::Sequential model{std::make_shared<WithTable>()};
  std::vector<std::string> names;
  for (const auto& [n, _] : model.named_buffers()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"0.scale", "0.table"});
  const auto state = model.state_dict();
  CHECK(state.size() == 1);
  CHECK(state.count("0.scale") == 1);
  // A checkpoint without the table loads strictly, and leaves it as it is.
  nn::Sequential other{std::make_shared<WithTable>()};
  Tensor(other.state_dict().at("0.scale")).fill_(3.0);
  model.load_state_dict(other.state_dict());
  check_values(model.at<WithTable>(0)->scale, {3, 3}, 0);
  check_values(model.at<WithTable>(0)->table, {0, 1, 2, 3}, 0);
  CHECK_THROWS_WITH_AS(model.load_state_dict({{"0.scale", ones({2})}, {"0.table", ones({4})}}),
                       doctest::Contains("Unexpected: 0.table"), Error);
}

TEST_CASE("Module::to(dtype) converts floating parameters and buffers in place") {
  manual_seed(41);
  nn::Sequential model{std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::BatchNorm1d>(4)};
  const Tensor x = randn({5, 3});
  const Tensor before = model(x);
  const Tensor weight = model.at<nn::Linear>(0)->weight;
  sum(before).backward();
  model.to(kFloat64);
  // The same tensors (an optimizer made before holds them), now float64, gradients cleared.
  CHECK(weight.dtype() == kFloat64);
  CHECK(model.at<nn::Linear>(0)->weight.unsafe_impl() == weight.unsafe_impl());
  CHECK_FALSE(weight.grad().defined());
  CHECK(model.at<nn::BatchNorm1d>(1)->running_mean.dtype() == kFloat64);
  CHECK(model.at<nn::BatchNorm1d>(1)->num_batches_tracked.dtype() == kInt64);  // a count stays
  check_same(model(x.to(kFloat64)), before, 1e-5);
  // In float64 a whole layer can be gradchecked.
  model.eval();
  KILN_CHECK_GRAD([&](const In& in) { return model(in[0]); }, {kiln::test::rand64({2, 3})});
  model.to(kFloat32);
  CHECK(weight.dtype() == kFloat32);
  CHECK_THROWS_WITH_AS(model.to(kInt64), doctest::Contains("convert a module to float32 or float64"), Error);
}
