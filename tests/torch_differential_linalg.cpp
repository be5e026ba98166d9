// The differential test against PyTorch, continued: solve, inv, det, slogdet, cholesky,
// solve_triangular, qr, eigh, lstsq, svd, pinv, matrix_rank and the functions of matrices
// (logdet ... corrcoef) on random batches of small matrices, against torch's. kiln
// factors float32 matrices in float64 and rounds the result once, so torch runs in float64
// there too (its float32 factorisation loses digits as the condition number grows: the
// gradient of det on 8 x 8 matrices was 3e-4 off).
#include "torch_differential.hpp"

using namespace differential;

TEST_CASE("torch differential: solve, inv, det, slogdet, cholesky, solve_triangular") {
  in_both_precisions(72, 120, [] {
    const std::int64_t n = irand(1, single ? 8 : 5), k = irand(1, 3);
    const Sizes batch = random_shape(0, 2, 3);
    Sizes sa = batch, sb = batch, sv = batch;
    sa.insert(sa.end(), {n, n});
    sb.insert(sb.end(), {n, k});
    sv.push_back(n);
    // torch's side in float64, cast back to the inputs' float32 where `single`.
    const auto wide = [](const TT& t) { return single ? t.to(torch::kDouble) : t; };
    const auto back = [](const TT& t) { return single ? t.to(torch::kFloat) : t; };
    // Far from singular: entries in [-2, 2) plus n on the diagonal.
    const auto shift_k = [n](const KT& a) {
      return a + kiln::eye(n, -1, a.dtype()) * static_cast<double>(n);
    };
    const auto shift_t = [n](const TT& a) { return a + torch::eye(n, a.options()) * static_cast<double>(n); };
    compare(
        "solve", {leaf(sa), leaf(sb)}, [&](const auto& a) { return kiln::solve(shift_k(a[0]), a[1]); },
        [&](const auto& a) { return back(torch::linalg_solve(shift_t(wide(a[0])), wide(a[1]))); });
    compare(
        "solve, a batch of vectors", {leaf(sa), leaf(sv)},
        [&](const auto& a) { return kiln::solve(shift_k(a[0]), a[1]); },
        [&](const auto& a) { return back(torch::linalg_solve(shift_t(wide(a[0])), wide(a[1]))); });
    compare(
        "inv", {leaf(sa)}, [&](const auto& a) { return kiln::inv(shift_k(a[0])); },
        [&](const auto& a) { return back(torch::linalg_inv(shift_t(wide(a[0])))); });
    // Any sign: entries in [-2, 2) plus n / 2 on the diagonal, or minus.
    const double diagonal = coin() ? 0.5 : -0.5;
    const auto mixed_k = [=](const KT& a) { return a + kiln::eye(n, -1, a.dtype()) * (diagonal * n); };
    const auto mixed_t = [=](const TT& a) { return a + torch::eye(n, a.options()) * (diagonal * n); };
    compare(
        "det", {leaf(sa)}, [&](const auto& a) { return kiln::det(mixed_k(a[0])); },
        [&](const auto& a) { return back(torch::linalg_det(mixed_t(wide(a[0])))); });
    compare(
        "slogdet logabsdet", {leaf(sa)},
        [&](const auto& a) { return kiln::slogdet(mixed_k(a[0])).logabsdet; },
        [&](const auto& a) { return back(std::get<1>(torch::linalg_slogdet(mixed_t(wide(a[0]))))); });
    compare(
        "slogdet sign", {leaf(sa, -2, 2, false)},
        [&](const auto& a) { return kiln::slogdet(mixed_k(a[0])).sign; },
        [&](const auto& a) { return back(std::get<0>(torch::linalg_slogdet(mixed_t(wide(a[0]))))); }, false);
    const bool upper = coin(), left = coin(), unit = coin();
    compare(
        "cholesky", {leaf(sa)},
        [&](const auto& a) {
          return kiln::cholesky(shift_k(kiln::matmul(a[0], a[0].transpose(-2, -1))), upper);
        },
        [&](const auto& a) {
          return back(torch::linalg_cholesky(shift_t(torch::matmul(wide(a[0]), wide(a[0]).transpose(-2, -1))),
                                             upper));
        });
    Sizes st = batch;
    st.insert(st.end(), {left ? n : k, left ? k : n});
    compare(
        "solve_triangular", {leaf(sa), leaf(st)},
        [&](const auto& a) { return kiln::solve_triangular(shift_k(a[0]), a[1], upper, left, unit); },
        [&](const auto& a) {
          return back(torch::linalg_solve_triangular(shift_t(wide(a[0])), wide(a[1]), upper, left, unit));
        });
  });
}

