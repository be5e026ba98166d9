// IDX files, datasets, the DataLoader, and Fashion-MNIST when the package is installed.
#include <zlib.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "helpers.hpp"

using namespace kiln;
using kiln::test::check_values;
namespace fs = std::filesystem;

namespace {



// An IDX byte stream: magic, big-endian dims, payload.
std::string idx_bytes(unsigned char type, const std::vector<std::uint32_t>& dims, const std::string& payload) {
  std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((d >> shift) & 0xff));
  return s + payload;
}

void write_plain(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }
void write_gzip(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.string().c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

}  // namespace

TEST_CASE("read_idx: plain and gzip, uint8 and big-endian int32") {
  const test::TempDir dir("kiln_test_data_");
  const std::string payload{1, 2, 3, 4, 5, 6};
  write_plain(dir / "a.idx", idx_bytes(0x08, {2, 3}, payload));
  write_gzip(dir / "a.idx.gz", idx_bytes(0x08, {2, 3}, payload));
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    const Tensor t = data::read_idx((dir / name).string());
    CHECK(t.dtype() == kUInt8);
    CHECK(t.shape() == Shape{2, 3});
    check_values(t, {1, 2, 3, 4, 5, 6});
  }
  write_plain(dir / "i.idx", idx_bytes(0x0C, {2}, std::string{0, 0, 1, 2, '\xff', '\xff', '\xff', '\xfe'}));
  check_values(data::read_idx((dir / "i.idx").string()), {258, -2});
}

TEST_CASE("read_idx: broken files are errors that say what is wrong") {
  const test::TempDir dir("kiln_test_data_");
  CHECK_THROWS_WITH_AS(data::read_idx((dir / "missing").string()), doctest::Contains("cannot open"), Error);
  write_plain(dir / "short", std::string{0, 0});
  CHECK_THROWS_WITH_AS(data::read_idx((dir / "short").string()), doctest::Contains("too short"), Error);
  std::string wrong_magic = idx_bytes(0x08, {1}, "x");
  wrong_magic[0] = 'P';
  write_plain(dir / "magic", wrong_magic);
  CHECK_THROWS_WITH_AS(data::read_idx((dir / "magic").string()), doctest::Contains("wrong magic"), Error);
  write_gzip(dir / "trunc.gz", idx_bytes(0x08, {10, 10}, std::string(50, 'x')));
  CHECK_THROWS_WITH_AS(data::read_idx((dir / "trunc.gz").string()),
                       doctest::Contains("truncated: the header promises shape (10, 10) (100 bytes of data) but the file holds 50"),
                       Error);
  write_plain(dir / "huge", idx_bytes(0x08, {0x7fffffff, 0x7fffffff, 0x7fffffff}, ""));
  CHECK_THROWS_WITH_AS(data::read_idx((dir / "huge").string()), doctest::Contains("corrupt"), Error);
  write_plain(dir / "type", idx_bytes(0x0B, {1}, "xx"));
  CHECK_THROWS_WITH_AS(data::read_idx((dir / "type").string()), doctest::Contains("not supported"), Error);
  write_plain(dir / "extra", idx_bytes(0x08, {2}, "abc"));
  CHECK_THROWS_WITH_AS(data::read_idx((dir / "extra").string()), doctest::Contains("unexpected bytes"), Error);
  // Found by fuzzing: dimensions whose product overflows 64 bits before any check.
  write_plain(dir / "overflow", idx_bytes(0x08, {0x41000000u, 0xfdfffff8u, 0x0406005bu}, ""));
  CHECK_THROWS_WITH_AS(data::read_idx((dir / "overflow").string()), doctest::Contains("corrupt"), Error);
  // A header promising 4 GiB over a few bytes of data: an error, without allocating 4 GiB.
  write_plain(dir / "liar", idx_bytes(0x0D, {0x40000000u}, "abcd"));
  CHECK_THROWS_WITH_AS(data::read_idx((dir / "liar").string()), doctest::Contains("truncated"), Error);
  // A gzip stream cut in the middle.
  write_gzip(dir / "cut.gz", idx_bytes(0x08, {1000}, std::string(1000, 'y')));
  const auto size = fs::file_size(dir / "cut.gz");
  fs::resize_file(dir / "cut.gz", size / 2);
  CHECK_THROWS_AS(data::read_idx((dir / "cut.gz").string()), Error);
}

