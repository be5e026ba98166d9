// kiln's metrics on cases read from stdin, one output line per case, for
// metrics_sklearn.py to compare with scikit-learn:
//   binary N s_1 .. s_N l_1 .. l_N      -> "roc_auc average_precision", or "error"
//   ranking U K, then per user M r_1 .. r_M R v_1 .. v_R (ranked list, relevant items)
//                                        -> "ndcg precision recall map users"
// Scores are read and printed with all 17 digits.
#include <cstdio>
#include <iostream>
#include <string>
#include <unordered_set>
#include <vector>

#include "kiln/kiln.hpp"

int main() {
  std::string kind;
  while (std::cin >> kind) {
    if (kind == "binary") {
      std::size_t n = 0;
      std::cin >> n;
      std::vector<double> scores(n);
      std::vector<int> labels(n);
      for (double& s : scores) std::cin >> s;
      for (int& l : labels) std::cin >> l;
      try {
        std::printf("%.17g %.17g\n", kiln::metrics::roc_auc(scores, labels),
                    kiln::metrics::average_precision(scores, labels));
      } catch (const kiln::Error&) {
        std::printf("error\n");
      }
    } else if (kind == "ranking") {
      std::size_t users = 0;
      std::int64_t k = 0;
      std::cin >> users >> k;
      std::vector<std::vector<std::int64_t>> ranked(users);
      std::vector<std::unordered_set<std::int64_t>> relevant(users);
      for (std::size_t u = 0; u < users; ++u) {
        std::size_t m = 0, r = 0;
        std::cin >> m;
        ranked[u].resize(m);
        for (std::int64_t& item : ranked[u]) std::cin >> item;
        std::cin >> r;
        for (std::size_t i = 0; i < r; ++i) {
          std::int64_t item = 0;
          std::cin >> item;
          relevant[u].insert(item);
        }
      }
      const kiln::metrics::RankingMetrics m = kiln::metrics::ranking_at_k(ranked, relevant, k);
      std::printf("%.17g %.17g %.17g %.17g %lld\n", m.ndcg, m.precision, m.recall, m.map,
                  static_cast<long long>(m.users));
    } else {
      std::fprintf(stderr, "metrics_tool: unknown case kind '%s'\n", kind.c_str());
      return 2;
    }
  }
  return std::cin.eof() ? 0 : 2;
}
