// gvae_movielens: top-10 movie recommendation on MovieLens-100K with a graph
// variational auto-encoder, against two baselines in the same program.
//
// Protocol (that of the Microsoft Recommenders benchmark, so its published table is
// a fair anchor): every rating is an implicit positive; each user's ratings are split
// at random, 75 % train / 25 % test; for each user, all items not rated in train are
// ranked, and precision, recall, NDCG and MAP at 10 are averaged over users.
//
// Models (--model):
//   pop   items by number of training ratings, the same list for everyone
//   bpr   matrix factorisation: score(u, i) = p_u . q_i + b_i, trained with the
//         Bayesian personalised ranking loss -log sigmoid(score(u, i) - score(u, j))
//         on sampled unrated items j (Rendle et al. 2009)
//   gvae  user and item embeddings E propagated over the normalised user-item graph:
//           E = E_own + 0.5 * mean of the node's attribute embeddings   (u.user, u.item;
//               --no-side-features leaves E_own alone)
//           mu = (E + Â E + Â² E) / 3     (a GCN-style encoder, no weights; --layers 2)
//           log sigma = Â E W_sigma,  z = mu + sigma * eps
//         the decoder is the inner product z_u . z_i plus a learned item bias b_i;
//         trained on the multinomial likelihood of each user's rated items under a
//         softmax over all items (--loss multinomial, as in Mult-VAE), or on the
//         ranking loss above against --negatives sampled unrated items per rating
//         (--loss bpr); plus beta * KL(q(z) || N(0, I)). Ranked with mu_u . mu_i + b_i.
//
// --eval val carves a validation split out of the training ratings (per user, 20 %)
// and reports on it, so hyperparameters are chosen without touching the test set.
//
//   ./build/examples/gvae_movielens --data ../shared/data/ml-100k --model gvae [--runs 5]
#include <map>
#include <optional>
#include <unordered_set>

#include "example_support.hpp"

namespace {

using kiln::Tensor;
using Interactions = std::vector<std::vector<std::int64_t>>;  // items per user

// Fisher-Yates: `values` in a uniformly random order drawn from `gen`.
template <class T>
void shuffle(std::vector<T>& values, kiln::Generator& gen) {
  for (std::size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[gen.below(i)]);
}

// Each user's items shuffled by `gen`, the first `fraction` (rounded) to the first part.
void stratified_split(const Interactions& all, double fraction, kiln::Generator& gen, Interactions& first,
                      Interactions& second) {
  first.assign(all.size(), {});
  second.assign(all.size(), {});
  for (std::size_t u = 0; u < all.size(); ++u) {
    std::vector<std::int64_t> items = all[u];
    shuffle(items, gen);
    const auto cut = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(items.size())));
    first[u].assign(items.begin(), items.begin() + cut);
    second[u].assign(items.begin() + cut, items.end());
  }
}

struct Options {
  std::string model = "gvae";
  std::string loss = "multinomial";  // gvae: multinomial over all items; bpr or softmax against sampled negatives
  std::string schedule = "constant";  // learning rate over the epochs: constant or cosine (to 0)
  int epochs = 0, dim = 0;
  int layers = 2;  // gvae: propagation steps averaged into mu
  double lr = 0.0, l2 = 0.0, beta = -1.0;  // 0 (for beta, < 0) means the tuned value
  bool item_bias = true;  // gvae: a learned bias b_i added to each item's score
  bool side_features = false;  // gvae: user and movie attributes (u.user, u.item) in E
  double side_weight = 0.5;    // gvae: how much of the attributes' embedding goes into E
  std::int64_t batch = 2048;  // ratings per mini-batch; users per mini-batch with --loss multinomial
  std::int64_t negatives = 0;  // unrated items sampled per rating (gvae with --loss bpr or softmax)
  kiln::Device device = kiln::Device::cpu();  // where the embeddings live and train
};