TEST_CASE("ImageDataset normalises; DataLoader batches, shuffles by (seed, epoch), reuses buffers") {
  std::vector<std::uint8_t> pixels(10 * 2);
  for (int i = 0; i < 20; ++i) pixels[i] = static_cast<std::uint8_t>(i * 10);
  const data::ImageDataset ds(from_vector(pixels, {10, 2}), arange(10), 0.5, 0.25);
  CHECK(ds.size() == 10);
  data::DataLoader loader(ds, data::LoaderOptions(4));
  CHECK(loader.num_batches() == 3);
  std::vector<std::int64_t> seen;
  for (const auto& b : loader.epoch(0))
    for (auto v : b.y.to_vector<std::int64_t>()) seen.push_back(v);
  CHECK(seen == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  const data::Batch& first = loader.batch(0);
  CHECK(first.x.dtype() == kFloat32);
  CHECK(first.x.at<float>({1, 1}) == doctest::Approx((30 / 255.0 - 0.5) / 0.25));
  CHECK(loader.batch(2).x.shape() == Shape{2, 2});  // the last, partial batch

  data::DataLoader shuffled(ds, data::LoaderOptions(5).set_shuffle(true).set_seed(7).set_drop_last(true));
  auto order = [&](std::int64_t epoch) {
    std::vector<std::int64_t> out;
    for (const auto& b : shuffled.epoch(epoch))
      for (auto v : b.y.to_vector<std::int64_t>()) out.push_back(v);
    return out;
  };
  const auto e0 = order(0), e1 = order(1);
  CHECK(e0 == order(0));  // same (seed, epoch), same order
  CHECK(e0 != e1);
  CHECK(std::set<std::int64_t>(e0.begin(), e0.end()).size() == 10);

  // Buffers are reused when nobody holds the previous batch, and not when someone does.
  data::DataLoader reuse(ds, data::LoaderOptions(4));
  reuse.epoch(0);
  const void* p0 = reuse.batch(0).x.raw_data_ptr();
  CHECK(reuse.batch(1).x.raw_data_ptr() == p0);
  const Tensor held = reuse.batch(0).x;
  CHECK(reuse.batch(1).x.raw_data_ptr() != held.raw_data_ptr());
  check_values(held.select(0, 0), {(0 / 255.0 - 0.5) / 0.25, (10 / 255.0 - 0.5) / 0.25}, 1e-6);
}

TEST_CASE("TensorDataset: your own features with class labels or float targets, through the DataLoader") {
  // Sample i has features (i, 10 i, 100 i) and label i % 3, or targets (-i, i / 2).
  std::vector<double> feats;
  std::vector<float> targets;
  std::vector<std::int32_t> labels;
  for (int i = 0; i < 7; ++i) {
    feats.insert(feats.end(), {1.0 * i, 10.0 * i, 100.0 * i});
    targets.insert(targets.end(), {-1.0f * i, 0.5f * i});
    labels.push_back(i % 3);
  }
  const Tensor x = from_vector(feats, {7, 3});  // float64: served as float32
  const data::TensorDataset labelled(x, from_vector(labels, {7}));  // int32: served as int64
  CHECK(labelled.size() == 7);
  CHECK(labelled.sample_shape() == Shape{3});
  CHECK(labelled.target_shape() == Shape{});
  CHECK(labelled.target_dtype() == kInt64);

  data::DataLoader loader(labelled, data::LoaderOptions(3).set_shuffle(true).set_seed(5));
  std::set<std::int64_t> seen;
  for (const data::Batch& b : loader.epoch(0)) {
    REQUIRE(b.x.dtype() == kFloat32);
    REQUIRE(b.y.dtype() == kInt64);
    REQUIRE(b.x.size(0) == b.y.size(0));
    for (std::int64_t r = 0; r < b.x.size(0); ++r) {
      const auto i = static_cast<std::int64_t>(b.x.at<float>({r, 0}));  // the sample's number
      CHECK(b.x.at<float>({r, 2}) == 100.0f * static_cast<float>(i));
      CHECK(b.y.at<std::int64_t>({r}) == i % 3);
      seen.insert(i);
    }
  }
  CHECK(seen.size() == 7);
  CHECK(loader.batch(2).x.shape() == Shape{1, 3});  // 7 = 3 + 3 + 1

  const Tensor x32 = x.to(kFloat32);
  const data::TensorDataset regression(x32, from_vector(targets, {7, 2}));
  CHECK(regression.target_shape() == Shape{2});
  CHECK(regression.target_dtype() == kFloat32);
  CHECK(regression.x().shares_storage(x32));  // already float32 on the host: not copied
  data::DataLoader in_order(regression, data::LoaderOptions(4));
  in_order.epoch(0);
  const data::Batch& b1 = in_order.batch(1);
  CHECK(b1.y.shape() == Shape{3, 2});
  check_values(b1.y, {-4, 2, -5, 2.5, -6, 3});
  check_values(b1.x.select(0, 0), {4, 40, 400});

  CHECK_THROWS_WITH_AS(data::TensorDataset(x, arange(6)),
                       doctest::Contains("must have the same number of samples (dimension 0)"), Error);
  CHECK_THROWS_WITH_AS(data::TensorDataset(x, zeros({7, 2}, kInt64)),
                       doctest::Contains("integer y are class labels, one per sample"), Error);
  CHECK_THROWS_WITH_AS(data::TensorDataset(x, Tensor()), doctest::Contains("must both be defined"), Error);
}

TEST_CASE("Subset and random_split: disjoint random parts of a dataset, sized as torch.utils.data's") {
  // Sample i has the feature i and the label i % 4.
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < 10; ++i) labels.push_back(i % 4);
  const data::TensorDataset all(arange(10).to(kFloat32).reshape({10, 1}), from_vector(labels, {10}));
  auto sizes = [&](const std::vector<double>& lengths, std::int64_t n) {
    const data::Subset head(all, [n] {
      std::vector<std::int64_t> first(static_cast<std::size_t>(n));
      std::iota(first.begin(), first.end(), 0);
      return first;
    }());
    std::vector<std::int64_t> out;
    for (const data::Subset& part : data::random_split(head, lengths, 0)) out.push_back(part.size());
    return out;
  };
  // torch.utils.data.random_split's lengths (PyTorch 2.15) for the same fractions.
  CHECK(sizes({0.7, 0.2, 0.1}, 10) == std::vector<std::int64_t>{7, 2, 1});
  CHECK(sizes({0.5, 0.5}, 5) == std::vector<std::int64_t>{3, 2});
  CHECK(sizes({0.3, 0.3, 0.4}, 7) == std::vector<std::int64_t>{3, 2, 2});
  CHECK(sizes({0.25, 0.25, 0.25, 0.25}, 10) == std::vector<std::int64_t>{3, 3, 2, 2});
  CHECK(sizes({0.1, 0.9}, 3) == std::vector<std::int64_t>{1, 2});
  CHECK(sizes({0.33, 0.33, 0.34}, 10) == std::vector<std::int64_t>{4, 3, 3});
  CHECK(sizes({6, 0, 4}, 10) == std::vector<std::int64_t>{6, 0, 4});  // counts

  const std::vector<data::Subset> parts = data::random_split(all, {0.8, 0.2}, 7);
  REQUIRE(parts.size() == 2);
  std::set<std::int64_t> seen;
  for (const data::Subset& part : parts)
    for (std::int64_t i : part.indices()) CHECK(seen.insert(i).second);  // disjoint
  CHECK(seen.size() == 10);                                              // and together the whole dataset
  CHECK(data::random_split(all, {0.8, 0.2}, 7)[1].indices() == parts[1].indices());  // the seed decides
  bool moved = false;
  for (std::uint64_t seed = 8; seed < 12; ++seed)
    moved = moved || data::random_split(all, {0.8, 0.2}, seed)[1].indices() != parts[1].indices();
  CHECK(moved);

  // Served through a DataLoader, a subset gives its parent's samples in its own order.
  const data::Subset& validation = parts[1];
  CHECK(validation.sample_shape() == Shape{1});
  CHECK(validation.target_dtype() == kInt64);
  data::DataLoader loader(validation, data::LoaderOptions(8));
  loader.epoch(0);
  const data::Batch& b = loader.batch(0);
  REQUIRE(b.x.size(0) == 2);
  for (std::int64_t r = 0; r < 2; ++r) {
    const std::int64_t i = validation.indices()[static_cast<std::size_t>(r)];
    CHECK(b.x.at<float>({r, 0}) == static_cast<float>(i));
    CHECK(b.y.at<std::int64_t>({r}) == i % 4);
  }
  const data::Subset repeated(all, {3, 3, 9});  // indices may repeat
  data::DataLoader in_order(repeated, data::LoaderOptions(3));
  in_order.epoch(0);
  check_values(in_order.batch(0).y, {3, 3, 1});

  CHECK_THROWS_WITH_AS(data::Subset(all, {2, 10}),
                       doctest::Contains("Subset: index 10 is out of range for a dataset of 10 samples"),
                       Error);
  CHECK_THROWS_WITH_AS(data::random_split(all, {6, 3}, 0),
                       doctest::Contains("lengths (6, 3) sum to 9 but the dataset has 10 samples"), Error);
  CHECK_THROWS_WITH_AS(data::random_split(all, {0.5, 0.4}, 0),
                       doctest::Contains("neither fractions summing to 1"), Error);
  CHECK_THROWS_WITH_AS(data::random_split(all, {11, -1}, 0), doctest::Contains("none negative"), Error);
}

