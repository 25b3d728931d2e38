// What every harness shares: the libFuzzer entry point's contract (a dltrain Error or ErrorList
// is the expected answer to bad input; any other exception, a crash, a leak or a sanitizer report
// is a finding) and a scratch file for the readers that take a path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "util/error.h"

namespace dltrain::fuzz {

// Runs `body`, treating dltrain's own errors as handled input; anything else escapes to libFuzzer.
template <typename Body>
int expect_dltrain_errors(Body&& body) {
  try {
    body();
  } catch (const Error&) {
  } catch (const ErrorList&) {
  }
  return 0;
}

// Writes the input to this process's scratch file (under $TMPDIR) and returns its path.
std::string scratch_file(const uint8_t* data, size_t size, const std::string& extension);

}  // namespace dltrain::fuzz
