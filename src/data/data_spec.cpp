#include "data/data_spec.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "data/source_kinds.h"
#include "spec/params.h"
#include "util/strings.h"

namespace dltrain::data {
namespace {

namespace fs = std::filesystem;
using spec::Value;

// Far more loader threads than any machine has cores; beyond it a typo, not a setting.
constexpr int64_t kMaxWorkers = 1024;

int64_t auto_or_int(spec::ParamReader& p, const std::string& key) {
  const Value* v = p.find(key);
  if (!v || v->is_null()) return 0;
  if (v->is_string() && v->as_string() == "auto") return 0;
  int64_t n = v->as_int();
  if (n < 1) throw Error("'" + key + "' must be auto or at least 1", v->loc());
  return n;
}

SourceSpec parse_source(const Value& v) {
  SourceSpec source;
  source.loc = v.loc();
  if (!v.is_map() || v.entries().empty())
    throw Error(
        "a source is {folder: PATH}, {csv: PATH, columns: {...}}, {tar: SHARDS, columns: {...}}, "
        "{synthetic: {size: N}} or {split_of: SPLIT, fraction: F}",
        v.loc());
  spec::ParamReader p(v, "source");
  for (const std::string& name : source_registry().names()) {
    if (!v.find(name)) continue;
    source.kind = name;
    source_registry().find(name)->read(p, source);
    p.finish();
    return source;
  }
  std::vector<std::string> kinds = source_registry().names();
  const std::string last = kinds.back();
  kinds.pop_back();
  throw Error("a source needs one of " + join(kinds) + " or " + last + "; got " + join(v.keys()), v.loc());
}

std::vector<OpSpec> parse_ops(const Value& list) {
  std::vector<OpSpec> ops;
  for (const auto& entry : list.items()) {
    spec::Choice choice = spec::read_choice(entry, "an op");
    OpSpec op;
    op.kind = std::move(choice.name);
    op.params = std::move(choice.options);
    op.loc = choice.loc;
    ops.push_back(std::move(op));
  }
  return ops;
}

std::vector<ColumnSpec> model_columns(const spec::ModelSpec& model,
                                      const std::map<std::string, OutputTarget>& targets) {
  std::vector<ColumnSpec> columns;
  for (const auto& in : model.inputs) {
    ColumnSpec c;
    c.name = in.name;
    c.loc = in.loc;
    if (in.kind == spec::InputSpec::Kind::Image) {
      c.kind = ColumnSpec::Kind::Image;
      c.channels = in.channels;
      c.height = in.height;
      c.width_px = in.width;
    } else {
      c.kind = ColumnSpec::Kind::Vector;
      c.width = in.size;
    }
    columns.push_back(c);
  }
  for (const auto& out : model.outputs) {
    ColumnSpec c;
    c.name = out.target;
    c.loc = out.loc;
    const auto it = targets.find(out.name);
    const OutputTarget target = it == targets.end() ? OutputTarget{} : it->second;
    c.kind = target.classes ? ColumnSpec::Kind::ClassLabel : ColumnSpec::Kind::Number;
    c.width = target.width;
    columns.push_back(c);
  }
  return columns;
}

MixupSpec parse_mixup(const Value& v) {
  MixupSpec mix;
  mix.loc = v.loc();
  Value params = v;
  if (!v.is_map()) {  // `mixup: 0.2` sets mixup_alpha
    params = Value::map(v.loc());
    params.set("mixup_alpha", v, v.loc());
  }
  spec::ParamReader p(params, "mixup");
  mix.mixup_alpha = p.get_in<double>("mixup_alpha", 1.0, 0.0);
  mix.cutmix_alpha = p.get_in<double>("cutmix_alpha", 0.0, 0.0);
  mix.cutmix_minmax = p.get_or<std::vector<double>>("cutmix_minmax", {});
  if (!mix.cutmix_minmax.empty()) {
    if (mix.cutmix_minmax.size() != 2 || mix.cutmix_minmax[0] <= 0 || mix.cutmix_minmax[0] >= mix.cutmix_minmax[1] ||
        mix.cutmix_minmax[1] > 1)
      throw Error("cutmix_minmax is [low, high] fractions of the image's sides, 0 < low < high <= 1",
                  p.loc_of("cutmix_minmax"));
    mix.cutmix_alpha = 1.0;  // as timm: the box comes from minmax, alpha only switches CutMix on
  }
  mix.prob = p.get_in<double>("prob", 1.0, 0.0, 1.0);
  mix.switch_prob = p.get_in<double>("switch_prob", 0.5, 0.0, 1.0);
  mix.correct_lam = p.get_or<bool>("correct_lam", true);
  p.finish();
  if (mix.mixup_alpha == 0 && mix.cutmix_alpha == 0)
    throw Error("mixup needs mixup_alpha or cutmix_alpha above 0 (or remove it)", v.loc());
  return mix;
}

SplitSpec parse_split(const std::string& name, const Value& v, const spec::ModelSpec& model,
                      const std::vector<ColumnSpec>& columns) {
  SplitSpec split;
  split.name = name;
  split.loc = v.loc();
  split.columns = columns;
  spec::ParamReader p(v, "data split '" + name + "'");
  split.source = parse_source(p.require("source"));

  std::vector<std::string> images;
  for (const auto& c : columns)
    if (c.kind == ColumnSpec::Kind::Image) images.push_back(c.name);
  if (const Value* ops = p.find("ops"); ops && !ops->is_null()) {
    if (ops->is_list()) {
      if (images.size() != 1)
        throw Error("with " + std::to_string(images.size()) + " image inputs, write ops per input: {" +
                        join(images, ": [...], ") + ": [...]}",
                    ops->loc());
      split.ops[images[0]] = parse_ops(*ops);
    } else {
      for (const auto& e : ops->entries()) {
        if (std::find(images.begin(), images.end(), e.key) == images.end())
          throw Error(
              "'" + e.key + "' is not an image input" + did_you_mean(e.key, images) + "; image inputs: " + join(images),
              e.key_loc);
        split.ops[e.key] = parse_ops(e.value);
      }
    }
  }
  if (const Value* shuffle = p.find("shuffle"); shuffle && !shuffle->is_null()) {
    if (shuffle->type() == Value::Type::Bool) {
      split.shuffle_buffer = shuffle->as_bool() ? INT64_MAX : 0;
    } else {
      split.shuffle_buffer = shuffle->as_int();
      if (split.shuffle_buffer < 0) throw Error("shuffle is a buffer size (>= 1), true or false", shuffle->loc());
    }
  }
  if (const Value* batch = p.find("batch"); batch && batch->is_string() && batch->as_string() == "auto") {
    split.auto_batch = true;
    split.batch_size = 0;
  } else {
    split.batch_size = p.get_or<int64_t>("batch", 32);
    if (split.batch_size < 1) throw Error("batch must be auto or at least 1", p.loc_of("batch"));
  }
  split.drop_remainder = p.get_or<bool>("drop_remainder", false);
  split.workers = auto_or_int(p, "workers");
  if (split.workers > kMaxWorkers)
    throw Error(
        "'workers' is at most " + std::to_string(kMaxWorkers) + " loader threads, got " + std::to_string(split.workers),
        p.loc_of("workers"));
  split.prefetch = auto_or_int(p, "prefetch");
  split.cache = p.get_or<bool>("cache", false);
  split.skip_bad = p.get_choice("on_error", {"skip", "fail"}, "skip") == "skip";
  split.max_pixels = p.get_or<int64_t>("max_pixels", split.max_pixels);
  if (const Value* mixup = p.find("mixup"); mixup && !mixup->is_null()) {
    split.mixup = parse_mixup(*mixup);
    if (split.mixup->cutmix_alpha > 0 && images.empty())
      throw Error("cutmix pastes boxes of images, and this model has no image input: use mixup_alpha alone",
                  mixup->loc());
    for (const auto& input : model.inputs)
      if (input.dtype != "float32")
        throw Error("mixup blends every input, and input '" + input.name + "' holds " + input.dtype +
                        " indices, which cannot be blended",
                    mixup->loc());
  }
  p.finish();
  return split;
}

}  // namespace

const std::vector<std::string>& default_image_extensions() {
  static const std::vector<std::string> extensions = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};
  return extensions;
}

