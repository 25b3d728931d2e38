// The process's heap: which allocator serves it, how it is tuned for training, how much of it
// is resident, and handing free memory back between phases of a run.
#pragma once

#include <string>

namespace dltrain {

// "tcmalloc (gperftools 2.10)" when the build links it, else e.g. "glibc malloc 2.36".
std::string allocator_name();

// Tunes the allocator for training's pattern: the same large activation buffers freed and
// allocated again every step. Call once, first thing in main.
void configure_allocator();

// Returns free heap memory to the operating system. The allocator keeps what a phase freed
// for that phase's next step; when the working set changes shape (training at one batch size
// with saved activations, validation at another without), keeping the old one would add the
// two phases' memory together.
void release_free_memory();

// This process's resident memory in MB (Linux; 0 elsewhere).
double resident_mb();

// The most resident memory since the process started, in MB (Linux; 0 elsewhere): what a batch
// job's memory request must cover. Not reset per epoch: resetting it (/proc/self/clear_refs)
// would also reset the peak that GNU time and getrusage report for the process.
double peak_resident_mb();

}  // namespace dltrain
