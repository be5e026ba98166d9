// Metrics against hand-computed and scikit-learn values; the graph data loaders.
#include <filesystem>
#include <fstream>

#include "helpers.hpp"

using namespace kiln;
namespace fs = std::filesystem;

TEST_CASE("ROC-AUC and average precision match scikit-learn, ties included") {
  // sklearn's documented example: roc_auc_score = 0.75, average_precision_score = 0.8333...
  CHECK(metrics::roc_auc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}) == doctest::Approx(0.75));
  CHECK(metrics::average_precision({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}) == doctest::Approx(0.8333333333));
  // Ties: a tied (positive, negative) pair counts one half; tied scores form one threshold.
  CHECK(metrics::roc_auc({0.9, 0.5, 0.5, 0.1}, {1, 1, 0, 0}) == doctest::Approx(0.875));
  CHECK(metrics::average_precision({0.9, 0.5, 0.5, 0.1}, {1, 1, 0, 0}) == doctest::Approx(0.5 + 0.5 * 2.0 / 3));
  CHECK(metrics::roc_auc({0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}) == doctest::Approx(0.5));
  CHECK(metrics::average_precision({0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}) == doctest::Approx(0.5));
  CHECK(metrics::roc_auc({3, 2, 1}, {1, 1, 0}) == doctest::Approx(1.0));
  CHECK_THROWS_WITH_AS(metrics::roc_auc({1, 2}, {1, 1}), doctest::Contains("both positive and negative"), Error);
  CHECK_THROWS_AS(metrics::roc_auc({1, 2}, {1, 2}), Error);
  CHECK_THROWS_AS(metrics::average_precision({1}, {0, 1}), Error);
}

TEST_CASE("accuracy from logits or predictions") {
  const Tensor logits = tensor<float>({{0.1f, 0.9f}, {0.8f, 0.2f}, {0.3f, 0.7f}});
  CHECK(metrics::accuracy(logits, tensor<std::int64_t>({1, 0, 0})) == doctest::Approx(2.0 / 3));
  CHECK(metrics::accuracy(tensor<std::int64_t>({1, 1}), tensor<std::int64_t>({1, 0})) == doctest::Approx(0.5));
}

