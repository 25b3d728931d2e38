# Finds dltrain's dependencies. On Debian 12 they all come from scripts/setup.sh; elsewhere see
# third_party/README.md. LibTorch may be Debian's 1.13 (CPU) or any 2.x given via CMAKE_PREFIX_PATH.

find_package(Torch REQUIRED)
# TorchConfig finds libc10 through PATHS, searched after the system's folders: on a machine with
# Debian's LibTorch, a wheel's TORCH_LIBRARIES named Debian's libc10 beside the wheel's libtorch.
get_filename_component(own_c10 "${TORCH_INSTALL_PREFIX}/lib/libc10.so" REALPATH)
get_filename_component(found_c10 "${c10_LIBRARY}" REALPATH)
list(FIND TORCH_LIBRARIES "${c10_LIBRARY}" c10_index)
if(c10_index GREATER -1 AND EXISTS "${own_c10}" AND NOT found_c10 STREQUAL own_c10)
  list(REMOVE_AT TORCH_LIBRARIES ${c10_index})
  list(INSERT TORCH_LIBRARIES ${c10_index} "${own_c10}")
endif()
find_package(Threads REQUIRED)
if(DLTRAIN_BUNDLE)
  # A GPU server without these packages: the folder scripts/gpu/gather.sh made (static archives
  # and headers from Debian) defines the same targets.
  include(DltrainBundle)
else()
  find_package(OpenCV REQUIRED COMPONENTS core imgproc OPTIONAL_COMPONENTS imgcodecs)
  find_package(yaml-cpp REQUIRED)
  find_package(spdlog REQUIRED)
  find_package(CLI11 CONFIG REQUIRED)
  find_package(nlohmann_json REQUIRED)
  find_package(ZLIB REQUIRED)
  find_package(PNG REQUIRED)
  find_path(TURBOJPEG_INCLUDE_DIR turbojpeg.h REQUIRED)
  find_library(TURBOJPEG_LIBRARY turbojpeg REQUIRED)
  add_library(dltrain_turbojpeg INTERFACE)
  target_include_directories(dltrain_turbojpeg SYSTEM INTERFACE "${TURBOJPEG_INCLUDE_DIR}")
  target_link_libraries(dltrain_turbojpeg INTERFACE "${TURBOJPEG_LIBRARY}")
endif()
# JPEG and PNG decode through libjpeg-turbo and libpng; imgcodecs, where present, adds the other
# formats (BMP, TIFF, WebP, ...).
# The sizes of BMP, TIFF and WebP images are read from their headers before OpenCV allocates
# them: through libtiff and libwebp (which imgcodecs links anyway), BMP's by its fixed layout.
set(DLTRAIN_WITH_IMGCODECS OFF)
if(TARGET opencv_imgcodecs)
  find_package(TIFF REQUIRED)
  find_path(WEBP_INCLUDE_DIR webp/decode.h REQUIRED)
  find_library(WEBP_LIBRARY webp REQUIRED)
  add_library(dltrain_webp INTERFACE)
  target_include_directories(dltrain_webp SYSTEM INTERFACE "${WEBP_INCLUDE_DIR}")
  target_link_libraries(dltrain_webp INTERFACE "${WEBP_LIBRARY}")
  set(DLTRAIN_WITH_IMGCODECS ON)
endif()

# yaml-cpp 0.8 exports yaml-cpp::yaml-cpp, older releases plain yaml-cpp.
if(TARGET yaml-cpp::yaml-cpp)
  set(DLTRAIN_YAML_TARGET yaml-cpp::yaml-cpp)
else()
  set(DLTRAIN_YAML_TARGET yaml-cpp)
endif()

# The C++ ABI LibTorch was built with applies to every dltrain target, so std::string can cross
# from torch-free libraries (spec, graph) into torch ones.
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=([01])")
  set(DLTRAIN_CXX11_ABI ${CMAKE_MATCH_1})
else()
  set(DLTRAIN_CXX11_ABI 1)
endif()
if(DLTRAIN_CXX11_ABI EQUAL 0)
  message(WARNING "dltrain: LibTorch uses the pre-C++11 string ABI; OpenCV, yaml-cpp and spdlog "
                  "must be built the same way (see third_party/README.md)")
endif()