TEST_CASE("ConcatDataset: datasets one after another, batches that straddle them") {
  // Sample values 0..2 in the first dataset, 10..13 in the second, 20, 22 from a subset of a third.
  const data::TensorDataset a(arange(3).to(kFloat32).reshape({3, 1}), arange(3));
  const data::TensorDataset b((arange(4) + 10).to(kFloat32).reshape({4, 1}), arange(4) + 10);
  const data::TensorDataset c((arange(3) + 20).to(kFloat32).reshape({3, 1}), arange(3) + 20);
  const data::Subset c_part(c, {0, 2});
  const data::ConcatDataset all({&a, &b, &c_part});
  CHECK(all.size() == 9);
  CHECK(all.sample_shape() == Shape{1});
  const std::vector<double> expected{0, 1, 2, 10, 11, 12, 13, 20, 22};
  data::DataLoader in_order(all, data::LoaderOptions(4));  // batches 0-3, 4-7 and 8 straddle the parts
  in_order.epoch(0);
  for (std::int64_t batch = 0; batch < in_order.num_batches(); ++batch) {
    const data::Batch& got = in_order.batch(batch);
    const auto first = static_cast<std::size_t>(batch * 4);
    const std::vector<double> want(expected.begin() + static_cast<std::ptrdiff_t>(first),
                                   expected.begin() + static_cast<std::ptrdiff_t>(first) + got.y.size(0));
    check_values(got.x.reshape({-1}), want);
    check_values(got.y, want);
  }
  data::DataLoader shuffled(all, data::LoaderOptions(9).set_shuffle(true).set_seed(2));
  std::multiset<double> seen;
  shuffled.epoch(0);
  const data::Batch& mixed = shuffled.batch(0);
  for (std::int64_t r = 0; r < 9; ++r) {
    CHECK(mixed.x.at<float>({r, 0}) == static_cast<float>(mixed.y.at<std::int64_t>({r})));
    seen.insert(static_cast<double>(mixed.y.at<std::int64_t>({r})));
  }
  CHECK(seen == std::multiset<double>(expected.begin(), expected.end()));

  const data::TensorDataset wide(zeros({2, 3}), arange(2));
  CHECK_THROWS_WITH_AS(
      data::ConcatDataset({&a, &wide}),
      doctest::Contains("dataset 1 has samples (3) and targets () int64 but dataset 0 has (1)"), Error);
  CHECK_THROWS_WITH_AS(data::ConcatDataset({}), doctest::Contains("at least one dataset"), Error);
}

