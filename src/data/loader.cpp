#include "data/loader.h"

#include <c10/util/Exception.h>
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <system_error>
#include <thread>

#include "data/image.h"
#include "data/ops.h"
#include "data/shards.h"

namespace dltrain::data {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// SplitMix64 over (seed, epoch, row): independent, well-mixed per-sample generator seeds.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t row) {
  return mix(mix(mix(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(row));
}

// Keys of a deferred input's gain/offset buffers in the loader's buffer sets (Batch::pending
// outside the loader).
constexpr const char* kGain = "#gain";
constexpr const char* kOffset = "#offset";

struct ImagePipeline {
  const Column* column = nullptr;
  std::vector<std::shared_ptr<const Op>> ops;
  bool deferred = false;            // collated as uint8 HWC + gain/offset (LoaderOptions::defer_affine)
  size_t deterministic_prefix = 0;  // ops before the first random one (cacheable)
  DecodeOptions decode;
  std::vector<Image> cache;
  std::vector<char> cached;
};

class StageTimer {
 public:
  explicit StageTimer(std::atomic<int64_t>& total) : total_(total), start_(Clock::now()) {}
  ~StageTimer() { total_ += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count(); }

 private:
  std::atomic<int64_t>& total_;
  Clock::time_point start_;
};

}  // namespace

struct Loader::State {
  SplitSpec split;
  Table table;
  LoaderOptions options;
  std::vector<ImagePipeline> images;
  int workers = 1;
  int64_t prefetch = 2;

  // Epoch plan.
  int64_t epoch = 0;
  std::vector<int64_t> order;
  struct Span {
    int64_t begin, end;  // [begin, end) into order
    int64_t global;      // samples in the global batch this one is a slice of
  };
  std::vector<Span> batches;
  std::vector<std::pair<int64_t, int64_t>> global_batches() const;
  // A tar source (Table::shards): the epoch's samples stream from the shards, `order` holds
  // stream positions, and the reader runs `stream_window` positions ahead of the batches taken.
  std::unique_ptr<ShardStream> stream;
  std::vector<int64_t> stream_rows;  // the table row at each stream position
  int64_t stream_window = 0;
  void plan_stream(int64_t first_batch);

  // Shared between workers and the consumer, under `mutex`.
  std::mutex mutex;
  std::condition_variable work_cv, ready_cv;
  size_t next_to_take = 0, next_to_deliver = 0;
  std::map<size_t, Batch> ready;
  // The first failure in batch order: the batches before it are still delivered, then it is thrown.
  std::exception_ptr error;
  size_t error_batch = SIZE_MAX;
  std::atomic<bool> stopping{false};
  std::vector<std::map<std::string, torch::Tensor>> pool;  // recycled full-size batch buffers
  std::vector<std::thread> threads;

  // Statistics.
  std::atomic<int64_t> read_ns{0}, decode_ns{0}, augment_ns{0}, collate_ns{0};
  int64_t samples_done = 0, batches_done = 0, skipped = 0, max_in_flight = 0;
  double wait_s = 0, ready_sum = 0;
  Clock::time_point epoch_start = Clock::now();