TEST_CASE("torch differential: qr, eigh, eigvalsh, lstsq") {
  in_both_precisions(73, 120, [] {
    const auto wide = [](const TT& t) { return single ? t.to(torch::kDouble) : t; };
    const auto back = [](const TT& t) { return single ? t.to(torch::kFloat) : t; };
    const std::int64_t m = irand(1, single ? 8 : 5), n = irand(1, single ? 8 : 5);
    Sizes sa = random_shape(0, 2, 3), sq = sa;
    sa.insert(sa.end(), {m, n});
    sq.insert(sq.end(), {n, n});
    // Both sides use LAPACK's signs for R's diagonal, so Q and R compare as they are.
    compare(
        "qr q", {leaf(sa)}, [&](const auto& a) { return kiln::qr(a[0]).q; },
        [&](const auto& a) { return back(std::get<0>(torch::linalg_qr(wide(a[0])))); });
    compare(
        "qr r", {leaf(sa)}, [&](const auto& a) { return kiln::qr(a[0]).r; },
        [&](const auto& a) { return back(std::get<1>(torch::linalg_qr(wide(a[0])))); });
    // eigh on X + X^T (torch reads the lower triangle too). torch's eigenvectors take
    // LAPACK's signs: turn each so that its largest entry is positive, as kiln's.
    compare(
        "eigh eigenvalues", {leaf(sq)},
        [&](const auto& a) { return kiln::eigh(a[0] + a[0].transpose(-2, -1)).eigenvalues; },
        [&](const auto& a) {
          const TT x = wide(a[0]);
          return back(std::get<0>(torch::linalg_eigh(x + x.transpose(-2, -1))));
        });
    compare(
        "eigh eigenvectors", {leaf(sq)},
        [&](const auto& a) { return kiln::eigh(a[0] + a[0].transpose(-2, -1)).eigenvectors; },
        [&](const auto& a) {
          const TT x = wide(a[0]);
          const TT v = std::get<1>(torch::linalg_eigh(x + x.transpose(-2, -1)));
          const TT largest = v.gather(-2, v.detach().abs().argmax(-2, true));
          return back(v * largest.detach().sign());
        });
    compare(
        "eigvalsh", {leaf(sq)}, [&](const auto& a) { return kiln::eigvalsh(a[0] + a[0].transpose(-2, -1)); },
        [&](const auto& a) {
          const TT x = wide(a[0]);
          return back(torch::linalg_eigvalsh(x + x.transpose(-2, -1)));
        });
    // lstsq on a tall system (rows >= columns).
    const std::int64_t rows = std::max(m, n), k = irand(1, 3);
    Sizes st = sa, sb = sa;
    st[st.size() - 2] = rows;
    sb[sb.size() - 2] = rows;
    sb.back() = k;
    compare(
        "lstsq", {leaf(st), leaf(sb)}, [&](const auto& a) { return kiln::lstsq(a[0], a[1]); },
        [&](const auto& a) { return back(std::get<0>(torch::linalg_lstsq(wide(a[0]), wide(a[1])))); });
  });
}

