#include "graph/graph.h"

#include <algorithm>
#include <map>
#include <queue>
#include <set>
#include <tuple>

#include "graph/expr.h"
#include "util/strings.h"

namespace dltrain::graph {
namespace {

using spec::Value;

// Names visible inside one layer list: the model's, or one block instance's.
struct Scope {
  std::string prefix;                         // "" for the model, "res2" inside an instance
  std::string block;                          // the block's name, "" for the model
  std::map<std::string, Value> params;        // block parameters with their values
  std::map<std::string, std::string> locals;  // local name -> full name
  std::map<std::string, SourceLoc> local_locs;
  std::string input;              // full name of $in
  std::optional<bool> trainable;  // inherited by the instance's layers

  std::string full(const std::string& local) const { return prefix.empty() ? local : prefix + "/" + local; }
  std::vector<std::string> param_names() const {
    std::vector<std::string> names;
    for (const auto& [k, v] : params) names.push_back(k);
    return names;
  }
  std::vector<std::string> local_names() const {
    std::vector<std::string> names;
    for (const auto& [k, v] : locals) names.push_back(k);
    if (!input.empty()) names.push_back("$in");
    return names;
  }
};

// A layer occurrence after block expansion, before ordering and shape inference.
struct Pending {
  std::string name;
  const spec::NodeSpec* spec = nullptr;
  std::shared_ptr<const Scope> scope;
  std::vector<std::string> inputs;
  std::string share;
  std::optional<bool> trainable;
  size_t order = 0;
};

class GraphBuilder {
 public:
  GraphBuilder(const spec::ModelSpec& model, const KindLookup& kinds) : model_(model), kinds_(kinds) {}

  Graph build() {
    for (const auto& block : model_.blocks) {
      if (kinds_.find(block.name))
        errors_.emplace_back("block '" + block.name + "' has the name of a layer kind; rename it", block.loc);
      blocks_[block.name] = &block;
    }
    auto scope = std::make_shared<Scope>();
    for (const auto& in : model_.inputs) {
      Node node;
      node.name = in.name;
      node.kind = "input";
      node.loc = in.loc;
      node.shape = in.shape();
      node.integer = in.dtype == "int64";
      node.trainable = false;
      resolved_[in.name] = static_cast<int>(graph_.nodes.size());
      graph_.inputs.push_back(static_cast<int>(graph_.nodes.size()));
      graph_.nodes.push_back(node);
      scope->locals[in.name] = in.name;
      scope->local_locs[in.name] = in.loc;
    }
    model_scope_ = scope;
    std::string first = model_.inputs.size() == 1 ? model_.inputs[0].name : "";
    expand_list(model_.nodes, scope, first);
    resolve_aliases();
    infer(topological_order());
    attach_outputs();
    // Report in file order, whichever stage found them.
    std::stable_sort(errors_.begin(), errors_.end(), [](const Error& a, const Error& b) {
      auto key = [](const Error& e) {
        return e.loc() ? std::make_tuple(e.loc()->file, e.loc()->line, e.loc()->column)
                       : std::make_tuple(std::string(), 0, 0);
      };
      return key(a) < key(b);
    });
    if (errors_.size() == 1) throw errors_[0];
    if (!errors_.empty()) throw ErrorList(errors_);
    prune_and_plan();
    return std::move(graph_);
  }

 private:
  // ---- expansion ----------------------------------------------------------------------------

  std::string generated_name(const std::string& kind, std::map<std::string, int>& counts) {
    int n = counts[kind]++;
    return n == 0 ? kind : kind + "_" + std::to_string(n);
  }

