// io: TensorBoard event files: TFRecord framing (length, masked CRC32C of the length, the
// record, masked CRC32C of the record) around serialized `Event` messages (tensorboard.proto).
// Writes only; TensorBoard (tensorboard.backend.event_processing) is the reader.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace dltrain::io {

// A hyperparameter's value in TensorBoard's hparams table.
using HParam = std::variant<std::string, double, bool>;

// One events.out.tfevents.<seconds>.<host>.<pid> file in `dir`, opened by the constructor with
// its file_version record. Every write is flushed, so a killed run leaves whole records before
// the cut. Throws Error when the file cannot be created.
class EventWriter {
 public:
  explicit EventWriter(const std::string& dir);

  const std::string& path() const { return path_; }
  void scalar(const std::string& tag, int64_t step, double value);
  void text(const std::string& tag, int64_t step, const std::string& markdown);
  // The hparams plugin's experiment (hparams and the metric tags to show beside them) and this
  // run's session start with its values.
  void hparams(const std::map<std::string, HParam>& values, const std::vector<std::string>& metric_tags);
  // TensorBoard drops every earlier point at `step` or later: a resumed run's curves continue
  // from its checkpoint without the points written after it.
  void restart_at(int64_t step);

 private:
  void write(const std::string& serialized_event);
  std::string path_;
  std::ofstream out_;
};

}  // namespace dltrain::io
