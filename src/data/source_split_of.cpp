// The `split_of` source: a fraction of another split's samples, held out from it
// (load_split_table carves them).
#include "data/source_kinds.h"

namespace dltrain::data {

void register_split_of_source(SourceRegistry& registry) {
  registry.add({"split_of",
                "a fraction of another split's samples, held out from it",
                [](spec::ParamReader& p, SourceSpec& source) {
                  source.split_of = p.get<std::string>("split_of");
                  source.fraction = p.get<double>("fraction");
                  if (source.fraction <= 0 || source.fraction >= 1)
                    throw Error("fraction must be between 0 and 1 (exclusive)", p.loc_of("fraction"));
                },
                {}});
}

}  // namespace dltrain::data