std::vector<spec::KindDescription> describe_sources() {
  std::vector<spec::KindDescription> out;
  for (const std::string& name : source_registry().names()) {
    const SourceKind* kind = source_registry().find(name);
    SourceSpec ignored;
    out.push_back(
        {name, kind->help, spec::describe_params(name, [&](spec::ParamReader& p) { kind->read(p, ignored); })});
  }
  return out;
}

const SplitSpec* DataSpec::find(const std::string& name) const {
  auto it = splits.find(name);
  return it == splits.end() ? nullptr : &it->second;
}

SplitSpec* DataSpec::find(const std::string& name) {
  auto it = splits.find(name);
  return it == splits.end() ? nullptr : &it->second;
}

DataSpec parse_data_spec(const spec::Value& data, const spec::ModelSpec& model,
                         const std::map<std::string, OutputTarget>& targets) {
  DataSpec spec;
  if (data.is_null()) return spec;
  std::vector<ColumnSpec> columns = model_columns(model, targets);
  std::vector<Error> errors;
  for (const auto& e : data.entries()) {
    try {
      spec.splits[e.key] = parse_split(e.key, e.value, model, columns);
    } catch (const Error& err) {
      errors.push_back(err);
    }
  }
  for (const auto& [name, split] : spec.splits) {
    if (split.source.kind != "split_of") continue;
    const SplitSpec* parent = spec.find(split.source.split_of);
    std::vector<std::string> names;
    for (const auto& [n, s] : spec.splits) names.push_back(n);
    const bool parent_failed = !parent && data.find(split.source.split_of);  // already reported
    if (!parent_failed && (!parent || parent->source.kind == "split_of"))
      errors.emplace_back("split_of names '" + split.source.split_of + "', which is not a split with its own source" +
                              did_you_mean(split.source.split_of, names),
                          split.source.loc);
  }
  if (errors.size() == 1) throw errors[0];
  if (!errors.empty()) throw ErrorList(errors);
  return spec;
}

}  // namespace dltrain::data