TEST_CASE("torch differential: svd, svdvals, pinv, matrix_rank") {
  in_both_precisions(74, 120, [] {
    const auto wide = [](const TT& t) { return single ? t.to(torch::kDouble) : t; };
    const auto back = [](const TT& t) { return single ? t.to(torch::kFloat) : t; };
    const std::int64_t m = irand(1, single ? 8 : 5), n = irand(1, single ? 8 : 5);
    Sizes sa = random_shape(0, 2, 3);
    sa.insert(sa.end(), {m, n});
    // torch's singular vectors take LAPACK's signs: turn each pair so that U's column has its
    // largest entry positive, as kiln's.
    const auto torch_svd = [&](const TT& a) {
      auto [u, sv, vh] = torch::linalg_svd(wide(a), false);
      const TT sign = u.gather(-2, u.detach().abs().argmax(-2, true)).detach().sign();
      return std::make_tuple(u * sign, sv, vh * sign.transpose(-2, -1));
    };
    compare(
        "svd u", {leaf(sa)}, [&](const auto& a) { return kiln::svd(a[0]).u; },
        [&](const auto& a) { return back(std::get<0>(torch_svd(a[0]))); });
    compare(
        "svd s", {leaf(sa)}, [&](const auto& a) { return kiln::svd(a[0]).s; },
        [&](const auto& a) { return back(std::get<1>(torch_svd(a[0]))); });
    compare(
        "svd vh", {leaf(sa)}, [&](const auto& a) { return kiln::svd(a[0]).vh; },
        [&](const auto& a) { return back(std::get<2>(torch_svd(a[0]))); });
    compare(
        "svdvals", {leaf(sa)}, [&](const auto& a) { return kiln::svdvals(a[0]); },
        [&](const auto& a) { return back(torch::linalg_svdvals(wide(a[0]))); });
    compare(
        "pinv", {leaf(sa)}, [&](const auto& a) { return kiln::pinv(a[0]); },
        [&](const auto& a) { return back(torch::linalg_pinv(wide(a[0]))); });
    // A product of rank r <= min(m, n): both count r.
    const std::int64_t r = irand(0, std::min(m, n));
    Sizes sl = sa, sr = sa;
    sl.back() = r;
    sr[sr.size() - 2] = r;
    const Both left = leaf(sl, -2, 2, false), right = leaf(sr, -2, 2, false);
    compare(
        "matrix_rank", {}, [&](const auto&) { return kiln::matrix_rank(kiln::matmul(left.k, right.k)); },
        [&](const auto&) { return torch::linalg_matrix_rank(torch::matmul(left.t, right.t)); }, false);
  });
}

TEST_CASE(
    "torch differential: logdet, matrix_power, matrix_exp, matrix_norm, cond, kron, tensordot, cross, cov") {
  in_both_precisions(75, 120, [] {
    const auto wide = [](const TT& t) { return single ? t.to(torch::kDouble) : t; };
    const auto back = [](const TT& t) { return single ? t.to(torch::kFloat) : t; };
    const std::int64_t n = irand(1, single ? 6 : 4), m = irand(1, single ? 6 : 4);
    Sizes sq = random_shape(0, 2, 3), sa = sq;
    sq.insert(sq.end(), {n, n});
    sa.insert(sa.end(), {m, n});
    const auto shift_k = [n](const KT& a) {
      return a + kiln::eye(n, -1, a.dtype()) * static_cast<double>(n);
    };
    const auto shift_t = [n](const TT& a) { return a + torch::eye(n, a.options()) * static_cast<double>(n); };
    compare(
        "logdet", {leaf(sq)}, [&](const auto& a) { return kiln::logdet(shift_k(a[0])); },
        [&](const auto& a) { return back(torch::logdet(shift_t(wide(a[0])))); });
    const std::int64_t k = irand(-3, 5);
    compare(
        "matrix_power", {leaf(sq)}, [&](const auto& a) { return kiln::matrix_power(shift_k(a[0]) / n, k); },
        [&](const auto& a) { return torch::linalg_matrix_power(shift_t(a[0]) / n, k); });
    const double scale = unif(0.1, 4);
    compare(
        "matrix_exp", {leaf(sq)}, [&](const auto& a) { return kiln::matrix_exp(a[0] * scale); },
        [&](const auto& a) { return back(torch::linalg_matrix_exp(wide(a[0]) * scale)); });
    const std::int64_t which = irand(0, 7);
    const double orders[] = {2, -2, 1, -1, INFINITY, -INFINITY};
    compare(
        "matrix_norm", {leaf(sa)},
        [&](const auto& a) {
          return which == 6   ? kiln::matrix_norm(a[0], "fro")
                 : which == 7 ? kiln::matrix_norm(a[0], "nuc")
                              : kiln::matrix_norm(a[0], orders[which]);
        },
        [&](const auto& a) {
          const TT x = wide(a[0]);
          return back(which == 6   ? torch::linalg_matrix_norm(x, "fro")
                      : which == 7 ? torch::linalg_matrix_norm(x, "nuc")
                                   : torch::linalg_matrix_norm(x, orders[which]));
        });
    compare(
        "cond", {leaf(sa)}, [&](const auto& a) { return kiln::cond(a[0]); },
        [&](const auto& a) { return back(torch::linalg_cond(wide(a[0]))); }, true, 1e-7);
    compare(
        "cond 1", {leaf(sq)}, [&](const auto& a) { return kiln::cond(shift_k(a[0]), 1.0); },
        [&](const auto& a) { return back(torch::linalg_cond(shift_t(wide(a[0])), 1)); });
    compare(
        "kron", {leaf(random_shape(0, 3, 3)), leaf(random_shape(0, 3, 3))},
        [&](const auto& a) { return kiln::kron(a[0], a[1]); },
        [&](const auto& a) { return torch::kron(a[0], a[1]); });
    compare(
        "tensordot", {leaf({2, n, m}), leaf({m, 3, n})},
        [&](const auto& a) {
          return kiln::tensordot(a[0], a[1], {1, 2}, {2, 0});
        },
        [&](const auto& a) {
          return torch::tensordot(a[0], a[1], {1, 2}, {2, 0});
        });
    Sizes s3 = random_shape(1, 3, 4);
    const std::int64_t d3 = irand(0, static_cast<std::int64_t>(s3.size()) - 1);
    s3[static_cast<std::size_t>(d3)] = 3;
    compare(
        "cross", {leaf(s3), leaf(s3)}, [&](const auto& a) { return kiln::cross(a[0], a[1], d3); },
        [&](const auto& a) { return torch::linalg_cross(a[0], a[1], d3); });
    const Sizes so = {irand(1, 4), irand(2, 9)};
    compare(
        "cov", {leaf(so)}, [&](const auto& a) { return kiln::cov(a[0]); },
        [&](const auto& a) { return torch::cov(a[0]); });
    compare(
        "corrcoef", {leaf(so)}, [&](const auto& a) { return kiln::corrcoef(a[0]); },
        [&](const auto& a) { return torch::corrcoef(a[0]); });
  });
}

