// Medians of 15 runs of the newer ops against a peer in the same run: erf's, lgamma's and
// digamma's vector kernels against exp's, randn against rand, einsum against the matmul it becomes,
// scatter_reduce's amax against scatter_add, the running products, extremes and
// log-sum-exps against cumsum's line walk, and solve, inv, cholesky, qr, eigh and svd against
// Eigen's PartialPivLU, LLT, HouseholderQR, SelfAdjointEigenSolver and JacobiSVD / BDCSVD on the same
// float64 matrices (when built with Eigen). Usage: ./build/bench/ops_timer
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "kiln/kiln.hpp"

#if KILN_BENCH_EIGEN
#include <Eigen/Dense>
#endif

using namespace kiln;

namespace {
template <class F>
double median_ms(F f) {
  std::vector<double> times;
  for (int r = 0; r < 15; ++r) {
    const auto start = std::chrono::steady_clock::now();
    f();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}
}  // namespace

int main() {
  manual_seed(1);
  const Tensor x = randn({1 << 20});
  std::printf("exp, 1M float32 (vector kernel): %.3f ms\n", median_ms([&] { exp(x); }));
  std::printf("erf, 1M float32 (vector kernel): %.3f ms\n", median_ms([&] { erf(x); }));
  // (with KILN_CPU_ISA=scalar: the reference loops, std::lgamma and digamma in double)
  std::printf("lgamma, 1M float32 (vector kernel): %.3f ms\n", median_ms([&] { lgamma(x); }));
  std::printf("digamma, 1M float32 (vector kernel): %.3f ms\n", median_ms([&] { digamma(x); }));
  const Tensor positive = abs(x) * 20.0;  // as counts in a likelihood: no reflection
  std::printf("lgamma, the same made positive: %.3f ms\n", median_ms([&] { lgamma(positive); }));
  std::printf("digamma, the same made positive: %.3f ms\n", median_ms([&] { digamma(positive); }));
  std::printf("randn, 2M float32: %.3f ms\n", median_ms([&] { randn({1 << 21}); }));
  std::printf("rand, the same (its peer: one draw per value, no transform): %.3f ms\n",
              median_ms([&] { rand({1 << 21}); }));
  const Tensor a = randn({32, 128, 128}), b = randn({32, 128, 128});
  std::printf("matmul, (32, 128, 128) x (32, 128, 128): %.3f ms\n", median_ms([&] { matmul(a, b); }));
  std::printf("einsum bij,bjk->bik, the same: %.3f ms\n", median_ms([&] { einsum("bij,bjk->bik", {a, b}); }));
  const Tensor src = randn({100000, 16}), zero = zeros({5000, 16});
  const Tensor index = randint(0, 5000, {100000, 1}).expand({100000, 16}).contiguous();
  std::printf("scatter_add, 100k x 16 into 5k rows: %.3f ms\n",
              median_ms([&] { scatter_add(zero, 0, index, src); }));
  std::printf("scatter_reduce amax, the same: %.3f ms\n",
              median_ms([&] { scatter_reduce(zero, 0, index, src, ScatterReduce::amax, false); }));

  const Tensor lines = randn({1024, 1024}) * 0.01 + 1.0;
  for (const std::int64_t dim : {0, 1}) {
    std::printf("cumsum, (1024, 1024) along dim %ld: %.3f ms\n", static_cast<long>(dim),
                median_ms([&] { cumsum(lines, dim); }));
    std::printf("cumprod, the same: %.3f ms\n", median_ms([&] { cumprod(lines, dim); }));
    std::printf("cummax, the same: %.3f ms\n", median_ms([&] { cummax(lines, dim); }));
    std::printf("logcumsumexp, the same: %.3f ms\n", median_ms([&] { logcumsumexp(lines, dim); }));
  }

  // solve on (batch, n, n) float64 systems with one right-hand side each.
  for (const auto& size : {std::pair<std::int64_t, std::int64_t>{4096, 8}, {64, 64}, {1, 512}}) {
    const std::int64_t batch = size.first, n = size.second;
    const Tensor a = randn({batch, n, n}, kFloat64) + eye(n, -1, kFloat64) * static_cast<double>(n);
    const Tensor rhs = randn({batch, n, 1}, kFloat64);
    std::printf("solve, %ld systems of %ld x %ld: %.3f ms\n", static_cast<long>(batch), static_cast<long>(n),
                static_cast<long>(n), median_ms([&] { solve(a, rhs); }));
#if KILN_BENCH_EIGEN
    using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const std::vector<double> av = a.to_vector<double>(), bv = rhs.to_vector<double>();
    std::vector<double> out(static_cast<std::size_t>(batch * n));
    std::printf("  Eigen PartialPivLU, one system after another: %.3f ms\n", median_ms([&] {
                  for (std::int64_t i = 0; i < batch; ++i) {
                    const Eigen::Map<const Matrix> m(av.data() + i * n * n, n, n);
                    const Eigen::Map<const Eigen::VectorXd> v(bv.data() + i * n, n);
                    Eigen::Map<Eigen::VectorXd>(out.data() + i * n, n) = m.partialPivLu().solve(v);
                  }
                }));
#endif
  }

  // inv of one 512 x 512 float64 matrix: the factorisation, then 512 right-hand sides.
  {
    const Tensor a = randn({512, 512}, kFloat64) + eye(512, -1, kFloat64) * 5.0;
    std::printf("inv, one of 512 x 512: %.3f ms\n", median_ms([&] { inv(a); }));
#if KILN_BENCH_EIGEN
    using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const std::vector<double> av = a.to_vector<double>();
    const Eigen::Map<const Matrix> m(av.data(), 512, 512);
    Matrix out;
    std::printf("  Eigen PartialPivLU inverse: %.3f ms\n",
                median_ms([&] { out = m.partialPivLu().inverse(); }));
#endif
  }

  // cholesky of one 512 x 512 symmetric positive definite float64 matrix.
  {
    const Tensor half = randn({512, 512}, kFloat64);
    const Tensor spd = matmul(half, half.t()) + eye(512, -1, kFloat64) * 512.0;
    std::printf("cholesky, one of 512 x 512: %.3f ms\n", median_ms([&] { cholesky(spd); }));
#if KILN_BENCH_EIGEN
    using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const std::vector<double> sv = spd.to_vector<double>();
    const Eigen::Map<const Matrix> m(sv.data(), 512, 512);
    Matrix out;
    std::printf("  Eigen LLT: %.3f ms\n", median_ms([&] { out = m.llt().matrixL(); }));
#endif
  }

  // qr of (256, 32, 16) and eigh of (256, 16, 16) float64 matrices, Eigen's HouseholderQR
  // (with Q formed) and SelfAdjointEigenSolver one after another as the peers.
  const Tensor tall = randn({256, 32, 16}, kFloat64), sym_half = randn({256, 16, 16}, kFloat64);
  const Tensor sym = sym_half + sym_half.transpose(-2, -1);
  std::printf("qr, 256 matrices of 32 x 16: %.3f ms\n", median_ms([&] { qr(tall); }));
#if KILN_BENCH_EIGEN
  {
    using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const std::vector<double> tv = tall.to_vector<double>();
    double keep = 0;
    std::printf("  Eigen HouseholderQR and its thin Q, one after another: %.3f ms\n", median_ms([&] {
                  for (std::int64_t i = 0; i < 256; ++i) {
                    const Eigen::Map<const Matrix> m(tv.data() + i * 32 * 16, 32, 16);
                    const Eigen::HouseholderQR<Matrix> f(m);
                    const Matrix q = f.householderQ() * Matrix::Identity(32, 16);
                    keep += q(0, 0) + f.matrixQR()(0, 0);
                  }
                }));
    if (keep == 1234.5) std::printf("\n");
  }
#endif
  std::printf("eigh, 256 symmetric matrices of 16 x 16: %.3f ms\n", median_ms([&] { eigh(sym); }));
#if KILN_BENCH_EIGEN
  {
    using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const std::vector<double> sv = sym.to_vector<double>();
    double keep = 0;
    std::printf("  Eigen SelfAdjointEigenSolver, one after another: %.3f ms\n", median_ms([&] {
                  for (std::int64_t i = 0; i < 256; ++i) {
                    const Eigen::Map<const Matrix> m(sv.data() + i * 16 * 16, 16, 16);
                    const Eigen::SelfAdjointEigenSolver<Matrix> e(m);
                    keep += e.eigenvalues()(0) + e.eigenvectors()(0, 0);
                  }
                }));
    if (keep == 1234.5) std::printf("\n");
  }
#endif
  std::printf("svd, 256 matrices of 32 x 16: %.3f ms\n", median_ms([&] { svd(tall); }));
#if KILN_BENCH_EIGEN
  {
    using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const std::vector<double> tv = tall.to_vector<double>();
    double keep = 0;
    std::printf("  Eigen JacobiSVD (thin U and V), one after another: %.3f ms\n", median_ms([&] {
                  for (std::int64_t i = 0; i < 256; ++i) {
                    const Eigen::Map<const Matrix> m(tv.data() + i * 32 * 16, 32, 16);
                    const Eigen::JacobiSVD<Matrix> f(m, Eigen::ComputeThinU | Eigen::ComputeThinV);
                    keep += f.singularValues()(0) + f.matrixU()(0, 0) + f.matrixV()(0, 0);
                  }
                }));
    std::printf("  Eigen BDCSVD (thin U and V), one after another: %.3f ms\n", median_ms([&] {
                  for (std::int64_t i = 0; i < 256; ++i) {
                    const Eigen::Map<const Matrix> m(tv.data() + i * 32 * 16, 32, 16);
                    const Eigen::BDCSVD<Matrix> f(m, Eigen::ComputeThinU | Eigen::ComputeThinV);
                    keep += f.singularValues()(0) + f.matrixU()(0, 0) + f.matrixV()(0, 0);
                  }
                }));
    if (keep == 1234.5) std::printf("\n");
  }
#endif
}
