#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <unordered_map>

#include "kiln/data/graph_datasets.hpp"
#include "kiln/graph/edges.hpp"

namespace kiln::data {

namespace {
std::ifstream open_or_throw(const std::string& path, const char* what) {
  std::ifstream in(path);
  KILN_CHECK(in.good(), what, ": cannot open '", path, "'; pass the folder that holds it with --data");
  return in;
}
}  // namespace

Cora load_cora(const std::string& dir) {
  const std::string content_path = (std::filesystem::path(dir) / "cora.content").string();
  const std::string cites_path = (std::filesystem::path(dir) / "cora.cites").string();
  std::ifstream content = open_or_throw(content_path, "load_cora");

  Cora cora;
  std::vector<std::vector<float>> rows;
  std::vector<std::string> class_of_row;
  std::unordered_map<std::string, std::int64_t> index;
  std::string line;
  std::size_t width = 0;
  for (std::int64_t lineno = 1; std::getline(content, line); ++lineno) {
    if (line.empty()) continue;
    std::istringstream is(line);
    std::vector<std::string> tok{std::istream_iterator<std::string>(is), {}};
    KILN_CHECK(tok.size() >= 3, "load_cora: ", content_path, ":", lineno, ": expected an id, features and a class");
    if (width == 0) width = tok.size() - 2;
    KILN_CHECK(tok.size() - 2 == width, "load_cora: ", content_path, ":", lineno, ": ", tok.size() - 2,
               " features where earlier lines have ", width);
    std::vector<float> f(width);
    for (std::size_t j = 0; j < width; ++j) {
      KILN_CHECK(tok[j + 1] == "0" || tok[j + 1] == "1", "load_cora: ", content_path, ":", lineno, ": feature '",
                 tok[j + 1], "' is not 0 or 1");
      f[j] = tok[j + 1] == "1" ? 1.0f : 0.0f;
    }
    KILN_CHECK(index.emplace(tok[0], static_cast<std::int64_t>(rows.size())).second, "load_cora: ", content_path, ":",
               lineno, ": paper ", tok[0], " appears twice");
    cora.paper_ids.push_back(tok[0]);
    rows.push_back(std::move(f));
    class_of_row.push_back(tok.back());
  }
  KILN_CHECK(!rows.empty(), "load_cora: ", content_path, " holds no papers");
  std::map<std::string, std::int64_t> class_index;
  for (const auto& c : class_of_row) class_index.emplace(c, 0);
  for (auto& [name, i] : class_index) {
    i = static_cast<std::int64_t>(cora.classes.size());
    cora.classes.push_back(name);
  }
  const auto n = static_cast<std::int64_t>(rows.size());
  cora.features = Tensor::empty({n, static_cast<std::int64_t>(width)}, kFloat32);
  cora.labels = Tensor::empty({n}, kInt64);
  for (std::int64_t i = 0; i < n; ++i) {
    std::copy(rows[i].begin(), rows[i].end(), cora.features.data_ptr<float>() + i * width);
    cora.labels.data_ptr<std::int64_t>()[i] = class_index.at(class_of_row[i]);
  }

  std::ifstream cites = open_or_throw(cites_path, "load_cora");
  std::vector<graph::Edge> edges;
  for (std::int64_t lineno = 1; std::getline(cites, line); ++lineno) {
    if (line.empty()) continue;
    std::istringstream is(line);
    std::string a, b;
    KILN_CHECK(static_cast<bool>(is >> a >> b), "load_cora: ", cites_path, ":", lineno, ": expected two paper ids");
    const auto ia = index.find(a), ib = index.find(b);
    KILN_CHECK(ia != index.end() && ib != index.end(), "load_cora: ", cites_path, ":", lineno, ": paper ",
               ia == index.end() ? a : b, " is not in cora.content");
    edges.emplace_back(ia->second, ib->second);
  }
  cora.edges = graph::unique_undirected(edges);

  const std::string split_path = (std::filesystem::path(dir) / "cora.planetoid-split").string();
  std::ifstream split(split_path);
  for (std::int64_t lineno = 1; split.good() && std::getline(split, line); ++lineno) {
    if (line.empty() || line[0] == '#') continue;  // comments
    std::istringstream is(line);
    std::string which, id;
    KILN_CHECK(static_cast<bool>(is >> which >> id), "load_cora: ", split_path, ":", lineno, ": expected '<train|val|test> <paper_id>'");
    const auto it = index.find(id);
    KILN_CHECK(it != index.end(), "load_cora: ", split_path, ":", lineno, ": paper ", id, " is not in cora.content");
    if (which == "train") cora.train.push_back(it->second);
    else if (which == "val") cora.val.push_back(it->second);
    else if (which == "test") cora.test.push_back(it->second);
    else throw Error(detail::concat("load_cora: ", split_path, ":", lineno, ": unknown split '", which, "'"));
  }
  return cora;
}

std::vector<Rating> load_movielens_ratings(const std::string& path) {
  std::ifstream in = open_or_throw(path, "load_movielens_ratings");
  std::vector<Rating> out;
  std::string line;
  for (std::int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty()) continue;
    std::istringstream is(line);
    Rating r{};
    KILN_CHECK(static_cast<bool>(is >> r.user >> r.item >> r.rating >> r.timestamp) && r.user >= 1 && r.item >= 1,
               "load_movielens_ratings: ", path, ":", lineno, ": expected 'user item rating timestamp' with ids from 1");
    --r.user;
    --r.item;
    out.push_back(r);
  }
  KILN_CHECK(!out.empty(), "load_movielens_ratings: ", path, " holds no ratings");
  return out;
}

