# ccache as the compiler launcher, with the sloppiness that lets it cache precompiled headers and
# a base dir so that another clone of the project (CI's) hits the same cache entries.
if(DLTRAIN_USE_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(DLTRAIN_CCACHE ccache)
  if(DLTRAIN_CCACHE)
    set(CMAKE_CXX_COMPILER_LAUNCHER
        ${CMAKE_COMMAND} -E env "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
        "CCACHE_BASEDIR=${PROJECT_SOURCE_DIR}"
        ${DLTRAIN_CCACHE})
    message(STATUS "dltrain: compiling through ccache (${DLTRAIN_CCACHE})")
  endif()
endif()
