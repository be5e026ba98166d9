// libFuzzer target: the CSV reader, with and without a header, numbers only and with
// the first column read as labels; a table that reads is also written and read back.
#include "fuzz_support.hpp"
#include "kiln/data/csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = kiln::fuzz::scratch_path("table.csv");
  static const std::string copy = kiln::fuzz::scratch_path("copy.csv");
  kiln::fuzz::write_file(path, data, size);
  using kiln::data::CsvOptions;
  for (const CsvOptions& options :
       {CsvOptions(), CsvOptions().set_header(false), CsvOptions().set_header(false).set_categorical({"0"}),
        CsvOptions().set_delimiter('\t').set_dtype(kiln::kFloat64)})
    kiln::fuzz::expect_ok_or_error([&] {
      const kiln::data::CsvTable table = kiln::data::read_csv(path, options);
      if (table.values.dim() == 2 && table.values.size(1) > 0) {
        kiln::data::write_csv(copy, table.values);
        (void)kiln::data::read_csv(copy, CsvOptions().set_header(false).set_dtype(table.values.dtype()));
      }
    });
  return 0;
}