// A model gives a (users, items) score matrix for ranking.
class Recommender {
public:
  virtual ~Recommender() = default;
  virtual void train_epoch(const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs,
                           const std::vector<std::unordered_set<std::int64_t>>& seen, kiln::Generator& gen) = 0;
  virtual Tensor scores() = 0;
  virtual kiln::optim::Optimizer& optimizer() = 0;
};

// Draws `per_pair` unrated items per (user, item) pair: (pairs * per_pair), pair-major.
Tensor sample_unrated(const std::vector<std::int64_t>& users, const std::vector<std::unordered_set<std::int64_t>>& seen,
                      std::int64_t items, std::int64_t per_pair, kiln::Generator& gen) {
  std::vector<std::int64_t> neg(users.size() * static_cast<std::size_t>(per_pair));
  for (std::size_t k = 0; k < neg.size(); ++k) {
    std::int64_t j;
    do j = static_cast<std::int64_t>(gen.below(items));
    while (seen[users[k / static_cast<std::size_t>(per_pair)]].count(j));
    neg[k] = j;
  }
  return kiln::from_vector(neg);
}

// The shared loop over shuffled mini-batches of (user, item, unrated item) triples.
template <class LossFn>
void bpr_epoch(const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs,
               const std::vector<std::unordered_set<std::int64_t>>& seen, std::int64_t items, std::int64_t batch,
               std::int64_t negatives, kiln::optim::Optimizer& opt, kiln::Generator& gen, LossFn loss_of) {
  std::vector<std::size_t> order(pairs.size());
  std::iota(order.begin(), order.end(), 0);
  shuffle(order, gen);
  for (std::size_t start = 0; start < order.size(); start += batch) {
    const std::size_t end = std::min(order.size(), start + static_cast<std::size_t>(batch));
    std::vector<std::int64_t> u, i;
    for (std::size_t k = start; k < end; ++k) {
      u.push_back(pairs[order[k]].first);
      i.push_back(pairs[order[k]].second);
    }
    const Tensor j = sample_unrated(u, seen, items, negatives, gen);
    opt.zero_grad();
    Tensor loss = loss_of(kiln::from_vector(u), kiln::from_vector(i), j);
    loss.backward();
    opt.step();
  }
}

// -log sigmoid(pos - neg), averaged: the BPR objective.
Tensor bpr_loss(const Tensor& pos, const Tensor& neg) { return kiln::mean(kiln::softplus(neg - pos)); }

class Bpr : public Recommender {
public:
  Bpr(std::int64_t users, std::int64_t items, const Options& o)
      : items_(items), o_(o), p_((kiln::randn({users, o.dim}) * 0.1).to(o.device)),
        q_((kiln::randn({items, o.dim}) * 0.1).to(o.device)), b_(kiln::zeros({items}, kiln::kFloat32, o.device)), opt_({p_.requires_grad_(), q_.requires_grad_(), b_.requires_grad_()},
                                       kiln::optim::AdamOptions(o.lr)) {}
  void train_epoch(const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs,
                   const std::vector<std::unordered_set<std::int64_t>>& seen, kiln::Generator& gen) override {
    using namespace kiln;
    bpr_epoch(pairs, seen, items_, o_.batch, 1, opt_, gen, [&](const Tensor& u, const Tensor& i, const Tensor& j) {
      const Tensor pu = index_select(p_, 0, u), qi = index_select(q_, 0, i), qj = index_select(q_, 0, j);
      const Tensor pos = sum(pu * qi, {1}) + index_select(b_, 0, i);
      const Tensor neg = sum(pu * qj, {1}) + index_select(b_, 0, j);
      const Tensor reg = (sum(pu * pu) + sum(qi * qi) + sum(qj * qj)) * (o_.l2 / static_cast<double>(u.numel()));
      return bpr_loss(pos, neg) + reg;
    });
  }
  Tensor scores() override { return kiln::matmul(p_, q_.t()) + b_; }
  kiln::optim::Optimizer& optimizer() override { return opt_; }

private:
  std::int64_t items_;
  Options o_;
  Tensor p_, q_, b_;
  kiln::optim::Adam opt_;
};