  std::map<std::string, torch::Tensor> acquire_buffers();
  Batch assemble(size_t b);
  // `sample`: the row's sample of a tar source, else nullptr.
  bool load_image(ImagePipeline& pipe, int64_t row, const TarSample* sample, Rng& rng, Image& image,
                  std::string& failure);
  // The sample's file, shard member or "synthetic sample N", for messages.
  std::string sample_name(const ImagePipeline& pipe, int64_t row, const TarSample* sample) const;
  void write_image(const ImagePipeline& pipe, const Image& image, int64_t row, const TarSample* sample, int64_t index,
                   std::map<std::string, torch::Tensor>& buffers);
  void work();
  void halt();
};

SplitSpec inference_view(const SplitSpec& split) {
  SplitSpec view = split;
  for (auto& [name, specs] : view.ops) {
    auto ops = build_ops(specs);
    std::vector<OpSpec> kept;
    size_t k = 0;
    for (const auto& s : specs) {
      if (s.kind == "decode" || !ops[k++]->random()) kept.push_back(s);  // decode is not in the chain
    }
    specs = kept;
  }
  view.shuffle_buffer = 0;
  view.drop_remainder = false;
  view.cache = false;
  view.skip_bad = true;
  return view;
}

std::vector<int64_t> shuffle_order(int64_t rows, int64_t buffer, uint64_t seed) {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(rows));
  if (buffer <= 1) {
    for (int64_t r = 0; r < rows; ++r) out.push_back(r);
    return out;
  }
  Rng rng(seed);
  std::vector<int64_t> window;
  int64_t next = 0;
  const int64_t size = std::min(buffer, rows);
  while (next < size) window.push_back(next++);
  while (!window.empty()) {
    size_t pick = std::uniform_int_distribution<size_t>(0, window.size() - 1)(rng);
    out.push_back(window[pick]);
    if (next < rows) {
      window[pick] = next++;
    } else {
      window[pick] = window.back();
      window.pop_back();
    }
  }
  return out;
}

Loader::Loader(const SplitSpec& split, Table table, LoaderOptions options) : state_(std::make_unique<State>()) {
  DLT_ASSERT(split.batch_size > 0, "split '", split.name, "': batch: auto was not chosen (train::choose_batch)");
  State& s = *state_;
  s.split = split;
  s.table = std::move(table);
  s.options = options;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  s.workers = split.workers > 0 ? static_cast<int>(split.workers) : cores;
  s.prefetch = split.prefetch > 0 ? split.prefetch : 2 * s.workers;
  cv::setNumThreads(0);  // our workers are the parallelism; OpenCV's own pool would oversubscribe

  for (const auto& column : s.table.columns) {
    if (column.spec.kind != ColumnSpec::Kind::Image) continue;
    ImagePipeline pipe;
    pipe.column = &column;
    auto it = split.ops.find(column.spec.name);
    if (it != split.ops.end()) pipe.ops = build_ops(it->second, &pipe.decode);
    while (pipe.deterministic_prefix < pipe.ops.size() && !pipe.ops[pipe.deterministic_prefix]->random())
      ++pipe.deterministic_prefix;
    pipe.deferred = options.defer_affine &&
                    std::all_of(pipe.ops.begin(), pipe.ops.end(), [](const auto& op) { return op->keeps_8bit(); });
    pipe.decode.channels = static_cast<int>(column.spec.channels);
    pipe.decode.max_pixels = split.max_pixels;
    // The decoder does a first resize itself, except when timing the decode alone (each image
    // decoded whole) or when the spec says `decode: {fused_resize: false}`.
    if (!pipe.ops.empty() && pipe.ops[0]->plain_resize_mode() && pipe.decode.fused_resize && !options.decode_only) {
      cv::Size target = *pipe.ops[0]->fixed_output_size();
      pipe.decode.min_height = target.height;
      pipe.decode.min_width = target.width;
      pipe.decode.resize_mode = *pipe.ops[0]->plain_resize_mode();
    }
    std::optional<cv::Size> last;
    for (const auto& op : pipe.ops)
      if (auto size = op->fixed_output_size()) last = size;
    if (last && (last->height != column.spec.height || last->width != column.spec.width_px)) {
      const OpSpec& where = it->second.back();
      throw Error("the ops end at " + std::to_string(last->height) + "x" + std::to_string(last->width) +
                      ", but input '" + column.spec.name + "' is " + std::to_string(column.spec.height) + "x" +
                      std::to_string(column.spec.width_px) + " (height x width)",
                  where.loc);
    }
    if (split.cache) {
      pipe.cache.resize(static_cast<size_t>(s.table.rows));
      pipe.cached.assign(static_cast<size_t>(s.table.rows), 0);
    }
    s.images.push_back(std::move(pipe));
  }
}