  // Declares every entry's name, then expands each; returns the full name of the last entry.
  std::string expand_list(const std::vector<spec::NodeSpec>& list, const std::shared_ptr<Scope>& scope,
                          const std::string& first_input) {
    std::map<std::string, int> counts;
    std::vector<std::string> full(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& n = list[i];
      std::string local = n.name.empty() ? generated_name(n.kind, counts) : n.name;
      SourceLoc where = n.name.empty() ? n.loc : n.name_loc;
      if (auto it = scope->local_locs.find(local); it != scope->local_locs.end()) {
        errors_.emplace_back("duplicate name '" + local + "' (first defined at " + it->second.str() + ")", where,
                             scope->full(local));
        local += "#" + std::to_string(i);  // keep going with a private name
      }
      scope->locals[local] = scope->full(local);
      scope->local_locs[local] = where;
      full[i] = scope->full(local);
    }
    std::string previous = first_input;
    for (size_t i = 0; i < list.size(); ++i) {
      try {
        expand_entry(list[i], full[i], scope, previous);
      } catch (const ErrorList& e) {
        for (const auto& err : e.errors()) errors_.push_back(err);
        poisoned_.insert(full[i]);
      } catch (const Error& e) {
        errors_.push_back(e.with_node(full[i]).with_loc(list[i].loc));
        poisoned_.insert(full[i]);
      }
      previous = full[i];
    }
    return previous;
  }

  std::string resolve_ref(const spec::Ref& ref, const Scope& scope) {
    if (ref.name == "$in" && !scope.input.empty()) return scope.input;
    if (auto it = scope.locals.find(ref.name); it != scope.locals.end()) return it->second;
    std::string where = scope.block.empty() ? "" : " in block '" + scope.block + "'";
    throw Error("unknown input '" + ref.name + "'" + where + did_you_mean(ref.name, scope.local_names()) +
                    "; known: " + join(scope.local_names()),
                ref.loc);
  }

  void expand_entry(const spec::NodeSpec& n, const std::string& full, const std::shared_ptr<Scope>& scope,
                    const std::string& previous) {
    std::vector<std::string> inputs;
    for (const auto& ref : n.from) inputs.push_back(resolve_ref(ref, *scope));
    if (n.from.empty()) {
      if (previous.empty()) {
        std::vector<std::string> inputs_declared;
        for (const auto& in : model_.inputs) inputs_declared.push_back(in.name);
        throw Error(
            "the first layer must say which input it reads: add `from:` (inputs: " + join(inputs_declared) + ")",
            n.loc);
      }
      inputs.push_back(previous);
    }
    std::optional<bool> trainable = n.trainable ? n.trainable : scope->trainable;
    if (n.weights) {
      std::string module = full;
      std::replace(module.begin(), module.end(), '/', '.');
      graph_.weight_imports.push_back({module, *n.weights});
    }

    if (auto block = blocks_.find(n.kind); block != blocks_.end()) {
      expand_block(n, *block->second, full, inputs, scope, trainable);
      return;
    }
    const KindInfo* kind = kinds_.find(n.kind);
    if (!kind) {
      std::vector<std::string> names = kinds_.names();
      for (const auto& [name, b] : blocks_) names.push_back(name);
      std::string hint = did_you_mean(n.kind, names);
      for (const auto& candidate : kinds_.names()) {
        const KindInfo* info = kinds_.find(candidate);
        for (const auto& alias : info->aliases)
          if (alias == n.kind) hint = " (dltrain calls it '" + candidate + "': " + info->help + ")";
      }
      throw Error("unknown layer kind '" + n.kind + "'" + hint + "; see `dltrain layers` for the list", n.loc);
    }
    std::string share;
    if (n.share) share = resolve_ref(*n.share, *scope);
    std::string chained = inputs.empty() ? "" : inputs[0];
    for (int64_t r = 1; r <= n.repeat; ++r) {
      Pending p;
      p.name = n.repeat == 1 ? full : full + "/" + std::to_string(r);
      p.spec = &n;
      p.scope = scope;
      p.inputs = r == 1 ? inputs : std::vector<std::string>{chained};
      p.share = share;
      p.trainable = trainable;
      p.order = pending_.size();
      chained = p.name;
      pending_.push_back(std::move(p));
    }
    if (n.repeat > 1) aliases_[full] = chained;
  }

