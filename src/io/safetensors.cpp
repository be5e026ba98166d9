#include "kiln/io/safetensors.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "src/core/atomic_file.hpp"

namespace kiln::io {

namespace {

using json = nlohmann::json;

constexpr std::uint64_t kMaxHeader = 100u << 20;  // as the reference implementation

const char* dtype_code(DType t) {
  switch (t) {
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::int64: return "I64";
    case DType::int32: return "I32";
    case DType::uint8: return "U8";
    case DType::int8: return "I8";
    case DType::q4_0: return "U8";  // stored as its raw blocks (see save)
  }
  return "?";
}

bool dtype_from_code(const std::string& s, DType& out) {
  static const std::pair<const char*, DType> table[] = {
      {"F32", kFloat32}, {"F64", kFloat64}, {"I64", kInt64}, {"I32", kInt32}, {"U8", kUInt8}, {"I8", kInt8}};
  for (const auto& [code, t] : table)
    if (s == code) {
      out = t;
      return true;
    }
  return false;
}

}  // namespace

void save(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  json header = json::object();
  std::uint64_t offset = 0;
  std::vector<Tensor> blobs;
  for (const auto& [name, t] : tensors) {
    KILN_CHECK(t.defined(), "save: tensor '", name, "' is undefined");
    KILN_CHECK(name != "__metadata__", "save: '__metadata__' is reserved in safetensors; rename the tensor");
    const Tensor c = t.detach().to(Device::cpu()).contiguous();
    const std::uint64_t bytes = storage_bytes(c.dtype(), c.numel());
    Shape shape = c.shape();
    if (is_block_format(c.dtype()))  // safetensors has no block types: the blocks go out as bytes
      shape.back() = shape.back() / block_elems(c.dtype()) * static_cast<std::int64_t>(itemsize(c.dtype()));
    header[name] = {{"dtype", dtype_code(c.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    blobs.push_back(c);
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  const std::uint64_t n = text.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));  // little-endian

  // Written through a temporary file renamed into place: a crash leaves the old file.
  std::vector<std::string_view> pieces{{reinterpret_cast<const char*>(len), 8}, text};
  for (const Tensor& c : blobs)
    pieces.emplace_back(static_cast<const char*>(c.raw_data_ptr()), storage_bytes(c.dtype(), c.numel()));
  detail::write_file_atomically(path, pieces, "save");
}

Loaded load(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  KILN_CHECK(in.good(), "load: cannot open '", path, "'; check the path");
  const std::uint64_t size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  KILN_CHECK(size >= 8, "load: ", path, ": ", size, " bytes is too short for a safetensors file (8-byte header length)");
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(len[i]) << (8 * i);
  KILN_CHECK(n <= kMaxHeader && n <= size - 8, "load: ", path, ": header length ", n,
             " is larger than the file (", size, " bytes) or than 100 MiB: truncated or not safetensors");
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  KILN_CHECK(in.good(), "load: ", path, ": could not read the ", n, "-byte header");
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("load: " + path + ": the header is not valid JSON (" + e.what() + ")");
  }
  KILN_CHECK(header.is_object(), "load: ", path, ": the header must be a JSON object");
  const std::uint64_t data_size = size - 8 - n;

  Loaded out;
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    std::uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      KILN_CHECK(value.is_object(), "load: ", path, ": __metadata__ must be an object of strings");
      for (const auto& [k, v] : value.items()) {
        KILN_CHECK(v.is_string(), "load: ", path, ": metadata '", k, "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const auto bad = [&, tensor_name = name](const std::string& what) {
      return Error("load: " + path + ": tensor '" + tensor_name + "': " + what);
    };
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets"))
      throw bad("needs dtype, shape and data_offsets");
    Entry e{name, kFloat32, {}, 0, 0};
    if (!value["dtype"].is_string() || !dtype_from_code(value["dtype"].get<std::string>(), e.dtype))
      throw bad("dtype " + value["dtype"].dump() + " is not one kiln reads (F32, F64, I64, I32, U8)");
    if (!value["shape"].is_array()) throw bad("shape is not a list");
    std::uint64_t count = 1;
    for (const auto& d : value["shape"]) {
      if (!d.is_number_unsigned()) throw bad("shape " + value["shape"].dump() + " has a non-integer or negative size");
      const std::uint64_t s = d.get<std::uint64_t>();
      if (s != 0 && count > (std::uint64_t(1) << 40) / s) throw bad("shape " + value["shape"].dump() + " is too large");
      count *= s;
      e.shape.push_back(static_cast<std::int64_t>(s));
    }
    const auto& offs = value["data_offsets"];
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
      throw bad("data_offsets must be two non-negative integers");
    e.begin = offs[0].get<std::uint64_t>();
    e.end = offs[1].get<std::uint64_t>();
    if (e.begin > e.end || e.end > data_size)
      throw bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                ") fall outside the " + std::to_string(data_size) + "-byte data section (truncated file?)");
    if (e.end - e.begin != count * itemsize(e.dtype))
      throw bad("data_offsets span " + std::to_string(e.end - e.begin) + " bytes but shape " + value["shape"].dump() +
                " of " + dtype_code(e.dtype) + " needs " + std::to_string(count * itemsize(e.dtype)));
    entries.push_back(std::move(e));
  }
  // The tensors must tile the data section exactly: no overlaps, no gaps.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  std::uint64_t expected = 0;
  for (const Entry& e : entries) {
    KILN_CHECK(e.begin == expected, "load: ", path, ": tensor '", e.name, "' starts at byte ", e.begin,
               " but the previous tensor ends at ", expected, " (overlapping or missing data)");
    expected = e.end;
  }
  KILN_CHECK(expected == data_size, "load: ", path, ": the tensors cover ", expected, " bytes but the data section has ",
             data_size);
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    in.seekg(static_cast<std::streamoff>(8 + n + e.begin));
    in.read(static_cast<char*>(t.raw_data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
    KILN_CHECK(in.good() || e.end == e.begin, "load: ", path, ": could not read tensor '", e.name, "'");
    out.tensors[e.name] = t;
  }
  return out;
}

}  // namespace kiln::io