// The epoch's global batches, [begin, end) into the order: batch_size × world_size samples each
// (the data-parallel job's batch); a last partial one unless drop_remainder, or when it has
// fewer samples than processes.
// A tar source is not sliced so: each process streams its own table.rows / world_size samples
// and batches them alone.
std::vector<std::pair<int64_t, int64_t>> Loader::State::global_batches() const {
  const bool streamed = !table.shards.empty();
  const int64_t world = streamed ? 1 : options.world_size, size = split.batch_size * world;
  const int64_t rows = streamed ? table.rows / options.world_size : table.rows;
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t begin = 0; begin < rows; begin += size) {
    const int64_t end = std::min(begin + size, rows);
    if (end - begin < size && (split.drop_remainder || end - begin < world)) break;
    out.emplace_back(begin, end);
  }
  return out;
}

Loader::~Loader() { stop(); }

int64_t Loader::samples() const { return state_->table.rows; }

int64_t Loader::batches_per_epoch() const { return static_cast<int64_t>(state_->global_batches().size()); }

const Table& Loader::table() const { return state_->table; }

void Loader::State::halt() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  if (stream) stream->stop();  // wakes workers waiting for a sample
  work_cv.notify_all();
  ready_cv.notify_all();
  for (auto& t : threads)
    if (t.joinable()) t.join();
  threads.clear();
}

void Loader::stop() { state_->halt(); }

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  State& s = *state_;
  s.halt();
  s.epoch = epoch;
  s.batches.clear();
  if (!s.table.shards.empty()) {
    s.plan_stream(first_batch);
  } else {
    s.order = shuffle_order(s.table.rows, s.split.shuffle_buffer, sample_seed(s.options.seed, epoch, -1));
    const int64_t world = s.options.world_size, rank = s.options.rank;
    for (const auto& [begin, end] : s.global_batches()) {
      // Rank r's slice of a global batch: the r-th of `world` near-equal contiguous parts.
      const int64_t n = end - begin, base = n / world, extra = n % world;
      const int64_t first = begin + rank * base + std::min(rank, extra);
      s.batches.push_back({first, first + base + (rank < extra ? 1 : 0), n});
    }
  }
  s.next_to_take = s.next_to_deliver =
      static_cast<size_t>(std::min<int64_t>(first_batch, static_cast<int64_t>(s.batches.size())));
  s.ready.clear();
  s.error = nullptr;
  s.error_batch = SIZE_MAX;
  s.stopping = false;
  s.read_ns = s.decode_ns = s.augment_ns = s.collate_ns = 0;
  s.samples_done = s.batches_done = s.skipped = s.max_in_flight = 0;
  s.wait_s = s.ready_sum = 0;
  s.epoch_start = Clock::now();
  for (int w = 0; w < s.workers; ++w) {
    try {
      s.threads.emplace_back([&s] { s.work(); });
    } catch (const std::system_error& e) {
      s.halt();
      throw Error("data split '" + s.split.name + "': could not start loader thread " + std::to_string(w + 1) + " of " +
                      std::to_string(s.workers) + " (" + e.what() + "); lower its `workers`",
                  s.split.loc, {}, ErrorKind::Runtime);
    }
  }
}