TEST_CASE("DataLoader weighted sampling: draws in proportion to the weights, with or without replacement") {
  const data::TensorDataset five(arange(5).to(kFloat32).reshape({5, 1}), arange(5));
  const std::vector<double> weights{1, 2, 3, 0, 4};
  // 20,000 draws with replacement: each sample about 20,000 w / 10 times (binomial
  // spread at most 70; the seed fixes the draws, so the check is exact for this seed).
  data::DataLoader many(five, data::LoaderOptions(1000).set_seed(3).set_weighted_sampling(weights, 20000));
  CHECK(many.epoch_size() == 20000);
  CHECK(many.num_batches() == 20);
  std::vector<std::int64_t> seen(5, 0);
  for (const data::Batch& b : many.epoch(0))
    for (std::int64_t r = 0; r < b.y.size(0); ++r)
      ++seen[static_cast<std::size_t>(b.y.at<std::int64_t>({r}))];
  for (std::size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(std::abs(static_cast<double>(seen[i]) - 2000.0 * weights[i]) < 300);
  }
  CHECK(seen[3] == 0);  // weight 0: never drawn

  // Without replacement: distinct samples; the first drawn is sample i with probability
  // w_i / 10, as when drawing one sample after another.
  data::DataLoader four(five, data::LoaderOptions(4).set_seed(1).set_weighted_sampling(weights, 4, false));
  std::vector<std::int64_t> first(5, 0);
  for (std::int64_t epoch = 0; epoch < 4000; ++epoch) {
    four.epoch(epoch);
    const Tensor y = four.batch(0).y;
    std::set<std::int64_t> distinct;
    for (std::int64_t r = 0; r < 4; ++r) distinct.insert(y.at<std::int64_t>({r}));
    REQUIRE(distinct.size() == 4);
    REQUIRE(distinct.count(3) == 0);
    ++first[static_cast<std::size_t>(y.at<std::int64_t>({0}))];
  }
  for (std::size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(std::abs(static_cast<double>(first[i]) - 400.0 * weights[i]) < 150);
  }
  // An epoch's draws depend on (seed, epoch) only: drawn again, the same.
  four.epoch(7);
  const Tensor again = four.batch(0).y.clone();
  four.epoch(8);
  four.epoch(7);
  check_values(four.batch(0).y,
               std::vector<double>(again.data_ptr<std::int64_t>(), again.data_ptr<std::int64_t>() + 4));

  // Class-balanced weights: 1 / (samples of the class).
  const std::vector<double> balanced =
      data::class_balance_weights(from_vector(std::vector<std::int64_t>{0, 0, 0, 2}, {4}));
  CHECK(balanced == std::vector<double>{1.0 / 3, 1.0 / 3, 1.0 / 3, 1.0});

  CHECK_THROWS_WITH_AS(
      data::DataLoader(five, data::LoaderOptions(2).set_shuffle(true).set_weighted_sampling(weights)),
      doctest::Contains("leave shuffle off"), Error);
  CHECK_THROWS_WITH_AS(data::DataLoader(five, data::LoaderOptions(2).set_weighted_sampling({1, 2})),
                       doctest::Contains("2 sampling weights for a dataset of 5 samples"), Error);
  CHECK_THROWS_WITH_AS(data::DataLoader(five, data::LoaderOptions(2).set_weighted_sampling({1, 2, -1, 0, 1})),
                       doctest::Contains("finite and >= 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(data::DataLoader(five, data::LoaderOptions(2).set_weighted_sampling({0, 0, 0, 0, 0})),
                       doctest::Contains("every sampling weight is 0"), Error);
  CHECK_THROWS_WITH_AS(
      data::DataLoader(five, data::LoaderOptions(2).set_weighted_sampling(weights, 5, false)),
      doctest::Contains("5 draws without replacement, but only 4 samples have a nonzero weight"), Error);
  CHECK_THROWS_WITH_AS(data::class_balance_weights(zeros({4})), doctest::Contains("integer class labels"),
                       Error);
}

TEST_CASE("DataLoader augmentation: flips and shifts drawn from (seed, epoch, position), blank borders") {
  // 64 images of 1x4x5 whose pixels all differ within an image: 1 + i % 8 + 10 r + 40 c.
  const std::int64_t n = 64, h = 4, w = 5;
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(n * h * w));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t r = 0; r < h; ++r)
      for (std::int64_t c = 0; c < w; ++c) pixels[static_cast<std::size_t>((i * h + r) * w + c)] =
          static_cast<std::uint8_t>(1 + (i % 8) + 10 * r + 40 * c);
  const data::ImageDataset ds(from_vector(pixels, {n, 1, h, w}), arange(n), 0.1, 0.5);
  const float blank = ds.blank_value();
  CHECK(blank == doctest::Approx(-0.2));
  auto value = [&](std::int64_t i, std::int64_t r, std::int64_t c) {
    return static_cast<float>(pixels[static_cast<std::size_t>((i * h + r) * w + c)] / 255.0 - 0.1) / 0.5f;
  };

  SUBCASE("flips only: each image is itself or its mirror, both occur") {
    data::DataLoader loader(ds, data::LoaderOptions(n).set_augment(data::Augment().set_flip(true)));
    loader.epoch(0);
    const Tensor x = loader.batch(0).x;
    int flipped = 0, kept = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      bool same = true, mirrored = true;
      for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = 0; c < w; ++c) {
          const float v = x.at<float>({i, 0, r, c});
          same = same && std::abs(v - value(i, r, c)) < 1e-5f;
          mirrored = mirrored && std::abs(v - value(i, r, w - 1 - c)) < 1e-5f;
        }
      CHECK((same || mirrored));
      flipped += mirrored;
      kept += same;
    }
    CHECK(flipped > 10);
    CHECK(kept > 10);
  }
  SUBCASE("shifts: the content moves by at most max_shift and the rest is blank; same epoch, same images") {
    const auto options = data::LoaderOptions(n).set_shuffle(true).set_seed(3).set_augment(data::Augment().set_max_shift(1));
    data::DataLoader loader(ds, options);
    loader.epoch(2);
    const Tensor x = loader.batch(0).x.clone(), y = loader.batch(0).y.clone();
    int moved = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t src = y.at<std::int64_t>({i});
      int matches = 0;
      for (std::int64_t dy = -1; dy <= 1; ++dy)
        for (std::int64_t dx = -1; dx <= 1; ++dx) {
          bool ok = true;
          for (std::int64_t r = 0; r < h; ++r)
            for (std::int64_t c = 0; c < w; ++c) {
              const std::int64_t sr = r - dy, sc = c - dx;
              const bool inside = sr >= 0 && sr < h && sc >= 0 && sc < w;
              ok = ok && std::abs(x.at<float>({i, 0, r, c}) - (inside ? value(src, sr, sc) : blank)) < 1e-5f;
            }
          if (ok) {
            ++matches;
            moved += dy != 0 || dx != 0;
          }
        }
      CHECK(matches == 1);
    }
    CHECK(moved > n / 2);  // 8 of 9 offsets move the image
    data::DataLoader again(ds, options);  // a fresh loader (as after resuming) draws the same images
    again.epoch(2);
    CHECK(again.batch(0).x.to_vector<float>() == x.to_vector<float>());
    again.epoch(3);
    CHECK(again.batch(0).x.to_vector<float>() != x.to_vector<float>());
  }
  SUBCASE("bad settings are clear errors") {
    CHECK_THROWS_WITH_AS(data::DataLoader(ds, data::LoaderOptions(4).set_augment(data::Augment().set_max_shift(4))),
                         doctest::Contains("max_shift 4 must be smaller than the image"), Error);
    const data::ImageDataset flat(from_vector(pixels, {n, h * w}), arange(n));
    CHECK_THROWS_WITH_AS(data::DataLoader(flat, data::LoaderOptions(4).set_augment(data::Augment().set_flip(true))),
                         doctest::Contains("augmentation works on images (C, H, W)"), Error);
  }
}

TEST_CASE("Fashion-MNIST: missing files are a clear error; the Debian package loads when installed") {
  CHECK_THROWS_WITH_AS(data::fashion_mnist("/nonexistent", data::Split::train),
                       doctest::Contains("dataset-fashion-mnist"), Error);
  if (!fs::exists(data::kFashionMnistDefaultDir)) {
    MESSAGE("skipping the real-data half: " << data::kFashionMnistDefaultDir << " is absent");
    return;
  }
  const auto test = data::fashion_mnist(data::kFashionMnistDefaultDir, data::Split::test);
  CHECK(test.size() == 10000);
  CHECK(test.sample_shape() == Shape{1, 28, 28});
  CHECK(min(test.labels()).item() == 0);
  CHECK(max(test.labels()).item() == 9);
}