# LibTorch 2.x wheels ship their own fmt (11+) in their include folder, which comes before the
# system's; Debian's spdlog 1.10 is built against the system fmt 9. A folder holding only a
# `fmt` link to the fmt spdlog uses, searched first (-I precedes LibTorch's -isystem), gives
# every dltrain file that fmt. (The LibTorch headers dltrain includes do not use fmt.)
foreach(dir IN LISTS TORCH_INCLUDE_DIRS)
  if(EXISTS "${dir}/fmt/core.h" AND TARGET fmt::fmt)
    get_target_property(fmt_include fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
    if("${dir}" STREQUAL "${fmt_include}")
      break()  # the same fmt (Debian's LibTorch lives in /usr/include)
    endif()
    set(DLTRAIN_FMT_SHIM "${CMAKE_BINARY_DIR}/fmt-shim")
    file(MAKE_DIRECTORY "${DLTRAIN_FMT_SHIM}")
    file(CREATE_LINK "${fmt_include}/fmt" "${DLTRAIN_FMT_SHIM}/fmt" SYMBOLIC)
    message(STATUS "dltrain: LibTorch's fmt in ${dir} is shadowed by ${fmt_include}/fmt for spdlog")
    break()
  endif()
endforeach()

# CUDA code paths compile only where LibTorch was built with CUDA.
if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA)
  set(DLTRAIN_WITH_CUDA ON)
else()
  set(DLTRAIN_WITH_CUDA OFF)
endif()
message(STATUS "dltrain: LibTorch ${Torch_VERSION} at ${Torch_DIR}, CUDA ${DLTRAIN_WITH_CUDA}, "
               "C++11 ABI ${DLTRAIN_CXX11_ABI}")

# A torch wheel's CUDA libraries find cuBLAS, cuDNN, NVRTC and the CUDA runtime in the nvidia-*
# wheels beside it (their DT_RPATH). dltrain links the wheel's libcudart itself, not the CUDA
# toolkit's that LibTorch's CMake config names (torch::cudart), and no toolkit library at all, so
# no toolkit folder enters its search path. Its own search path (DLTRAIN_WHEEL_RPATH: the
# nvidia-* folders, then torch/lib) is a DT_RPATH, which glibc searches before LD_LIBRARY_PATH
# for every library without a RUNPATH of its own, as Python's process finds them.
get_filename_component(torch_site "${TORCH_INSTALL_PREFIX}/.." ABSOLUTE)
file(GLOB wheel_cuda_dirs LIST_DIRECTORIES true "${torch_site}/nvidia/*/lib")
set(DLTRAIN_WHEEL_RPATH "")
if(DLTRAIN_WITH_CUDA AND wheel_cuda_dirs)
  file(GLOB wheel_cudart "${torch_site}/nvidia/*/lib/libcudart.so.[0-9]*")
  if(NOT wheel_cudart)
    message(FATAL_ERROR "dltrain: the torch wheel at ${torch_site} has nvidia-* folders but no libcudart.so.N in them")
  endif()
  list(GET wheel_cudart 0 wheel_cudart)
  set_property(TARGET torch::cudart PROPERTY INTERFACE_LINK_LIBRARIES "${wheel_cudart}")
  list(REMOVE_ITEM TORCH_LIBRARIES "${CUDA_NVRTC_LIB}")  # LibTorch loads NVRTC itself (libcaffe2_nvrtc)
  set(DLTRAIN_WHEEL_RPATH ${wheel_cuda_dirs} "${TORCH_INSTALL_PREFIX}/lib")
  message(STATUS "dltrain: the torch wheel's CUDA runtime (${wheel_cudart}); DT_RPATH first: ${DLTRAIN_WHEEL_RPATH}")
endif()

# TensorBoard event files (src/io/event_file.cpp): Debian's protobuf (libprotobuf-dev,
# protobuf-compiler). A build without it writes no event files.
# The GPU bundle carries the archive and the messages already generated (DltrainBundle).
set(DLTRAIN_WITH_TENSORBOARD OFF)
if(DLTRAIN_PROTOBUF_GENERATED)
  set(DLTRAIN_WITH_TENSORBOARD ON)
else()
  find_package(Protobuf 3)
  # A torch wheel's LibTorch carries an older protobuf of its own: its headers in its include
  # folder, its symbols exported from libtorch_cpu (and protobuf::libprotobuf an empty target of
  # its CMake config). The system's protobuf beside it, shared, would bind calls across the two
  # versions; the GPU bundle links its own copy privately instead (DltrainBundle).
  find_path(torch_protobuf_dir google/protobuf/message.h PATHS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH NO_CACHE)
  if(torch_protobuf_dir)
    file(REAL_PATH ${torch_protobuf_dir}/google torch_protobuf_dir)
    file(REAL_PATH ${Protobuf_INCLUDE_DIR}/google system_protobuf_dir)
  endif()
  if(torch_protobuf_dir AND NOT torch_protobuf_dir STREQUAL system_protobuf_dir)
    message(STATUS "dltrain: this LibTorch carries its own protobuf (${torch_protobuf_dir}): TensorBoard "
                   "event files and ONNX export, built on the system's, are left out of this build")
  elseif(Protobuf_FOUND AND Protobuf_PROTOC_EXECUTABLE)
    set(DLTRAIN_WITH_TENSORBOARD ON)
    set(DLTRAIN_PROTOBUF_TARGET protobuf::libprotobuf)
  endif()