TEST_CASE("torch differential: weight_norm and spectral_norm's weights") {
  in_both_precisions(76, 60, [] {
    const Sizes s = random_shape(1, 4, 4);
    const std::int64_t rank = static_cast<std::int64_t>(s.size());
    // torch spells "the norm of all of v" dim = -1; kiln, nullopt.
    const std::int64_t dim = irand(-1, rank - 1);
    const std::optional<std::int64_t> kdim = dim < 0 ? std::nullopt : std::optional<std::int64_t>(dim);
    Sizes sg(s.size(), 1);
    if (dim >= 0) sg[static_cast<std::size_t>(dim)] = s[static_cast<std::size_t>(dim)];
    if (dim < 0) sg.clear();
    compare(
        "weight_norm dim " + std::to_string(dim), {leaf(s), leaf(sg, 0.2, 2)},
        [&](const auto& a) { return kiln::nn::weight_norm_weight(a[0], a[1], kdim); },
        [&](const auto& a) { return torch::_weight_norm(a[0], a[1], dim); });

    // torch.nn.utils.spectral_norm's computation, step for step, from the same u and v.
    const std::int64_t sdim = irand(0, rank - 1), steps = irand(0, 3);
    const std::int64_t h = s[static_cast<std::size_t>(sdim)], w = numel(s) / h;
    const Both u = leaf({h}, -1, 1, false), v = leaf({w}, -1, 1, false);
    const double eps = 1e-12;
    compare(
        "spectral_norm dim " + std::to_string(sdim) + ", " + std::to_string(steps) + " steps", {leaf(s)},
        [&](const auto& a) {
          KT uk = kiln::normalize(u.k, 2, 0), vk = kiln::normalize(v.k, 2, 0);
          return kiln::nn::spectral_norm_weight(a[0], uk, vk, sdim, steps, eps);
        },
        [&](const auto& a) {
          std::vector<std::int64_t> order{sdim};
          for (std::int64_t i = 0; i < rank; ++i)
            if (i != sdim) order.push_back(i);
          const TT mat = a[0].permute(order).reshape({h, -1});
          TT ut = F::normalize(u.t, F::NormalizeFuncOptions().dim(0).eps(eps));
          TT vt = F::normalize(v.t, F::NormalizeFuncOptions().dim(0).eps(eps));
          {
            torch::NoGradGuard no_grad;
            for (std::int64_t i = 0; i < steps; ++i) {
              vt = F::normalize(torch::mv(mat.t(), ut), F::NormalizeFuncOptions().dim(0).eps(eps));
              ut = F::normalize(torch::mv(mat, vt), F::NormalizeFuncOptions().dim(0).eps(eps));
            }
          }
          return a[0] / torch::dot(ut, torch::mv(mat, vt));
        });
  });
}

