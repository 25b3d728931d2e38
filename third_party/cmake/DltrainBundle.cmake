# The targets DltrainDependencies finds on Debian, defined over the folder scripts/gpu/gather.sh
# packs (DLTRAIN_BUNDLE: static archives and headers; see that script for what is in it). Used by
# scripts/gpu/build.sh on GPU servers that have LibTorch and a compiler but not these packages.

set(bundle "${DLTRAIN_BUNDLE}")
if(NOT EXISTS "${bundle}/lib/libopencv_core.a")
  message(FATAL_ERROR "DLTRAIN_BUNDLE=${bundle} is not an unpacked scripts/gpu/gather.sh bundle")
endif()
list(APPEND CMAKE_MODULE_PATH "${bundle}/cmake")  # Catch.cmake

function(dltrain_bundle_library name file)
  add_library(${name} UNKNOWN IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES IMPORTED_LOCATION "${bundle}/lib/${file}"
                                           INTERFACE_INCLUDE_DIRECTORIES "${bundle}/include"
                                           INTERFACE_LINK_LIBRARIES "${ARGN}")
endfunction()
function(dltrain_bundle_headers name)
  add_library(${name} INTERFACE IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${bundle}/include"
                                           INTERFACE_COMPILE_DEFINITIONS "${ARGN}")
endfunction()

# OpenCV's core calls LAPACK (solvers), parallelises through oneTBB and references GLX (its
# OpenGL interop, never called by dltrain): archives where Debian has them, else the shared
# libraries the bundle carries. libGLX's own dependencies are linked as direct ones too, so the
# executable's search path finds them all also where it is a RUNPATH, which glibc does not use
# for its libraries' dependencies. (Against a torch wheel it is a DT_RPATH, DltrainDependencies;
# cuDNN's libraries, whose RUNPATH is $ORIGIN, ignore it when they dlopen their engines.)
add_library(bundle_tbb SHARED IMPORTED GLOBAL)
set_target_properties(bundle_tbb PROPERTIES IMPORTED_LOCATION "${bundle}/lib/libtbb.so.12")
add_library(bundle_glx SHARED IMPORTED GLOBAL)
set(glx_needs "")
foreach(so GLdispatch.so.0 X11.so.6 xcb.so.1 Xau.so.6 Xdmcp.so.6 bsd.so.0 md.so.0)
  string(APPEND glx_needs ",${bundle}/lib/lib${so}")
endforeach()
set_target_properties(bundle_glx PROPERTIES IMPORTED_LOCATION "${bundle}/lib/libGLX.so.0"
  INTERFACE_LINK_OPTIONS "LINKER:--push-state,--no-as-needed${glx_needs},--pop-state")
dltrain_bundle_library(bundle_gfortran libgfortran.a "${bundle}/lib/libquadmath.a")
dltrain_bundle_library(bundle_blas libblas.a bundle_gfortran)
dltrain_bundle_library(bundle_lapack liblapack.a bundle_blas bundle_gfortran)
dltrain_bundle_library(ZLIB::ZLIB libz.a)
dltrain_bundle_library(opencv_core libopencv_core.a bundle_lapack bundle_blas ZLIB::ZLIB bundle_tbb bundle_glx
                       Threads::Threads ${CMAKE_DL_LIBS})
dltrain_bundle_library(opencv_imgproc libopencv_imgproc.a opencv_core)
dltrain_bundle_library(PNG::PNG libpng16.a ZLIB::ZLIB m)
dltrain_bundle_library(dltrain_turbojpeg libturbojpeg.a)
dltrain_bundle_library(yaml-cpp::yaml-cpp libyaml-cpp.a)

# Protobuf (TensorBoard's event files), with dltrain's messages generated when the bundle was made.
# (A torch wheel's CMake config may define protobuf::libprotobuf itself: this one has its own name.)
dltrain_bundle_library(dltrain_protobuf libprotobuf.a ZLIB::ZLIB Threads::Threads)
set(DLTRAIN_PROTOBUF_TARGET dltrain_protobuf)
set(DLTRAIN_PROTOBUF_GENERATED "${bundle}/generated")
# Ahead of a torch wheel's include folder, which carries an older protobuf's headers.
set(DLTRAIN_PROTOBUF_INCLUDE_DIR "${bundle}/include")

# Header-only: fmt and spdlog (Debian's spdlog uses the external fmt), CLI11, nlohmann/json,
# Catch2 v2.
dltrain_bundle_headers(fmt::fmt FMT_HEADER_ONLY=1)
dltrain_bundle_headers(spdlog::spdlog FMT_HEADER_ONLY=1)
set_target_properties(spdlog::spdlog PROPERTIES INTERFACE_LINK_LIBRARIES fmt::fmt)
dltrain_bundle_headers(CLI11::CLI11)
dltrain_bundle_headers(nlohmann_json::nlohmann_json)
dltrain_bundle_headers(Catch2::Catch2)
message(STATUS "dltrain: dependencies from the bundle in ${bundle}")
