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
  c10::IValue root;
  try {
    // What torch::pickle_load does, over the bounded reader.
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(bytes));
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
