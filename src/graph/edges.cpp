#include "kiln/graph/edges.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "kiln/core/threads.hpp"

namespace kiln::graph {

namespace {
// Edges ahead whose slots a loop over a list asks for: each probe of a table larger than
// the caches is a miss, and 16 of them in flight overlap.
constexpr std::size_t kProbeAhead = 16;
}  // namespace

EdgeSet::EdgeSet(const std::vector<Edge>& edges) {
  reserve(edges.size());
  for (std::size_t i = 0; i < edges.size(); ++i) {
    if (i + kProbeAhead < edges.size()) prefetch(edges[i + kProbeAhead].first, edges[i + kProbeAhead].second);
    insert(edges[i].first, edges[i].second);
  }
}

void EdgeSet::reserve(std::size_t edges) {
  std::size_t capacity = 16;
  while (capacity < 2 * edges) capacity *= 2;
  if (capacity > slots_.size()) grow(capacity);
}

bool EdgeSet::insert(std::int64_t u, std::int64_t v) {
  KILN_CHECK(in_range(u) && in_range(v), "EdgeSet: edge (", u, ", ", v, ") has a node outside [0, 2^31)");
  if (2 * (size_ + 1) > slots_.size()) grow(slots_.empty() ? 16 : 2 * slots_.size());
  const std::uint64_t k = key(u, v);
  std::size_t i = slot_of(k);
  while (slots_[i] != kEmpty) {
    if (slots_[i] == k) return false;
    i = (i + 1) & mask_;
  }
  slots_[i] = k;
  ++size_;
  return true;
}

// Rehashes every key into `capacity` slots (a power of two).
void EdgeSet::grow(std::size_t capacity) {
  const std::vector<std::uint64_t> old = std::exchange(slots_, std::vector<std::uint64_t>(capacity, kEmpty));
  mask_ = capacity - 1;
  for (const std::uint64_t k : old) {
    if (k == kEmpty) continue;
    std::size_t i = slot_of(k);
    while (slots_[i] != kEmpty) i = (i + 1) & mask_;
    slots_[i] = k;
  }
}

std::vector<Edge> unique_undirected(const std::vector<Edge>& edges) {
  EdgeSet seen;
  seen.reserve(edges.size());
  std::vector<Edge> out;
  out.reserve(edges.size());
  for (std::size_t i = 0; i < edges.size(); ++i) {
    if (i + kProbeAhead < edges.size())
      seen.prefetch(edges[i + kProbeAhead].first, edges[i + kProbeAhead].second);
    const auto [u, v] = edges[i];
    if (u != v && seen.insert(u, v)) out.emplace_back(std::min(u, v), std::max(u, v));
  }
  if (out.capacity() > 2 * out.size()) out.shrink_to_fit();  // mostly repeats: give the room back
  return out;
}

std::vector<Edge> sample_negatives(std::int64_t nodes, std::int64_t count, const EdgeSet& exclude, Generator& gen) {
  KILN_CHECK(nodes >= 2, "sample_negatives: needs at least 2 nodes, got ", nodes);
  const double pairs = static_cast<double>(nodes) * (nodes - 1) / 2;
  KILN_CHECK(static_cast<double>(count) + exclude.size() <= pairs, "sample_negatives: cannot draw ", count,
             " non-edges from a graph of ", nodes, " nodes with ", exclude.size(), " edges");
  EdgeSet taken;
  taken.reserve(static_cast<std::size_t>(count));
  std::vector<Edge> out;
  out.reserve(count);
  // Candidates are drawn a round at a time, never more than are still wanted, so the
  // generator takes the same draws as drawing them one at a time. The checks against
  // `exclude` (read only, each a miss into a table far larger than the caches) run on
  // every thread, each asking for the slot kProbeAhead candidates ahead; then one pass in
  // draw order keeps those not taken yet, so the pairs come out the same too.
  constexpr std::int64_t kRound = 65536;
  std::vector<Edge> drawn;
  std::vector<unsigned char> unknown;  // neither a self loop nor in `exclude`
  while (static_cast<std::int64_t>(out.size()) < count) {
    const auto n = static_cast<std::size_t>(std::min(kRound, count - static_cast<std::int64_t>(out.size())));
    drawn.resize(n);
    unknown.resize(n);
    for (Edge& e : drawn) {
      e.first = static_cast<std::int64_t>(gen.below(nodes));
      e.second = static_cast<std::int64_t>(gen.below(nodes));
    }
    parallel_for(0, static_cast<std::int64_t>(n), 4096, [&](std::int64_t lo, std::int64_t hi) {
      for (auto i = static_cast<std::size_t>(lo); i < static_cast<std::size_t>(hi); ++i) {
        if (i + kProbeAhead < static_cast<std::size_t>(hi))
          exclude.prefetch(drawn[i + kProbeAhead].first, drawn[i + kProbeAhead].second);
        const auto [u, v] = drawn[i];
        unknown[i] = u != v && !exclude.contains(u, v);
      }
    });
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kProbeAhead < n) taken.prefetch(drawn[i + kProbeAhead].first, drawn[i + kProbeAhead].second);
      const auto [u, v] = drawn[i];
      if (unknown[i] && taken.insert(u, v)) out.emplace_back(std::min(u, v), std::max(u, v));
    }
  }
  return out;
}

EdgeSplit split_edges(std::int64_t nodes, const std::vector<Edge>& edges, double val_fraction, double test_fraction,
                      std::uint64_t seed) {
  KILN_CHECK(val_fraction >= 0 && test_fraction >= 0 && val_fraction + test_fraction < 1,
             "split_edges: fractions ", val_fraction, " (validation) and ", test_fraction,
             " (test) must be >= 0 and sum to less than 1");
  for (const auto& [u, v] : edges)
    KILN_CHECK(u >= 0 && u < nodes && v >= 0 && v < nodes, "split_edges: edge (", u, ", ", v,
               ") has a node outside the graph's ", nodes, " nodes [0, ", nodes, ")");
  std::vector<Edge> all = unique_undirected(edges);
  Generator gen(seed);
  for (std::size_t i = all.size(); i > 1; --i) std::swap(all[i - 1], all[gen.below(i)]);  // shuffle
  const auto n_test = static_cast<std::size_t>(std::floor(all.size() * test_fraction));
  const auto n_val = static_cast<std::size_t>(std::floor(all.size() * val_fraction));
  EdgeSplit s;
  s.test.assign(all.begin(), all.begin() + n_test);
  s.val.assign(all.begin() + n_test, all.begin() + n_test + n_val);
  s.train.assign(all.begin() + n_test + n_val, all.end());
  // Negatives are non-edges of the whole graph, and distinct between validation and test.
  const EdgeSet every(all);
  const std::vector<Edge> neg = sample_negatives(nodes, n_val + n_test, every, gen);
  s.val_negative.assign(neg.begin(), neg.begin() + n_val);
  s.test_negative.assign(neg.begin() + n_val, neg.end());
  return s;
}

CsrMatrix bipartite_adjacency(std::int64_t users, std::int64_t items, const std::vector<Edge>& user_item) {
  std::vector<Edge> edges;
  edges.reserve(user_item.size());
  for (const auto& [u, i] : user_item) {
    KILN_CHECK(u >= 0 && u < users && i >= 0 && i < items, "bipartite_adjacency: pair (", u, ", ", i,
               ") is outside ", users, " users x ", items, " items");
    edges.emplace_back(u, users + i);
  }
  return CsrMatrix::undirected(users + items, edges);
}

}  // namespace kiln::graph
