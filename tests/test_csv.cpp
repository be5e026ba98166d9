// CSV tables (kiln/data/csv.hpp): quoting, line endings, missing values, labels coded in
// sorted order, column selection, the writer's round trip, and the errors, each naming
// the line and column.
#include <cmath>
#include <fstream>
#include <limits>
#include <vector>

#include "helpers.hpp"
#include "temp_dir.hpp"

using namespace kiln;
using kiln::test::check_values;

namespace {

std::vector<double> values_of(const Tensor& t) { return t.to(kFloat64).contiguous().to_vector<double>(); }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("parse_csv reads numbers, labels and missing values") {
  const std::string text =
      "\xEF\xBB\xBF"  // a byte-order mark
      "length, width ,species\r\n"
      "5.1,3.5,setosa\r\n"
      "\r\n"                              // a blank line
      "  +6.2 , 2.9e0 ,\"versicolor\"\n"  // spaces, a plus sign, a quoted label
      "4.7,NA,setosa\n"
      "7.7,-inf,virginica";  // no final line break
  const data::CsvTable t = data::parse_csv(text, data::CsvOptions().set_categorical({"species"}));
  CHECK(t.names == std::vector<std::string>{"length", "width", "species"});
  CHECK(t.rows() == 4);
  CHECK(t.values.dtype() == kFloat32);
  CHECK(t.categories.at("species") == std::vector<std::string>{"setosa", "versicolor", "virginica"});
  check_values(t.column("length"), {5.1, 6.2, 4.7, 7.7});
  const std::vector<double> width = values_of(t.column("width"));
  CHECK(width[0] == doctest::Approx(3.5));
  CHECK(width[1] == doctest::Approx(2.9));
  CHECK(std::isnan(width[2]));
  CHECK(width[3] == -std::numeric_limits<double>::infinity());
  const Tensor y = t.labels("species");
  CHECK(y.dtype() == kInt64);
  CHECK(y.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 0, 2});
  const Tensor x = t.columns({"width", "length"});  // in the order asked
  CHECK(x.shape() == Shape{4, 2});
  CHECK(values_of(x)[1] == doctest::Approx(5.1));
}

TEST_CASE("parse_csv: quoting, delimiters, no header, float64") {
  const std::string text =
      "1;\"a;b\";2\n"
      "3;\"say \"\"hi\"\"\nand go\";4\n"  // a doubled quote and a line break inside quotes
      "5;;6\n";
  const auto options =
      data::CsvOptions().set_delimiter(';').set_header(false).set_categorical({"1"}).set_dtype(kFloat64);
  const data::CsvTable t = data::parse_csv(text, options);
  CHECK(t.names == std::vector<std::string>{"0", "1", "2"});
  CHECK(t.values.dtype() == kFloat64);
  CHECK(t.categories.at("1") == std::vector<std::string>{"a;b", "say \"hi\"\nand go"});
  const std::vector<double> v = values_of(t.values);
  CHECK(v[0] == 1);
  CHECK(v[1] == 0);
  CHECK(v[4] == 1);
  CHECK(std::isnan(v[7]));  // an empty label is missing
  CHECK(v[8] == 6);
  CHECK_THROWS_WITH_AS(t.labels("1"), doctest::Contains("has 1 missing values"), Error);
  CHECK_THROWS_WITH_AS(t.labels("0"), doctest::Contains("holds numbers, not labels"), Error);

  // An empty text: no columns without a header, an error with one.
  CHECK(data::parse_csv("\n\n", data::CsvOptions().set_header(false)).values.shape() == Shape{0, 0});
  CHECK_THROWS_WITH_AS(data::parse_csv(""), doctest::Contains("is empty; expected a header line"), Error);
  // A header alone: no rows.
  CHECK(data::parse_csv("a,b\n").values.shape() == Shape{0, 2});
}

TEST_CASE("parse_csv errors name the line and the column") {
  CHECK_THROWS_WITH_AS(data::parse_csv("a,b\n1,2\n3\n"),
                       doctest::Contains("line 3: 1 fields where the header has 2"), Error);
  CHECK_THROWS_WITH_AS(data::parse_csv("a,b\n1,2\n\n3,x7\n"),
                       doctest::Contains("line 4, column 'b': 'x7' is not a number; list the column in "
                                         "CsvOptions::categorical"),
                       Error);
  CHECK_THROWS_WITH_AS(data::parse_csv("a,b\n1,\"2\n3,4\n"),
                       doctest::Contains("line 2: a quoted field opens here and is never closed"), Error);
  CHECK_THROWS_WITH_AS(data::parse_csv("a,b\n1,\"2\"x\n"),
                       doctest::Contains("line 2: 'x' follows the closing quote"), Error);
  CHECK_THROWS_WITH_AS(data::parse_csv("a,a\n1,2\n"), doctest::Contains("column name 'a' appears twice"),
                       Error);
  CHECK_THROWS_WITH_AS(data::parse_csv("a,b\n1,2\n", data::CsvOptions().set_categorical({"c"})),
                       doctest::Contains("'c' is not among the columns (a, b)"), Error);
  CHECK_THROWS_WITH_AS(data::parse_csv("a\n1e999\n"), doctest::Contains("'1e999' is not a number"), Error);
  CHECK_THROWS_WITH_AS(data::parse_csv("a\n1\n", data::CsvOptions().set_dtype(kInt64)),
                       doctest::Contains("must be float32 or float64"), Error);
  CHECK_THROWS_WITH_AS(data::parse_csv("a,b\n1,2\n").column("c"),
                       doctest::Contains("no column named 'c' (the columns: a, b)"), Error);
  CHECK_THROWS_WITH_AS(data::read_csv("/nonexistent/table.csv"), doctest::Contains("cannot open"), Error);
}

TEST_CASE("write_csv writes what read_csv reads back, exactly") {
  const test::TempDir dir("kiln_csv_");
  const std::string path = (dir / "table.csv").string();
  const Tensor f = tensor<float>({0.1f, -3.0f, 1e-30f, std::numeric_limits<float>::quiet_NaN(), 16777216.0f,
                                  std::numeric_limits<float>::infinity()},
                                 {3, 2});
  data::write_csv(path, f, {"x", "y,z"});
  CHECK(read_text(path) == "x,\"y,z\"\n0.1,-3\n1e-30,nan\n16777216,inf\n");
  const data::CsvTable back = data::read_csv(path);
  CHECK(back.names == std::vector<std::string>{"x", "y,z"});
  const std::vector<float> got = back.values.to_vector<float>(), want = f.to_vector<float>();
  for (std::size_t i = 0; i < want.size(); ++i)
    CHECK((got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i]))));

  const Tensor d = randn({50, 3}, kFloat64);
  data::write_csv(path, d);  // no header; replaces the file
  CHECK(equal(data::read_csv(path, data::CsvOptions().set_header(false).set_dtype(kFloat64)).values, d));

  data::write_csv(path, tensor<std::int64_t>({3, -7, 1234567890123}));  // one column
  CHECK(read_text(path) == "3\n-7\n1234567890123\n");
  CHECK_THROWS_WITH_AS(data::write_csv(path, d, {"a"}), doctest::Contains("1 names for 3 columns"), Error);
  CHECK_THROWS_WITH_AS(data::write_csv(path, zeros({2, 2, 2})), doctest::Contains("must be 1-D"), Error);
  CHECK_THROWS_WITH_AS(data::write_csv((dir / "missing" / "t.csv").string(), d),
                       doctest::Contains("write_csv: creating"), Error);
  CHECK(read_text(path) == "3\n-7\n1234567890123\n");  // a failed write elsewhere left it alone
}
