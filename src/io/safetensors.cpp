#include "io/safetensors.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "util/error.h"
#include "util/failpoint.h"

namespace dltrain::io {
namespace {

using nlohmann::json;

Error io_error(const std::string& path, const std::string& what) { return Error::runtime(path + ": " + what); }

const std::vector<std::pair<std::string, torch::ScalarType>>& dtypes() {
  static const std::vector<std::pair<std::string, torch::ScalarType>> table = {
      {"F64", torch::kDouble}, {"F32", torch::kFloat}, {"F16", torch::kHalf},  {"BF16", torch::kBFloat16},
      {"I64", torch::kLong},   {"I32", torch::kInt},   {"I16", torch::kShort}, {"I8", torch::kChar},
      {"U8", torch::kByte},    {"BOOL", torch::kBool}};
  return table;
}

std::string dtype_name(torch::ScalarType type) {
  for (const auto& [name, t] : dtypes())
    if (t == type) return name;
  throw Error(std::string("safetensors cannot store dtype ") + c10::toString(type), std::nullopt, {},
              ErrorKind::Internal);
}

}  // namespace

const torch::Tensor* TensorFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

void write_safetensors(const std::string& path, const TensorFile& file) {
  std::vector<torch::Tensor> contiguous;
  json header = json::object();
  uint64_t offset = 0;
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& [name, tensor] : file.tensors) {
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {
        {"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    if (bytes) crc = crc32(crc, static_cast<const Bytef*>(t.data_ptr()), static_cast<uInt>(bytes));
    contiguous.push_back(t);
  }
  json metadata = json::object();
  for (const auto& [k, v] : file.metadata) metadata[k] = v;
  metadata["dltrain.crc32"] = std::to_string(crc);
  header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  const uint64_t length = text.size();

  AtomicFile out(path);
  uint8_t le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<uint8_t>(length >> (8 * i));
  out.write(le, 8);
  out.write(text.data(), text.size());
  for (const auto& t : contiguous) out.write(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  failpoint("save");
  out.commit();
}

TensorFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw io_error(path, std::string("cannot open: ") + std::strerror(errno));
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  if (size < 8) throw io_error(path, "truncated: not a safetensors file (" + std::to_string(size) + " bytes)");
  uint8_t le[8];
  in.read(reinterpret_cast<char*>(le), 8);
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= static_cast<uint64_t>(le[i]) << (8 * i);
  if (length > size - 8 || length > (100u << 20))
    throw io_error(path, "truncated or not a safetensors file (header of " + std::to_string(length) + " bytes)");
  std::string text(length, '\0');
  in.read(text.data(), static_cast<std::streamsize>(length));
  json header;
  try {
    header = json::parse(text);
  } catch (const json::parse_error& e) {
    throw io_error(path, "corrupt header (not JSON near byte " + std::to_string(8 + e.byte) +
                             "): the file is damaged or is no safetensors file");
  } catch (const json::out_of_range&) {  // the JSON reader's "number overflow parsing '5e744'"
    throw io_error(path, "corrupt header (a number out of range): the file is damaged or is no safetensors file");
  }
  const uint64_t data_start = 8 + length, data_size = size - data_start;
  std::vector<char> data(data_size);
  in.read(data.data(), static_cast<std::streamsize>(data_size));
  if (!in) throw io_error(path, "read failed");

  TensorFile file;
  std::vector<std::tuple<uint64_t, std::string, torch::Tensor>> ordered;
  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        for (auto m = it.value().begin(); m != it.value().end(); ++m)
          file.metadata[m.key()] = m.value().get<std::string>();
        continue;
      }
      const json& entry = it.value();
      const std::string dtype = entry.at("dtype").get<std::string>();
      auto type = std::find_if(dtypes().begin(), dtypes().end(), [&](const auto& d) { return d.first == dtype; });
      if (type == dtypes().end()) throw io_error(path, "tensor '" + it.key() + "' has unsupported dtype " + dtype);
      std::vector<int64_t> shape = entry.at("shape").get<std::vector<int64_t>>();
      auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      // The size its shape claims, checked against its offsets before anything is allocated.
      uint64_t bytes = c10::elementSize(type->second);
      for (int64_t d : shape) {
        if (d < 0 || (d > 0 && bytes > data_size / static_cast<uint64_t>(d)))
          throw io_error(path, "tensor '" + it.key() + "': its shape does not fit the file");
        bytes *= static_cast<uint64_t>(d);
      }
      if (offsets.size() != 2 || offsets[1] < offsets[0] || offsets[1] - offsets[0] != bytes)
        throw io_error(path, "tensor '" + it.key() + "': data offsets do not match its shape");
      torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(type->second));
      if (offsets[1] > data_size)
        throw io_error(path, "truncated: tensor '" + it.key() + "' ends at byte " + std::to_string(offsets[1]) +
                                 " of " + std::to_string(data_size));
      if (bytes) std::memcpy(t.data_ptr(), data.data() + offsets[0], bytes);
      ordered.emplace_back(offsets[0], it.key(), t);
    }
  } catch (const json::exception&) {
    throw io_error(path,
                   "corrupt header (a tensor without dtype, shape and data_offsets, or metadata that is not text): "
                   "the file is damaged or was not written as safetensors");
  }
  auto crc_it = file.metadata.find("dltrain.crc32");
  if (crc_it != file.metadata.end()) {
    uLong crc = crc32(0L, Z_NULL, 0);
    std::sort(ordered.begin(), ordered.end(),
              [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
    for (const auto& [offset, name, t] : ordered)
      if (t.numel())
        crc = crc32(crc, static_cast<const Bytef*>(t.data_ptr()), static_cast<uInt>(t.numel() * t.element_size()));
    if (std::to_string(crc) != crc_it->second) throw io_error(path, "corrupt: the data does not match its checksum");
  }
  for (auto& [offset, name, t] : ordered) file.tensors.emplace_back(name, t);
  return file;
}

}  // namespace dltrain::io