// Side features from u.user and u.item as a (users + items, K) matrix whose row for a node
// spreads weight 1 evenly over the node's attributes: a user's occupation, gender and age
// group; a movie's genres and release decade.
Tensor side_features(const std::string& dir, std::int64_t users, std::int64_t items) {
  using kiln::data::MovieLensItem;
  for (const char* file : {"u.user", "u.item"})
    KILN_CHECK(std::filesystem::exists(std::filesystem::path(dir) / file),
               "gvae_movielens: the side features need ", file, " in '", dir,
               "'; pass --no-side-features to train without them");
  const auto user_rows = kiln::data::load_movielens_users((std::filesystem::path(dir) / "u.user").string());
  const auto item_rows = kiln::data::load_movielens_items((std::filesystem::path(dir) / "u.item").string());
  std::map<std::string, int> occupations;  // name -> column, in name order
  for (const auto& u : user_rows) occupations.emplace(u.occupation, 0);
  int column = 0;
  for (auto& entry : occupations) entry.second = column++;
  const int gender0 = column, age0 = gender0 + 2, genre0 = age0 + 7,
            decade0 = genre0 + MovieLensItem::kGenres, width = decade0 + 7;
  std::vector<std::vector<int>> attributes(static_cast<std::size_t>(users + items));
  for (const auto& u : user_rows) {
    KILN_CHECK(u.user < users, "gvae_movielens: u.user lists user ", u.user + 1, " but u.data has ", users);
    const int age_group = u.age < 18   ? 0
                          : u.age < 25 ? 1
                          : u.age < 35 ? 2
                          : u.age < 45 ? 3
                          : u.age < 50 ? 4
                          : u.age < 56 ? 5
                                       : 6;
    attributes[u.user] = {occupations[u.occupation], gender0 + (u.gender == "M"), age0 + age_group};
  }
  for (const auto& m : item_rows) {
    KILN_CHECK(m.item < items, "gvae_movielens: u.item lists movie ", m.item + 1, " but u.data has ", items);
    auto& a = attributes[users + m.item];
    for (int g = 0; g < MovieLensItem::kGenres; ++g)
      if (m.genres[g]) a.push_back(genre0 + g);
    if (m.year > 0)
      a.push_back(decade0 + std::clamp((m.year - 1930) / 10, 0, 6));  // before 1940, 1940s ... 1990s
  }
  std::vector<float> x(attributes.size() * static_cast<std::size_t>(width), 0.0f);
  for (std::size_t n = 0; n < attributes.size(); ++n)
    for (int c : attributes[n]) x[n * width + c] = 1.0f / static_cast<float>(attributes[n].size());
  return kiln::from_vector(x, {users + items, width});
}

class GraphVae : public Recommender {
public:
  // `side`: the side-feature matrix, or an undefined tensor for none.
  GraphVae(std::int64_t users, std::int64_t items, const kiln::graph::CsrMatrix& a_hat, const Tensor& side,
           const Options& o)
      : users_(users),
        items_(items),
        a_hat_(a_hat, o.device),  // Â goes to the device once
        o_(o),
        e_((kiln::randn({users + items, o.dim}) * 0.1).to(o.device)),
        w_sigma_((kiln::randn({o.dim, o.dim}) * 0.01).to(o.device)),
        b_(kiln::zeros({items}, kiln::kFloat32, o.device)),  // untouched (no gradient) without --item-bias
        side_(side.defined() ? side.to(o.device) : Tensor()),
        w_side_(side.defined() ? (kiln::randn({side.size(1), o.dim}) * 0.1).to(o.device) : Tensor()),
        opt_(parameters(), kiln::optim::AdamOptions(o.lr)) {}

