// Graphviz DOT text of a graph: one box per layer with its kind and output shape.
#pragma once

#include <string>

#include "graph/graph.h"

namespace dltrain::graph {

std::string to_dot(const Graph& graph, const std::string& title);

}  // namespace dltrain::graph