TEST_CASE("confusion matrix, per-class precision / recall / F1 and their averages match scikit-learn") {
  // scikit-learn 1.9.1: confusion_matrix and precision_recall_fscore_support(zero_division=0).
  const Tensor truth = tensor<std::int64_t>({0, 1, 2, 2, 1, 0, 3, 3, 3, 1, 2, 0});
  const Tensor pred = tensor<std::int64_t>({0, 2, 2, 2, 1, 1, 3, 0, 3, 1, 0, 0});
  const Tensor cm = metrics::confusion_matrix(pred, truth);
  CHECK(cm.dtype() == kInt64);
  CHECK(cm.shape() == Shape{4, 4});
  test::check_values(cm, {2, 1, 0, 0, 0, 2, 1, 0, 1, 0, 2, 0, 1, 0, 0, 2});
  const metrics::ClassificationReport r = metrics::classification_report(pred, truth);
  const auto near = [](const std::vector<double>& got, const std::vector<double>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
  };
  near(r.precision, {0.5, 2.0 / 3, 2.0 / 3, 1.0});
  near(r.recall, {2.0 / 3, 2.0 / 3, 2.0 / 3, 2.0 / 3});
  near(r.f1, {0.571428571428571, 2.0 / 3, 2.0 / 3, 0.8});
  CHECK(r.support == std::vector<std::int64_t>{3, 3, 3, 3});
  near({r.macro_precision, r.macro_recall, r.macro_f1},
       {0.7083333333333333, 0.6666666666666666, 0.6761904761904762});
  near({r.weighted_precision, r.weighted_recall, r.weighted_f1},
       {0.7083333333333334, 0.6666666666666666, 0.6761904761904761});
  CHECK(r.accuracy == doctest::Approx(2.0 / 3));  // sklearn's micro averages, all three

  // Class 2 never predicted, class 4 only predicted, class 3 nowhere: sklearn averages over
  // the classes it sees, [0, 1, 2, 4]; class 3 stays out of the means.
  const Tensor truth2 = tensor<std::int64_t>({0, 1, 2, 2, 1, 0}),
               pred2 = tensor<std::int64_t>({0, 1, 4, 1, 1, 0});
  const metrics::ClassificationReport r2 = metrics::classification_report(pred2, truth2);
  near(r2.precision, {1.0, 2.0 / 3, 0.0, 0.0, 0.0});
  near(r2.recall, {1.0, 1.0, 0.0, 0.0, 0.0});
  near(r2.f1, {1.0, 0.8, 0.0, 0.0, 0.0});
  near({r2.macro_precision, r2.macro_recall, r2.macro_f1}, {0.41666666666666663, 0.5, 0.45});
  near({r2.weighted_precision, r2.weighted_recall, r2.weighted_f1},
       {0.5555555555555555, 0.6666666666666666, 0.6});

  // Logits are read through their argmax; num_classes widens the matrix.
  const Tensor logits = tensor<float>({{0.1f, 0.9f}, {0.8f, 0.2f}, {0.3f, 0.7f}});
  test::check_values(metrics::confusion_matrix(logits, tensor<std::int64_t>({1, 0, 0}), 3),
                     {1, 1, 0, 0, 1, 0, 0, 0, 0});
  CHECK_THROWS_WITH_AS(metrics::confusion_matrix(pred, truth, 3),
                       doctest::Contains("class 3 appears but num_classes is 3"), Error);
  CHECK_THROWS_WITH_AS(metrics::confusion_matrix(pred.narrow(0, 0, 5), truth),
                       doctest::Contains("(N, C) logits or (N) integer classes for 12 labels"), Error);
  CHECK_THROWS_WITH_AS(metrics::confusion_matrix(pred, truth.to(kFloat32)),
                       doctest::Contains("labels must be (N) integer classes"), Error);
  CHECK_THROWS_WITH_AS(
      metrics::classification_report(tensor<std::int64_t>({0, -1}), tensor<std::int64_t>({0, 1})),
      doctest::Contains("classes must be >= 0, got label 1 and prediction -1 for sample 1"), Error);
}

TEST_CASE("r2_score matches scikit-learn's, per column and averaged, constant targets included") {
  // scikit-learn 1.9.1's r2_score on the same values.
  CHECK(metrics::r2_score(tensor<double>({2.5, 0.0, 2, 8}), tensor<double>({3, -0.5, 2, 7})) ==
        doctest::Approx(0.9486081370449679).epsilon(1e-12));
  CHECK(metrics::r2_score(tensor<float>({{0, 2}, {-1, 2}, {8, -5}}),
                          tensor<float>({{0.5f, 1}, {-1, 1}, {7, -6}})) ==
        doctest::Approx(0.9368005266622779).epsilon(1e-12));
  CHECK(metrics::r2_score(tensor<double>({1, 1, 1}), tensor<double>({1, 1, 1})) == 1.0);
  CHECK(metrics::r2_score(tensor<double>({1, 2, 1}), tensor<double>({1, 1, 1})) == 0.0);
  CHECK(metrics::r2_score(tensor<double>({{1, 2.5}, {1, 3}, {1, 3.5}}),
                          tensor<double>({{1, 2}, {1, 3}, {1, 4}})) == doctest::Approx(0.875).epsilon(1e-12));
  CHECK(metrics::r2_score(tensor<double>({{2, 2.5}, {1, 3}, {1, 3.5}}),
                          tensor<double>({{1, 2}, {1, 3}, {1, 4}})) == doctest::Approx(0.375).epsilon(1e-12));
  CHECK_THROWS_WITH_AS(metrics::r2_score(tensor<double>({1, 2}), tensor<double>({1, 2, 3})),
                       doctest::Contains("must have the same (N) or (N, K) shape"), Error);
  CHECK_THROWS_WITH_AS(metrics::r2_score(tensor<double>({1}), tensor<double>({1})),
                       doctest::Contains("at least two samples"), Error);
}