  // E = free embeddings (+ side_weight * side features x W_side)
  // mu = (E + Â E + ... + Â^L E) / (L + 1),  log sigma = Â E W_sigma^T
  std::pair<Tensor, Tensor> encode() {
    using namespace kiln;
    const Tensor e = side_.defined() ? e_ + matmul(side_, w_side_) * o_.side_weight : e_;
    const Tensor h1 = spmm(a_hat_, e);
    Tensor h = h1, total = e + h1;
    for (int l = 2; l <= o_.layers; ++l) {
      h = spmm(a_hat_, h);
      total = total + h;
    }
    return {total / static_cast<double>(o_.layers + 1), linear(h1, w_sigma_) - 3.0};  // start with small sigma
  }

  void train_epoch(const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs,
                   const std::vector<std::unordered_set<std::int64_t>>& seen, kiln::Generator& gen) override {
    using namespace kiln;
    if (o_.loss == "multinomial") return multinomial_epoch(seen, gen);
    bpr_epoch(pairs, seen, items_, o_.batch, o_.negatives, opt_, gen, [&](const Tensor& u, const Tensor& i,
                                                                          const Tensor& j) {
      const auto [mu, logstd] = encode();
      // Only the nodes of this batch enter the likelihood, and their KL term.
      const Tensor nodes = cat({u, i + static_cast<double>(users_), j + static_cast<double>(users_)});
      const Tensor mu_b = index_select(mu, 0, nodes), ls_b = index_select(logstd, 0, nodes);
      const Tensor z = nn::reparameterize(mu_b, ls_b);
      const std::int64_t b = u.numel(), k = o_.negatives;
      const Tensor zu = z.narrow(0, 0, b), zi = z.narrow(0, b, b), zj = z.narrow(0, 2 * b, b * k);
      const Tensor e0 = index_select(e_, 0, nodes);
      const Tensor reg = sum(e0 * e0) * (o_.l2 / static_cast<double>(b));
      Tensor pos = sum(zu * zi, {1});
      Tensor neg = sum(zu.unsqueeze(1) * zj.reshape({b, k, o_.dim}), {2});  // (b, k)
      if (o_.item_bias) {
        pos = pos + index_select(b_, 0, i);
        neg = neg + index_select(b_, 0, j).reshape({b, k});
      }
      // The BPR loss against each negative, averaged; or a softmax over (positive, negatives)
      // with the positive as class 0.
      const Tensor ranking = o_.loss == "bpr"
                                 ? bpr_loss(pos.unsqueeze(1), neg)
                                 : cross_entropy(cat({pos.unsqueeze(1), neg}, 1), zeros({b}, kInt64, o_.device));
      return ranking + nn::gaussian_kl(mu_b, ls_b) * o_.beta + reg;
    });
  }