  Value bind_param(const spec::BlockParam& param, const Value& v, const std::string& block) {
    auto mismatch = [&](const char* expected) {
      return Error("block '" + block + "' parameter '" + param.name + "' must be " + expected + ", got " + v.describe(),
                   v.loc());
    };
    if (param.type == "int" && v.type() != Value::Type::Int) throw mismatch("an integer");
    if (param.type == "float" && !v.is_number()) throw mismatch("a number");
    if (param.type == "bool" && v.type() != Value::Type::Bool) throw mismatch("true or false");
    if (param.type == "string" && !v.is_string()) throw mismatch("a string");
    if (param.type == "list" && !v.is_list()) throw mismatch("a list");
    return v;
  }

  void expand_block(const spec::NodeSpec& n, const spec::BlockSpec& block, const std::string& full,
                    const std::vector<std::string>& inputs, const std::shared_ptr<Scope>& scope,
                    std::optional<bool> trainable) {
    if (++depth_ > 32) throw Error("block '" + block.name + "' uses itself (blocks nest deeper than 32)", n.loc);
    struct Guard {
      int& d;
      ~Guard() { --d; }
    } guard{depth_};
    if (inputs.size() != 1)
      throw Error("a block instance reads one input ($in), got " + std::to_string(inputs.size()), n.loc);
    if (n.share) throw Error("'share' applies to layers, not block instances", n.share->loc);
    if (n.when) throw Error("'when' applies to layers inside a block, not to block instances", n.when->loc());
    if (!n.activation.empty())
      throw Error("'activation' applies to layers; add an activation layer after the block", n.activation_loc);

    std::map<std::string, Value> params;
    std::vector<std::string> declared;
    for (const auto& p : block.params) declared.push_back(p.name);
    for (const auto& e : n.params.entries()) {
      auto it = std::find_if(block.params.begin(), block.params.end(), [&](const auto& p) { return p.name == e.key; });
      if (it == block.params.end())
        throw Error("block '" + block.name + "' has no parameter '" + e.key + "'" + did_you_mean(e.key, declared) +
                        "; parameters: " + join(declared),
                    e.key_loc);
      params[e.key] = bind_param(*it, substitute(e.value, *scope), block.name);
    }
    for (const auto& p : block.params) {
      if (params.count(p.name)) continue;
      if (!p.default_value)
        throw Error("block '" + block.name + "' needs parameter '" + p.name + "' (" + p.type + ")", n.loc);
      params[p.name] = *p.default_value;
    }

    std::string current = inputs[0];
    for (int64_t r = 1; r <= n.repeat; ++r) {
      auto child = std::make_shared<Scope>();
      child->prefix = n.repeat == 1 ? full : full + "/" + std::to_string(r);
      child->block = block.name;
      child->params = params;
      child->input = current;
      child->trainable = trainable;
      std::string last = expand_list(block.layers, child, current);
      if (block.output) last = resolve_ref(*block.output, *child);
      current = last;
    }
    aliases_[full] = current;
  }

  // Block parameters in a value: "$name" is replaced by the parameter's value, "${expr}" by
  // the expression's value; everything else is copied.
  Value substitute(const Value& v, const Scope& scope) {
    if (v.is_list()) {
      Value out = v;
      for (auto& item : out.items()) item = substitute(item, scope);
      return out;
    }
    if (v.is_map()) {
      Value out = v;
      for (auto& e : out.entries()) e.value = substitute(e.value, scope);
      return out;
    }
    if (!v.is_string()) return v;
    const std::string& s = v.as_string();
    if (s.size() > 3 && starts_with(s, "${") && s.back() == '}')
      return evaluate(s.substr(2, s.size() - 3), v.loc(), env(scope));
    if (s.size() > 1 && s[0] == '$' && s != "$in") {
      Value out = evaluate(s, v.loc(), env(scope));
      return out;
    }
    return v;
  }