namespace {
// The '|'-separated fields of a line (a trailing empty field counts).
std::vector<std::string> split_bars(const std::string& line) {
  std::vector<std::string> fields(1);
  for (char c : line) {
    if (c == '|')
      fields.emplace_back();
    else if (c != '\r')
      fields.back() += c;
  }
  return fields;
}

// A whole decimal number in [lo, hi], or nothing.
bool parse_int(const std::string& text, long long lo, long long hi, long long& value) {
  if (text.empty() || text.size() > 18 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  value = std::stoll(text);
  return value >= lo && value <= hi;
}
}  // namespace

std::vector<MovieLensUser> load_movielens_users(const std::string& path) {
  std::ifstream in = open_or_throw(path, "load_movielens_users");
  std::vector<MovieLensUser> out;
  std::string line;
  for (std::int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty() || line == "\r") continue;
    const auto f = split_bars(line);
    long long id = 0, age = 0;
    KILN_CHECK(f.size() == 5 && parse_int(f[0], 1, 1LL << 40, id) && parse_int(f[1], 0, 200, age) &&
                   (f[2] == "M" || f[2] == "F") && !f[3].empty(),
               "load_movielens_users: ", path, ":", lineno,
               ": expected 'user|age|gender|occupation|zip' (user from 1, age 0-200, gender M or F)");
    out.push_back({id - 1, static_cast<int>(age), f[2], f[3], f[4]});
  }
  KILN_CHECK(!out.empty(), "load_movielens_users: ", path, " holds no users");
  return out;
}

std::vector<MovieLensItem> load_movielens_items(const std::string& path) {
  std::ifstream in = open_or_throw(path, "load_movielens_items");
  std::vector<MovieLensItem> out;
  std::string line;
  constexpr int kGenres = MovieLensItem::kGenres;
  for (std::int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty() || line == "\r") continue;
    const auto f = split_bars(line);
    const auto where = [&] { return path + ":" + std::to_string(lineno) + ": "; };
    long long id = 0, year = 0;
    KILN_CHECK(f.size() == 5 + kGenres && parse_int(f[0], 1, 1LL << 40, id),
               "load_movielens_items: ", where(),
               "expected 'item|title|release date|video release date|URL' and ", kGenres,
               " genre flags (item from 1), found ", f.size(), " fields");
    const std::string& date = f[2];  // dd-Mon-yyyy, or empty
    KILN_CHECK(
        date.empty() || (date.size() >= 4 && parse_int(date.substr(date.size() - 4), 1800, 2100, year)),
        "load_movielens_items: ", where(), "release date '", date, "' does not end in a year");
    MovieLensItem item{id - 1, f[1], static_cast<int>(year), std::vector<bool>(kGenres)};
    for (int g = 0; g < kGenres; ++g) {
      const std::string& flag = f[5 + g];
      KILN_CHECK(flag == "0" || flag == "1", "load_movielens_items: ", where(), "genre flag ", g + 1, " is '",
                 flag, "', not 0 or 1");
      item.genres[g] = flag == "1";
    }
    out.push_back(std::move(item));
  }
  KILN_CHECK(!out.empty(), "load_movielens_items: ", path, " holds no movies");
  return out;
}

}  // namespace kiln::data
