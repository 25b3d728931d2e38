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
#include <vector>

#include "util/error.h"

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

// Little-endian unsigned integer of `width` bytes at bytes[at] (the caller checks the range).
uint64_t le(const std::vector<char>& bytes, size_t at, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i)
    value = value << 8 | static_cast<unsigned char>(bytes[at + static_cast<size_t>(i)]);
  return value;
}

// Whether every record in the zip archive's central directory (what LibTorch's zip reader,
// miniz, goes by) declares a size its bytes can hold: a stored record exactly its stored bytes, a
// deflated one at most deflate's 1032:1, both inside the file; ZIP64 sizes and directories (which
// PyTorch writes) included. miniz allocates a record's declared size before it reads (fuzz
// findings 13 and 18: 4 GB and 2 GB declared by 2-byte records). A directory that cannot be
// found or read is the zip reader's own error to report.
bool records_hold_their_sizes(const std::vector<char>& bytes) {
  constexpr uint32_t kEnd = 0x06054b50, kEnd64 = 0x06064b50, kEnd64Locator = 0x07064b50, kEntry = 0x02014b50;
  constexpr uint64_t kSaturated32 = 0xffffffff;
  const size_t size = bytes.size();
  const auto fits = [&](uint64_t at, uint64_t length) { return at <= size && length <= size - at; };
  // The end record: its signature in the last 22 + 65,535 bytes, searched from the end.
  if (size < 22) return true;
  size_t end = size - 22;
  while (le(bytes, end, 4) != kEnd) {
    if (end == 0 || size - end >= 22 + 0xffff) return true;
    --end;
  }
  uint64_t entries = le(bytes, end + 10, 2), directory = le(bytes, end + 16, 4);
  if ((entries == 0xffff || directory == kSaturated32) && end >= 20 && le(bytes, end - 20, 4) == kEnd64Locator) {
    const uint64_t end64 = le(bytes, end - 20 + 8, 8);
    if (!fits(end64, 56) || le(bytes, end64, 4) != kEnd64) return true;
    entries = le(bytes, end64 + 32, 8);
    directory = le(bytes, end64 + 48, 8);
  }
  uint64_t at = directory;
  for (uint64_t i = 0; i < entries; ++i) {
    if (!fits(at, 46) || le(bytes, at, 4) != kEntry) return true;
    const uint64_t method = le(bytes, at + 10, 2), name = le(bytes, at + 28, 2), extra = le(bytes, at + 30, 2),
                   comment = le(bytes, at + 32, 2);
    uint64_t stored = le(bytes, at + 20, 4), declared = le(bytes, at + 24, 4), local = le(bytes, at + 42, 4);
    if (!fits(at + 46 + name, extra)) return false;
    // ZIP64's extended sizes: the saturated fields' 8-byte values, in this order.
    for (uint64_t field = at + 46 + name; field + 4 <= at + 46 + name + extra;) {
      const uint64_t id = le(bytes, field, 2), length = le(bytes, field + 2, 2);
      uint64_t value = field + 4;
      if (id == 1)
        for (uint64_t* saturated : {&declared, &stored, &local})
          if (*saturated == kSaturated32 && value + 8 <= field + 4 + length && fits(value, 8)) {
            *saturated = le(bytes, value, 8);
            value += 8;
          }
      field += 4 + length;
    }
    const bool holds = method == 0 ? declared == stored : declared / 1032 <= stored;
    if (!holds || !fits(local, stored)) return false;
    at += 46 + name + extra + comment;
  }
  return true;
}

