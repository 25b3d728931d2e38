#include "builder/summary.h"

#include <algorithm>
#include <sstream>

#include "util/strings.h"

namespace dltrain::builder {
namespace {

void count(const torch::nn::Module& module, int64_t& trainable, int64_t& non_trainable) {
  for (const auto& p : module.parameters()) (p.requires_grad() ? trainable : non_trainable) += p.numel();
  for (const auto& b : module.buffers())
    if (b.is_floating_point()) non_trainable += b.numel();
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

ModelSummary summarize(const DagModel& model) {
  ModelSummary summary;
  const graph::Graph& g = model.graph();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const graph::Node& node = g.nodes[i];
    LayerRow row;
    row.name = node.name;
    row.kind = node.kind + (node.activation.empty() ? "" : "+" + node.activation);
    row.shape = "[N, " + graph::to_string(node.shape).substr(1);
    std::vector<graph::Shape> in_shapes;
    for (int in : node.inputs) {
      row.inputs.push_back(g.nodes[static_cast<size_t>(in)].name);
      in_shapes.push_back(g.nodes[static_cast<size_t>(in)].shape);
    }
    if (node.shares >= 0)
      row.shares = g.nodes[static_cast<size_t>(node.shares)].name;
    else if (auto layer = model.layer(i))
      count(*layer, row.trainable, row.non_trainable);
    if (node.config) row.macs = node.config->macs(in_shapes, node.shape);
    summary.macs += row.macs;
    summary.rows.push_back(std::move(row));
  }
  count(model, summary.trainable, summary.non_trainable);
  return summary;
}

std::string format_summary(const ModelSummary& s, const std::string& title) {
  std::vector<std::vector<std::string>> table = {{"Layer", "Kind", "Output shape", "Params", "MACs", "Inputs"}};
  for (const auto& r : s.rows) {
    std::string inputs = r.shares.empty() ? join(r.inputs) : join(r.inputs) + " (shares " + r.shares + ")";
    table.push_back({r.name, r.kind, r.shape, with_commas(r.trainable + r.non_trainable), with_commas(r.macs), inputs});
  }
  std::vector<size_t> width(table[0].size(), 0);
  for (const auto& row : table)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  size_t line_width = 0;
  for (size_t w : width) line_width += w + 2;

  std::ostringstream out;
  out << "Model: " << title << "\n" << std::string(line_width, '=') << "\n";
  for (size_t r = 0; r < table.size(); ++r) {
    for (size_t c = 0; c < table[r].size(); ++c) {
      const bool numeric = c == 3 || c == 4;
      std::string cell = table[r][c];
      const bool last = c + 1 == table[r].size();
      std::string pad(last ? 0 : width[c] - cell.size(), ' ');
      out << (numeric && r ? pad + cell : cell + pad) << (last ? "" : "  ");
    }
    out << "\n";
    if (r == 0) out << std::string(line_width, '-') << "\n";
  }
  out << std::string(line_width, '=') << "\n";
  out << "Total params: " << with_commas(s.total()) << "\n";
  out << "Trainable params: " << with_commas(s.trainable) << "\n";
  out << "Non-trainable params: " << with_commas(s.non_trainable) << "\n";
  out << "Multiply-accumulates per sample: " << with_commas(s.macs) << "\n";
  return out.str();
}

}  // namespace dltrain::builder
