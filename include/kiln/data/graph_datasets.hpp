// Loaders for graph and recommendation data sets in their original text formats.
#pragma once

#include <string>
#include <vector>

#include "kiln/core/tensor.hpp"
#include "kiln/graph/csr.hpp"

namespace kiln::data {

// LINQS Cora: cora.content ("<paper_id> <1433 binary features> <class>"), cora.cites
// ("<cited> <citing>"), and optionally cora.planetoid-split ("<train|val|test> <paper_id>",
// lines starting with # are comments).
struct Cora {
  Tensor features;                      // (N, F) float32, as in the file (0/1)
  Tensor labels;                        // (N) int64
  std::vector<std::string> classes;     // label index -> class name (sorted by name)
  std::vector<std::string> paper_ids;   // node index -> paper id
  std::vector<graph::Edge> edges;       // undirected, unique, no self loops
  std::vector<std::int64_t> train, val, test;  // from the split file; empty when it is absent
  std::int64_t num_nodes() const { return features.size(0); }
};
// `dir` holds the files. Any malformed line is a kiln::Error naming the file and line.
Cora load_cora(const std::string& dir);

// One MovieLens rating, with 0-based user and item indices (the files count from 1).
struct Rating {
  std::int64_t user, item;
  float rating;
  std::int64_t timestamp;
};
// Reads a MovieLens-100K ratings file (u.data, u1.base, ...: "user \t item \t rating \t time").
std::vector<Rating> load_movielens_ratings(const std::string& path);

// A MovieLens-100K user from u.user ("user|age|gender|occupation|zip"), 0-based.
struct MovieLensUser {
  std::int64_t user;
  int age;
  std::string gender;  // "M" or "F"
  std::string occupation, zip;
};
std::vector<MovieLensUser> load_movielens_users(const std::string& path);

// A MovieLens-100K movie from u.item ("item|title|release date|video release date|IMDb URL|"
// then 19 genre flags, 0 or 1, in u.genre's order: unknown, Action, ..., Western), 0-based.
struct MovieLensItem {
  static constexpr int kGenres = 19;
  std::int64_t item;
  std::string title;
  int year;                  // of the release date ("01-Jan-1995"); 0 where the file gives none
  std::vector<bool> genres;  // kGenres flags
};
std::vector<MovieLensItem> load_movielens_items(const std::string& path);

}  // namespace kiln::data