// What a pickle opcode reads after itself (fixed-size bytes; a little-endian length of
// `length_width` bytes and that many bytes; or `lines` lines ending in '\n') and what it does to
// the unpickler's stack, as Python's pickletools models it.
enum class StackEffect {
  Plain,      // pops `pops` objects (never across a mark), pushes `pushes`
  Mark,       // MARK
  FromMark,   // TUPLE, LIST, DICT, FROZENSET, OBJ, INST: the objects above the mark become one
  IntoBelow,  // APPENDS, SETITEMS, ADDITEMS: the objects above the mark go into the one below it
  PopMark,    // POP_MARK
  Pop,        // POP: the top object, or a mark on top
};
struct PickleOpcodes {
  std::string_view opcodes;
  int fixed = 0, length_width = 0, lines = 0;
  bool memo_index = false;  // BINPUT, LONG_BINPUT
  StackEffect effect = StackEffect::Plain;
  int pops = 0, pushes = 0;
};
using E = StackEffect;
constexpr PickleOpcodes kPickleOpcodes[] = {
    {"N\x88\x89)]}\x8f\x97", 0, 0, 0, false, E::Plain, 0, 1},
    {"Q\x85\x94\x98", 0, 0, 0, false, E::Plain, 1, 1},
    {"abR\x86\x81\x93", 0, 0, 0, false, E::Plain, 2, 1},
    {"\x87s\x92", 0, 0, 0, false, E::Plain, 3, 1},
    {"2", 0, 0, 0, false, E::Plain, 1, 2},
    {"(", 0, 0, 0, false, E::Mark},
    {"tld\x91o", 0, 0, 0, false, E::FromMark},
    {"eu\x90", 0, 0, 0, false, E::IntoBelow},
    {"1", 0, 0, 0, false, E::PopMark},
    {"0", 0, 0, 0, false, E::Pop},
    {"\x80", 1},  // PROTO
    {"Kh\x82", 1, 0, 0, false, E::Plain, 0, 1},
    {"M\x83", 2, 0, 0, false, E::Plain, 0, 1},
    {"Jj\x84", 4, 0, 0, false, E::Plain, 0, 1},
    {"G", 8, 0, 0, false, E::Plain, 0, 1},
    {"q", 1, 0, 0, true, E::Plain, 1, 1},
    {"r", 4, 0, 0, true, E::Plain, 1, 1},
    {"UC\x8c\x8a", 0, 1, 0, false, E::Plain, 0, 1},
    {"TXB\x8b", 0, 4, 0, false, E::Plain, 0, 1},
    {"\x8d\x8e\x96", 0, 8, 0, false, E::Plain, 0, 1},
    {"\x95", 0, 8},  // FRAME: its length counts the opcodes that follow
    {"ILSVFgP", 0, 0, 1, false, E::Plain, 0, 1},
    {"p", 0, 0, 1, false, E::Plain, 1, 1},
    {"c", 0, 0, 2, false, E::Plain, 0, 1},
    {"i", 0, 0, 2, false, E::FromMark},
};

// Walks a pickle's opcodes up to STOP and checks what LibTorch's unpickler takes on trust: every
// length it declares (strings, bytes, longs, frames) and every memo index fits in the pickle's
// own bytes, and no opcode takes more from the stack, or from above a mark, than is there.
// LibTorch allocates a declared length, or reserves its memo table up to an index, before it reads
// (fuzz finding 8: 4 GB for a damaged 4-byte length); LibTorch 1.13 pops an empty stack (finding
// 16: TUPLE3 over two objects freed a pointer it never allocated). An opcode outside the table
// ends the walk: the unpickler refuses it there before reading further.
bool pickle_is_well_formed(const unsigned char* data, size_t size) {
  constexpr unsigned char kStop = '.', kFrame = 0x95, kSetItems = 'u';
  size_t at = 0;
  int64_t depth = 0;           // objects on the stack
  std::vector<int64_t> marks;  // the depth at each open mark
  while (at < size) {
    const unsigned char op = data[at++];
    const int64_t above_mark = depth - (marks.empty() ? 0 : marks.back());
    if (op == kStop) return above_mark >= 1;
    const auto* code = std::find_if(std::begin(kPickleOpcodes), std::end(kPickleOpcodes), [&](const PickleOpcodes& c) {
      return c.opcodes.find(static_cast<char>(op)) != std::string_view::npos;
    });
    if (code == std::end(kPickleOpcodes)) return true;
    for (int i = 0; i < code->lines; ++i) {
      const void* end = std::memchr(data + at, '\n', size - at);
      if (!end) return false;
      at = static_cast<size_t>(static_cast<const unsigned char*>(end) - data) + 1;
    }
    const int width = code->fixed + code->length_width;
    if (size - at < static_cast<size_t>(width)) return false;
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; --i) value = value << 8 | data[at + static_cast<size_t>(i)];
    at += static_cast<size_t>(width);
    if (code->memo_index && value >= size) return false;
    if (code->length_width != 0) {
      if (value > size - at) return false;
      if (op != kFrame) at += static_cast<size_t>(value);
    }
    switch (code->effect) {
      case E::Plain:
        if (above_mark < code->pops) return false;
        depth += code->pushes - code->pops;
        break;
      case E::Mark:
        marks.push_back(depth);
        break;
      case E::FromMark:
      case E::IntoBelow:
      case E::PopMark:
        if (marks.empty()) return false;
        depth = marks.back();
        marks.pop_back();
        if (code->effect == E::FromMark) ++depth;
        if (code->effect == E::IntoBelow &&
            (depth - (marks.empty() ? 0 : marks.back()) < 1 || (op == kSetItems && above_mark % 2 != 0)))
          return false;
        break;
      case E::Pop:
        if (above_mark == 0 && !marks.empty())
          marks.pop_back();
        else if (above_mark >= 1)
          --depth;
        else
          return false;
        break;
    }
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
  bool well_formed = true;
  try {
    // What torch::pickle_load does, over the bounded reader, once the pickle's walk finds it well formed.
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(bytes));
    const auto [pickle, pickle_size] = reader.getRecord("data.pkl");
    well_formed = pickle_is_well_formed(static_cast<const unsigned char*>(pickle.get()), pickle_size);
    if (well_formed)
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
  if (!well_formed) throw read_error(path, damaged);
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
