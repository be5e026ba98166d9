// Tables of numbers in CSV files: read into a tensor, and written back.
//
//   // sepal_length,sepal_width,petal_length,petal_width,species
//   const data::CsvTable iris = data::read_csv("iris.csv", data::CsvOptions().set_categorical({"species"}));
//   const Tensor x = iris.columns({"sepal_length", "sepal_width", "petal_length", "petal_width"});  // (150,
//   4) const Tensor y = iris.labels("species");  // (150) int64 codes; iris.categories.at("species") names
//   them data::TensorDataset train(x, y);
//
// The format is RFC 4180's: fields split by the delimiter, a field in double quotes may
// hold the delimiter, line breaks and doubled quotes (""); lines end in \n or \r\n; a
// UTF-8 byte-order mark and blank lines are skipped; spaces around an unquoted field are
// ignored.
// Every field must be a number (decimal or scientific notation, an optional sign, inf)
// or missing (empty, NA, N/A, NaN, nan, NULL, null: read as NaN), except in the categorical
// columns, whose distinct values (an empty field there is missing) are
// numbered 0, 1, ... in sorted (byte) order, so that a training and a test file that hold
// the same labels get the same codes. A field that is neither, a row with too few or too
// many fields, or an unclosed quote is a kiln::Error naming the file, line and column.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln::data {

struct CsvOptions {
  char delimiter = ',';
  bool header = true;                    // the first line names the columns
  std::vector<std::string> categorical;  // columns of labels, by name
  DType dtype = kFloat32;                // of CsvTable::values: float32 or float64
  CsvOptions& set_delimiter(char v) {
    delimiter = v;
    return *this;
  }
  CsvOptions& set_header(bool v) {
    header = v;
    return *this;
  }
  CsvOptions& set_categorical(std::vector<std::string> v) {
    categorical = std::move(v);
    return *this;
  }
  CsvOptions& set_dtype(DType v) {
    dtype = v;
    return *this;
  }
};

struct CsvTable {
  // The columns' names: the header's, or "0", "1", ... without one (an empty header
  // field becomes "unnamed_<i>").
  std::vector<std::string> names;
  // (rows, columns) of CsvOptions::dtype: the numbers, a categorical column's codes, NaN
  // where a value is missing.
  Tensor values;
  // For each categorical column, its labels: code i stands for categories[name][i].
  std::map<std::string, std::vector<std::string>> categories;

  std::int64_t rows() const { return values.size(0); }
  // The position of a column; an error listing the names when there is none.
  std::int64_t index_of(const std::string& name) const;
  Tensor column(const std::string& name) const;                 // (rows)
  Tensor columns(const std::vector<std::string>& names) const;  // (rows, k), in the order asked
  // A categorical column's codes as int64 class labels (an error if one is missing).
  Tensor labels(const std::string& name) const;
};

CsvTable read_csv(const std::string& path, const CsvOptions& options = {});
// The same from text in memory; `source` names it in errors.
CsvTable parse_csv(std::string_view text, const CsvOptions& options = {},
                   const std::string& source = "<text>");

// Writes a 1-D (one column) or 2-D tensor of any real dtype as CSV, with a header line when
// `names` are given (one per column): integers as integers, floating values in the
// shortest form that reads back to the same value (nan, inf, -inf as such). Written
// atomically: a crash leaves the old file.
void write_csv(const std::string& path, const Tensor& values, const std::vector<std::string>& names = {},
               char delimiter = ',');

}  // namespace kiln::data
