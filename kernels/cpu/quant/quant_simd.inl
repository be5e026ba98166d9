// The quantized kernels, written once over an instruction-set policy P and
// included by quant_avx2.cpp and quant_avx512.cpp (each compiled with its flags).
//
// P provides the integer vector VI (one int32 lane per output channel), the
// float vector VF, kLanes, the tile sizes, and:
//   zero(), load(p), store(p, v), xor_(a, b), bcast4(p)   (bcast4: 4 bytes to every lane)
//   dot_s8(acc, w, a)                     acc += four int8 products per lane
//   kXorA                                 whether dot_s8 wants a + 128 as unsigned
//                                         (the sum is then corrected by 128 * row_sum)
//   dot_u4(acc, u, a)                     acc += four (unsigned nibble x int8) products
//   lo_nibbles(x), hi_nibbles(x), set1(i), sub(a, b)
//   to_float(v), fmadd(a, b, c), loadf(p), storef(p, v), storei(p, v), loadi(p),
//   set1f(x), mulf, addf, maxf (max as the instruction: a > b ? a : b)
//   quantize_span(n, x, inv_scale, q), max_abs(n, x)
//   kWideRows                             0, or from how many rows of a the int8 GEMM
//                                         takes the 16-bit route; that route also needs
//   kWideMR, dot_s16(acc, w, a)           its tile rows; acc += two int16 products per lane
//   widen_pairs(src, out0, out1), widen_row(k, kp, src, dst)   (see quant_avx2.cpp)
//
// A thread's unit of work is (a chunk of rows of a) x (a group of weight panels).
// Inside it, a register tile of MR rows x NP panels runs over all of k and leaves
// int32 (or, for q4, float) results in a small buffer that the output stage reads.

// (The including file brings <array>, <utility>, <vector> and kiln/core/threads.hpp.)

constexpr int kVecs = static_cast<int>(kPanelRows) / P::kLanes;  // vectors per panel
constexpr int kTileCols = 2 * static_cast<int>(kPanelRows);       // widest tile: two panels
constexpr std::int64_t kRowChunk = 64;                            // rows of a per work unit

using VI = typename P::VI;
using VF = typename P::VF;

