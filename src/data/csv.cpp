// CSV: a record reader (RFC 4180 quoting, line numbers for errors), the conversion of
// fields to numbers or label codes, and the writer.
#include "kiln/data/csv.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <type_traits>

#include "kiln/core/factories.hpp"
#include "src/core/atomic_file.hpp"

namespace kiln::data {

namespace {

// One line of the table (or several, when a quoted field holds line breaks).
struct Record {
  std::int64_t line = 0;  // where it starts, from 1
  std::vector<std::string> fields;
};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

class RecordReader {
public:
  RecordReader(std::string_view text, char delimiter, std::string where)
      : text_(text), delimiter_(delimiter), where_(std::move(where)) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // a UTF-8 byte-order mark
  }

  // The next record that is not a blank line; false at the end of the text.
  bool next(Record& r) {
    skip_blank_lines();
    if (pos_ >= text_.size()) return false;
    r.line = line_;
    r.fields.clear();
    while (true) {
      r.fields.push_back(field());
      if (pos_ < text_.size() && text_[pos_] == delimiter_) {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size()) {  // the end of the line
        ++pos_;
        ++line_;
      }
      return true;
    }
  }

  const std::string& where() const { return where_; }

private:
  void skip_blank_lines() {
    while (pos_ < text_.size()) {
      std::size_t p = pos_;
      while (p < text_.size() && is_blank(text_[p])) ++p;
      if (p < text_.size() && text_[p] != '\n') return;
      pos_ = p < text_.size() ? p + 1 : p;
      if (p < text_.size()) ++line_;
    }
  }

  // One field; stops at the delimiter, the line's end or the text's end, without taking it.
  std::string field() {
    std::size_t p = pos_;
    while (p < text_.size() && (text_[p] == ' ' || text_[p] == '\t')) ++p;
    if (p < text_.size() && text_[p] == '"') return quoted(p + 1);
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != delimiter_ && text_[pos_] != '\n') ++pos_;
    return std::string(trimmed(text_.substr(start, pos_ - start)));
  }

  std::string quoted(std::size_t p) {
    const std::int64_t opened = line_;
    std::string out;
    while (true) {
      KILN_CHECK(p < text_.size(), where_, ", line ", opened,
                 ": a quoted field opens here and is never closed; close it with \"");
      const char c = text_[p++];
      if (c == '"') {
        if (p < text_.size() && text_[p] == '"') {  // "" stands for one quote
          out += '"';
          ++p;
          continue;
        }
        break;
      }
      if (c == '\n') ++line_;
      out += c;
    }
    while (p < text_.size() && is_blank(text_[p])) ++p;
    KILN_CHECK(p >= text_.size() || text_[p] == delimiter_ || text_[p] == '\n', where_, ", line ", line_,
               ": '", text_[p],
               "' follows the closing quote of a field; the delimiter or the line's end must, "
               "and a quote inside a quoted field is written \"\"");
    pos_ = p;
    return out;
  }

  std::string_view text_;
  char delimiter_;
  std::string where_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 1;
};

bool is_missing(std::string_view f) {
  static const std::string_view kMissing[] = {"", "NA", "N/A", "NaN", "nan", "NULL", "null"};
  return std::find(std::begin(kMissing), std::end(kMissing), f) != std::end(kMissing);
}

// The field as a number (NaN when missing); false when it is not one.
bool parse_number(std::string_view f, double& out) {
  f = trimmed(f);
  if (is_missing(f)) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (f.front() == '+') f.remove_prefix(1);
  const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), out);
  return ec == std::errc() && end == f.data() + f.size();
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