  ExprEnv env(const Scope& scope) {
    ExprEnv e;
    e.variable = [&scope](const std::string& name) -> std::optional<Value> {
      auto it = scope.params.find(name);
      if (it == scope.params.end()) return std::nullopt;
      return it->second;
    };
    e.variable_names = scope.param_names();
    e.shape_of = [this, &scope](const std::string& ref) -> Shape {
      std::string full = resolve_ref(spec::Ref{ref == "in" ? "$in" : ref, {}}, scope);
      full = resolve_alias(full);
      auto it = resolved_.find(full);
      if (it == resolved_.end())
        throw Error("the shape of '" + ref + "' is not known at this point (only layers before this one)");
      return graph_.nodes[static_cast<size_t>(it->second)].shape;
    };
    return e;
  }

  // ---- ordering -----------------------------------------------------------------------------

  std::string resolve_alias(std::string name) const {
    for (int hops = 0; hops < 1000; ++hops) {
      auto it = aliases_.find(name);
      if (it == aliases_.end()) return name;
      name = it->second;
    }
    return name;
  }

  void resolve_aliases() {
    for (auto& p : pending_) {
      for (auto& in : p.inputs) in = resolve_alias(in);
      if (!p.share.empty()) p.share = resolve_alias(p.share);
    }
  }

  std::vector<size_t> topological_order() {
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < pending_.size(); ++i) index[pending_[i].name] = i;
    std::vector<std::vector<size_t>> consumers(pending_.size());
    std::vector<int> missing(pending_.size(), 0);
    for (size_t i = 0; i < pending_.size(); ++i) {
      for (const auto& in : pending_[i].inputs) {
        auto it = index.find(in);
        if (it == index.end()) continue;  // a model input, or a node that failed to expand
        consumers[it->second].push_back(i);
        ++missing[i];
      }
    }
    std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
    for (size_t i = 0; i < pending_.size(); ++i)
      if (missing[i] == 0) ready.push(i);
    std::vector<size_t> order;
    while (!ready.empty()) {
      size_t i = ready.top();
      ready.pop();
      order.push_back(i);
      for (size_t c : consumers[i])
        if (--missing[c] == 0) ready.push(c);
    }
    if (order.size() < pending_.size()) report_cycle(index, missing);
    return order;
  }

  void report_cycle(const std::map<std::string, size_t>& index, const std::vector<int>& missing) {
    size_t start = 0;
    while (missing[start] == 0) ++start;
    std::vector<size_t> path;
    std::set<size_t> on_path;
    size_t current = start;
    while (!on_path.count(current)) {
      on_path.insert(current);
      path.push_back(current);
      for (const auto& in : pending_[current].inputs) {
        auto it = index.find(in);
        if (it != index.end() && missing[it->second] > 0) {
          current = it->second;
          break;
        }
      }
    }
    // The cycle is path[first..], walked against the data flow; print it along the flow,
    // starting from the node written first in the spec.
    std::vector<size_t> cycle(std::find(path.begin(), path.end(), current), path.end());
    std::reverse(cycle.begin(), cycle.end());
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    std::vector<std::string> names;
    for (size_t i : cycle) names.push_back(pending_[i].name);
    names.push_back(names.front());
    const Pending& p = pending_[cycle.front()];
    errors_.emplace_back("cycle: " + join(names, " -> "), p.spec->loc, p.name);
    for (size_t i = 0; i < pending_.size(); ++i)
      if (missing[i] > 0) poisoned_.insert(pending_[i].name);
  }

  // ---- shapes -------------------------------------------------------------------------------

  void infer(const std::vector<size_t>& order) {
    for (size_t i : order) {
      const Pending& p = pending_[i];
      try {
        infer_node(p);
      } catch (const Error& e) {
        errors_.push_back(e.with_node(p.name).with_loc(p.spec->loc));
        poisoned_.insert(p.name);
      }
    }
  }