// The epoch's stream: the shards in a seeded order (shuffled per epoch when the split shuffles),
// cut into world_size contiguous runs of table.rows / world_size samples, this rank's run read
// from its shards (starting mid-shard where a run does), then shuffled through the buffer.
void Loader::State::plan_stream(int64_t first_batch) {
  stream.reset();
  const int64_t world = options.world_size, rank = options.rank;
  const int64_t local = table.rows / world, begin = rank * local, end = begin + local;
  std::vector<int64_t> first_row(table.shards.size() + 1, 0);
  for (size_t k = 0; k < table.shards.size(); ++k) first_row[k + 1] = first_row[k] + table.shards[k].samples;
  std::vector<size_t> shard_order(table.shards.size());
  std::iota(shard_order.begin(), shard_order.end(), size_t{0});
  if (split.shuffle_buffer > 1) {
    Rng rng(sample_seed(options.seed, epoch, -2));
    std::shuffle(shard_order.begin(), shard_order.end(), rng);
  }
  std::vector<StreamSegment> segments;
  stream_rows.clear();
  int64_t at = 0;  // stream position of the next shard's first sample, over all ranks
  for (size_t k : shard_order) {
    const Shard& shard = table.shards[k];
    const int64_t from = std::max(begin, at), to = std::min(end, at + shard.samples);
    if (from < to) {
      segments.push_back({shard, from - at, to - from});
      for (int64_t i = from - at; i < to - at; ++i) stream_rows.push_back(first_row[k] + i);
    }
    at += shard.samples;
  }
  order = shuffle_order(local, split.shuffle_buffer, sample_seed(options.seed, epoch, -1 - rank));
  for (const auto& [from, to] : global_batches()) batches.push_back({from, to, (to - from) * world});
  std::vector<char> wanted(static_cast<size_t>(local), 0);
  const size_t resume_at = first_batch < static_cast<int64_t>(batches.size())
                               ? static_cast<size_t>(batches[static_cast<size_t>(first_batch)].begin)
                               : order.size();
  for (size_t i = resume_at; i < order.size(); ++i) wanted[static_cast<size_t>(order[i])] = 1;
  // tf.data's buffer draws output i from the first i + buffer stream positions; one batch more
  // of read-ahead keeps the workers from waiting on the reader.
  stream_window = std::clamp<int64_t>(split.shuffle_buffer, 1, std::max<int64_t>(local, 1)) + split.batch_size;
  stream = std::make_unique<ShardStream>(std::move(segments), std::move(wanted));
}

void Loader::State::work() {
  while (true) {
    size_t b;
    {
      std::unique_lock<std::mutex> lock(mutex);
      work_cv.wait(lock, [&] {
        return stopping || next_to_take >= std::min(batches.size(), error_batch) ||
               next_to_take < next_to_deliver + static_cast<size_t>(prefetch);
      });
      if (stopping || next_to_take >= std::min(batches.size(), error_batch)) return;
      b = next_to_take++;
      max_in_flight = std::max<int64_t>(max_in_flight, static_cast<int64_t>(next_to_take - next_to_deliver));
    }
    if (stream) stream->allow(batches[b].end + stream_window);
    try {
      Batch batch = assemble(b);
      std::lock_guard<std::mutex> lock(mutex);
      ready.emplace(b, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (b < error_batch) {
        error = std::current_exception();
        error_batch = b;
      }
      work_cv.notify_all();
    }
    ready_cv.notify_all();
  }
}

std::optional<Batch> Loader::next() {
  State& s = *state_;
  const auto start = Clock::now();
  std::unique_lock<std::mutex> lock(s.mutex);
  s.ready_sum += static_cast<double>(s.ready.size());
  s.ready_cv.wait(lock, [&] {
    return s.next_to_deliver >= std::min(s.batches.size(), s.error_batch) || s.ready.count(s.next_to_deliver) ||
           (s.stopping && s.threads.empty());
  });
  s.wait_s += seconds_since(start);
  if (s.error && s.next_to_deliver >= s.error_batch) {
    std::exception_ptr error = s.error;
    lock.unlock();
    s.halt();
    std::rethrow_exception(error);
  }
  auto it = s.ready.find(s.next_to_deliver);
  if (it == s.ready.end()) return std::nullopt;
  Batch batch = std::move(it->second);
  s.ready.erase(it);
  ++s.next_to_deliver;
  ++s.batches_done;
  s.samples_done += batch.size;
  s.skipped += static_cast<int64_t>(batch.skipped.size());
  lock.unlock();
  s.work_cv.notify_all();
  return batch;
}

LoaderStats Loader::stats() const {
  const State& s = *state_;
  LoaderStats out;
  out.workers = s.workers;
  out.prefetch = s.prefetch;
  out.samples = s.samples_done;
  out.batches = s.batches_done;
  out.skipped = s.skipped;
  out.read_s = static_cast<double>(s.read_ns) * 1e-9;
  out.decode_s = static_cast<double>(s.decode_ns) * 1e-9;
  out.augment_s = static_cast<double>(s.augment_ns) * 1e-9;
  out.collate_s = static_cast<double>(s.collate_ns) * 1e-9;
  out.wait_s = s.wait_s;
  out.wall_s = seconds_since(s.epoch_start);
  out.mean_ready = s.batches_done ? s.ready_sum / static_cast<double>(s.batches_done) : 0;
  out.max_in_flight = s.max_in_flight;
  return out;
}

// A full-size set of batch tensors whose storage nobody else holds any more (the consumer has
// dropped the batch it was lent), or a new one.
std::map<std::string, torch::Tensor> Loader::State::acquire_buffers() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& buffers : pool) {
      bool free = true;
      // Free when neither the tensor nor a view of its storage is held outside the pool.
      for (const auto& [name, t] : buffers) free = free && t.use_count() == 1 && t.storage().use_count() == 1;
      if (free) {
        auto taken = std::move(buffers);
        buffers = std::move(pool.back());
        pool.pop_back();
        return taken;
      }
    }
  }
  // A batch larger than the split never has more rows than the split.
  const int64_t n = std::min(split.batch_size, std::max<int64_t>(table.rows, 1));
  auto options = torch::TensorOptions().pinned_memory(this->options.pin_memory);
  std::map<std::string, torch::Tensor> buffers;
  try {
    for (const auto& pipe : images) {
      const ColumnSpec& c = pipe.column->spec;
      if (pipe.deferred) {
        buffers[c.name] = torch::empty({n, c.height, c.width_px, c.channels}, options.dtype(torch::kUInt8));
        buffers[c.name + kGain] = torch::empty({n, c.channels}, options.dtype(torch::kFloat));
        buffers[c.name + kOffset] = torch::empty({n, c.channels}, options.dtype(torch::kFloat));
      } else {
        buffers[c.name] = torch::empty({n, c.channels, c.height, c.width_px}, options.dtype(torch::kFloat));
      }
    }
    for (const auto& column : table.columns) {
      const ColumnSpec& c = column.spec;
      switch (c.kind) {
        case ColumnSpec::Kind::Image:
          break;
        case ColumnSpec::Kind::ClassLabel:
          buffers[c.name] = torch::empty({n}, options.dtype(torch::kLong));
          break;
        default:
          buffers[c.name] = torch::empty({n, c.width}, options.dtype(torch::kFloat));
      }
    }
  } catch (const c10::Error& e) {
    throw Error("data split '" + split.name + "': a batch of " + std::to_string(n) + ": " +
                    plain_torch_message(e.what_without_backtrace()) + "; lower its `batch`",
                split.loc, {}, ErrorKind::Runtime);
  }
  return buffers;
}