CsvTable parse(std::string_view text, const CsvOptions& options, const std::string& where) {
  KILN_CHECK(options.dtype == kFloat32 || options.dtype == kFloat64, where, ": CsvOptions::dtype must be ",
             "float32 or float64, got ", options.dtype, " (convert the table's values afterwards)");
  KILN_CHECK(options.delimiter != '"' && options.delimiter != '\n' && options.delimiter != '\r', where,
             ": the delimiter cannot be a quote or a line break");
  RecordReader reader(text, options.delimiter, where);
  Record record;
  CsvTable table;
  const bool any = reader.next(record);
  KILN_CHECK(any || !options.header, where,
             " is empty; expected a header line naming the columns "
             "(or CsvOptions().set_header(false))");
  const std::size_t width = any ? record.fields.size() : 0;
  if (options.header) {
    for (std::size_t c = 0; c < width; ++c) {
      std::string name = record.fields[c].empty() ? "unnamed_" + std::to_string(c) : record.fields[c];
      KILN_CHECK(std::find(table.names.begin(), table.names.end(), name) == table.names.end(), where,
                 ": column name '", name, "' appears twice in the header; names must be unique");
      table.names.push_back(std::move(name));
    }
  } else {
    for (std::size_t c = 0; c < width; ++c) table.names.push_back(std::to_string(c));
  }
  std::vector<bool> categorical(width, false);
  for (const std::string& name : options.categorical) {
    const auto it = std::find(table.names.begin(), table.names.end(), name);
    KILN_CHECK(it != table.names.end(), where, ": the categorical column '", name,
               "' is not among the columns (", joined(table.names), ")");
    categorical[static_cast<std::size_t>(it - table.names.begin())] = true;
  }

  // Numbers go straight in; labels are kept as text until every distinct one is known.
  std::vector<double> values;
  std::vector<std::vector<std::string>> labels(width);
  std::int64_t rows = 0;
  const auto take = [&](const Record& r) {
    KILN_CHECK(r.fields.size() == width, where, ", line ", r.line, ": ", r.fields.size(), " fields where ",
               options.header ? "the header has " : "the first line has ", width,
               "; every line needs one field per column (quote a field that holds the delimiter)");
    for (std::size_t c = 0; c < width; ++c) {
      double v = 0;
      if (categorical[c]) {
        labels[c].push_back(r.fields[c]);
      } else {
        KILN_CHECK(parse_number(r.fields[c], v), where, ", line ", r.line, ", column '", table.names[c],
                   "': '", r.fields[c],
                   "' is not a number; list the column in CsvOptions::categorical to read its "
                   "values as labels");
      }
      values.push_back(v);
    }
    ++rows;
  };
  if (any && !options.header) take(record);
  while (reader.next(record)) take(record);

  for (std::size_t c = 0; c < width; ++c) {
    if (!categorical[c]) continue;
    std::set<std::string> distinct(labels[c].begin(), labels[c].end());
    distinct.erase("");  // missing
    std::vector<std::string> sorted(distinct.begin(), distinct.end());
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::string& label = labels[c][static_cast<std::size_t>(r)];
      const auto at = std::lower_bound(sorted.begin(), sorted.end(), label);
      values[static_cast<std::size_t>(r) * width + c] =
          label.empty() ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(at - sorted.begin());
    }
    table.categories[table.names[c]] = std::move(sorted);
  }
  table.values = from_vector(values, {rows, static_cast<std::int64_t>(width)}).to(options.dtype);
  return table;
}

// The table's values on the host as doubles, rows x columns.
std::vector<double> host_values(const Tensor& values) {
  return values.to(Device::cpu()).to(kFloat64).contiguous().to_vector<double>();
}

