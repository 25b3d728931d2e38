#include <cmath>
#include <system_error>

#include "train/policies.h"

namespace dltrain::train {

namespace fs = std::filesystem;

Checkpointing::Checkpointing(CheckpointSpec spec, fs::path dir, Writer write)
    : spec_(std::move(spec)), dir_(std::move(dir)), write_(std::move(write)), best_(NAN) {}

void Checkpointing::epoch_end(EpochEnd& end) {
  if ((end.epoch + 1) % spec_.every_epochs != 0 && !end.last() && !end.stop && !end.interrupted) return;
  const std::string name = "epoch-" + std::to_string(end.epoch + 1) + ".safetensors";
  // The best value is updated before the save, so that the checkpoint carries it (format 1 saved
  // the previous one: a run resumed there took its next epoch for the best).
  bool best = false;
  if (spec_.best) {
    const double value = end.value(*spec_.best);
    best = std::isnan(best_) || spec_.best->better(value, best_);
    if (best) best_ = value;
  }
  save(name);
  if (best) point("best.safetensors", name);
  rotate();
}

fs::path Checkpointing::save(const std::string& file_name) {
  const fs::path path = dir_ / file_name;
  write_(path.string());
  point("last.safetensors", file_name);
  saved_.push_back(file_name);
  return path;
}

std::map<std::string, std::string> Checkpointing::state() const { return {{"best", state_number(best_)}}; }

void Checkpointing::restore(const std::map<std::string, std::string>& state) {
  best_ = state_number(state, "best", NAN);
}

// Replaces the link atomically: a reader sees the old or the new complete checkpoint.
void Checkpointing::point(const std::string& link, const std::string& target) const {
  const fs::path temp = dir_ / ("." + link + ".tmp");
  std::error_code ec;
  fs::remove(temp, ec);
  fs::create_symlink(target, temp, ec);
  if (!ec) fs::rename(temp, dir_ / link, ec);
  if (ec) throw Error::runtime("cannot point " + (dir_ / link).string() + " at " + target + ": " + ec.message());
}

void Checkpointing::rotate() {
  std::string best_target;
  std::error_code ec;
  const fs::path best = dir_ / "best.safetensors";
  if (fs::is_symlink(best)) best_target = fs::read_symlink(best, ec).string();
  while (static_cast<int64_t>(saved_.size()) > spec_.keep_last) {
    const std::string old = saved_.front();
    saved_.erase(saved_.begin());
    if (old != best_target) fs::remove(dir_ / old, ec);
  }
}

}  // namespace dltrain::train