// ---- int8 x int8 --------------------------------------------------------------
template <int MR, int NP>
void tile_s8(const std::int8_t* a, std::int64_t lda, std::int64_t groups, const std::int8_t* w,
             std::int64_t panel_stride, std::int32_t* out) {
  VI acc[MR][NP * kVecs];
  for (auto& row : acc)
    for (auto& v : row) v = P::zero();
  for (std::int64_t g = 0; g < groups; ++g) {
    VI wv[NP * kVecs];
    for (int p = 0; p < NP; ++p)
      for (int v = 0; v < kVecs; ++v) wv[p * kVecs + v] = P::load(w + p * panel_stride + g * 64 + v * P::kLanes * 4);
    for (int i = 0; i < MR; ++i) {
      const VI ab = P::bcast4(a + i * lda + 4 * g);
      for (int j = 0; j < NP * kVecs; ++j) acc[i][j] = P::dot_s8(acc[i][j], wv[j], ab);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP * kVecs; ++j) P::storei(out + i * kTileCols + j * P::kLanes, acc[i][j]);
}

using TileS8 = void (*)(const std::int8_t*, std::int64_t, std::int64_t, const std::int8_t*, std::int64_t,
                        std::int32_t*);

template <int NP, int... I>
constexpr std::array<TileS8, sizeof...(I)> tiles_s8(std::integer_sequence<int, I...>) {
  return {&tile_s8<I + 1, NP>...};
}

// ---- int8 x int8 on 16-bit lanes (policies with kWideRows > 0: AVX2) ------------------
// vpmaddwd multiplies int16 pairs and adds them into int32 lanes exactly: one instruction
// per 16 products, against vpsignb + vpmaddubsw + vpmaddwd per 32 on the byte route, and
// all three compete for the same two multiply pipes. The operands are widened first: the
// rows of a once per call, and each weight panel one k-block at a time into a buffer that
// stays in L1 while every row of the unit's chunk runs over it. The int32 sums live in
// a per-unit buffer between k-blocks.
constexpr std::int64_t kWideChunk = 192;  // rows of a per work unit
constexpr std::int64_t kWideBlock = 256;  // k per widened weight block (8 KiB of int16)

template <int MR, class Q = P>
void tile_s16(const std::int16_t* a, std::int64_t lda, std::int64_t pairs, const std::int16_t* w, bool first,
              std::int32_t* acc_out) {
  typename Q::VI acc[MR][kVecs];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < kVecs; ++v)
      acc[i][v] = first ? Q::zero() : Q::loadi(acc_out + i * kTileCols + v * Q::kLanes);
#pragma GCC unroll 2
  for (std::int64_t q = 0; q < pairs; ++q) {
    typename Q::VI wv[kVecs];
    for (int v = 0; v < kVecs; ++v) wv[v] = Q::load(w + q * kPanelRows * 2 + v * Q::kLanes * 2);
    for (int i = 0; i < MR; ++i) {
      const typename Q::VI ab = Q::bcast4(a + i * lda + 2 * q);
      for (int v = 0; v < kVecs; ++v) acc[i][v] = Q::dot_s16(acc[i][v], wv[v], ab);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < kVecs; ++v) Q::storei(acc_out + i * kTileCols + v * Q::kLanes, acc[i][v]);
}

template <class Sink, class Q = P>
void run_s8_wide(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Int8Weights& w, const Sink& sink) {
  using TileS16 = void (*)(const std::int16_t*, std::int64_t, std::int64_t, const std::int16_t*, bool, std::int32_t*);
  static constexpr auto tiles = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<TileS16, sizeof...(I)>{&tile_s16<I + 1>...};
  }(std::make_integer_sequence<int, Q::kWideMR>{});
  const std::int64_t kp = round_up(w.k, 4), panels = panel_count(w.n), panel_stride = kPanelRows * kp;

  // a widened to int16, k padded to kp with zeros.
  std::unique_ptr<std::int16_t[]> a16(new std::int16_t[static_cast<std::size_t>(m * kp)]);
  kiln::parallel_for(0, m, 64, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) Q::widen_row(w.k, kp, a + r * lda, a16.get() + r * kp);
  });

  // Row chunks of equal size (at most kWideChunk); units run panel by panel, so that
  // the threads' shares of units hold equal numbers of rows.
  const std::int64_t row_chunks = (m + kWideChunk - 1) / kWideChunk;
  const std::int64_t chunk_rows = round_up((m + row_chunks - 1) / row_chunks, Q::kWideMR);
  kiln::parallel_for(0, row_chunks * panels, 1, [&](std::int64_t u0, std::int64_t u1) {
    alignas(64) std::int16_t wblock[kPanelRows * kWideBlock];
    std::vector<std::int32_t> sums(static_cast<std::size_t>(chunk_rows * kTileCols));
    for (std::int64_t u = u0; u < u1; ++u) {
      const std::int64_t p = u / row_chunks, chunk = u % row_chunks;
      const std::int64_t n0 = p * kPanelRows, cols = std::min(kPanelRows, w.n - n0);
      const std::int64_t r0 = chunk * chunk_rows, rows = std::min(chunk_rows, m - r0);
      if (rows <= 0) continue;
      for (std::int64_t k0 = 0; k0 < kp; k0 += kWideBlock) {
        const std::int64_t kc = std::min(kWideBlock, kp - k0);
        // Groups of 4 k (64 bytes: 16 channels x 4) -> two k-pairs (16 channels x 2 int16 each).
        const std::int8_t* src = w.packed + p * panel_stride + k0 * kPanelRows;
        for (std::int64_t g = 0; g < kc / 4; ++g)
          for (int v = 0; v < kVecs; ++v)
            Q::widen_pairs(src + g * 64 + v * Q::kLanes * 4, wblock + (2 * g) * kPanelRows * 2 + v * Q::kLanes * 2,
                           wblock + (2 * g + 1) * kPanelRows * 2 + v * Q::kLanes * 2);
        for (std::int64_t i = 0; i < rows; i += Q::kWideMR) {
          const std::int64_t mr = std::min<std::int64_t>(Q::kWideMR, rows - i);
          tiles[mr - 1](a16.get() + (r0 + i) * kp + k0, kp, kc / 2, wblock, k0 == 0, sums.data() + i * kTileCols);
        }
      }
      sink(r0, rows, n0, cols, sums.data());
    }
  });
}