  // The multinomial likelihood over all items (that of Mult-VAE): for each mini-batch of
  // --batch-size users, -log softmax over every item of z_u . z_i + b_i, summed over the
  // users' training items and averaged per rating. One matrix product scores all items.
  void multinomial_epoch(const std::vector<std::unordered_set<std::int64_t>>& seen, kiln::Generator& gen) {
    using namespace kiln;
    if (!rated_.defined()) {  // `seen` is the training set, the same every epoch
      std::vector<float> rated(static_cast<std::size_t>(users_ * items_), 0.0f);
      for (std::int64_t u = 0; u < users_; ++u)
        for (std::int64_t i : seen[u]) rated[u * items_ + i] = 1.0f;
      rated_ = from_vector(rated, {users_, items_}).to(o_.device);
    }
    std::vector<std::int64_t> order(static_cast<std::size_t>(users_));
    std::iota(order.begin(), order.end(), 0);
    shuffle(order, gen);
    for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(o_.batch)) {
      const std::size_t end = std::min(order.size(), start + static_cast<std::size_t>(o_.batch));
      const auto b = static_cast<std::int64_t>(end - start);
      // The batch's users, then every item (as graph nodes); the users' rated items as targets.
      std::vector<std::int64_t> nodes(order.begin() + static_cast<std::ptrdiff_t>(start),
                                      order.begin() + static_cast<std::ptrdiff_t>(end));
      double ratings = 0;
      for (std::int64_t r = 0; r < b; ++r) ratings += static_cast<double>(seen[nodes[r]].size());
      for (std::int64_t i = 0; i < items_; ++i) nodes.push_back(users_ + i);

      opt_.zero_grad();
      const auto [mu, logstd] = encode();
      const Tensor index = from_vector(nodes).to(o_.device);
      const Tensor mu_b = index_select(mu, 0, index), ls_b = index_select(logstd, 0, index);
      const Tensor z = nn::reparameterize(mu_b, ls_b);
      Tensor logits = matmul(z.narrow(0, 0, b), z.narrow(0, b, items_).t());  // (b, items)
      if (o_.item_bias) logits = logits + b_;
      const Tensor targets = index_select(rated_, 0, index.narrow(0, 0, b));  // gathered where rated_ lies
      const Tensor likelihood = -sum(targets * log_softmax(logits, 1)) / ratings;
      const Tensor e0 = index_select(e_, 0, index);
      const Tensor reg = sum(e0 * e0) * (o_.l2 / static_cast<double>(b));
      Tensor loss = likelihood + nn::gaussian_kl(mu_b, ls_b) * o_.beta + reg;
      loss.backward();
      opt_.step();
    }
  }

  Tensor scores() override {
    const Tensor mu = encode().first;
    const Tensor s = kiln::matmul(mu.narrow(0, 0, users_), mu.narrow(0, users_, items_).t());
    return o_.item_bias ? s + b_ : s;
  }
  kiln::optim::Optimizer& optimizer() override { return opt_; }

private:
  std::vector<Tensor> parameters() {
    std::vector<Tensor> p{e_.requires_grad_(), w_sigma_.requires_grad_(), b_.requires_grad_()};
    if (w_side_.defined()) p.push_back(w_side_.requires_grad_());
    return p;
  }

  std::int64_t users_, items_;
  const kiln::graph::DeviceCsr a_hat_;
  Options o_;
  Tensor e_, w_sigma_, b_, side_, w_side_;
  Tensor rated_;  // (users, items): 1 where the user rated the item in training; made on first use
  kiln::optim::Adam opt_;
};

kiln::metrics::RankingMetrics evaluate(const Tensor& scores, const std::vector<std::unordered_set<std::int64_t>>& seen,
                                       const Interactions& truth, std::int64_t k) {
  const std::int64_t users = scores.size(0), items = scores.size(1);
  const Tensor s = scores.to(kiln::Device::cpu()).contiguous();
  std::vector<std::vector<std::int64_t>> ranked(users);
  std::vector<std::unordered_set<std::int64_t>> relevant(users);
  for (std::int64_t u = 0; u < users; ++u) {
    ranked[u] = kiln::metrics::top_k(s.data_ptr<float>() + u * items, items, k, seen[u]);
    relevant[u] = {truth[u].begin(), truth[u].end()};
  }
  return kiln::metrics::ranking_at_k(ranked, relevant, k);
}

}  // namespace

