// The differential test against PyTorch, continued: what training uses around a model, the
// optimizers' steps (L-BFGS's with its line search too), StepLR and gradient clipping.
#include "torch_differential.hpp"

#include <array>
#include <memory>

using namespace differential;

TEST_CASE("torch differential: SGD, Adam, AdamW, RMSprop and Adagrad take the same steps") {
  rng.seed(8);
  int runs = 0;
  for (int trial = 0; trial < 200; ++trial) {
    single = coin();
    const int kind = static_cast<int>(irand(0, 4));
    const Sizes sizes{irand(1, 40), irand(1, 1100)};  // the fused updates' vector loops and tails
    std::vector<KT> kp;
    std::vector<TT> tp;
    for (std::int64_t n : sizes) {
      const Both p = leaf({n}, -1, 1);
      kp.push_back(p.k);
      tp.push_back(p.t);
    }
    const double lr = unif(1e-3, 0.1), decay = coin() ? 0.0 : unif(0, 0.1);
    std::unique_ptr<kiln::optim::Optimizer> ko;
    std::unique_ptr<torch::optim::Optimizer> to;
    std::ostringstream what;
    what << "lr " << lr << ", weight decay " << decay << (single ? ", float32" : ", float64") << ": ";
    if (kind == 0) {
      const double momentum = coin() ? 0.0 : unif(0.1, 0.95);
      const bool nesterov = momentum > 0 && coin();
      const double dampening = nesterov || coin() ? 0.0 : unif(0, 0.5);
      ko = std::make_unique<kiln::optim::SGD>(kp, kiln::optim::SGDOptions(lr)
                                                      .set_momentum(momentum)
                                                      .set_dampening(dampening)
                                                      .set_weight_decay(decay)
                                                      .set_nesterov(nesterov));
      to = std::make_unique<torch::optim::SGD>(
          tp,
          torch::optim::SGDOptions(lr).momentum(momentum).dampening(dampening).weight_decay(decay).nesterov(
              nesterov));
      what << "SGD, momentum " << momentum << ", dampening " << dampening << ", nesterov " << nesterov;
    } else if (kind <= 2) {
      const double b1 = unif(0.5, 0.95), b2 = unif(0.9, 0.9999), eps = std::pow(10.0, unif(-10, -3));
      const auto options =
          kiln::optim::AdamOptions(lr).set_betas(b1, b2).set_eps(eps).set_weight_decay(decay);
      if (kind == 1) {
        ko = std::make_unique<kiln::optim::Adam>(kp, options);
        to = std::make_unique<torch::optim::Adam>(
            tp, torch::optim::AdamOptions(lr).betas({b1, b2}).eps(eps).weight_decay(decay));
      } else {
        ko = std::make_unique<kiln::optim::AdamW>(kp, options);
        to = std::make_unique<torch::optim::AdamW>(
            tp, torch::optim::AdamWOptions(lr).betas({b1, b2}).eps(eps).weight_decay(decay));
      }
      what << (kind == 1 ? "Adam" : "AdamW") << ", betas " << b1 << " " << b2 << ", eps " << eps;
    } else if (kind == 4) {
      const double lr_decay = coin() ? 0.0 : unif(0, 0.2), initial = coin() ? 0.0 : unif(0, 1),
                   eps = std::pow(10.0, unif(-10, -3));
      ko = std::make_unique<kiln::optim::Adagrad>(kp, kiln::optim::AdagradOptions(lr)
                                                          .set_lr_decay(lr_decay)
                                                          .set_weight_decay(decay)
                                                          .set_initial_accumulator_value(initial)
                                                          .set_eps(eps));
      to = std::make_unique<torch::optim::Adagrad>(tp, torch::optim::AdagradOptions(lr)
                                                           .lr_decay(lr_decay)
                                                           .weight_decay(decay)
                                                           .initial_accumulator_value(initial)
                                                           .eps(eps));
      what << "Adagrad, lr_decay " << lr_decay << ", initial accumulator " << initial << ", eps " << eps;
    } else {
      const double alpha = unif(0.8, 0.999), eps = std::pow(10.0, unif(-10, -3)),
                   momentum = coin() ? 0.0 : unif(0.1, 0.9);
      const bool centered = coin();
      ko = std::make_unique<kiln::optim::RMSprop>(kp, kiln::optim::RMSpropOptions(lr)
                                                          .set_alpha(alpha)
                                                          .set_eps(eps)
                                                          .set_weight_decay(decay)
                                                          .set_momentum(momentum)
                                                          .set_centered(centered));
      to = std::make_unique<torch::optim::RMSprop>(tp, torch::optim::RMSpropOptions(lr)
                                                           .alpha(alpha)
                                                           .eps(eps)
                                                           .weight_decay(decay)
                                                           .momentum(momentum)
                                                           .centered(centered));
      what << "RMSprop, alpha " << alpha << ", eps " << eps << ", momentum " << momentum << ", centered "
           << centered;
    }
    INFO(what.str());
    bool same = true;
    for (int step = 0; step < 12 && same; ++step) {
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        const double scale = std::pow(10.0, unif(-4, 1));
        const Both g = leaf({sizes[i]}, -scale, scale, false);
        kp[i].set_grad(g.k);
        tp[i].mutable_grad() = g.t;
      }
      ko->step();
      to->step();
      for (std::size_t i = 0; i < sizes.size() && same; ++i)
        same =
            agree(kp[i], tp[i], "parameter " + std::to_string(i) + " after step " + std::to_string(step + 1),
                  1e-9, 1e-12);
    }
    runs += same;
  }
  single = false;
  CHECK(runs == 200);
}