// ---- int8 x int8 on bytes ------------------------------------------------------------
// Runs the int8 product and hands each finished tile to sink(i0, rows, n0, cols, tile)
// (tile rows kTileCols apart); from P::kWideRows rows on, through run_s8_wide.
template <class Sink>
void run_s8(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Int8Weights& w, const Sink& sink) {
  if constexpr (P::kWideRows > 0)
    if (m >= P::kWideRows) return run_s8_wide(m, a, lda, w, sink);
  static constexpr auto one = tiles_s8<1>(std::make_integer_sequence<int, P::kMR8>{});
  static constexpr auto two = tiles_s8<P::kNP8 == 2 ? 2 : 1>(std::make_integer_sequence<int, P::kMR8>{});
  const std::int64_t kp = round_up(w.k, 4), groups = kp / 4, panels = panel_count(w.n);
  const std::int64_t panel_stride = kPanelRows * kp;

  // The rows of a as the dot instruction wants them: k padded to kp with zeros,
  // and shifted to unsigned when kXorA. Used in place when nothing needs changing.
  std::unique_ptr<std::int8_t[]> prepared;
  const std::int8_t* ap = a;
  std::int64_t ap_ld = lda;
  if (P::kXorA || kp != w.k) {
    prepared.reset(new std::int8_t[static_cast<std::size_t>(m * kp)]);
    const std::int8_t flip = P::kXorA ? static_cast<std::int8_t>(0x80) : 0;
    const VI vflip = P::set1(P::kXorA ? static_cast<std::int32_t>(0x80808080u) : 0);
    constexpr std::int64_t kBytes = P::kLanes * 4;
    kiln::parallel_for(0, m, 64, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int8_t* src = a + r * lda;
        std::int8_t* dst = prepared.get() + r * kp;
        std::int64_t c = 0;
        for (; c + kBytes <= w.k; c += kBytes) P::store(dst + c, P::xor_(P::load(src + c), vflip));
        for (; c < w.k; ++c) dst[c] = static_cast<std::int8_t>(src[c] ^ flip);
        for (; c < kp; ++c) dst[c] = flip;
      }
    });
    ap = prepared.get();
    ap_ld = kp;
  }

  std::vector<std::int32_t> comp;
  if constexpr (P::kXorA) {
    comp.resize(static_cast<std::size_t>(panels * kPanelRows));
    for (std::size_t j = 0; j < comp.size(); ++j) comp[j] = 128 * w.row_sum[j];
  }

  const std::int64_t col_groups = (panels + P::kNP8 - 1) / P::kNP8;
  const std::int64_t row_chunks = (m + kRowChunk - 1) / kRowChunk;
  kiln::parallel_for(0, row_chunks * col_groups, 1, [&](std::int64_t u0, std::int64_t u1) {
    alignas(64) std::int32_t tile[P::kMR8 * kTileCols];
    for (std::int64_t u = u0; u < u1; ++u) {
      const std::int64_t chunk = u / col_groups, cg = u % col_groups;
      const std::int64_t p0 = cg * P::kNP8, np = std::min<std::int64_t>(P::kNP8, panels - p0);
      const std::int64_t n0 = p0 * kPanelRows, cols = std::min(np * kPanelRows, w.n - n0);
      const std::int64_t r_end = std::min(m, (chunk + 1) * kRowChunk);
      for (std::int64_t i0 = chunk * kRowChunk; i0 < r_end; i0 += P::kMR8) {
        const std::int64_t mr = std::min<std::int64_t>(P::kMR8, r_end - i0);
        (np == 2 ? two : one)[mr - 1](ap + i0 * ap_ld, ap_ld, groups, w.packed + p0 * panel_stride, panel_stride,
                                      tile);
        if constexpr (P::kXorA)  // undo the +128: subtract 128 * sum_k w[n, k]
          for (std::int64_t i = 0; i < mr; ++i)
            for (std::int64_t j = 0; j < np * kPanelRows; j += P::kLanes)
              P::storei(tile + i * kTileCols + j, P::sub(P::loadi(tile + i * kTileCols + j), P::loadi(&comp[n0 + j])));
        sink(i0, mr, n0, cols, tile);
      }
    }
  });
}

void simd_gemm_s8_s32(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Int8Weights& w,
                      std::int32_t* c, std::int64_t ldc) {
  run_s8(m, a, lda, w, [&](std::int64_t i0, std::int64_t mr, std::int64_t n0, std::int64_t cols,
                           const std::int32_t* tile) {
    for (std::int64_t i = 0; i < mr; ++i)
      for (std::int64_t j = 0; j < cols; ++j) c[(i0 + i) * ldc + n0 + j] = tile[i * kTileCols + j];
  });
}