endif()
message(STATUS "dltrain: TensorBoard event files ${DLTRAIN_WITH_TENSORBOARD}")

# Tar shards (src/data/shards.cpp, pack.cpp): Debian's libarchive-dev. Not in the GPU bundle
# (Debian's static libarchive pulls in every format's libraries, ICU among them); a build
# without it refuses tar sources and pack with a message.
set(DLTRAIN_WITH_ARCHIVE OFF)
if(NOT DLTRAIN_BUNDLE)
  find_package(LibArchive 3.3 QUIET)
  set(DLTRAIN_WITH_ARCHIVE ${LibArchive_FOUND})
endif()
message(STATUS "dltrain: tar shards ${DLTRAIN_WITH_ARCHIVE}")

# ONNX export (src/export/onnx.cpp): Debian's libonnx-dev (the schema, checker and shape
# inference), on Debian's protobuf. A build without it has no exporter.
set(DLTRAIN_WITH_ONNX OFF)
if(DLTRAIN_PROTOBUF_TARGET STREQUAL "protobuf::libprotobuf")
  find_package(ONNX CONFIG QUIET)
  if(ONNX_FOUND OR TARGET onnx)
    set(DLTRAIN_WITH_ONNX ON)
  endif()
endif()
message(STATUS "dltrain: ONNX export ${DLTRAIN_WITH_ONNX}")


# Data-parallel backends (src/dist). Gloo where LibTorch's headers come with Gloo's (Debian's
# LibTorch with libgloo-dev; a torch wheel ships none). NCCL in CUDA builds, with the nccl.h of
# the nvidia-nccl wheel beside torch, the version its libtorch_cuda was built against (the class
# layouts in ProcessGroupNCCL.hpp depend on it); DLTRAIN_NCCL_INCLUDE_DIR names another.
find_path(DLTRAIN_GLOO_INCLUDE_DIR gloo/algorithm.h PATHS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH NO_CACHE)
set(DLTRAIN_WITH_GLOO OFF)
if(DLTRAIN_GLOO_INCLUDE_DIR)
  set(DLTRAIN_WITH_GLOO ON)
endif()
set(DLTRAIN_WITH_NCCL OFF)
if(DLTRAIN_WITH_CUDA)
  find_path(DLTRAIN_NCCL_INCLUDE_DIR nccl.h PATHS "${torch_site}/nvidia/nccl/include" NO_DEFAULT_PATH)
  if(DLTRAIN_NCCL_INCLUDE_DIR)
    set(DLTRAIN_WITH_NCCL ON)
  else()
    message(WARNING "dltrain: no nccl.h in ${torch_site}/nvidia/nccl/include: data-parallel training on GPUs is "
                    "off (set DLTRAIN_NCCL_INCLUDE_DIR)")
  endif()
endif()
message(STATUS "dltrain: data-parallel backends: Gloo ${DLTRAIN_WITH_GLOO}, NCCL ${DLTRAIN_WITH_NCCL}")

# LibTorch's imported target carries its flags; keep only the link interface and includes, and
# let dltrain_options own the ABI definition.
add_library(dltrain_torch INTERFACE)
target_link_libraries(dltrain_torch INTERFACE ${TORCH_LIBRARIES})
# PyPI's LibTorch 2.x exports its private, statically linked copy of parts of libstdc++
# (std::filesystem among them; pytorch/pytorch#133437); bound to dltrain's calls, remove_all()
# jumps to a null pointer. The shared libstdc++, named by its path ahead of LibTorch on the link
# line, takes those references and comes first in the lookup order at run time. By path, not
# -lstdc++: a toolchain without the shared library would link libstdc++.a into the executable,
# a second C++ runtime beside LibTorch's (exceptions thrown by one and caught by the other
# crash). Such a toolchain is refused; scripts/gpu/build.sh passes a link to libstdc++.so.6.
set(DLTRAIN_LIBSTDCXX "" CACHE FILEPATH "The shared libstdc++ linked ahead of LibTorch (default: the compiler's)")
if(NOT DLTRAIN_LIBSTDCXX)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so
                  OUTPUT_VARIABLE compiler_libstdcxx OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT IS_ABSOLUTE "${compiler_libstdcxx}")
    message(FATAL_ERROR "dltrain: ${CMAKE_CXX_COMPILER} has no shared libstdc++ (-print-file-name=libstdc++.so "
                        "printed '${compiler_libstdcxx}'), so it would link the static one beside LibTorch's. "
                        "Install the compiler's libstdc++ development package, or pass "
                        "-DDLTRAIN_LIBSTDCXX=/path/to/libstdc++.so.6 with -L a folder holding a libstdc++.so link to it.")
  endif()
  set(DLTRAIN_LIBSTDCXX "${compiler_libstdcxx}" CACHE FILEPATH "" FORCE)
