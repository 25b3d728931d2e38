#include "train/train_spec.h"

#include "spec/params.h"
#include "train/optimizer.h"
#include "train/schedule.h"
#include "util/strings.h"

namespace dltrain::train {
namespace {

using spec::Value;

OptimizerSpec parse_optimizer(const Value& v) {
  OptimizerSpec o;
  o.loc = v.loc();
  auto [kind, options, kind_loc] = spec::read_choice(v, "an optimizer");
  const OptimizerKind& info = optimizer_registry().get(kind, "optimizer", "optimizers", kind_loc);
  o.kind = kind;
  spec::ParamReader p(options, kind);
  o.config = info.parse(p);
  p.finish();
  return o;
}

ScheduleSpec parse_schedule(const Value& v, double lr) {
  ScheduleSpec s;
  s.loc = v.loc();
  auto [kind, options, kind_loc] = spec::read_choice(v, "a schedule");
  const ScheduleKind& info = schedule_registry().get(kind, "schedule", "schedules", kind_loc);
  s.kind = kind;
  spec::ParamReader p(options, kind);
  s.config = read_schedule_options(info, p, lr, s.warmup_epochs);
  p.finish();
  return s;
}

}  // namespace

Monitor read_monitor(spec::ParamReader& p, const char* fallback_key, const char* fallback_mode) {
  Monitor m;
  m.key = fallback_key ? p.get_or<std::string>("monitor", fallback_key) : p.get<std::string>("monitor");
  m.loc = p.loc_of("monitor");
  m.mode = p.get_choice("mode", {"min", "max"}, fallback_mode);
  return m;
}

std::shared_ptr<const ScheduleConfig> read_schedule_options(const ScheduleKind& kind, spec::ParamReader& p, double lr,
                                                            double& warmup_epochs) {
  std::shared_ptr<const ScheduleConfig> config = kind.parse(p, lr);
  if (config->warms_up()) warmup_epochs = p.get_in<double>("warmup_epochs", 0.0, 0.0);
  return config;
}

double OptimizerSpec::lr() const { return config->lr(); }

const PlateauOptions* ScheduleSpec::plateau() const { return config ? config->plateau() : nullptr; }

std::vector<const Monitor*> TrainSpec::monitors() const {
  std::vector<const Monitor*> out;
  if (const PlateauOptions* plateau = schedule.plateau()) out.push_back(&plateau->monitor);
  if (early_stopping) out.push_back(&early_stopping->monitor);
  if (checkpoint.best) out.push_back(&*checkpoint.best);
  return out;
}

TrainSpec parse_train_spec(const Value& train) {
  spec::ParamReader p(train, "train");
  TrainSpec t = read_train_spec(p);
  t.loc = train.loc();
  return t;
}

TrainSpec read_train_spec(spec::ParamReader& p) {
  TrainSpec t;
  t.loc = p.loc();
  t.epochs = p.get_in<int64_t>("epochs", 10, 1);
  t.seed = static_cast<uint64_t>(p.get_or<int64_t>("seed", 0));
  const Value* optimizer = p.find("optimizer");
  t.optimizer = parse_optimizer(optimizer && !optimizer->is_null() ? *optimizer : Value::string("adam", t.loc));
  const Value* schedule = p.find("schedule");
  t.schedule =
      parse_schedule(schedule && !schedule->is_null() ? *schedule : Value::string("constant", t.loc), t.optimizer.lr());
  if (auto c = p.section("clip", "clip")) {
    t.clip_norm = c->get_in<double>("norm", 0.0, 0.0);
    t.clip_value = c->get_in<double>("value", 0.0, 0.0);
    c->finish();
  }
  t.accumulate = p.get_in<int64_t>("accumulate", 1, 1);
  if (auto r = p.section("early_stopping", "early_stopping")) {
    EarlyStoppingSpec e;
    e.loc = r->loc();
    e.monitor = read_monitor(*r, "val.loss", "min");
    e.patience = r->get_in<int64_t>("patience", 5, 0);
    e.min_delta = r->get_in<double>("min_delta", 0.0, 0.0);
    r->finish();
    t.early_stopping = e;
  }
  if (auto r = p.section("checkpoint", "checkpoint")) {
    t.checkpoint.loc = r->loc();
    t.checkpoint.every_epochs = r->get_in<int64_t>("every_epochs", 1, 1);
    t.checkpoint.keep_last = r->get_in<int64_t>("keep_last", 3, 1);  // resume needs the last one
    if (auto b = r->section("keep_best", "keep_best")) {
      t.checkpoint.best = read_monitor(*b, nullptr, "max");
      b->finish();
    }
    r->finish();
  }
  t.log_every = p.get_in<int64_t>("log_every", 0, 0);
  t.skip_nan_batches = p.get_choice("on_nan", {"stop", "skip_batch"}, "stop") == "skip_batch";
  t.precision = p.get_choice("precision", {"fp32", "bf16", "fp16"}, "fp32");
  t.precision_loc = p.loc_of("precision");
  t.channels_last = p.get_or<bool>("channels_last", false);
  t.deterministic = p.get_or<bool>("deterministic", false);
  t.cuda_graph = p.get_or<bool>("cuda_graph", false);
  t.cuda_graph_loc = p.loc_of("cuda_graph");
  if (t.cuda_graph && t.accumulate > 1)
    throw Error(
        "cuda_graph replays a step that writes the gradients afresh; it cannot accumulate over batches "
        "(accumulate: " +
            std::to_string(t.accumulate) + ")",
        t.cuda_graph_loc);
  if (t.cuda_graph && t.precision == "fp16")
    throw Error("cuda_graph does not combine with fp16's changing loss scale; use bf16", t.cuda_graph_loc);
  if (auto r = p.section("distributed", "distributed")) {
    t.distributed.loc = r->loc();
    t.distributed.backend = r->get_choice("backend", {"auto", "gloo", "nccl"}, "auto");
    t.distributed.sync_batch_norm = r->get_or<bool>("sync_batch_norm", false);
    t.distributed.bucket_cap_mb = r->get_in<double>("bucket_cap_mb", 25.0, 0.0);
    t.distributed.overlap = r->get_or<bool>("overlap", true);
    t.distributed.timeout = r->get_in<double>("timeout", 300.0, 1.0);
    r->finish();
  }
  if (auto r = p.section("ema", "ema")) {
    EmaSpec e;
    e.loc = r->loc();
    e.decay = r->get_in<double>("decay", 0.9999, 0.0, 1.0);
    e.warmup_steps = r->get_in<int64_t>("warmup_steps", 0, 0);
    r->finish();
    t.ema = e;
  }
  t.memory_fraction = p.get_in<double>("memory_fraction", 0.9, 0.05, 1.0);
  t.train_split = p.get_or<std::string>("train_split", "train");
  t.val_split = p.get_or<std::string>("val_split", "val");
  p.finish();
  return t;
}

}  // namespace dltrain::train