// The output stage over one tile row, kLanes columns at a time: the same float
// operations as finish_int8 / finish_q4, in the same order (see quant_kernels.hpp).
inline VF relu_if(VF y, bool relu) { return relu ? P::maxf(y, P::zerof()) : y; }


void simd_gemm_s8(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Int8Weights& w, const Output& out) {
  run_s8(m, a, lda, w, [&](std::int64_t i0, std::int64_t mr, std::int64_t n0, std::int64_t cols,
                           const std::int32_t* tile) {
    for (std::int64_t i = 0; i < mr; ++i) {
      float* y = out.y + (i0 + i) * out.ldy;
      const float sa = out.a_scale[i0 + i];
      const VF vsa = P::set1f(sa);
      std::int64_t j = 0;
      for (; j + P::kLanes <= cols; j += P::kLanes) {
        const VF s = P::mulf(vsa, P::loadf(w.scale + n0 + j));
        VF v = P::mulf(P::to_float(P::loadi(tile + i * kTileCols + j)), s);
        if (out.bias) v = P::addf(v, P::loadf(out.bias + n0 + j));
        P::storef(y + n0 + j, relu_if(v, out.relu));
      }
      for (; j < cols; ++j)
        y[n0 + j] = finish_int8(tile[i * kTileCols + j], sa, w.scale[n0 + j], out, n0 + j);
    }
  });
}

// ---- int8 x 4-bit --------------------------------------------------------------
template <int MR, int NP>
void tile_q4(const std::int8_t* a, std::int64_t lda, std::int64_t blocks, const std::uint8_t* w,
             std::int64_t panel_stride, const float* sc, std::int64_t scale_stride, const std::int32_t* asum,
             float* out) {
  VF accf[MR][NP * kVecs];
  for (auto& row : accf)
    for (auto& v : row) v = P::zerof();
  for (std::int64_t b = 0; b < blocks; ++b) {
    VI acc[MR][NP * kVecs];
    for (auto& row : acc)
      for (auto& v : row) v = P::zero();
    for (int piece = 0; piece < 4; ++piece) {
      VI lo[NP * kVecs], hi[NP * kVecs];
      for (int p = 0; p < NP; ++p)
        for (int v = 0; v < kVecs; ++v) {
          const VI x = P::load(w + p * panel_stride + b * 256 + piece * 64 + v * P::kLanes * 4);
          lo[p * kVecs + v] = P::lo_nibbles(x);
          hi[p * kVecs + v] = P::hi_nibbles(x);
        }
      for (int i = 0; i < MR; ++i) {
        const std::int8_t* ai = a + i * lda + b * kiln::quant::kQ4Group + piece * 8;
        const VI a0 = P::bcast4(ai), a1 = P::bcast4(ai + 4);
        for (int j = 0; j < NP * kVecs; ++j) acc[i][j] = P::dot_u4(P::dot_u4(acc[i][j], lo[j], a0), hi[j], a1);
      }
    }
    for (int i = 0; i < MR; ++i) {
      const VI offset = P::set1(8 * asum[i * blocks + b]);  // the nibbles hold w + 8
      for (int p = 0; p < NP; ++p)
        for (int v = 0; v < kVecs; ++v) {
          const VF s = P::loadf(sc + p * scale_stride + b * kPanelRows + v * P::kLanes);
          const int j = p * kVecs + v;
          accf[i][j] = P::fmadd(P::to_float(P::sub(acc[i][j], offset)), s, accf[i][j]);
        }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP * kVecs; ++j) P::storef(out + i * kTileCols + j * P::kLanes, accf[i][j]);
}

// Sum of 32 int8 values (both files that include this one compile with AVX2).
inline std::int32_t sum32(const std::int8_t* x) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
  const __m256i quads = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  __m128i v = _mm_add_epi32(_mm256_castsi256_si128(quads), _mm256_extracti128_si256(quads, 1));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
  return _mm_cvtsi128_si32(v);
}

using TileQ4 = void (*)(const std::int8_t*, std::int64_t, std::int64_t, const std::uint8_t*, std::int64_t,
                        const float*, std::int64_t, const std::int32_t*, float*);