  void infer_node(const Pending& p) {
    const spec::NodeSpec& n = *p.spec;
    std::vector<int> inputs;
    for (const auto& name : p.inputs) {
      if (poisoned_.count(name)) {  // already reported; do not cascade
        poisoned_.insert(p.name);
        return;
      }
      auto it = resolved_.find(name);
      DLT_ASSERT(it != resolved_.end(), "unresolved input ", name);
      inputs.push_back(it->second);
    }
    std::vector<Shape> shapes;
    for (int in : inputs) shapes.push_back(graph_.nodes[static_cast<size_t>(in)].shape);

    if (n.when) {
      Value cond = n.when->is_string() ? evaluate(n.when->as_string(), n.when->loc(), env(*p.scope)) : *n.when;
      if (cond.type() != Value::Type::Bool)
        throw Error("'when' must be true or false, got " + cond.describe(), n.when->loc());
      if (!cond.as_bool()) {  // absent: its name now means its first input
        resolved_[p.name] = inputs.at(0);
        return;
      }
    }

    const KindInfo* kind = kinds_.find(n.kind);
    int count = static_cast<int>(inputs.size());
    if (count < kind->min_inputs || (kind->max_inputs >= 0 && count > kind->max_inputs)) {
      std::string expected = kind->max_inputs < 0 ? "at least " + std::to_string(kind->min_inputs)
                             : kind->min_inputs == kind->max_inputs
                                 ? std::to_string(kind->min_inputs)
                                 : std::to_string(kind->min_inputs) + " to " + std::to_string(kind->max_inputs);
      throw Error(
          n.kind + " takes " + expected + " input" + (expected == "1" ? "" : "s") + ", got " + std::to_string(count),
          n.loc);
    }

    Node node;
    node.name = p.name;
    node.kind = n.kind;
    node.loc = n.loc;
    node.inputs = inputs;
    node.trainable = p.trainable.value_or(true);
    if (!p.share.empty()) {
      int owner = graph_.index_of(p.share);
      if (owner < 0 || graph_.nodes[static_cast<size_t>(owner)].is_input())
        throw Error("'share' names '" + n.share->name + "', which is not a layer computed before this one",
                    n.share->loc);
      const Node& o = graph_.nodes[static_cast<size_t>(owner)];
      if (o.kind != n.kind)
        throw Error("'share' needs the same kind: '" + n.share->name + "' is " + o.kind + ", this is " + n.kind,
                    n.share->loc);
      if (!n.params.entries().empty())
        throw Error("a shared layer takes its parameters from '" + n.share->name + "'; remove " + join(n.params.keys()),
                    n.params.entries()[0].key_loc);
      for (size_t k = 0; k < shapes.size(); ++k) {
        const Shape& owner_shape = graph_.nodes[static_cast<size_t>(o.inputs.at(k))].shape;
        if (owner_shape != shapes[k])
          throw Error("shares '" + n.share->name + "', which was built for input " + to_string(owner_shape) +
                          ", but this input is " + to_string(shapes[k]),
                      n.loc);
      }
      node.config = o.config;
      node.shares = o.shares >= 0 ? o.shares : owner;
      node.activation = o.activation;
      node.activation_config = o.activation_config;
    } else {
      Value params = substitute(n.params, *p.scope);
      spec::ParamReader reader(params, n.kind);
      node.config = kind->parse(reader);
      reader.finish();
    }
    try {
      node.shape = node.config->infer_shape(shapes);
    } catch (const Error& e) {
      // Say where each input came from, so a mismatch can be traced to both ends.
      std::vector<std::string> origins;
      for (int in : inputs) {
        const Node& source = graph_.nodes[static_cast<size_t>(in)];
        origins.push_back(source.name + " " + to_string(source.shape) + " (" + source.loc.str() + ")");
      }
      throw Error(e.message() + "; inputs: " + join(origins), e.loc() ? e.loc() : n.loc, e.node());
    }

    if (!n.activation.empty() && p.share.empty()) {
      std::string act = substitute(Value::string(n.activation, n.activation_loc), *p.scope).as_string();
      const KindInfo* info = kinds_.find(act);
      std::vector<std::string> activations;
      for (const auto& name : kinds_.names())
        if (kinds_.find(name)->is_activation) activations.push_back(name);
      if (!info || !info->is_activation)
        throw Error(
            "unknown activation '" + act + "'" + did_you_mean(act, activations) + "; activations: " + join(activations),
            n.activation_loc);
      if (!kind->takes_activation)
        throw Error(n.kind + " takes no 'activation'; add a " + act + " layer after it", n.activation_loc);
      Value none;
      spec::ParamReader reader(none, act);
      node.activation = act;
      node.activation_config = info->parse(reader);
      node.shape = node.activation_config->infer_shape({node.shape});
    }
    resolved_[p.name] = static_cast<int>(graph_.nodes.size());
    graph_.nodes.push_back(std::move(node));
  }

