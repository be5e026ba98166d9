#include "kiln/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>

namespace kiln::data {

namespace {

struct GzFile {
  gzFile f;
  explicit GzFile(const std::string& path) : f(gzopen(path.c_str(), "rb")) {}
  ~GzFile() {
    if (f) gzclose(f);
  }
};

// Reads exactly n bytes (gzread handles both compressed and plain files), or
// returns how many it got before the end.
std::int64_t read_bytes(GzFile& file, const std::string& path, void* dst, std::int64_t n) {
  auto* out = static_cast<unsigned char*>(dst);
  std::int64_t got = 0;
  while (got < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::int64_t>(n - got, 1 << 30));
    const int r = gzread(file.f, out + got, chunk);
    if (r < 0) {
      int code = 0;
      const char* msg = gzerror(file.f, &code);
      throw Error("read_idx: " + path + ": corrupt data (" + (msg ? msg : "zlib error") + ")");
    }
    if (r == 0) break;
    got += r;
  }
  return got;
}

}  // namespace

Tensor read_idx(const std::string& path) {
  GzFile file(path);
  KILN_CHECK(file.f != nullptr, "read_idx: cannot open '", path, "'; check the path (and --data)");
  unsigned char magic[4];
  KILN_CHECK(read_bytes(file, path, magic, 4) == 4, "read_idx: ", path, ": file too short for an IDX header");
  KILN_CHECK(magic[0] == 0 && magic[1] == 0, "read_idx: ", path,
             ": not an IDX file (wrong magic number; expected 0x0000 then type and rank)");
  DType dtype;
  switch (magic[2]) {
    case 0x08: dtype = kUInt8; break;
    case 0x0C: dtype = kInt32; break;
    case 0x0D: dtype = kFloat32; break;
    default:
      throw Error(detail::concat("read_idx: ", path, ": element type 0x", std::hex, int(magic[2]),
                                 " is not supported (unsigned byte 0x08, int 0x0C, float 0x0D are)"));
  }
  const int rank = magic[3];
  KILN_CHECK(rank >= 1 && rank <= 8, "read_idx: ", path, ": rank ", rank, " is not in 1..8");
  Shape shape(rank);
  constexpr std::int64_t kMaxElements = std::int64_t(1) << 33;
  std::int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    unsigned char b[4];
    KILN_CHECK(read_bytes(file, path, b, 4) == 4, "read_idx: ", path, ": truncated header (dimension ", d, ")");
    shape[d] = (std::int64_t(b[0]) << 24) | (b[1] << 16) | (b[2] << 8) | b[3];  // big-endian
    // Checked before multiplying, so a lying header cannot overflow the count.
    KILN_CHECK(shape[d] <= kMaxElements / std::max<std::int64_t>(count, 1), "read_idx: ", path,
               ": header claims shape ", fmt(Shape(shape.begin(), shape.begin() + d + 1)),
               "..., more than 8 Gi elements; the file is corrupt");
    count *= std::max<std::int64_t>(shape[d], 1);
  }
  // Before allocating, the data must fit in the file: a plain file holds its bytes,
  // and deflate expands at most 1032-fold, so a header that lies about its sizes is
  // an error here rather than a huge allocation.
  const std::int64_t expected = numel_of(shape) * static_cast<std::int64_t>(itemsize(dtype));
  std::error_code ec;
  const auto file_bytes = static_cast<std::int64_t>(std::filesystem::file_size(path, ec));
  const std::int64_t most = ec ? expected : gzdirect(file.f) ? file_bytes : file_bytes * 1032 + 1024;
  KILN_CHECK(expected <= most, "read_idx: ", path, ": truncated: the header promises shape ", fmt(shape), " (",
             expected, " bytes of data) but a file of ", file_bytes, " bytes cannot hold that many");
  Tensor t = Tensor::empty(shape, dtype);
  const std::int64_t got = read_bytes(file, path, t.raw_data_ptr(), expected);
  KILN_CHECK(got == expected, "read_idx: ", path, ": truncated: the header promises shape ", fmt(shape), " (",
             expected, " bytes of data) but the file holds ", got);
  unsigned char extra;
  KILN_CHECK(read_bytes(file, path, &extra, 1) == 0, "read_idx: ", path, ": unexpected bytes after the ",
             expected, " bytes of data promised by the header");
  if (dtype != kUInt8) {  // IDX stores multi-byte values big-endian
    auto* p = static_cast<std::uint32_t*>(t.raw_data_ptr());
    const std::int64_t n = t.numel();
    for (std::int64_t i = 0; i < n; ++i) p[i] = __builtin_bswap32(p[i]);
  }
  return t;
}

}  // namespace kiln::data