TEST_CASE("torch differential: LBFGS takes the same steps, with and without the strong-Wolfe search") {
  rng.seed(9);
  int runs = 0;
  for (int trial = 0; trial < 40; ++trial) {
    // A smooth, not quadratic, bowl over two parameters: sum w (x - c)^2 + 0.1 sum x^4 + 0.2 sum(x1) sum(x2).
    const Sizes sizes{irand(1, 6), irand(1, 6)};
    std::vector<KT> kp, kw, kc;
    std::vector<TT> tp, tw, tc;
    for (std::int64_t n : sizes) {
      const Both p = leaf({n}, -2, 2), w = leaf({n}, 0.2, 3, false), c = leaf({n}, -1, 1, false);
      kp.push_back(p.k), tp.push_back(p.t), kw.push_back(w.k), tw.push_back(w.t), kc.push_back(c.k),
          tc.push_back(c.t);
    }
    const auto kiln_loss = [&] {
      KT loss = kiln::sum(kiln::sum(kp[0]) * kiln::sum(kp[1])) * 0.2;
      for (std::size_t i = 0; i < 2; ++i) {
        const KT diff = kp[i] - kc[i];
        loss = loss + kiln::sum(kw[i] * diff * diff) + kiln::sum(kp[i] * kp[i] * kp[i] * kp[i]) * 0.1;
      }
      return loss;
    };
    const auto torch_loss = [&] {
      TT loss = (tp[0].sum() * tp[1].sum()) * 0.2;
      for (std::size_t i = 0; i < 2; ++i)
        loss = loss + (tw[i] * (tp[i] - tc[i]).pow(2)).sum() + tp[i].pow(4).sum() * 0.1;
      return loss;
    };
    const bool wolfe = coin();
    const std::int64_t history =
        std::array<std::int64_t, 3>{2, 5, 100}[static_cast<std::size_t>(irand(0, 2))];
    const std::int64_t iterations = coin() ? 3 : 20;
    const double lr = wolfe ? 1.0 : unif(0.2, 1.0);
    kiln::optim::LBFGS ko(kp, kiln::optim::LBFGSOptions(lr)
                                  .set_max_iter(iterations)
                                  .set_history_size(history)
                                  .line_search_strong_wolfe(wolfe));
    auto options = torch::optim::LBFGSOptions(lr).max_iter(iterations).history_size(history);
    if (wolfe) options.line_search_fn("strong_wolfe");
    torch::optim::LBFGS to(tp, options);
    INFO("lr " << lr << ", history " << history << ", max_iter " << iterations << ", strong_wolfe " << wolfe);
    bool same = true;
    for (int step = 0; step < 4 && same; ++step) {
      const KT k_first = ko.step([&] {
        ko.zero_grad();
        KT loss = kiln_loss();
        loss.backward();
        return loss;
      });
      const TT t_first = to.step([&] {
        to.zero_grad();
        TT loss = torch_loss();
        loss.backward();
        return loss;
      });
      same = agree(k_first, t_first, "the step's first loss", 1e-7, 1e-10);
      for (std::size_t i = 0; i < 2 && same; ++i)
        same =
            agree(kp[i], tp[i], "parameter " + std::to_string(i) + " after step " + std::to_string(step + 1),
                  1e-7, 1e-9);
    }
    runs += same;
  }
  CHECK(runs == 40);
}