TEST_CASE("top-k ranking metrics, by hand") {
  // One user: recommendations 3, 1, 7, 2; relevant {1, 2, 9}; k = 3.
  const auto m = metrics::ranking_at_k({{3, 1, 7, 2}}, {{1, 2, 9}}, 3);
  CHECK(m.users == 1);
  CHECK(m.precision == doctest::Approx(1.0 / 3));
  CHECK(m.recall == doctest::Approx(1.0 / 3));
  const double idcg = 1 + 1 / std::log2(3.0) + 0.5;
  CHECK(m.ndcg == doctest::Approx((1 / std::log2(3.0)) / idcg));
  CHECK(m.map == doctest::Approx(0.5 / 3));  // precision 1/2 at the hit, over 3 relevant items
  // Users without relevant items are skipped; a perfect list scores 1.
  const auto p = metrics::ranking_at_k({{5, 6}, {0}}, {{5, 6}, {}}, 2);
  CHECK(p.users == 1);
  CHECK(p.ndcg == doctest::Approx(1.0));
  CHECK(p.map == doctest::Approx(1.0));
  const float scores[] = {0.5f, 0.9f, 0.9f, 0.1f, 0.7f};
  CHECK(metrics::top_k(scores, 5, 3, {2}) == std::vector<std::int64_t>{1, 4, 0});
  CHECK(metrics::top_k(scores, 5, 9, {}).size() == 5);  // k beyond the items: all of them, ranked
  CHECK_THROWS_WITH_AS(metrics::top_k(scores, 5, -1, {}), doctest::Contains("top_k: needs items >= 0 and k >= 0"),
                       Error);
}