// A field of the written file: quoted when it holds the delimiter, a quote or a line break.
std::string csv_field(const std::string& s, char delimiter) {
  if (s.find_first_of(std::string{delimiter, '"', '\n', '\r'}) == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

template <class T>
std::string formatted(T v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  KILN_ASSERT(ec == std::errc());
  return std::string(buf, end);
}

}  // namespace

std::int64_t CsvTable::index_of(const std::string& name) const {
  const auto it = std::find(names.begin(), names.end(), name);
  KILN_CHECK(it != names.end(), "CsvTable: no column named '", name, "' (the columns: ", joined(names), ")");
  return it - names.begin();
}

Tensor CsvTable::column(const std::string& name) const { return columns({name}).reshape({rows()}); }

Tensor CsvTable::columns(const std::vector<std::string>& wanted) const {
  std::vector<std::int64_t> at;
  for (const std::string& n : wanted) at.push_back(index_of(n));
  const std::vector<double> all = host_values(values);
  const std::int64_t width = values.size(1), k = static_cast<std::int64_t>(at.size());
  std::vector<double> out(static_cast<std::size_t>(rows() * k));
  for (std::int64_t r = 0; r < rows(); ++r)
    for (std::int64_t j = 0; j < k; ++j)
      out[static_cast<std::size_t>(r * k + j)] = all[static_cast<std::size_t>(r * width + at[j])];
  return from_vector(out, {rows(), k}).to(values.dtype());
}

Tensor CsvTable::labels(const std::string& name) const {
  const std::int64_t c = index_of(name);
  KILN_CHECK(categories.count(name), "CsvTable::labels: column '", name,
             "' holds numbers, not labels; list it in CsvOptions::categorical when reading");
  const std::vector<double> all = host_values(values);
  std::vector<std::int64_t> codes;
  std::int64_t missing = 0;
  for (std::int64_t r = 0; r < rows(); ++r) {
    const double v = all[static_cast<std::size_t>(r * values.size(1) + c)];
    if (std::isnan(v)) ++missing;
    codes.push_back(std::isnan(v) ? -1 : static_cast<std::int64_t>(v));
  }
  KILN_CHECK(
      missing == 0, "CsvTable::labels: column '", name, "' has ", missing,
      " missing values (empty fields); drop those rows, or read the codes with column(), where they are NaN");
  return from_vector(codes, {rows()});
}

CsvTable parse_csv(std::string_view text, const CsvOptions& options, const std::string& source) {
  return parse(text, options, "parse_csv: " + source);
}

CsvTable read_csv(const std::string& path, const CsvOptions& options) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "read_csv: cannot open '", path, "'; check the path");
  std::ostringstream text;
  text << in.rdbuf();
  KILN_CHECK(!in.bad(), "read_csv: reading '", path, "' failed");
  return parse(text.str(), options, "read_csv: " + path);
}

void write_csv(const std::string& path, const Tensor& values, const std::vector<std::string>& names,
               char delimiter) {
  KILN_CHECK(values.dim() == 1 || values.dim() == 2,
             "write_csv: values must be 1-D (one column) or 2-D (rows, ", "columns), got shape ",
             fmt(values.shape()));
  KILN_CHECK(!is_block_format(values.dtype()), "write_csv: ", values.dtype(),
             " holds packed blocks; dequantize it to float32 first");
  KILN_CHECK(delimiter != '"' && delimiter != '\n' && delimiter != '\r',
             "write_csv: the delimiter cannot be a quote or a line break");
  const std::int64_t rows = values.size(0), cols = values.dim() == 2 ? values.size(1) : 1;
  KILN_CHECK(names.empty() || static_cast<std::int64_t>(names.size()) == cols, "write_csv: ", names.size(),
             " names for ", cols, " columns; give one name per column, or none");
  std::string out;
  for (std::size_t c = 0; c < names.size(); ++c) {
    if (c) out += delimiter;
    out += csv_field(names[c], delimiter);
  }
  if (!names.empty()) out += '\n';
  const Tensor host = values.detach().to(Device::cpu()).contiguous();
  visit_dtype(host.dtype(), [&]<class T>() {
    const T* p = host.data_ptr<T>();
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c) {
        if (c) out += delimiter;
        const T v = p[r * cols + c];
        if constexpr (std::is_floating_point_v<T>)
          out += formatted(v);
        else
          out += std::to_string(static_cast<std::int64_t>(v));
      }
      out += '\n';
    }
  });
  detail::write_file_atomically(path, {out}, "write_csv");
}

}  // namespace kiln::data
