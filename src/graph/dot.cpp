#include "graph/dot.h"

#include <sstream>

namespace dltrain::graph {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string to_dot(const Graph& graph, const std::string& title) {
  std::ostringstream out;
  out << "digraph " << quoted(title) << " {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& n = graph.nodes[i];
    std::string label =
        n.name + "\\n" + n.kind + (n.activation.empty() ? "" : " + " + n.activation) + "  " + to_string(n.shape);
    out << "  n" << i << " [label=\"" << label << "\"" << (n.is_input() ? ", shape=ellipse" : "")
        << (n.shares >= 0 ? ", style=dashed" : "") << "];\n";
    for (int in : n.inputs) out << "  n" << in << " -> n" << i << ";\n";
  }
  for (size_t k = 0; k < graph.outputs.size(); ++k) {
    out << "  out" << k << " [label=" << quoted(graph.outputs[k].spec.name) << ", shape=ellipse, style=bold];\n";
    out << "  n" << graph.outputs[k].node << " -> out" << k << ";\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace dltrain::graph
