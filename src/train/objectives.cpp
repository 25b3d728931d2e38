#include "train/objectives.h"

#include "spec/params.h"
#include "util/strings.h"

namespace dltrain::train {
namespace {

using spec::Value;

std::unique_ptr<Metric> make_metric(const Value& v, const Head& head, const SourceLoc& where) {
  auto [kind, options, kind_loc] = spec::read_choice(v, "a metric");
  const MetricKind& info = metric_registry().get(kind, "metric", "metrics", kind_loc.known() ? kind_loc : where);
  if (info.needs_classes && !head.classes())
    throw Error("metric '" + kind + "' needs a class or binary output; output '" + head.name + "' is trained with " +
                    head.loss_kind->name + " (use mae, mse or rmse)",
                v.loc());
  spec::ParamReader p(options, kind);
  std::unique_ptr<Metric> metric = info.create(p, MetricOutput{head.features(), head.classes()});
  p.finish();
  return metric;
}

LossOutput loss_output(const spec::OutputSpec& s, const graph::Node& node) {
  LossOutput out;
  out.name = s.name;
  out.shape = node.shape;
  out.activation = node.activation.empty() ? node.kind : node.activation;
  out.fused_activation = !node.activation.empty();
  return out;
}

}  // namespace

std::vector<Head> build_heads(const graph::Graph& graph) {
  std::vector<Head> heads;
  std::vector<Error> errors;
  const LossRegistry& losses = loss_registry();
  for (const auto& out : graph.outputs) {
    try {
      const spec::OutputSpec& s = out.spec;
      const graph::Node& node = graph.nodes[static_cast<size_t>(out.node)];
      Head head;
      head.name = s.name;
      head.target = s.target;
      head.weight = s.weight;
      head.output = loss_output(s, node);
      if (s.loss.is_null())
        throw Error("output '" + s.name + "' has no loss; add `loss:` (" + join(losses.names()) + ")", s.loc);
      spec::Choice choice = spec::read_choice(s.loss, "a loss");
      const LossKind& kind = losses.get(choice.name, "loss", "losses", choice.loc);
      head.loss_kind = &kind;
      spec::ParamReader p(choice.options, kind.name);
      head.loss = kind.parse(p);
      p.finish();
      try {
        head.loss->check(head.output);
      } catch (const Error& e) {
        throw e.with_loc(s.loss.loc());  // the loss is what does not fit the output
      }
      for (const auto& m : s.metrics) head.metrics.push_back(make_metric(m, head, s.loc));
      heads.push_back(std::move(head));
    } catch (const Error& e) {
      errors.push_back(e);
    }
  }
  if (errors.size() == 1) throw errors[0];
  if (!errors.empty()) throw ErrorList(errors);
  return heads;
}

std::map<std::string, data::OutputTarget> output_targets(const graph::Graph& graph) {
  std::map<std::string, data::OutputTarget> targets;
  for (const auto& out : graph.outputs) {
    data::OutputTarget target;
    for (int64_t d : graph.nodes[static_cast<size_t>(out.node)].shape) target.width *= d;
    if (!out.spec.loss.is_null()) {
      const LossKind* kind = loss_registry().find(spec::read_choice(out.spec.loss, "a loss").name);
      target.classes = kind && kind->class_target;
    }
    targets[out.spec.name] = target;
  }
  return targets;
}

std::vector<std::string> head_metric_names(const std::vector<Head>& heads, const std::string& prefix) {
  std::vector<std::string> names = {prefix + "loss"};
  for (const Head& head : heads) {
    if (heads.size() > 1) names.push_back(prefix + head.name + ".loss");
    for (const auto& m : head.metrics) names.push_back(prefix + head.name + "." + m->name());
  }
  return names;
}

}  // namespace dltrain::train