endif()
target_link_options(dltrain_torch INTERFACE "LINKER:--push-state,--no-as-needed,${DLTRAIN_LIBSTDCXX},--pop-state")
# Archives linked into an executable (the bundle's BLAS/LAPACK, zlib, OpenCV; libstdc++.a if it
# ever slipped in) stay private to it: their symbols are not exported, so a shared library that
# defines the same names (libtorch_cpu's BLAS, cuDNN's zlib imports) keeps binding to its own.
# Not in sanitizer builds: the sanitizer runtimes are archives too, and their malloc/new must be
# the ones every shared library calls.
if(NOT DLTRAIN_SANITIZE)
  target_link_options(dltrain_torch INTERFACE "LINKER:--exclude-libs,ALL")
endif()
if(DLTRAIN_WHEEL_RPATH)
  list(JOIN DLTRAIN_WHEEL_RPATH ":" wheel_rpath)
  target_link_options(dltrain_torch INTERFACE "LINKER:--disable-new-dtags" "LINKER:-rpath,${wheel_rpath}")
endif()

# Debian's LibTorch parallelises with OpenMP and calls the system BLAS, by default OpenBLAS's
# pthreads build, whose own threads then fight OpenMP's spinning workers for the same cores
# (fashion_cnn at batch 1: 3.5x slower steps; docs/benchmarks.md). Where Debian's OpenMP build
# of OpenBLAS is installed, dltrain loads it: its three libraries are direct dependencies found
# through the RUNPATH, so they are loaded before LibTorch asks for libblas.so.3 by the same name.
# HINTS, not TorchConfig's PATHS: those come after the system's folders, where Debian's LibTorch
# would be found instead of a wheel's.
find_library(torch_cpu_library torch_cpu HINTS "${TORCH_INSTALL_PREFIX}/lib" NO_CACHE)
set(openmp_blas_dir "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp")
if(NOT DLTRAIN_BUNDLE AND CMAKE_OBJDUMP AND EXISTS "${openmp_blas_dir}/libblas.so.3" AND torch_cpu_library)
  execute_process(COMMAND ${CMAKE_OBJDUMP} -p "${torch_cpu_library}"
                  OUTPUT_VARIABLE torch_cpu_headers ERROR_QUIET)
  if(torch_cpu_headers MATCHES "NEEDED +libblas\\.so\\.3")
    set(blas_libs "")
    foreach(lib libopenblas.so.0 libblas.so.3 liblapack.so.3)
      string(APPEND blas_libs ",${openmp_blas_dir}/${lib}")
    endforeach()
    target_link_options(dltrain_torch INTERFACE
      "LINKER:--push-state,--no-as-needed${blas_libs},--pop-state" "LINKER:-rpath,${openmp_blas_dir}")
    message(STATUS "dltrain: OpenBLAS's OpenMP build from ${openmp_blas_dir}")
  endif()
endif()

# gperftools' tcmalloc serves the heap where it is installed (Debian: libgoogle-perftools-dev).
# glibc's malloc, tuned to keep freed memory (util/memory.cpp), fragments under training's
# pattern of large, repeated allocations: its heap held about twice a step's live memory. At
# the same step speed, tcmalloc's size classes keep ~120 MB less (docs/benchmarks.md). Linked
# at the first level and --no-as-needed, its malloc precedes libc's for every library in the
# process. Turn it off for sanitizer or valgrind builds, which bring their own allocator; the
# GPU bundle does without it.
add_library(dltrain_malloc INTERFACE)
set(DLTRAIN_WITH_TCMALLOC OFF)
if(DLTRAIN_TCMALLOC AND NOT DLTRAIN_BUNDLE)
  find_path(TCMALLOC_INCLUDE_DIR gperftools/malloc_extension_c.h)
  find_library(TCMALLOC_LIBRARY NAMES tcmalloc_minimal)
  if(TCMALLOC_INCLUDE_DIR AND TCMALLOC_LIBRARY)
    set(DLTRAIN_WITH_TCMALLOC ON)
    target_link_options(dltrain_malloc INTERFACE "LINKER:--push-state,--no-as-needed,${TCMALLOC_LIBRARY},--pop-state")
  endif()
endif()
message(STATUS "dltrain: tcmalloc ${DLTRAIN_WITH_TCMALLOC}")