std::string Loader::State::sample_name(const ImagePipeline& pipe, int64_t row, const TarSample* sample) const {
  if (sample) return sample->name();
  return table.synthetic ? "synthetic sample " + std::to_string(row) : pipe.column->paths[static_cast<size_t>(row)];
}

bool Loader::State::load_image(ImagePipeline& pipe, int64_t row, const TarSample* sample, Rng& rng, Image& image,
                               std::string& failure) {
  const size_t r = static_cast<size_t>(row);
  size_t first_op = 0;
  if (!pipe.cache.empty() && pipe.cached[r]) {
    image = pipe.cache[r];
    image.mat = pipe.cache[r].mat.clone();
    first_op = pipe.deterministic_prefix;
  } else if (table.synthetic) {
    const ColumnSpec& c = pipe.column->spec;
    image.mat.create(static_cast<int>(c.height), static_cast<int>(c.width_px), CV_8UC(static_cast<int>(c.channels)));
    cv::RNG generator(sample_seed(options.seed, 0, row));
    generator.fill(image.mat, cv::RNG::UNIFORM, 0, 256);
    image.unit = 255.f;
    image.gain = cv::Scalar::all(1.0);
    image.offset = cv::Scalar::all(0.0);
  } else {
    // The encoded bytes: the shard member a tar sample carries, or the file read here.
    thread_local std::vector<uint8_t> file;
    const uint8_t* bytes = nullptr;
    size_t size = 0;
    DecodeError error;
    bool ok = true;
    if (sample) {
      const std::string* member = sample->member(pipe.column->member);
      ok = member != nullptr;
      if (ok) {
        bytes = reinterpret_cast<const uint8_t*>(member->data());
        size = member->size();
      } else {
        error.reason = "no image member" + (pipe.column->member.empty() ? "" : " '" + pipe.column->member + "'");
      }
    } else {
      StageTimer timer(read_ns);
      ok = read_file(pipe.column->paths[r], file, error);
      bytes = file.data();
      size = file.size();
    }
    if (ok) {
      StageTimer timer(decode_ns);
      ok = decode_image(bytes, size, pipe.decode, image, error);
    }
    if (!ok) {
      failure = sample_name(pipe, row, sample) + ": " + error.reason;
      return false;
    }
  }
  if (options.decode_only) return true;
  StageTimer timer(augment_ns);
  for (size_t i = first_op; i < pipe.ops.size(); ++i) {
    if (!pipe.cache.empty() && i == pipe.deterministic_prefix && !pipe.cached[r]) {
      pipe.cache[r] = image;
      pipe.cache[r].mat = image.mat.clone();
      pipe.cached[r] = 1;
    }
    try {
      pipe.ops[i]->apply(image, rng);
    } catch (const cv::Exception& e) {
      throw Error(sample_name(pipe, row, sample) + ": op failed: " + e.err, pipe.ops[i]->loc, {}, ErrorKind::Runtime);
    } catch (const Error& e) {
      throw Error(sample_name(pipe, row, sample) + ": " + e.message(), e.loc() ? e.loc() : pipe.ops[i]->loc, {},
                  e.kind());
    }
  }
  if (!pipe.cache.empty() && pipe.deterministic_prefix == pipe.ops.size() && !pipe.cached[r]) {
    pipe.cache[r] = image;
    pipe.cache[r].mat = image.mat.clone();
    pipe.cached[r] = 1;
  }
  return true;
}

