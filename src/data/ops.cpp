#include "data/ops.h"

#include <opencv2/core.hpp>

#include <algorithm>

#include "data/data_spec.h"
#include "util/strings.h"

namespace dltrain::data {

const OpRegistry& op_registry() { return built_once<OpKind, register_builtin_ops>(); }

std::vector<spec::KindDescription> describe_ops() {
  std::vector<spec::KindDescription> out;
  for (const std::string& name : op_registry().names()) {
    const OpKind* kind = op_registry().find(name);
    out.push_back({name, kind->help, spec::describe_params(name, [kind](spec::ParamReader& p) { kind->parse(p); })});
  }
  return out;
}

std::vector<std::shared_ptr<const Op>> build_ops(const std::vector<OpSpec>& specs, DecodeOptions* decode) {
  std::vector<std::shared_ptr<const Op>> ops;
  std::string changed_by;  // the first op after which the pixels are no longer the decoded ones
  for (size_t i = 0; i < specs.size(); ++i) {
    const OpSpec& s = specs[i];
    if (s.kind == "decode" && i != 0) throw Error("decode happens first; remove it or move it to the top", s.loc);
    const OpKind* kind = op_registry().find(s.kind);
    if (!kind)
      throw Error("unknown op '" + s.kind + "'" + did_you_mean(s.kind, op_registry().names()) +
                      "; ops: " + join(op_registry().names()),
                  s.loc);
    // A shorthand value (`random_brightness: 0.2`) sets the op's primary parameter.
    spec::Value params = s.params;
    if (!params.is_null() && !params.is_map()) {
      spec::Value map = spec::Value::map(params.loc());
      map.set(kind->primary, params, params.loc());
      params = map;
    }
    spec::ParamReader reader(params, s.kind);
    try {
      std::shared_ptr<Op> op = kind->parse(reader);
      reader.finish();
      op->loc = s.loc;
      if (s.kind == "decode") {
        if (decode) op->tune_decoder(*decode);
        continue;
      }
      if (op->needs_decoded_pixels() && !changed_by.empty())
        throw Error(s.kind + " works on the decoded 8-bit pixels, and " + changed_by + " before it changes them: put " +
                    s.kind + " first, or among the resizes, crops and flips");
      if (changed_by.empty() && !op->keeps_decoded_pixels()) changed_by = s.kind;
      ops.push_back(std::move(op));
    } catch (const Error& e) {
      throw e.with_loc(s.loc);
    }
  }
  return ops;
}

std::vector<int> size_param(spec::ParamReader& p, const std::string& key) {
  std::vector<int64_t> hw = p.get_ints(key, 2);
  if (hw[0] < 1 || hw[1] < 1) throw Error("'" + key + "' must be positive [height, width]", p.loc_of(key));
  return {static_cast<int>(hw[0]), static_cast<int>(hw[1])};
}

void materialize(Image& image) {
  const bool pending = image.gain != cv::Scalar::all(1.0) || image.offset != cv::Scalar::all(0.0);
  if (image.mat.depth() != CV_32F) image.mat.convertTo(image.mat, CV_32F);
  if (!pending) return;
  cv::multiply(image.mat, image.gain, image.mat);
  cv::add(image.mat, image.offset, image.mat);
  image.gain = cv::Scalar::all(1.0);
  image.offset = cv::Scalar::all(0.0);
}

std::vector<double> channel_values(spec::ParamReader& p, const std::string& key, const std::string& op,
                                   const std::vector<size_t>& sizes) {
  const spec::Value* value = p.find(key);
  if (!value || value->is_null()) return {};
  if (!value->is_list()) return {p.get<double>(key)};
  std::vector<double> values = p.get<std::vector<double>>(key);
  if (std::find(sizes.begin(), sizes.end(), values.size()) == sizes.end())
    throw Error(op + "'s " + key + " is one value or one per channel", value->loc());
  return values;
}

void require_unit(const Image& image, const char* op) {
  if (image.unit <= 0)
    throw Error(std::string(op) + " must come before normalize (it needs pixel values on a known scale)");
}

}  // namespace dltrain::data
