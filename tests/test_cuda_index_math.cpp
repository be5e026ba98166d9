// The GPU kernels' index arithmetic (kernels/cuda/index_math.hpp), run on the CPU
// against definitions written as plain nested loops. It runs in every build, with
// or without a GPU:
// - strided loops: the merged Loop that detail::cuda_loop plans gives every
//   operand the same offsets, in the same order, as unravelling the original
//   shape and strides (broadcasts, permutations, slices, size-1 dimensions);
// - im2col: every col entry's source offset, or -1 for padding, over strides,
//   padding, dilation and non-square kernels, in 32- and 64-bit indices;
// - col2im: each image element's col entries, exactly the inverse of im2col's;
// - division by multiplication (divider.hpp) against the division operator;
// - batch norm: the channel slices visit every value of every channel once;
// - pooling: each element's plane and position, and the windows covering it;
// - CSR chunks: the parts of long rows, each entry once, in order.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cuda/index_math.hpp"
#include "kiln/kiln.hpp"
#include "src/cuda/glue.hpp"

namespace kiln::test {

namespace {

using cuda_kernels::ConvShape;

ConvShape make_shape(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t kh, std::int64_t kw,
                     std::int64_t sh, std::int64_t sw, std::int64_t ph, std::int64_t pw, std::int64_t dh,
                     std::int64_t dw) {
  const std::int64_t oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
  const std::int64_t ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
  return {n, c, h, w, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw};
}

// col's source offsets from the definition: rows (ci, i, j), columns (img, y, x).
std::vector<std::int64_t> defined_sources(const ConvShape& s) {
  std::vector<std::int64_t> out;
  for (std::int64_t ci = 0; ci < s.c; ++ci)
    for (std::int64_t i = 0; i < s.kh; ++i)
      for (std::int64_t j = 0; j < s.kw; ++j)
        for (std::int64_t img = 0; img < s.n; ++img)
          for (std::int64_t y = 0; y < s.oh; ++y)
            for (std::int64_t x = 0; x < s.ow; ++x) {
              const std::int64_t iy = y * s.stride_h - s.pad_h + i * s.dil_h;
              const std::int64_t ix = x * s.stride_w - s.pad_w + j * s.dil_w;
              const bool inside = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
              out.push_back(inside ? ((img * s.c + ci) * s.h + iy) * s.w + ix : -1);
            }
  return out;
}

// The same offsets as the kernel computes them: col_row once per row, then
// col_source per column.
template <class I>
std::vector<std::int64_t> kernel_sources(const ConvShape& s) {
  std::vector<std::int64_t> out;
  const I rows = static_cast<I>(s.c * s.kh * s.kw), columns = static_cast<I>(s.n * s.oh * s.ow);
  const cuda_kernels::ConvDividers<I> dv = cuda_kernels::conv_dividers<I>(s);
  for (I row = 0; row < rows; ++row) {
    const cuda_kernels::ColRow<I> r = cuda_kernels::col_row(s, row);
    for (I column = 0; column < columns; ++column) out.push_back(cuda_kernels::col_source(s, dv, r, column));
  }
  return out;
}

// Every element's offsets in the operands, by unravelling the original shape.
std::vector<std::vector<std::int64_t>> unravelled(const Shape& shape, const std::vector<Strides>& strides) {
  std::vector<std::vector<std::int64_t>> out;
  for (std::int64_t i = 0; i < numel_of(shape); ++i) {
    std::vector<std::int64_t> off(strides.size(), 0);
    std::int64_t rem = i;
    for (std::size_t d = shape.size(); d-- > 0;) {
      const std::int64_t idx = rem % shape[d];
      rem /= shape[d];
      for (std::size_t o = 0; o < strides.size(); ++o) off[o] += idx * strides[o][d];
    }
    out.push_back(off);
  }
  return out;
}

// The same, through the planned Loop and loop_offsets, as a kernel sees them.
std::vector<std::vector<std::int64_t>> planned(const cuda_kernels::Loop& loop, std::size_t operands) {
  std::vector<std::vector<std::int64_t>> out;
  for (std::int64_t i = 0; i < loop.numel; ++i) {
    std::int64_t off[3];
    cuda_kernels::loop_offsets<3>(loop, i, off);
    out.emplace_back(off, off + operands);
  }
  return out;
}

// The convolutions both im2col and col2im are checked on.
const std::vector<ConvShape>& conv_shapes() {
  static const std::vector<ConvShape> shapes = {
      make_shape(3, 1, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1),  // the Fashion CNN's first convolution
      make_shape(2, 3, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1),  // its second, on a smaller batch
      make_shape(2, 3, 7, 9, 3, 3, 2, 2, 0, 0, 1, 1),    // stride 2, no padding: some elements feed no output
      make_shape(2, 2, 6, 5, 3, 3, 1, 1, 2, 2, 2, 2),    // dilation 2
      make_shape(2, 3, 5, 8, 2, 4, 2, 1, 1, 0, 1, 2),    // non-square kernel, mixed strides and dilations
      make_shape(4, 2, 7, 7, 1, 1, 3, 3, 0, 0, 1, 1),    // 1x1 kernel, stride 3
      make_shape(1, 2, 3, 4, 2, 2, 1, 1, 2, 2, 1, 1),    // padding wider than the kernel
  };
  return shapes;
}

}  // namespace

TEST_CASE("GPU strided loops: merged dimensions reach the same elements in the same order") {
  struct Case {
    const char* what;
    Shape shape;
    std::vector<Strides> strides;  // output first
    int merged_dims;
    bool dense;
  };
  const Tensor base = zeros({4, 6, 5});
  const Tensor permuted = base.permute({2, 0, 1});          // (5, 4, 6)
  const Tensor sliced = base.slice(1, 1, 6, 2);             // (4, 3, 5), every other row
  const Shape conv_out = {8, 4, 5, 5};
  const std::vector<Case> cases = {
      {"contiguous", {4, 6, 5}, {base.strides(), base.strides(), base.strides()}, 1, true},
      {"bias added to a conv output", conv_out, {{100, 25, 5, 1}, {100, 25, 5, 1}, {0, 1, 0, 0}}, 3, false},
      {"copy of a permuted view", permuted.shape(), {contiguous_strides(permuted.shape()), permuted.strides()}, 2,
       false},  // (5, 4, 6) with strides (1, 30, 5): the last two step as one
      {"copy of a sliced view", sliced.shape(), {contiguous_strides(sliced.shape()), sliced.strides()}, 2, false},
      {"size-1 dimensions with any strides", {1, 3, 1, 4}, {{12, 4, 4, 1}, {999, 4, -7, 1}}, 1, true},
      {"row broadcast", {6, 5}, {{5, 1}, {5, 1}, {0, 1}}, 2, false},
      {"empty", {3, 0, 2}, {{0, 2, 1}, {0, 2, 1}}, 1, true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    std::vector<const Strides*> ptrs;
    for (const Strides& s : c.strides) ptrs.push_back(&s);
    const cuda_kernels::Loop loop =
        c.strides.size() == 2 ? detail::cuda_loop(c.shape, {ptrs[0], ptrs[1]}, "test")
                              : detail::cuda_loop(c.shape, {ptrs[0], ptrs[1], ptrs[2]}, "test");
    CHECK(loop.ndim == c.merged_dims);
    CHECK(loop.dense == c.dense);
    CHECK(loop.numel == numel_of(c.shape));
    CHECK(loop.narrow);
    const auto expected = unravelled(c.shape, c.strides);
    CHECK(planned(loop, c.strides.size()) == expected);
    // The same through the 64-bit path that loops past 2^30 elements take.
    cuda_kernels::Loop wide = loop;
    wide.narrow = false;
    CHECK(planned(wide, c.strides.size()) == expected);
  }
  // Past 2^30 elements a loop unravels in 64 bits; its last element is still found.
  const Shape big = {std::int64_t(1) << 16, 3, std::int64_t(1) << 15};  // 3 * 2^31 elements
  const Strides big_dense = contiguous_strides(big), big_bias = {0, 1, 0};
  const cuda_kernels::Loop wide = detail::cuda_loop(big, {&big_dense, &big_dense, &big_bias}, "add");
  CHECK_FALSE(wide.narrow);
  std::int64_t off[3];
  cuda_kernels::loop_offsets<3>(wide, wide.numel - 1, off);
  CHECK(off[0] == wide.numel - 1);
  CHECK(off[2] == 2);
}

TEST_CASE("GPU strided loops: more than 8 dimensions work once merged, and name the problem when they do not") {
  const Shape ten(10, 2);
  const Strides dense = contiguous_strides(ten);
  CHECK(detail::cuda_loop(ten, {&dense, &dense}, "add").ndim == 1);
  // Broadcasting every other dimension keeps all ten apart.
  Strides alternating = dense;
  for (std::size_t d = 0; d < ten.size(); d += 2) alternating[d] = 0;
  CHECK_THROWS_WITH_AS(detail::cuda_loop(ten, {&dense, &alternating}, "add"),
                       doctest::Contains("add: shape (2, 2, 2, 2, 2, 2, 2, 2, 2, 2) has 10 dimensions that its "
                                         "operands' strides keep apart; CUDA kernels take at most 8"),
                       Error);
}

TEST_CASE("GPU im2col index arithmetic equals im2col's definition") {
  for (const ConvShape& s : conv_shapes()) {
    CAPTURE(s.n);
    CAPTURE(s.c);
    CAPTURE(s.h);
    CAPTURE(s.w);
    CAPTURE(s.kh);
    CAPTURE(s.kw);
    CAPTURE(s.stride_h);
    CAPTURE(s.pad_h);
    CAPTURE(s.dil_w);
    REQUIRE(s.oh > 0);
    REQUIRE(s.ow > 0);
    const std::vector<std::int64_t> expected = defined_sources(s);
    CHECK(kernel_sources<std::int32_t>(s) == expected);
    CHECK(kernel_sources<std::int64_t>(s) == expected);
    CHECK(cuda_kernels::fits_int32(s));
  }
}

TEST_CASE("GPU col2im visits exactly the col entries im2col copied each image element to") {
  for (const ConvShape& s : conv_shapes()) {
    CAPTURE(s.h);
    CAPTURE(s.kw);
    CAPTURE(s.stride_w);
    CAPTURE(s.dil_h);
    // The definition, inverted: for each image element, the col indices that copy it, by row.
    const std::vector<std::int64_t> sources = defined_sources(s);
    std::vector<std::vector<std::int64_t>> expected(static_cast<std::size_t>(s.n * s.c * s.h * s.w));
    for (std::size_t k = 0; k < sources.size(); ++k)
      if (sources[k] >= 0) expected[static_cast<std::size_t>(sources[k])].push_back(static_cast<std::int64_t>(k));
    std::vector<std::vector<std::int64_t>> got32(expected.size()), got64(expected.size());
    const auto dv32 = cuda_kernels::conv_dividers<std::int32_t>(s);
    const auto dv64 = cuda_kernels::conv_dividers<std::int64_t>(s);
    for (std::size_t e = 0; e < expected.size(); ++e) {
      cuda_kernels::col_targets(s, dv32, static_cast<std::int32_t>(e), [&](std::int64_t k) { got32[e].push_back(k); });
      cuda_kernels::col_targets(s, dv64, static_cast<std::int64_t>(e), [&](std::int64_t k) { got64[e].push_back(k); });
    }
    CHECK(got32 == expected);
    CHECK(got64 == expected);
  }
}

TEST_CASE("GPU im2col picks 64-bit indices when a shape outgrows 32 bits") {
  // Each limit on its own: 2^31 image elements;
  CHECK_FALSE(cuda_kernels::fits_int32(make_shape(1 << 11, 1 << 10, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1)));
  // 2^24 one-pixel images padded by 4: 81 output positions each, 1.36e9 columns;
  const ConvShape many_columns = make_shape(1 << 24, 1, 1, 1, 1, 1, 1, 1, 4, 4, 1, 1);
  CHECK(many_columns.n * many_columns.c * many_columns.h * many_columns.w < (std::int64_t(1) << 30));
  CHECK_FALSE(cuda_kernels::fits_int32(many_columns));
  // 2^20 channels under a 64 x 64 kernel: 2^32 col rows.
  const ConvShape many_rows = make_shape(1, 1 << 20, 1, 1, 64, 64, 1, 1, 32, 32, 1, 1);
  CHECK(many_rows.n * many_rows.c * many_rows.h * many_rows.w < (std::int64_t(1) << 30));
  CHECK_FALSE(cuda_kernels::fits_int32(many_rows));
  CHECK(cuda_kernels::fits_int32(make_shape(128, 64, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1)));
  // Offsets past 2^31 still come out right in 64 bits: the last element of a large batch.
  const ConvShape big = make_shape(1 << 12, 1 << 10, 32, 32, 1, 1, 1, 1, 0, 0, 1, 1);
  const cuda_kernels::ColRow<std::int64_t> last_channel = cuda_kernels::col_row<std::int64_t>(big, big.c - 1);
  const std::int64_t last_column = big.n * big.oh * big.ow - 1;
  CHECK(cuda_kernels::col_source(big, cuda_kernels::conv_dividers<std::int64_t>(big), last_channel, last_column) ==
        big.n * big.c * big.h * big.w - 1);
}

namespace {

// A fixed pseudo-random sequence (64-bit LCG), so that failures repeat.
struct Lcg {
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  std::int64_t below(std::int64_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::int64_t>((state >> 33) % static_cast<std::uint64_t>(bound));
  }
};

cuda_kernels::PoolShape make_pool(std::int64_t planes, std::int64_t h, std::int64_t w, std::int64_t kh,
                                  std::int64_t kw, std::int64_t sh, std::int64_t sw, std::int64_t ph, std::int64_t pw) {
  return {planes, h, w, (h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1, kh, kw, sh, sw, ph, pw, true};
}

// Each element's plane, row and column through plane_position, against division.
template <class I>
void check_plane_positions(std::int64_t planes, std::int64_t h, std::int64_t w,
                           const cuda_kernels::DividerFor<I>& plane_size, const cuda_kernels::DividerFor<I>& width) {
  std::int64_t wrong = 0;
  for (std::int64_t e = 0; e < planes * h * w; ++e) {
    const auto p = cuda_kernels::plane_position(static_cast<I>(e), plane_size, width);
    wrong += p.plane != e / (h * w) || p.y != e % (h * w) / w || p.x != e % w;
  }
  CHECK(wrong == 0);
}

// The windows covering each coordinate of one axis, against trying every window.
template <class I>
void check_covering(std::int64_t in_size, std::int64_t out_size, std::int64_t k, std::int64_t stride,
                    std::int64_t pad, const cuda_kernels::DividerFor<I>& by) {
  for (std::int64_t in = 0; in < in_size; ++in) {
    std::vector<std::int64_t> expected, got;
    for (std::int64_t o = 0; o < out_size; ++o)
      if (o * stride - pad <= in && in <= o * stride - pad + k - 1) expected.push_back(o);
    I lo, hi;
    cuda_kernels::covering_windows<I>(static_cast<I>(in), static_cast<I>(pad), static_cast<I>(k), by,
                                      static_cast<I>(out_size), lo, hi);
    for (I o = lo; o < hi; ++o) got.push_back(o);
    CAPTURE(in);
    CHECK(got == expected);
  }
}

// Every value each batch norm block reads: offsets[ch] lists channel ch's, slice by slice.
template <class I>
std::vector<std::vector<std::int64_t>> sliced_offsets(std::int64_t n, std::int64_t c, std::int64_t l) {
  const cuda_kernels::ChannelSplit split = cuda_kernels::channel_split(c, n * l);
  const cuda_kernels::DividerFor<I> ld(l);
  std::vector<std::vector<std::int64_t>> out(static_cast<std::size_t>(c));
  for (std::int64_t ch = 0; ch < c; ++ch)
    for (std::int64_t part = 0; part < split.parts; ++part) {
      std::int64_t begin, end;
      cuda_kernels::slice_bounds(n * l, split.per_part, part, begin, end);
      for (std::int64_t i = begin; i < end; ++i)
        out[static_cast<std::size_t>(ch)].push_back(
            cuda_kernels::channel_value_offset(static_cast<I>(i), ld, static_cast<I>(c), static_cast<I>(ch)));
    }
  return out;
}

}  // namespace

TEST_CASE("GPU division by multiplication equals integer division for every 31-bit numerator tried") {
  Lcg rng;
  std::vector<std::int64_t> divisors;
  for (std::int64_t d = 1; d <= 2048; ++d) divisors.push_back(d);
  for (int b = 11; b < 31; ++b)
    for (std::int64_t e : {-1, 0, 1}) divisors.push_back((std::int64_t(1) << b) + e);
  divisors.push_back((std::int64_t(1) << 31) - 1);
  for (int i = 0; i < 2000; ++i) divisors.push_back(1 + rng.below((std::int64_t(1) << 31) - 1));
  constexpr std::int64_t kTop = (std::int64_t(1) << 31) - 1;
  std::int64_t wrong = 0, tried = 0;
  for (const std::int64_t d : divisors) {
    const cuda_kernels::Divider32 by(d);
    REQUIRE(by.divisor() == d);
    std::vector<std::int64_t> numerators = {0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d, kTop, kTop - 1, kTop - d};
    for (const std::int64_t q : {std::int64_t(3), std::int64_t(1000), kTop / d})
      for (std::int64_t r : {-1, 0, 1}) numerators.push_back(q * d + r);
    for (int i = 0; i < 100; ++i) numerators.push_back(rng.below(kTop + 1));
    for (const std::int64_t x : numerators) {
      if (x < 0 || x > kTop) continue;
      ++tried;
      wrong += by.div(static_cast<std::int32_t>(x)) != x / d;
    }
  }
  CAPTURE(tried);
  CHECK(wrong == 0);
  // Every numerator, for small divisors, up to 2^20.
  for (std::int64_t d = 1; d <= 16; ++d) {
    const cuda_kernels::Divider32 by(d);
    for (std::int32_t x = 0; x < (1 << 20); ++x) wrong += by.div(x) != x / d;
  }
  CHECK(wrong == 0);
  const cuda_kernels::Divider64 big(std::int64_t(3) << 40);
  CHECK(big.div((std::int64_t(7) << 41) + 5) == 4);
}

TEST_CASE("GPU batch norm slices read every value of every channel once") {
  struct Case {
    std::int64_t n, c, l;
  };
  // The Fashion CNN's two batch norms at batch 128, then odd sizes: one value per
  // (sample, channel), a single channel, more channels than a grid's y limit, and
  // channels too short for a second slice.
  for (const Case& k : {Case{128, 32, 784}, Case{128, 64, 196}, Case{4096, 1, 1}, Case{1, 1, 100003},
                        Case{3, 70000, 1}, Case{5, 7, 3}, Case{2, 300, 1000}}) {
    CAPTURE(k.n);
    CAPTURE(k.c);
    CAPTURE(k.l);
    const std::int64_t m = k.n * k.l;
    const cuda_kernels::ChannelSplit split = cuda_kernels::channel_split(k.c, m);
    CHECK(split.parts >= 1);
    CHECK(split.parts <= 256);
    CHECK(split.parts * split.per_part >= m);
    CHECK(cuda_kernels::batch_norm_scratch_doubles(k.c, m) == 2 * k.c * split.parts + 2 * k.c);
    // A block has whole warps, at most 256 threads, and no warp without a value.
    const int threads = cuda_kernels::slice_threads(split, 256);
    CHECK(threads % 32 == 0);
    CHECK(threads >= 32);
    CHECK(threads <= 256);
    CHECK(threads >= std::min<std::int64_t>(split.per_part, 256));
    CHECK((threads == 32 || threads - 32 < split.per_part));
    const auto got32 = sliced_offsets<std::int32_t>(k.n, k.c, k.l);
    CHECK(sliced_offsets<std::int64_t>(k.n, k.c, k.l) == got32);
    // Channel ch's values, in the order of i = img * l + j.
    std::int64_t wrong = 0;
    for (std::int64_t ch = 0; ch < k.c; ++ch) {
      const auto& got = got32[static_cast<std::size_t>(ch)];
      REQUIRE(static_cast<std::int64_t>(got.size()) == m);
      for (std::int64_t i = 0; i < m; ++i)
        wrong += got[static_cast<std::size_t>(i)] != (i / k.l * k.c + ch) * k.l + i % k.l;
    }
    CHECK(wrong == 0);
    // And each element's channel, as the transform and dx kernels find it.
    const cuda_kernels::Divider32 ld(k.l), cd(k.c);
    for (std::int64_t e = 0; e < k.n * k.c * k.l; ++e)
      wrong += cuda_kernels::channel_of(static_cast<std::int32_t>(e), ld, cd) != e / k.l % k.c;
    CHECK(wrong == 0);
  }
  // A few channels still make many blocks: the CNN's first batch norm gets 800.
  const cuda_kernels::ChannelSplit first = cuda_kernels::channel_split(32, 128 * 784);
  CHECK(32 * first.parts >= 512);
  CHECK(cuda_kernels::channel_split(512, 49).parts == 1);
  CHECK(cuda_kernels::slice_threads(first, 256) == 256);
  CHECK(cuda_kernels::slice_threads(cuda_kernels::channel_split(512, 49), 256) == 64);
  CHECK(cuda_kernels::slice_threads(cuda_kernels::channel_split(70000, 5), 256) == 32);
}

TEST_CASE("GPU sums cut into slices add every value once, and both passes stay short") {
  struct Case {
    std::int64_t outer, r, inner;
  };
  // A whole-tensor sum, long rows, bias gradients over a batch (the MLP's and the
  // CNN's), a GCN-sized column sum, and sizes that leave a last slice short or empty.
  for (const Case& k : {Case{1, 1 << 20, 1}, Case{2, 100003, 1}, Case{1, 128, 256}, Case{1, 128, 10},
                        Case{1, 2708, 16}, Case{3, 1000, 7}, Case{1, 33, 2}, Case{5, 9000, 1}, Case{4, 5, 6},
                        Case{4096, 784, 1}, Case{1, 1, 1}}) {
    CAPTURE(k.outer);
    CAPTURE(k.r);
    CAPTURE(k.inner);
    const cuda_kernels::ChannelSplit split = cuda_kernels::sum_split(k.outer, k.r, k.inner);
    const std::int64_t outputs = k.outer * k.inner;
    REQUIRE(split.parts >= 1);
    CHECK(split.parts * split.per_part >= k.r);
    CHECK(cuda_kernels::sum_scratch_slots(k.outer, k.r, k.inner) == (split.parts > 1 ? outputs * split.parts : 0));
    // Each value is its offset + 1, summed exactly in integers and indexed as the
    // kernels do: pass 1 fills partial[p * outputs + e], pass 2 adds over p in order.
    std::vector<std::int64_t> partial(static_cast<std::size_t>(outputs * split.parts), 0), seen(
        static_cast<std::size_t>(k.outer * k.r * k.inner), 0);
    for (std::int64_t p = 0; p < split.parts; ++p)
      for (std::int64_t e = 0; e < outputs; ++e) {
        const std::int64_t o = e / k.inner, i = e % k.inner;
        std::int64_t begin, end;
        cuda_kernels::slice_bounds(k.r, split.per_part, p, begin, end);
        for (std::int64_t j = begin; j < end; ++j) {
          const std::int64_t at = (o * k.r + j) * k.inner + i;
          ++seen[static_cast<std::size_t>(at)];
          partial[static_cast<std::size_t>(p * outputs + e)] += at + 1;
        }
      }
    CHECK(std::all_of(seen.begin(), seen.end(), [](std::int64_t n) { return n == 1; }));
    for (std::int64_t e = 0; e < outputs; ++e) {
      std::int64_t got = 0, want = 0;
      for (std::int64_t p = 0; p < split.parts; ++p) got += partial[static_cast<std::size_t>(p * outputs + e)];
      for (std::int64_t j = 0; j < k.r; ++j) want += (e / k.inner * k.r + j) * k.inner + e % k.inner + 1;
      CHECK(got == want);
    }
  }
  // What the plans come to: a long row fills 256 blocks; a bias gradient over a
  // batch of 128 takes 8 slices of 16; short sums stay one pass.
  CHECK(cuda_kernels::sum_split(1, 7333264, 1).parts == 256);
  CHECK(cuda_kernels::sum_split(1, 128, 256).parts == 8);
  CHECK(cuda_kernels::sum_split(1, 128, 256).per_part == 16);
  CHECK(cuda_kernels::sum_split(1, 2708, 16).parts == 42);
  CHECK(cuda_kernels::sum_split(4096, 784, 1).parts == 1);
  CHECK(cuda_kernels::sum_split(3, 5000, 1).parts == 1);
  CHECK(cuda_kernels::sum_split(1 << 20, 64, 4).parts == 1);
}

TEST_CASE("GPU scans cut into slices: every step in one slice, slices in order, few slices per line") {
  struct Case {
    std::int64_t outer, n, inner;
  };
  for (const Case& k : {Case{1, 30000, 1}, Case{2, 3001, 3}, Case{3, 40, 5}, Case{1, 1 << 20, 1},
                        Case{200, 3, 5}, Case{4096, 784, 1}, Case{1, 17, 1}}) {
    CAPTURE(k.outer);
    CAPTURE(k.n);
    CAPTURE(k.inner);
    const cuda_kernels::ChannelSplit split = cuda_kernels::scan_split(k.outer, k.n, k.inner);
    const std::int64_t lines = k.outer * k.inner;
    REQUIRE(split.parts >= 1);
    CHECK(split.parts <= 1024);
    CHECK(cuda_kernels::scan_scratch_slots(k.outer, k.n, k.inner) ==
          (split.parts > 1 ? lines * split.parts : 0));
    // The slices of a line, in order, are its steps 0 .. n-1, each once.
    std::int64_t next = 0;
    for (std::int64_t p = 0; p < split.parts; ++p) {
      std::int64_t begin, end;
      cuda_kernels::slice_bounds(k.n, split.per_part, p, begin, end);
      CHECK(begin == next);
      CHECK(end >= begin);
      next = end;
    }
    CHECK(next == k.n);
    if (split.parts > 1) CHECK(split.per_part >= 16);
  }
  // One long row is cut into about sqrt(n) slices of about sqrt(n) steps; many lines
  // or short ones stay one pass.
  CHECK(cuda_kernels::scan_split(1, 1 << 20, 1).parts == 1024);
  CHECK(cuda_kernels::scan_split(1, 30000, 1).parts == 117);
  CHECK(cuda_kernels::scan_split(200, 3, 5).parts == 1);
  CHECK(cuda_kernels::scan_split(1 << 16, 784, 1).parts == 1);
}

TEST_CASE(
    "GPU CSR chunks: each long row's parts, in chunk order, are its entries once; short rows have none") {
  using cuda_kernels::kCsrChunk;
  // Row lengths around the chunk size, empty rows, and long rows at both ends.
  for (const std::vector<std::int64_t>& lengths :
       {std::vector<std::int64_t>{3000, 0, 5, 1024, 1025, 0, 0, 2048, 1, 7000, 3, 0},
        std::vector<std::int64_t>{2, 1023, 1, 1023, 2000, 0, 4097},
        std::vector<std::int64_t>{0, 0, 1024, 1024, 1024}, std::vector<std::int64_t>{9, 4, 1}}) {
    std::vector<std::int64_t> row_ptr{0};
    for (std::int64_t n : lengths) row_ptr.push_back(row_ptr.back() + n);
    const auto rows = static_cast<std::int64_t>(lengths.size());
    const std::int64_t nnz = row_ptr.back();
    CAPTURE(nnz);
    // csr_row_of: the row that holds each entry, skipping empty rows.
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t k = row_ptr[r]; k < row_ptr[r + 1]; ++k)
        if (cuda_kernels::csr_row_of(row_ptr.data(), rows, k) != r) {
          FAIL_CHECK("entry " << k << " of row " << r << " placed in row "
                              << cuda_kernels::csr_row_of(row_ptr.data(), rows, k));
        }
    // Walking every chunk's parts covers each long row's entries once, in order.
    std::vector<std::int64_t> next(rows), seen_from(rows, -1);
    for (std::int64_t r = 0; r < rows; ++r) next[r] = row_ptr[r];
    const std::int64_t chunks = cuda_kernels::csr_chunks(nnz);
    CHECK(chunks == (nnz + kCsrChunk - 1) / kCsrChunk);
    for (std::int64_t c = 0; c < chunks; ++c) {
      CAPTURE(c);
      const cuda_kernels::CsrChunkRows parts = cuda_kernels::csr_chunk_rows(row_ptr.data(), rows, nnz, c);
      const std::int64_t start = c * kCsrChunk, stop = std::min(start + kCsrChunk, nnz);
      if (parts.continues >= 0) {
        const std::int64_t r = parts.continues;
        CHECK(lengths[r] > kCsrChunk);
        CHECK(row_ptr[r] < start);
        CHECK(next[r] == start);
        CHECK(parts.continues_end == std::min(row_ptr[r + 1], stop));
        next[r] = parts.continues_end;
      }
      if (parts.begins >= 0) {
        const std::int64_t r = parts.begins;
        CHECK(lengths[r] > kCsrChunk);
        CHECK(row_ptr[r] >= start);
        CHECK(row_ptr[r] < stop);
        CHECK(next[r] == row_ptr[r]);
        CHECK(seen_from[r] == -1);
        seen_from[r] = c;
        next[r] = stop;
      }
    }
    for (std::int64_t r = 0; r < rows; ++r) {
      CAPTURE(r);
      if (lengths[r] > kCsrChunk) {
        CHECK(next[r] == row_ptr[r + 1]);  // every entry, once
        CHECK(seen_from[r] == row_ptr[r] / kCsrChunk);
      } else {
        CHECK(next[r] == row_ptr[r]);  // short rows are walked whole elsewhere
      }
    }
    CHECK(cuda_kernels::csr_chunk_scratch_slots(nnz, 16) == chunks * 2 * 16);
    CHECK(cuda_kernels::csr_chunk_scratch_slots(nnz, 8, 2) == chunks * 2 * 8 * 2);
  }
}

TEST_CASE("GPU pooling index arithmetic: positions and covering windows") {
  const std::vector<cuda_kernels::PoolShape> shapes = {
      make_pool(6, 28, 28, 2, 2, 2, 2, 0, 0),  // the Fashion CNN's pools
      make_pool(4, 7, 9, 3, 3, 2, 2, 1, 1),    // overlapping windows with padding
      make_pool(3, 5, 8, 2, 3, 1, 2, 0, 1),    // stride 1 rows, non-square
      make_pool(2, 11, 6, 2, 2, 3, 3, 0, 0),   // stride past the window: some inputs in none
      make_pool(2, 4, 4, 4, 4, 1, 1, 2, 2),    // padding half the window
  };
  for (const auto& s : shapes) {
    CAPTURE(s.h);
    CAPTURE(s.w);
    CAPTURE(s.kh);
    CAPTURE(s.stride_h);
    CAPTURE(s.pad_h);
    CHECK(cuda_kernels::fits_int32(s));
    const auto dv32 = cuda_kernels::pool_dividers<std::int32_t>(s);
    const auto dv64 = cuda_kernels::pool_dividers<std::int64_t>(s);
    // Outputs, as the forward kernels walk them; inputs, as the backward ones do.
    check_plane_positions<std::int32_t>(s.planes, s.oh, s.ow, dv32.out_plane, dv32.out_width);
    check_plane_positions<std::int64_t>(s.planes, s.oh, s.ow, dv64.out_plane, dv64.out_width);
    check_plane_positions<std::int32_t>(s.planes, s.h, s.w, dv32.in_plane, dv32.in_width);
    check_plane_positions<std::int64_t>(s.planes, s.h, s.w, dv64.in_plane, dv64.in_width);
    check_covering<std::int32_t>(s.h, s.oh, s.kh, s.stride_h, s.pad_h, dv32.stride_h);
    check_covering<std::int32_t>(s.w, s.ow, s.kw, s.stride_w, s.pad_w, dv32.stride_w);
    check_covering<std::int64_t>(s.h, s.oh, s.kh, s.stride_h, s.pad_h, dv64.stride_h);
    check_covering<std::int64_t>(s.w, s.ow, s.kw, s.stride_w, s.pad_w, dv64.stride_w);
  }
  // 2^31 input values, or as many output values from a smaller padded input, need 64 bits.
  CHECK_FALSE(cuda_kernels::fits_int32(make_pool(std::int64_t(1) << 21, 32, 32, 2, 2, 2, 2, 0, 0)));
  CHECK_FALSE(cuda_kernels::fits_int32(make_pool(std::int64_t(1) << 27, 1, 1, 1, 1, 1, 1, 1, 1)));
  CHECK(cuda_kernels::fits_int32(make_pool(128 * 64, 14, 14, 2, 2, 2, 2, 0, 0)));
}

}  // namespace kiln::test