template <int NP, int... I>
constexpr std::array<TileQ4, sizeof...(I)> tiles_q4(std::integer_sequence<int, I...>) {
  return {&tile_q4<I + 1, NP>...};
}

void simd_gemm_q4(std::int64_t m, const std::int8_t* a, std::int64_t lda, const Q4Weights& w, const Output& out) {
  static constexpr auto one = tiles_q4<1>(std::make_integer_sequence<int, P::kMR4>{});
  static constexpr auto two = tiles_q4<P::kNP4 == 2 ? 2 : 1>(std::make_integer_sequence<int, P::kMR4>{});
  const std::int64_t blocks = w.k / kiln::quant::kQ4Group, panels = panel_count(w.n);
  const std::int64_t panel_stride = blocks * 256, scale_stride = blocks * kPanelRows;

  std::vector<std::int32_t> asum(static_cast<std::size_t>(m * blocks));  // sum of each block of a
  kiln::parallel_for(0, m, 64, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r)
      for (std::int64_t b = 0; b < blocks; ++b) asum[r * blocks + b] = sum32(a + r * lda + b * kiln::quant::kQ4Group);
  });

  const std::int64_t col_groups = (panels + P::kNP4 - 1) / P::kNP4;
  const std::int64_t row_chunks = (m + kRowChunk - 1) / kRowChunk;
  kiln::parallel_for(0, row_chunks * col_groups, 1, [&](std::int64_t u0, std::int64_t u1) {
    alignas(64) float tile[P::kMR4 * kTileCols];
    for (std::int64_t u = u0; u < u1; ++u) {
      const std::int64_t chunk = u / col_groups, cg = u % col_groups;
      const std::int64_t p0 = cg * P::kNP4, np = std::min<std::int64_t>(P::kNP4, panels - p0);
      const std::int64_t n0 = p0 * kPanelRows, cols = std::min(np * kPanelRows, w.n - n0);
      const std::int64_t r_end = std::min(m, (chunk + 1) * kRowChunk);
      for (std::int64_t i0 = chunk * kRowChunk; i0 < r_end; i0 += P::kMR4) {
        const std::int64_t mr = std::min<std::int64_t>(P::kMR4, r_end - i0);
        (np == 2 ? two : one)[mr - 1](a + i0 * lda, lda, blocks, w.packed + p0 * panel_stride, panel_stride,
                                      w.packed_scale + p0 * scale_stride, scale_stride, asum.data() + i0 * blocks,
                                      tile);
        for (std::int64_t i = 0; i < mr; ++i) {
          float* y = out.y + (i0 + i) * out.ldy;
          const VF vsa = P::set1f(out.a_scale[i0 + i]);
          std::int64_t j = 0;
          for (; j + P::kLanes <= cols; j += P::kLanes) {
            VF v = P::mulf(P::loadf(tile + i * kTileCols + j), vsa);
            if (out.bias) v = P::addf(v, P::loadf(out.bias + n0 + j));
            P::storef(y + n0 + j, relu_if(v, out.relu));
          }
          for (; j < cols; ++j)
            y[n0 + j] = finish_q4(tile[i * kTileCols + j], out.a_scale[i0 + i], out, n0 + j);
        }
      }
    }
  });
}

// ---- activation quantization -------------------------------------------------------
void simd_quantize_static(std::int64_t n, const float* x, float inv_scale, std::int8_t* q) {
  P::quantize_span(n, x, inv_scale, q);
}

void simd_quantize_rows(std::int64_t rows, std::int64_t k, const float* x, std::int64_t ldx, std::int8_t* q,
                        std::int64_t ldq, float* scale) {
  kiln::parallel_for(0, rows, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(k, 1)),
                     [&](std::int64_t r0, std::int64_t r1) {
                       for (std::int64_t r = r0; r < r1; ++r) {
                         const float amax = P::max_abs(k, x + r * ldx);
                         scale[r] = kiln::quant::int8_scale_for(amax);
                         P::quantize_span(k, x + r * ldx, amax > 0.0f ? 127.0f / amax : 0.0f, q + r * ldq);
                       }
                     });
}

void fill_simd(QuantKernels& t) {
  t.gemm_s8_s32 = simd_gemm_s8_s32;
  t.gemm_s8 = simd_gemm_s8;
  t.gemm_q4 = simd_gemm_q4;
  t.quantize_rows = simd_quantize_rows;
  t.quantize_static = simd_quantize_static;
}
