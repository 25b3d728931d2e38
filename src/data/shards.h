// Sharded tar datasets in WebDataset's layout: POSIX tar files where one sample is the run of
// members sharing a key (the member path up to the first dot of its file name: `000123.jpg`,
// `000123.cls`, `000123.json` are sample `000123`, members `jpg`, `cls` and `json`). Shards are
// read sequentially through libarchive, never seeked into at random, so they suit network
// filesystems. An `index.json` beside the shards (written by `dltrain pack`) gives each shard's
// sample count and the class names; without one, the shards are counted once when the table loads.
// This is the `tar` source kind's file (data/source_kinds.h).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "data/source.h"

namespace dltrain::data {

// Throws Error when this build has no libarchive (a GPU server's bundle build): tar sources
// and pack need it.
void require_libarchive();

// The shard files that patterns name: brace ranges (`{000000..000127}`, zero padding kept),
// brace lists (`{a,b}`) and globs (`*`, `?`, `[...]`), in the order written, each pattern's
// matches sorted. Throws Error at `loc` for a pattern that names no file.
std::vector<std::string> expand_shard_patterns(const std::vector<std::string>& patterns, const SourceLoc& loc);

// The shards' table: Table::shards with their sample counts, and for each column the member that
// feeds it (source.columns, or found in the first sample: the image member, `cls`, json fields).
Table load_tar(const SplitSpec& split);

// What the shard index (index.json in the shards' folder) records.
struct ShardIndex {
  std::vector<Shard> shards;                                // file names (no folder), samples, bytes
  std::map<std::string, std::vector<std::string>> classes;  // member -> class names, index order
};
void write_shard_index(const std::string& path, const ShardIndex& index);

// One sample as read from a shard: its key and members (suffix -> bytes), and where it came from.
struct TarSample {
  std::string shard, key;
  std::vector<std::pair<std::string, std::string>> members;

  // The member `pattern` names (a suffix, or a glob over suffixes); nullptr when none.
  const std::string* member(const std::string& pattern) const;
  std::string name() const { return shard + ":" + key; }  // for messages
};

// A column's value from a sample (Column::member: a member's text or a field of its `json` member):
// a class index into `label` or `column.spec.width` numbers into `values`. False with the reason
// when the sample lacks it or it does not parse.
bool read_tar_value(const TarSample& sample, const Column& column, int64_t* label, float* values, std::string& failure);

// A contiguous run of one shard's samples in a stream: skip `skip`, then take `take`.
struct StreamSegment {
  Shard shard;
  int64_t skip = 0, take = 0;
};

// Streams the segments' samples on one thread, in order; stream position p is the p-th sample
// taken. Only positions marked in `wanted` are kept (resuming mid-epoch leaves out the samples
// already trained on), and the reader runs no further ahead than allow() permits, so at most
// that window of encoded samples is held in memory. A damaged or truncated shard, or one whose
// count differs from its index, ends the stream with an Error naming it; the samples before it
// are still taken.
class ShardStream {
 public:
  ShardStream(std::vector<StreamSegment> segments, std::vector<char> wanted);
  ~ShardStream();
  ShardStream(const ShardStream&) = delete;
  ShardStream& operator=(const ShardStream&) = delete;

  // The reader may read the positions below `end`.
  void allow(int64_t end);
  // Blocks until position `p` is read and hands it over (once); false once stop() was called.
  // Rethrows the reader's Error when the stream broke before p.
  bool take(int64_t p, TarSample& out);
  void stop();

 private:
  void read();
  void keep(int64_t position, TarSample&& sample);

  std::vector<StreamSegment> segments_;
  std::vector<char> wanted_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, TarSample> ready_;
  int64_t allowed_ = 0, read_ = 0;  // read_: positions read so far
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace dltrain::data
