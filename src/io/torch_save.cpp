#include "io/torch_save.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/import_read.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string_view>

#include "util/error.h"

#if DLTRAIN_WITH_ARCHIVE
#include <archive.h>
#include <archive_entry.h>
#endif

namespace dltrain::io {
namespace {

Error read_error(const std::string& path, const std::string& why) { return Error::runtime(path + ": " + why); }

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw read_error(path, "cannot open the file");
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

// The file's bytes as LibTorch's zip reader (miniz) asks for them. The reader torch::pickle_load
// uses copies whatever range it is asked for, so a damaged archive made miniz read past the end
// of the buffer (fuzz finding 7); this one answers with the bytes there are, and miniz reports
// the short read as an error.
class BoundedReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReader(const std::vector<char>& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, bytes_.size() - pos));
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  const std::vector<char>& bytes_;
};

// Whether every record of the zip archive holds the size its directory declares, read through
// libarchive. LibTorch's zip reader allocates a record's declared size before it reads (fuzz
// finding 13: 4 GB declared by a 2-byte record). Builds without libarchive (the GPU bundle)
// leave that to LibTorch.
bool records_hold_their_sizes(const std::vector<char>& bytes) {
#if !DLTRAIN_WITH_ARCHIVE
  return true;
#else
  const std::unique_ptr<archive, decltype(&archive_read_free)> zip(archive_read_new(), archive_read_free);
  archive_read_support_format_zip_seekable(zip.get());
  if (archive_read_open_memory(zip.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) return false;
  archive_entry* entry = nullptr;
  int status = ARCHIVE_OK;
  while ((status = archive_read_next_header(zip.get(), &entry)) == ARCHIVE_OK) {
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0, held = 0;
    int read = ARCHIVE_OK;
    while ((read = archive_read_data_block(zip.get(), &block, &size, &offset)) == ARCHIVE_OK)
      held = offset + static_cast<la_int64_t>(size);
    if (read != ARCHIVE_EOF || (archive_entry_size_is_set(entry) && archive_entry_size(entry) != held)) return false;
  }
  return status == ARCHIVE_EOF;
#endif
}

// A pickle opcode's argument (protocols 0-5): fixed-size bytes, a little-endian length of
// `length_width` bytes and that many bytes, or `lines` lines ending in '\n'.
struct PickleArgument {
  std::string_view opcodes;
  int fixed = 0, length_width = 0, lines = 0;
  bool memo_index = false;  // BINPUT, LONG_BINPUT
};
constexpr PickleArgument kPickleArguments[] = {
    {"(012NRabd}el]ost)uQ\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98"},
    {"Kh\x80\x82", 1},
    {"M\x83", 2},
    {"Jj\x84", 4},
    {"G", 8},
    {"q", 1, 0, 0, true},
    {"r", 4, 0, 0, true},
    {"UC\x8c\x8a", 0, 1},
    {"TXB\x8b", 0, 4},
    {"\x8d\x8e\x96\x95", 0, 8},  // FRAME's length, too
    {"ILSVFpgP", 0, 0, 1},
    {"ci", 0, 0, 2},
};

// Walks a pickle's opcodes up to STOP and checks that every length it declares (strings, bytes,
// longs, frames) and every memo index fits in the pickle's own bytes. LibTorch's unpickler
// allocates a declared length, or reserves its memo table up to an index, before it reads (fuzz
// finding 8: 4 GB for a damaged 4-byte length). An opcode outside the table ends the walk: the
// unpickler refuses it there before reading further.
bool pickle_lengths_fit(const unsigned char* data, size_t size) {
  constexpr unsigned char kStop = '.', kFrame = 0x95;
  size_t at = 0;
  while (at < size) {
    const unsigned char op = data[at++];
    if (op == kStop) return true;
    const auto* argument = std::find_if(
        std::begin(kPickleArguments), std::end(kPickleArguments),
        [&](const PickleArgument& a) { return a.opcodes.find(static_cast<char>(op)) != std::string_view::npos; });
    if (argument == std::end(kPickleArguments)) return true;
    for (int i = 0; i < argument->lines; ++i) {
      const void* end = std::memchr(data + at, '\n', size - at);
      if (!end) return false;
      at = static_cast<size_t>(static_cast<const unsigned char*>(end) - data) + 1;
    }
    const int width = argument->fixed + argument->length_width;
    if (size - at < static_cast<size_t>(width)) return false;
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; --i) value = value << 8 | data[at + static_cast<size_t>(i)];
    at += static_cast<size_t>(width);
    if (argument->memo_index && value >= size) return false;
    if (argument->length_width == 0) continue;
    if (value > size - at) return false;
    if (op != kFrame) at += static_cast<size_t>(value);  // a frame holds the opcodes that follow
  }
  return false;  // no STOP
}