int main(int argc, char** argv) {
  example::Flags flags{"Top-10 recommendation on MovieLens-100K: graph VAE, BPR and popularity"};
  example::RunArgs run_args;
  std::string eval_on = "test";
  int report_every = 0;
  Options o;
  example::add_run_flags(flags, run_args, "folder with u.data (and u.user, u.item for the side features)");
  flags.option("--model", o.model, "gvae, bpr or pop").one_of({"gvae", "bpr", "pop"}).show_default();
  flags.option("--eval", eval_on, "test, or val (a split of the training ratings, for tuning)")
      .one_of({"test", "val"})
      .show_default();
  flags.option("--report-every", report_every, "also print the metrics every N epochs (a learning curve)")
      .at_least(0);
  flags.option("--epochs", o.epochs, "epochs (default: the model's tuned value)").at_least(0);
  flags.option("--dim", o.dim, "embedding size (default: the model's tuned value)").at_least(0);
  flags.option("--lr", o.lr, "Adam learning rate (default: the model's tuned value)").at_least(0);
  flags.option("--l2", o.l2, "L2 penalty on the embeddings in a batch (default: tuned)").at_least(0);
  flags.option("--beta", o.beta, "weight of the KL term (gvae; default: tuned)").at_least(0);
  flags.option("--layers", o.layers, "gvae: propagation steps averaged into mu").at_least(1).show_default();
  flags.option("--batch-size", o.batch, "ratings per mini-batch (users per batch with --loss multinomial)")
      .at_least(1)
      .show_default();
  flags.option("--negatives", o.negatives, "unrated items sampled per rating (gvae; default: tuned)")
      .at_least(1);
  const char* loss_help =
      "gvae training loss: multinomial (softmax over all items), bpr (against each sampled negative) or "
      "softmax (over the rating and its sampled negatives)";
  flags.option("--loss", o.loss, loss_help)
      .one_of({"bpr", "softmax", "multinomial"})
      .show_default();
  flags.flag("--item-bias", o.item_bias, "gvae: add a learned bias per item to the decoder's score (default: on)")
      .negation("--no-item-bias");
  bool with_side = false, without_side = false;
  flags.flag("--side-features", with_side,
             "gvae: add users' and movies' attributes from u.user and u.item to their embeddings "
             "(default: on with --loss multinomial)");
  flags.flag("--no-side-features", without_side, "gvae: learned embeddings only").excludes("--side-features");
  flags.option("--side-weight", o.side_weight, "gvae: weight of the attributes' embedding in E")
      .at_least(0)
      .show_default();
  flags.option("--schedule", o.schedule, "learning rate over the epochs: constant, or cosine (annealed to 0)")
      .one_of({"constant", "cosine"})
      .show_default();
  if (const int exit_code = flags.parse(argc, argv); exit_code >= 0) return exit_code;
  // Values chosen with --eval val (see docs/graphs.md).
  const bool multinomial = o.model == "gvae" && o.loss == "multinomial";
  const bool sampled = o.model == "gvae" && !multinomial;  // the graph VAE against sampled negatives
  if (o.epochs == 0) o.epochs = multinomial ? 600 : 100;
  if (o.lr == 0) o.lr = multinomial ? 0.003 : 0.01;
  if (o.l2 == 0) o.l2 = sampled ? 0.001 : 0.01;
  if (o.dim == 0) o.dim = sampled ? 128 : 64;
  if (o.beta < 0) o.beta = multinomial ? 1e-4 : 1e-3;
  if (o.negatives == 0 && !multinomial) o.negatives = sampled ? 8 : 1;
  o.side_features = o.model == "gvae" && !without_side && (with_side || multinomial);

  return example::run_main([&] {
    using namespace kiln;
    o.device = example::apply_run_flags(run_args);
    const auto& [data_dir, seed, runs, threads, device] = run_args;
    const auto ratings = data::load_movielens_ratings((std::filesystem::path(data_dir) / "u.data").string());
    std::int64_t users = 0, items = 0;
    for (const auto& r : ratings) {
      users = std::max(users, r.user + 1);
      items = std::max(items, r.item + 1);
    }
    Interactions all(users);
    for (const auto& r : ratings) all[r.user].push_back(r.item);
    const Tensor side = o.side_features ? side_features(data_dir, users, items) : Tensor();
    std::printf("%s\nMovieLens-100K: %lld users, %lld items, %zu ratings; model %s, evaluated on %s\n", build_info(),
                static_cast<long long>(users), static_cast<long long>(items), ratings.size(), o.model.c_str(),
                eval_on.c_str());

    std::vector<double> prec, rec, ndcg, map;
    double seconds = 0;
    for (int run = 0; run < runs; ++run) {
      const std::uint64_t s = seed + run;
      manual_seed(s);
      Generator gen(s);
      Interactions train, test;
      stratified_split(all, 0.75, gen, train, test);
      if (eval_on == "val") {  // hold out part of the training ratings; the test ratings are never read
        Interactions fit, val;
        stratified_split(train, 0.8, gen, fit, val);
        train = fit;
        test = val;
      }
      std::vector<std::unordered_set<std::int64_t>> seen(users);
      std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
      std::vector<graph::Edge> user_item;
      std::vector<double> popularity(items, 0.0);
      for (std::int64_t u = 0; u < users; ++u)
        for (std::int64_t i : train[u]) {
          seen[u].insert(i);
          pairs.emplace_back(u, i);
          user_item.emplace_back(u, i);
          popularity[i] += 1;
        }
      const auto t0 = std::chrono::steady_clock::now();
      Tensor scores;
      if (o.model == "pop") {
        scores = from_vector(std::vector<float>(popularity.begin(), popularity.end())).reshape({1, items}).expand({users, items});
      } else {
        const graph::CsrMatrix a_hat = graph::normalize_symmetric(graph::bipartite_adjacency(users, items, user_item));
        std::unique_ptr<Recommender> model;
        if (o.model == "bpr") model = std::make_unique<Bpr>(users, items, o);
        else
          model = std::make_unique<GraphVae>(users, items, a_hat, side, o);
        std::optional<optim::CosineAnnealingLR> cosine;
        if (o.schedule == "cosine") cosine.emplace(model->optimizer(), o.epochs);
        for (int epoch = 0; epoch < o.epochs; ++epoch) {
          model->train_epoch(pairs, seen, gen);
          if (cosine) cosine->step();
          if (report_every > 0 && (epoch + 1) % report_every == 0 && epoch + 1 < o.epochs) {
            NoGradGuard no_grad;
            const auto m = evaluate(model->scores(), seen, test, 10);
            std::printf("  epoch %d: precision@10 %.4f  NDCG@10 %.4f  (on %s)\n", epoch + 1, m.precision, m.ndcg,
                        eval_on.c_str());
            std::fflush(stdout);
          }
        }
        NoGradGuard no_grad;
        scores = model->scores();
      }
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const auto m = evaluate(scores, seen, test, 10);
      prec.push_back(m.precision);
      rec.push_back(m.recall);
      ndcg.push_back(m.ndcg);
      map.push_back(m.map);
      std::printf("run %d (seed %llu): precision@10 %.4f  recall@10 %.4f  NDCG@10 %.4f  MAP@10 %.4f  (%lld users)\n",
                  run + 1, static_cast<unsigned long long>(s), m.precision, m.recall, m.ndcg, m.map,
                  static_cast<long long>(m.users));
      std::fflush(stdout);
    }
    example::print_result({{"model", o.model},
                           {"eval", eval_on},
                           {"runs", runs},
                           {"precision_at_10", example::mean_std(prec).first},
                           {"recall_at_10", example::mean_std(rec).first},
                           {"ndcg_at_10", example::mean_std(ndcg).first},
                           {"ndcg_at_10_std", example::mean_std(ndcg).second},
                           {"map_at_10", example::mean_std(map).first},
                           {"epochs", o.epochs},
                           {"dim", o.dim},
                           {"negatives", o.negatives},
                           {"layers", o.layers},
                           {"loss", o.loss},
                           {"schedule", o.schedule},
                           {"item_bias", o.item_bias},
                           {"side_features", o.side_features},
                           {"side_weight", o.side_weight},
                           {"lr", o.lr},
                           {"beta", o.beta},
                           {"l2", o.l2},
                           {"train_seconds", seconds},
                           {"peak_rss_mb", example::peak_rss_mb()}});
    return 0;
  });
}