  void attach_outputs() {
    for (const auto& out : model_.outputs) {
      try {
        std::string full = resolve_alias(resolve_ref(out.from, *model_scope_));
        if (poisoned_.count(full)) continue;
        auto it = resolved_.find(full);
        DLT_ASSERT(it != resolved_.end(), "unresolved output ", full);
        graph_.outputs.push_back({out, it->second});
      } catch (const Error& e) {
        errors_.push_back(Error("output '" + out.name + "': " + e.message(), e.loc() ? e.loc() : out.loc));
      }
    }
  }

  // Drops layers that feed no output (as Keras' Model(inputs, outputs) does), with a warning,
  // and records each tensor's last use.
  void prune_and_plan() {
    const size_t count = graph_.nodes.size();
    std::vector<bool> needed(count, false);
    for (const auto& out : graph_.outputs) needed[static_cast<size_t>(out.node)] = true;
    for (size_t i = count; i-- > 0;) {
      if (!needed[i]) continue;
      for (int in : graph_.nodes[i].inputs) needed[static_cast<size_t>(in)] = true;
      if (graph_.nodes[i].shares >= 0) needed[static_cast<size_t>(graph_.nodes[i].shares)] = true;
    }
    std::vector<int> remap(count, -1);
    std::vector<Node> kept;
    std::vector<int> inputs;
    for (size_t i = 0; i < count; ++i) {
      Node& node = graph_.nodes[i];
      if (!needed[i] && !node.is_input()) {
        graph_.warnings.emplace_back("layer feeds no output and is left out of the model", node.loc, node.name);
        continue;
      }
      if (node.is_input() && !needed[i])
        graph_.warnings.emplace_back("input '" + node.name + "' is not used by any output", node.loc);
      remap[i] = static_cast<int>(kept.size());
      if (node.is_input()) inputs.push_back(remap[i]);
      for (int& in : node.inputs) in = remap[static_cast<size_t>(in)];
      if (node.shares >= 0) node.shares = remap[static_cast<size_t>(node.shares)];
      kept.push_back(std::move(node));
    }
    for (auto& out : graph_.outputs) out.node = remap[static_cast<size_t>(out.node)];
    for (size_t i = 0; i < kept.size(); ++i)
      for (int in : kept[i].inputs) kept[static_cast<size_t>(in)].last_use = static_cast<int>(i);
    for (const auto& out : graph_.outputs) kept[static_cast<size_t>(out.node)].last_use = static_cast<int>(kept.size());
    graph_.nodes = std::move(kept);
    graph_.inputs = std::move(inputs);
  }

  const spec::ModelSpec& model_;
  const KindLookup& kinds_;
  std::vector<Error> errors_;
  std::vector<Pending> pending_;
  std::map<std::string, std::string> aliases_;
  std::map<std::string, const spec::BlockSpec*> blocks_;
  std::shared_ptr<Scope> model_scope_;
  std::map<std::string, int> resolved_;
  std::set<std::string> poisoned_;
  int depth_ = 0;
  Graph graph_;
};

}  // namespace

int Graph::index_of(const std::string& name) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].name == name) return static_cast<int>(i);
  return -1;
}

Graph build_graph(const spec::ModelSpec& model, const KindLookup& kinds) { return GraphBuilder(model, kinds).build(); }

}  // namespace dltrain::graph
