// pack: a dataset written as tar shards for sequential reading (network filesystems, object stores).
#include <spdlog/spdlog.h>

#include "commands.h"
#include "data/pack.h"

namespace dltrain::cli {

void setup_pack(CLI::App& app, Action& action) {
  auto o = std::make_shared<data::PackOptions>();
  CLI::App* cmd = app.add_subcommand(
      "pack", "Write an image folder or a CSV manifest as WebDataset tar shards with an index (for a tar source)");
  cmd->add_option("input", o->input, "Image folder (root/<class>/<image>) or .csv/.tsv manifest")->required();
  cmd->add_option("-o,--output", o->output, "Folder for the shards and index.json")->required();
  cmd->add_option("--shard-size", o->shard_bytes, "Bytes per shard, at most (1GB, 256MiB, ...; default 1GB)")
      ->transform(CLI::AsSizeValue(true));
  cmd->add_option("--prefix", o->prefix, "Shard names: PREFIX-000000.tar (default: the input's name)");
  cmd->add_option("--seed", o->seed, "Seed of the sample order (default 0)");
  cmd->add_flag(
      "--keep-order", [o](int64_t) { o->shuffle = false; },
      "Samples in the input's order (default: shuffled, so that each shard mixes the classes)");
  cmd->add_flag("--overwrite", o->overwrite, "Replace an earlier pack in the output folder");
  cmd->callback([&action, o] {
    action = [o] {
      const auto report = data::pack_dataset(*o, [](const data::Shard& shard) {
        spdlog::info("{}: {} samples, {:.1f} MB", shard.path, shard.samples, static_cast<double>(shard.bytes) / 1e6);
      });
      spdlog::info("packed {} samples into {} shards ({:.1f} MB) with {}/index.json", report.samples,
                   report.shards.size(), static_cast<double>(report.bytes) / 1e6, o->output);
      return 0;
    };
  });
}

}  // namespace dltrain::cli