TEST_CASE("torch differential: lu_factor, lu_solve, lu, cholesky_solve, cholesky_inverse") {
  in_both_precisions(77, 80, [] {
    const auto wide = [](const TT& t) { return single ? t.to(torch::kDouble) : t; };
    const auto back = [](const TT& t) { return single ? t.to(torch::kFloat) : t; };
    const std::int64_t n = irand(1, single ? 7 : 5), k = irand(1, 3);
    Sizes sa = random_shape(0, 2, 3), sb = sa;
    sa.insert(sa.end(), {n, n});
    sb.insert(sb.end(), {n, k});
    const auto shift_k = [n](const KT& a) { return a + kiln::eye(n, -1, a.dtype()) * 0.5; };
    const auto shift_t = [n](const TT& a) { return a + torch::eye(n, a.options()) * 0.5; };
    compare(
        "lu_factor", {leaf(sa)}, [&](const auto& a) { return kiln::lu_factor(shift_k(a[0])).lu; },
        [&](const auto& a) { return back(std::get<0>(torch::linalg_lu_factor(shift_t(wide(a[0]))))); }, true,
        1e-8);
    const Both a = leaf(sa, -2, 2, false);
    compare(
        "lu_factor pivots", {}, [&](const auto&) { return kiln::lu_factor(a.k).pivots.to(kiln::kFloat64); },
        [&](const auto&) { return std::get<1>(torch::linalg_lu_factor(wide(a.t))).to(torch::kDouble); },
        false);
    for (const int part : {0, 1, 2})
      compare(
          "lu " + std::to_string(part), {leaf(sa)},
          [&](const auto& x) {
            const kiln::PLU d = kiln::lu(shift_k(x[0]));
            return part == 0 ? d.p : part == 1 ? d.l : d.u;
          },
          [&](const auto& x) {
            const auto d = torch::linalg_lu(shift_t(wide(x[0])));
            return back(part == 0 ? std::get<0>(d) : part == 1 ? std::get<1>(d) : std::get<2>(d));
          },
          true, 1e-8);
    // lu_solve from the same factorisation (torch's, widened), gradients to LU and B.
    const auto factored = torch::linalg_lu_factor(shift_t(wide(a.t)));
    // (LAPACK's factors come back column-major: one contiguous copy of each.)
    const TT lu_t = std::get<0>(factored).contiguous(), pivots_t = std::get<1>(factored).contiguous();
    const std::vector<double> lu_values(lu_t.data_ptr<double>(), lu_t.data_ptr<double>() + numel(sa));
    const KT pivots_k =
        kiln::from_vector(std::vector<std::int32_t>(pivots_t.data_ptr<std::int32_t>(),
                                                    pivots_t.data_ptr<std::int32_t>() + pivots_t.numel()),
                          kiln::Shape(pivots_t.sizes().begin(), pivots_t.sizes().end()));
    compare(
        "lu_solve", {from_values(lu_values, sa, true), leaf(sb)},
        [&](const auto& x) { return kiln::lu_solve(x[0], pivots_k, x[1]); },
        [&](const auto& x) { return back(torch::linalg_lu_solve(wide(x[0]), pivots_t, wide(x[1]))); }, true,
        1e-8);
    // Cholesky factors of well-conditioned matrices; the factor passed through its
    // triangle on both sides (torch's gradient also fills the triangle it does not read).
    const bool upper = coin();
    const auto factor_t = [&](const TT& r) {
      const TT m = torch::matmul(r, r.transpose(-2, -1)) + torch::eye(n, r.options()) * 0.5;
      return torch::linalg_cholesky(m, upper);
    };
    const Both r = leaf(sa, -1, 1, false);
    const TT lt = factor_t(wide(r.t)).contiguous();
    const std::vector<double> lv(lt.data_ptr<double>(), lt.data_ptr<double>() + numel(sa));
    compare(
        "cholesky_solve", {leaf(sb), from_values(lv, sa, true)},
        [&](const auto& x) {
          return kiln::cholesky_solve(x[0], upper ? kiln::triu(x[1]) : kiln::tril(x[1]), upper);
        },
        [&](const auto& x) {
          return back(torch::cholesky_solve(
              wide(x[0]), upper ? torch::triu(wide(x[1])) : torch::tril(wide(x[1])), upper));
        },
        true, 1e-8);
    compare(
        "cholesky_inverse", {from_values(lv, sa, true)},
        [&](const auto& x) {
          return kiln::cholesky_inverse(upper ? kiln::triu(x[0]) : kiln::tril(x[0]), upper);
        },
        [&](const auto& x) {
          return back(
              torch::cholesky_inverse(upper ? torch::triu(wide(x[0])) : torch::tril(wide(x[0])), upper));
        },
        true, 1e-8);
  });
}
