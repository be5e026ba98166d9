// Edge utilities for link prediction and recommendation.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "kiln/core/rng.hpp"
#include "kiln/graph/csr.hpp"

namespace kiln::graph {

// A set of undirected edges between nodes in [0, 2^31), stored with u < v: an
// open-addressing hash table of packed (u, v) keys, probed linearly and kept at most
// half full, so a lookup is one or two cache lines and an edge costs 16-32 bytes.
class EdgeSet {
public:
  EdgeSet() = default;
  explicit EdgeSet(const std::vector<Edge>& edges);
  // Adds (u, v) (the same edge as (v, u)); true if it was not there yet.
  bool insert(std::int64_t u, std::int64_t v);
  bool contains(std::int64_t u, std::int64_t v) const {
    if (!in_range(u) || !in_range(v) || slots_.empty()) return false;
    const std::uint64_t k = key(u, v);
    for (std::size_t i = slot_of(k);; i = (i + 1) & mask_) {
      if (slots_[i] == k) return true;
      if (slots_[i] == kEmpty) return false;
    }
  }
  // A hint ahead of contains / insert of (u, v): starts loading the slot its probe
  // begins at, so lookups into a table larger than the caches can overlap their misses.
  // A prefetch never faults, whatever the address (an empty set's is null); it is not
  // put under a test of emptiness either, as GCC 12 then drops it.
  void prefetch(std::int64_t u, std::int64_t v) const {
    __builtin_prefetch(slots_.data() + slot_of(key(u, v)));
  }
  std::size_t size() const { return size_; }
  // Room for `edges` edges without growing.
  void reserve(std::size_t edges);

private:
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};  // no key has its top bit set
  static bool in_range(std::int64_t node) { return node >= 0 && node < (std::int64_t{1} << 31); }
  static std::uint64_t key(std::int64_t u, std::int64_t v) {
    if (u > v) std::swap(u, v);
    return (static_cast<std::uint64_t>(u) << 32) | static_cast<std::uint64_t>(v);
  }
  std::size_t slot_of(std::uint64_t k) const {  // a 64-bit mix (splitmix64's finalizer), masked
    k = (k ^ (k >> 30)) * 0xbf58476d1ce4e5b9ull;
    k = (k ^ (k >> 27)) * 0x94d049bb133111ebull;
    return static_cast<std::size_t>(k ^ (k >> 31)) & mask_;
  }
  void grow(std::size_t capacity);

  std::vector<std::uint64_t> slots_;
  std::size_t mask_ = 0, size_ = 0;
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
