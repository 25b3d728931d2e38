#include "io/torch_save.h"

#include <torch/serialize.h>

#include <fstream>
#include <iterator>
#include <string_view>

#include "util/error.h"

namespace dltrain::io {
namespace {

Error read_error(const std::string& path, const std::string& why) { return Error::runtime(path + ": " + why); }

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw read_error(path, "cannot open the file");
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
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
  const char* const damaged = "a damaged torch.save file (its pickle does not read); save it again, or as safetensors";
  const std::vector<char> bytes = read_bytes(path);
  c10::IValue root;
  try {
    root = torch::pickle_load(bytes);
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
    // LibTorch 2.x checks its unpickler's table indices and reports a damaged pickle so.
    if (reason.rfind("Parsing error", 0) == 0) throw read_error(path, damaged);
    throw read_error(path,
                     "not a torch.save file this LibTorch can read (save it with PyTorch >= 1.6, tensors and dicts "
                     "only, or as safetensors): " +
                         reason);
  } catch (const std::exception&) {
    // LibTorch 1.13's unpickler indexes its tables with std::vector::at on a damaged pickle: its
    // std text says nothing to a user.
    throw read_error(path, damaged);
  }
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