// Writes sample `index` of the batch: an H x W x C image into its [C, H, W] float slot, or (when
// deferred) its 8-bit pixels as they are plus its gain and offset.
void Loader::State::write_image(const ImagePipeline& pipe, const Image& image, int64_t row, const TarSample* sample,
                                int64_t index, std::map<std::string, torch::Tensor>& buffers) {
  const ColumnSpec& c = pipe.column->spec;
  const int h = static_cast<int>(c.height), w = static_cast<int>(c.width_px), channels = static_cast<int>(c.channels);
  if (image.mat.rows != h || image.mat.cols != w || image.mat.channels() != channels) {
    throw Error("after its ops, '" + c.name + "' from " + sample_name(pipe, row, sample) + " is " +
                    std::to_string(image.mat.rows) + "x" + std::to_string(image.mat.cols) + " with " +
                    std::to_string(image.mat.channels()) + " channels, but the input is " + std::to_string(h) + "x" +
                    std::to_string(w) + " with " + std::to_string(channels) + "; add `resize: [" + std::to_string(h) +
                    ", " + std::to_string(w) + "]` to its ops",
                c.loc);
  }
  StageTimer timer(collate_ns);
  const size_t plane = static_cast<size_t>(h) * static_cast<size_t>(w);
  if (pipe.deferred) {
    DLT_ASSERT(image.mat.depth() == CV_8U, "deferred image input '", c.name, "' ended as floats");
    uint8_t* pixels =
        buffers[c.name].data_ptr<uint8_t>() + static_cast<size_t>(index) * plane * static_cast<size_t>(channels);
    cv::Mat out(h, w, CV_8UC(channels), pixels);
    image.mat.copyTo(out);
    float* gain = buffers[c.name + kGain].data_ptr<float>() + index * channels;
    float* offset = buffers[c.name + kOffset].data_ptr<float>() + index * channels;
    for (int k = 0; k < channels; ++k) {
      gain[k] = static_cast<float>(image.gain[k]);
      offset[k] = static_cast<float>(image.offset[k]);
    }
    return;
  }
  // The channels split in one pass, then each converted to float with its pending gain/offset.
  float* slot = buffers[c.name].data_ptr<float>() + static_cast<size_t>(index) * plane * static_cast<size_t>(channels);
  thread_local std::vector<cv::Mat> planes;
  if (channels == 1)
    planes.assign(1, image.mat);
  else
    cv::split(image.mat, planes);
  for (int k = 0; k < channels; ++k) {
    cv::Mat out(h, w, CV_32F, slot + plane * static_cast<size_t>(k));
    planes[static_cast<size_t>(k)].convertTo(out, CV_32F, image.gain[k], image.offset[k]);
  }
}