TEST_CASE("torch differential: StepLR and gradient clipping") {
  rng.seed(23);
  for (int trial = 0; trial < 20; ++trial) {
    const std::int64_t step_size = irand(1, 5);
    const double gamma = unif(0.1, 0.9), lr = unif(1e-3, 1);
    const Both p = leaf({3});
    kiln::optim::SGD ko({p.k}, kiln::optim::SGDOptions(lr));
    torch::optim::SGD to({p.t}, torch::optim::SGDOptions(lr));
    kiln::optim::StepLR ks(ko, step_size, gamma);
    torch::optim::StepLR ts(to, static_cast<unsigned>(step_size), gamma);
    ts.step();  // as PyTorch's Python constructor does (epoch 0); libtorch 1.13's C++ one does not
    for (int epoch = 1; epoch <= 25; ++epoch) {
      ks.step();
      ts.step();
      const double expected = to.param_groups()[0].options().get_lr();
      CHECK_MESSAGE(std::fabs(ko.lr() - expected) <= 1e-12 * expected,
                    "StepLR(" << step_size << ", " << gamma << ") from " << lr << " after " << epoch
                              << " epochs: kiln " << ko.lr() << ", torch " << expected);
    }
  }

  for (const bool f32 : {false, true}) {
    rng.seed(24 + f32);
    single = f32;
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<KT> kp;
      std::vector<TT> tp;
      for (std::int64_t i = irand(1, 4); i > 0; --i) {
        Both p = leaf(random_shape(0, 3, single ? 40 : 6));
        if (irand(0, 4) != 0) {  // some parameters have no gradient, and are skipped
          const Both g = leaf(sizes_of(p.k), -3, 3, false);
          p.k.set_grad(g.k);
          p.t.mutable_grad() = g.t;
        }
        kp.push_back(p.k);
        tp.push_back(p.t);
      }
      std::ostringstream what;
      if (irand(0, 3) == 0) {
        const double clip = unif(0.1, 3);
        what << "clip_grad_value_(" << clip << ")";
        kiln::nn::clip_grad_value_(kp, clip);
        torch::nn::utils::clip_grad_value_(tp, clip);
      } else {
        // Orders exact in float32: libtorch 1.13's norm rounds p to float32 (its norm of order
        // 3.3 in float64 is 1e-8 off), where kiln's uses p as given.
        const double types[] = {2.0, 1.0, 0.5, 1.5, 3.0, 3.5, kiln::nn::kInfNorm};
        const double type = types[irand(0, 6)], max_norm = std::pow(10.0, unif(-1, 1.5));
        what << "clip_grad_norm_(" << max_norm << ", norm type " << type << ")";
        const double norm = kiln::nn::clip_grad_norm_(kp, max_norm, type).item();
        const double expected = torch::nn::utils::clip_grad_norm_(tp, max_norm, type);
        CHECK_MESSAGE(std::fabs(norm - expected) <= (single ? 1e-5 : 1e-12) * expected,
                      what.str() << ": kiln's norm " << norm << ", torch's " << expected);
      }
      for (std::size_t i = 0; i < kp.size(); ++i) {
        REQUIRE(kp[i].grad().defined() == tp[i].grad().defined());
        if (kp[i].grad().defined())
          agree(kp[i].grad(), tp[i].grad(), what.str() + ": gradient " + std::to_string(i), 1e-12, 1e-14);
      }
    }
  }
  single = false;
}
