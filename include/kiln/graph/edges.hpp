// Edge utilities for link prediction and recommendation.
#pragma once

#include <cstdint>
#include <unordered_set>
#include <vector>

#include "kiln/core/rng.hpp"
#include "kiln/graph/csr.hpp"

namespace kiln::graph {

// A set of undirected edges, stored with u < v.
class EdgeSet {
public:
  EdgeSet() = default;
  explicit EdgeSet(const std::vector<Edge>& edges) {
    for (const Edge& e : edges) insert(e.first, e.second);
  }
  void insert(std::int64_t u, std::int64_t v) { set_.insert(key(u, v)); }
  bool contains(std::int64_t u, std::int64_t v) const { return set_.count(key(u, v)) != 0; }
  std::size_t size() const { return set_.size(); }

private:
  static std::uint64_t key(std::int64_t u, std::int64_t v) {
    if (u > v) std::swap(u, v);
    return (static_cast<std::uint64_t>(u) << 32) | static_cast<std::uint64_t>(v);
  }
  std::unordered_set<std::uint64_t> set_;
};

// Unique undirected edges (u < v), self loops dropped, in a stable order.
std::vector<Edge> unique_undirected(const std::vector<Edge>& edges);

// `count` distinct node pairs (u != v) that are not in `exclude`, drawn uniformly.
std::vector<Edge> sample_negatives(std::int64_t nodes, std::int64_t count, const EdgeSet& exclude, Generator& gen);

// Undirected edges split into train / validation / test positives, with as many
// sampled non-edges (true non-edges of the whole graph) for validation and test.
struct EdgeSplit {
  std::vector<Edge> train, val, val_negative, test, test_negative;
};
EdgeSplit split_edges(std::int64_t nodes, const std::vector<Edge>& edges, double val_fraction, double test_fraction,
                      std::uint64_t seed);

// The bipartite user-item graph as one symmetric adjacency over users then items:
// node u (< users) is a user, node users + i is item i.
CsrMatrix bipartite_adjacency(std::int64_t users, std::int64_t items, const std::vector<Edge>& user_item);

}  // namespace kiln::graph