Batch Loader::State::assemble(size_t b) {
  auto buffers = acquire_buffers();
  Batch batch;
  batch.index = static_cast<int64_t>(b);
  const auto [begin, end, global] = batches[b];
  batch.loss_weight = static_cast<double>((end - begin) * options.world_size) / static_cast<double>(global);
  int64_t filled = 0;
  Image image;
  TarSample sample;
  for (int64_t i = begin; i < end; ++i) {
    if (stopping) break;
    int64_t row = order[static_cast<size_t>(i)];
    if (stream) {
      StageTimer timer(read_ns);
      if (!stream->take(row, sample)) break;
      row = stream_rows[static_cast<size_t>(row)];
    }
    const TarSample* from_shard = stream ? &sample : nullptr;
    Rng rng(sample_seed(options.seed, epoch, row));
    std::string failure;
    bool ok = true;
    for (auto& pipe : images) {
      if (!load_image(pipe, row, from_shard, rng, image, failure)) {
        ok = false;
        break;
      }
      if (!options.decode_only) write_image(pipe, image, row, from_shard, filled, buffers);
    }
    // Labels and values: from the table, or from the members a shard's sample carries.
    for (const auto& column : table.columns) {
      const ColumnSpec& c = column.spec;
      if (!ok || c.kind == ColumnSpec::Kind::Image) continue;
      torch::Tensor& slot = buffers[c.name];
      const bool label = c.kind == ColumnSpec::Kind::ClassLabel;
      const size_t r = static_cast<size_t>(row);
      if (from_shard)
        ok = read_tar_value(sample, column, label ? slot.data_ptr<int64_t>() + filled : nullptr,
                            label ? nullptr : slot.data_ptr<float>() + filled * c.width, failure);
      else if (label)
        slot.data_ptr<int64_t>()[filled] = column.labels[r];
      else
        std::copy_n(column.values.begin() + static_cast<long>(r * static_cast<size_t>(c.width)), c.width,
                    slot.data_ptr<float>() + filled * c.width);
    }
    if (!ok) {
      if (!split.skip_bad) throw Error::runtime(failure);
      batch.skipped.push_back(failure);
      continue;
    }
    batch.rows.push_back(row);
    ++filled;
  }
  batch.size = filled;
  auto rows = [&](const torch::Tensor& t) { return filled == t.size(0) ? t : t.narrow(0, 0, filled); };
  for (const auto& pipe : images)
    if (pipe.deferred) {
      const std::string& name = pipe.column->spec.name;
      batch.pending[name] = {rows(buffers.at(name + kGain)), rows(buffers.at(name + kOffset))};
    }
  for (const auto& [name, t] : buffers)
    if (name.find('#') == std::string::npos) batch.tensors[name] = rows(t);
  std::lock_guard<std::mutex> lock(mutex);
  pool.push_back(std::move(buffers));
  return batch;
}

void finish_images(Batch& batch, bool channels_last) {
  for (const auto& [name, affine] : batch.pending) {
    torch::Tensor& images = batch.tensors.at(name);  // uint8 [N, H, W, C]
    const int64_t n = images.size(0), c = images.size(3);
    // The permuted NHWC pixels are a channels_last [N, C, H, W]; the conversion keeps that order.
    torch::Tensor x = images.permute({0, 3, 1, 2}).to(torch::kFloat);
    x.mul_(affine.gain.view({n, c, 1, 1})).add_(affine.offset.view({n, c, 1, 1}));
    images = channels_last ? x : x.contiguous();
  }
  batch.pending.clear();
}

}  // namespace dltrain::data
