#include "train/cuda_switches.h"

#include <ATen/Context.h>

#include <dlfcn.h>
#include <glob.h>
#include <link.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "util/error.h"

namespace dltrain::train {
namespace {

// torch 2.11's _preload_cuda_deps (torch/__init__.py): the nvidia-* package folder and library
// pattern of each, in its order (cuBLASLt before cuBLAS, so cuBLAS does not find another one).
struct WheelLibrary {
  const char* folder;
  const char* pattern;
};
constexpr WheelLibrary kPythonPreloadOrder[] = {
    {"cublas", "libcublasLt.so.*[0-9]"},
    {"cublas", "libcublas.so.*[0-9]"},
    {"cudnn", "libcudnn.so.*[0-9]"},
    {"cuda_nvrtc", "libnvrtc.so.*[0-9]"},
    {"cuda_nvrtc", "libnvrtc-builtins.so.*[0-9]"},
    {"cuda_runtime", "libcudart.so.*[0-9]"},
    {"cuda_cupti", "libcupti.so.*[0-9]"},
    {"cufft", "libcufft.so.*[0-9]"},
    {"curand", "libcurand.so.*[0-9]"},
    {"nvjitlink", "libnvJitLink.so.*[0-9]"},
    {"cusparse", "libcusparse.so.*[0-9]"},
    {"cusparselt", "libcusparseLt.so.*[0-9]"},
    {"cusolver", "libcusolver.so.*[0-9]"},
    {"nccl", "libnccl.so.*[0-9]"},
    {"nvshmem", "libnvshmem_host.so.*[0-9]"},
    {"cufile", "libcufile.so.*[0-9]"},
};

// The folder holding the loaded libtorch_cpu.so[.N] ("" when none is loaded).
std::string torch_lib_dir() {
  std::string dir;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* found) {
        const char* name = info->dlpi_name;
        const char* slash = name ? std::strrchr(name, '/') : nullptr;
        if (slash && std::strncmp(slash + 1, "libtorch_cpu.so", 15) == 0) {
          *static_cast<std::string*>(found) = std::string(name, slash);
          return 1;
        }
        return 0;
      },
      &dir);
  return dir;
}

std::vector<std::string> glob_paths(const std::string& pattern) {
  std::vector<std::string> paths;
  glob_t matches{};
  if (glob(pattern.c_str(), 0, nullptr, &matches) == 0)
    for (size_t i = 0; i < matches.gl_pathc; ++i) paths.emplace_back(matches.gl_pathv[i]);
  globfree(&matches);
  return paths;
}

// Where a library of this soname is already loaded from ("" when it is not).
std::string loaded_path(const std::string& soname) {
  void* handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!handle) return "";
  link_map* map = nullptr;
  std::string path = dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map ? map->l_name : soname;
  dlclose(handle);
  return path;
}

// Python's lookup for each library: site/nvidia/<folder>/lib, then site/nvidia/cu<N>/lib; the
// first match is loaded (RTLD_NOW | RTLD_LOCAL, as ctypes.CDLL does) unless a library of that
// name is loaded already, which is reported with its path.
std::vector<std::string> preload_like_python() {
  const std::string lib_dir = torch_lib_dir();
  if (lib_dir.empty()) return {"DLTRAIN_CUDA_PRELOAD: libtorch_cpu.so is not loaded; nothing preloaded"};
  const std::string nvidia = lib_dir + "/../../nvidia";
  if (glob_paths(nvidia + "/*/lib").empty())
    return {"DLTRAIN_CUDA_PRELOAD: no nvidia-* wheels beside this LibTorch (" + nvidia + "); nothing preloaded"};
  std::vector<std::string> lines;
  for (const WheelLibrary& lib : kPythonPreloadOrder) {
    std::vector<std::string> found = glob_paths(nvidia + "/" + lib.folder + "/lib/" + lib.pattern);
    if (found.empty()) found = glob_paths(nvidia + "/cu[0-9]*/lib/" + lib.pattern);
    if (found.empty()) {
      lines.push_back(std::string("DLTRAIN_CUDA_PRELOAD: ") + lib.pattern + ": not in " + nvidia);
      continue;
    }
    const std::string& path = found.front();
    const std::string soname = path.substr(path.rfind('/') + 1);
    if (std::string already = loaded_path(soname); !already.empty()) {
      lines.push_back("DLTRAIN_CUDA_PRELOAD: " + soname + " already loaded from " + already);
    } else if (dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      lines.push_back("DLTRAIN_CUDA_PRELOAD: loaded " + path);
    } else {
      lines.push_back("DLTRAIN_CUDA_PRELOAD: " + path + ": " + dlerror());
    }
  }
  return lines;
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

std::vector<std::string> apply_cuda_switches() {
  std::vector<std::string> lines;
  if (const std::string preload = env("DLTRAIN_CUDA_PRELOAD"); !preload.empty()) {
    if (preload != "python")
      throw Error("DLTRAIN_CUDA_PRELOAD must be 'python' (the torch wheel's CUDA libraries in Python's order), got '" +
                  preload + "'");
    lines = preload_like_python();
  }
  if (const std::string cudnn = env("DLTRAIN_CUDNN"); !cudnn.empty()) {
    if (cudnn != "0" && cudnn != "1") throw Error("DLTRAIN_CUDNN must be 0 (cuDNN off) or 1, got '" + cudnn + "'");
    at::globalContext().setUserEnabledCuDNN(cudnn == "1");
    lines.push_back(cudnn == "1" ? "DLTRAIN_CUDNN=1: cuDNN on"
                                 : "DLTRAIN_CUDNN=0: cuDNN off, LibTorch's own CUDA kernels");
  }
  return lines;
}

}  // namespace dltrain::train