TEST_CASE("Cora and MovieLens loaders: small files made here, errors that name the line") {
  const test::TempDir dir("kiln_test_graphdata_");
  std::ofstream(dir / "cora.content") << "10 1 0 1 A\n20 0 0 1 B\n30 1 1 0 A\n";
  std::ofstream(dir / "cora.cites") << "10 20\n20 10\n30 30\n30 10\n";
  std::ofstream(dir / "cora.planetoid-split") << "# comment\ntrain 10\nval 20\ntest 30\n";
  const auto cora = data::load_cora(dir.path().string());
  CHECK(cora.num_nodes() == 3);
  CHECK(cora.features.shape() == Shape{3, 3});
  CHECK(cora.classes == std::vector<std::string>{"A", "B"});
  kiln::test::check_values(cora.labels, {0, 1, 0});
  CHECK(cora.edges.size() == 2);  // 10-20 once, 30-10; the self loop dropped
  CHECK(cora.train == std::vector<std::int64_t>{0});
  CHECK(cora.test == std::vector<std::int64_t>{2});
  std::ofstream(dir / "cora.cites") << "10 99\n";
  CHECK_THROWS_WITH_AS(data::load_cora(dir.path().string()), doctest::Contains("cora.cites:1: paper 99"), Error);
  std::ofstream(dir / "cora.content") << "10 1 0 1 A\n20 0 2 1 B\n";
  CHECK_THROWS_WITH_AS(data::load_cora(dir.path().string()), doctest::Contains("cora.content:2: feature '2'"), Error);
  CHECK_THROWS_WITH_AS(data::load_cora((dir / "nope").string()), doctest::Contains("cannot open"), Error);

  std::ofstream(dir / "u.data") << "1\t10\t4\t881250949\n3\t2\t5\t881250950\n";
  const auto r = data::load_movielens_ratings((dir / "u.data").string());
  REQUIRE(r.size() == 2);
  CHECK(r[0].user == 0);
  CHECK(r[0].item == 9);
  CHECK(r[1].rating == 5.0f);
  std::ofstream(dir / "bad.data") << "1\t10\tfour\t0\n";
  CHECK_THROWS_WITH_AS(data::load_movielens_ratings((dir / "bad.data").string()), doctest::Contains("bad.data:1"), Error);

  std::ofstream(dir / "u.user") << "1|24|M|technician|85711\n2|53|F|other|94043\r\n";
  const auto users = data::load_movielens_users((dir / "u.user").string());
  REQUIRE(users.size() == 2);
  CHECK(users[1].user == 1);
  CHECK(users[1].age == 53);
  CHECK(users[1].gender == "F");
  CHECK(users[1].occupation == "other");
  CHECK(users[1].zip == "94043");  // the Windows line end is not part of it
  std::ofstream(dir / "bad.user") << "1|24|M|technician|85711\n2|53|X|other|94043\n";
  CHECK_THROWS_WITH_AS(data::load_movielens_users((dir / "bad.user").string()),
                       doctest::Contains("bad.user:2"), Error);
  std::ofstream(dir / "short.user") << "1|24|M\n";
  CHECK_THROWS_WITH_AS(data::load_movielens_users((dir / "short.user").string()),
                       doctest::Contains("short.user:1"), Error);

  const std::string genres_toy = "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0",
                    genres_unknown = "|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0";  // no date, no URL
  std::ofstream(dir / "u.item") << "1|Toy Story (1995)|01-Jan-1995||http://x" << genres_toy << "\n"
                                << "267|unknown|||" << genres_unknown << "\n";
  const auto items = data::load_movielens_items((dir / "u.item").string());
  REQUIRE(items.size() == 2);
  CHECK(items[0].item == 0);
  CHECK(items[0].title == "Toy Story (1995)");
  CHECK(items[0].year == 1995);
  CHECK(items[0].genres == std::vector<bool>{0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(items[1].item == 266);
  CHECK(items[1].year == 0);  // no release date
  CHECK(items[1].genres[0]);
  std::ofstream(dir / "bad.item") << "1|Toy Story (1995)|01-Jan-1995||http://x" << genres_toy.substr(0, 36)
                                  << "|2\n";
  CHECK_THROWS_WITH_AS(data::load_movielens_items((dir / "bad.item").string()),
                       doctest::Contains("genre flag 19 is '2'"), Error);
  std::ofstream(dir / "date.item") << "1|Toy Story (1995)|Jan-95||http://x" << genres_toy << "\n";
  CHECK_THROWS_WITH_AS(data::load_movielens_items((dir / "date.item").string()),
                       doctest::Contains("release date 'Jan-95'"), Error);
  std::ofstream(dir / "few.item") << "1|Toy Story (1995)|01-Jan-1995||http://x|0|1\n";
  CHECK_THROWS_WITH_AS(data::load_movielens_items((dir / "few.item").string()),
                       doctest::Contains("found 7 fields"), Error);
}

TEST_CASE("the real Cora and MovieLens-100K load when ../shared/data is present") {
  const fs::path root = fs::path(KILN_SOURCE_DIR) / ".." / "shared" / "data";
  if (!fs::exists(root / "cora" / "cora.content")) {
    MESSAGE("skipping: " << (root / "cora").string() << " is absent");
    return;
  }
  const auto cora = data::load_cora((root / "cora").string());
  CHECK(cora.num_nodes() == 2708);
  CHECK(cora.features.size(1) == 1433);
  CHECK(cora.classes.size() == 7);
  CHECK(cora.edges.size() == 5278);
  CHECK(cora.train.size() == 140);
  CHECK(cora.val.size() == 500);
  CHECK(cora.test.size() == 1000);
  if (fs::exists(root / "ml-100k" / "u.data")) {
    const auto ratings = data::load_movielens_ratings((root / "ml-100k" / "u.data").string());
    CHECK(ratings.size() == 100000);
    const auto users = data::load_movielens_users((root / "ml-100k" / "u.user").string());
    CHECK(users.size() == 943);
    const auto items = data::load_movielens_items((root / "ml-100k" / "u.item").string());
    REQUIRE(items.size() == 1682);
    CHECK(items[0].year == 1995);
    CHECK(items[266].year == 0);  // "unknown", the one movie without a date
  }
}