void collect(const c10::IValue& value, const std::string& prefix, TensorFile& out) {
  if (value.isTensor()) {
    out.tensors.emplace_back(prefix, value.toTensor());
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) {
      if (!entry.key().isString()) continue;
      collect(entry.value(), prefix.empty() ? entry.key().toStringRef() : prefix + "." + entry.key().toStringRef(),
              out);
    }
  }
}

}  // namespace

TensorFile read_torch_save(const std::string& path) {
  const char* const damaged =
      "a damaged torch.save file (its zip archive or pickle does not read); save it again, or as safetensors";
  const std::vector<char> bytes = read_bytes(path);
  if (!records_hold_their_sizes(bytes)) throw read_error(path, damaged);
  c10::IValue root;
  bool lengths_fit = true;
  try {
    // What torch::pickle_load does, over the bounded reader, once the pickle's lengths are checked.
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(bytes));
    const auto [pickle, pickle_size] = reader.getRecord("data.pkl");
    lengths_fit = pickle_lengths_fit(static_cast<const unsigned char*>(pickle.get()), pickle_size);
    if (lengths_fit)
      root = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"", /*type_resolver=*/{},
                                               /*obj_loader=*/{}, /*device=*/{}, reader);
  } catch (const c10::Error& e) {
    // torch.save stores its pickle uncompressed: one that starts (after PROTO 2) by building an
    // OrderedDict holds one at the top, which LibTorch's unpickler before 2.6 turns into None.
    const std::string_view raw(bytes.data(), bytes.size());
    if (raw.find("\x80\x02"
                 "ccollections\nOrderedDict") != std::string_view::npos)
      throw read_error(path,
                       "holds an OrderedDict (what model.state_dict() returns), which LibTorch before 2.6 cannot "
                       "read (PyTorch issue 100741): save it with torch.save(dict(model.state_dict()), path) or as "
                       "safetensors (safetensors.torch.save_file)");
    const std::string reason = plain_torch_message(e.what_without_backtrace());
    // A zip archive LibTorch's reader refuses (truncated, records past the end), or (LibTorch 2.x,
    // which checks its unpickler's table indices) a damaged pickle.
    if (reason.rfind("PytorchStreamReader failed", 0) == 0 || reason.rfind("Parsing error", 0) == 0)
      throw read_error(path, damaged);
    throw read_error(path,
                     "not a torch.save file this LibTorch can read (save it with PyTorch >= 1.6, tensors and dicts "
                     "only, or as safetensors): " +
                         reason);
  } catch (const std::exception&) {
    // LibTorch 1.13's unpickler indexes its tables with std::vector::at on a damaged pickle: its
    // std text says nothing to a user.
    throw read_error(path, damaged);
  }
  if (!lengths_fit) throw read_error(path, damaged);
  TensorFile file;
  collect(root, "", file);
  if (file.tensors.empty()) throw read_error(path, "holds no tensors");
  return file;
}

TensorFile read_tensor_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw read_error(path, "cannot open the file");
  char magic[4] = {};
  in.read(magic, sizeof magic);
  const bool zip = in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
  return zip ? read_torch_save(path) : read_safetensors(path);
}

}  // namespace dltrain::io
