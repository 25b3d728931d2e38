#include "train/train_spec.h"

#include "spec/params.h"
#include "util/strings.h"

namespace dltrain::train {
namespace {

using spec::Value;

OptimizerSpec parse_optimizer(const Value& v) {
  OptimizerSpec o;
  o.loc = v.loc();
  auto [kind, options, kind_loc] = spec::read_choice(v, "an optimizer");
  const std::vector<std::string> kinds = {"sgd", "adam", "adamw", "rmsprop"};
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
    throw Error("unknown optimizer '" + kind + "'" + did_you_mean(kind, kinds) + "; optimizers: " + join(kinds), kind_loc);
  o.kind = kind;
  spec::ParamReader p(options, kind);
  o.lr = p.get_or<double>("lr", kind == "sgd" ? 0.01 : kind == "rmsprop" ? 0.001 : 0.001);
  o.weight_decay = p.get_or<double>("weight_decay", kind == "adamw" ? 0.01 : 0.0);
  if (kind == "sgd" || kind == "rmsprop") o.momentum = p.get_or<double>("momentum", 0.0);
  if (kind == "sgd") o.nesterov = p.get_or<bool>("nesterov", false);
  if (kind == "adam" || kind == "adamw") {
    auto betas = p.get_or<std::vector<double>>("betas", {0.9, 0.999});
    if (betas.size() != 2) throw Error("betas are [beta1, beta2]", p.loc_of("betas"));
    o.beta1 = betas[0];
    o.beta2 = betas[1];
  }
  if (kind == "rmsprop") o.alpha = p.get_or<double>("alpha", 0.99);
  o.eps = p.get_or<double>("eps", 1e-8);
  if (o.lr <= 0) throw Error("lr must be positive", p.loc_of("lr"));
  p.finish();
  return o;
}

ScheduleSpec parse_schedule(const Value& v, double lr) {
  ScheduleSpec s;
  s.loc = v.loc();
  auto [kind, options, kind_loc] = spec::read_choice(v, "a schedule");
  const std::vector<std::string> kinds = {"constant", "step", "multistep", "exponential", "cosine", "one_cycle",
                                          "reduce_on_plateau"};
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
    throw Error("unknown schedule '" + kind + "'" + did_you_mean(kind, kinds) + "; schedules: " + join(kinds), kind_loc);
  s.kind = kind;
  spec::ParamReader p(options, kind);
  if (kind == "step") {
    s.step_size = p.get<int64_t>("step_size");
    if (s.step_size < 1) throw Error("step_size must be at least 1 epoch", p.loc_of("step_size"));
    s.gamma = p.get_or<double>("gamma", 0.1);
  } else if (kind == "multistep") {
    s.milestones = p.get<std::vector<int64_t>>("milestones");
    s.gamma = p.get_or<double>("gamma", 0.1);
  } else if (kind == "exponential") {
    s.gamma = p.get<double>("gamma");
  } else if (kind == "cosine") {
    s.lr_min = p.get_in<double>("lr_min", 0.0, 0.0);
  } else if (kind == "one_cycle") {
    s.max_lr = p.get_or<double>("max_lr", lr);
    s.pct_start = p.get_in<double>("pct_start", 0.3, 0.0, 1.0);
  } else if (kind == "reduce_on_plateau") {
    s.factor = p.get_in<double>("factor", 0.1, 0.0, 1.0);
    s.patience = p.get_in<int64_t>("patience", 5, 0);
    s.monitor = p.get_or<std::string>("monitor", "val.loss");
    s.mode = p.get_choice("mode", {"min", "max"}, "min");
  }
  if (kind != "one_cycle") s.warmup_epochs = p.get_in<double>("warmup_epochs", 0.0, 0.0);
  p.finish();
  return s;
}

}  // namespace

TrainSpec parse_train_spec(const Value& train) {
  TrainSpec t;
  t.loc = train.loc();
  spec::ParamReader p(train, "train");
  t.epochs = p.get_in<int64_t>("epochs", 10, 1);
  t.seed = static_cast<uint64_t>(p.get_or<int64_t>("seed", 0));
  if (const Value* o = p.find("optimizer")) t.optimizer = parse_optimizer(*o);
  if (const Value* s = p.find("schedule")) t.schedule = parse_schedule(*s, t.optimizer.lr);
  if (const Value* clip = p.find("clip"); clip && !clip->is_null()) {
    spec::ParamReader c(*clip, "clip");
    t.clip_norm = c.get_in<double>("norm", 0.0, 0.0);
    t.clip_value = c.get_in<double>("value", 0.0, 0.0);
    c.finish();
  }
  t.accumulate = p.get_in<int64_t>("accumulate", 1, 1);
  if (const Value* es = p.find("early_stopping"); es && !es->is_null()) {
    EarlyStoppingSpec e;
    e.loc = es->loc();
    spec::ParamReader r(*es, "early_stopping");
    e.monitor = r.get_or<std::string>("monitor", "val.loss");
    e.mode = r.get_choice("mode", {"min", "max"}, "min");
    e.patience = r.get_in<int64_t>("patience", 5, 0);
    e.min_delta = r.get_in<double>("min_delta", 0.0, 0.0);
    r.finish();
    t.early_stopping = e;
  }
  if (const Value* ck = p.find("checkpoint"); ck && !ck->is_null()) {
    spec::ParamReader r(*ck, "checkpoint");
    t.checkpoint.loc = ck->loc();
    t.checkpoint.every_epochs = r.get_in<int64_t>("every_epochs", 1, 1);
    t.checkpoint.keep_last = r.get_in<int64_t>("keep_last", 3, 1);  // resume needs the last one
    if (const Value* best = r.find("keep_best"); best && !best->is_null()) {
      spec::ParamReader b(*best, "keep_best");
      t.checkpoint.best_monitor = b.get<std::string>("monitor");
      t.checkpoint.best_mode = b.get_choice("mode", {"min", "max"}, "max");
      b.finish();
    }
    r.finish();
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
    throw Error("cuda_graph replays a step that writes the gradients afresh; it cannot accumulate over batches "
                "(accumulate: " + std::to_string(t.accumulate) + ")", t.cuda_graph_loc);
  if (t.cuda_graph && t.precision == "fp16")
    throw Error("cuda_graph does not combine with fp16's changing loss scale; use bf16", t.cuda_graph_loc);
  t.train_split = p.get_or<std::string>("train_split", "train");
  t.val_split = p.get_or<std::string>("val_split", "val");
  p.finish();
  return t;
}

}  // namespace dltrain::train
