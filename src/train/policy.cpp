#include "train/policy.h"

#include <cmath>
#include <sstream>

#include "util/error.h"

namespace dltrain::train {

double EpochEnd::value(const Monitor& monitor) const {
  auto it = values.find(monitor.key);
  DLT_ASSERT(it != values.end(), "monitor ", monitor.key, " passed the run plan's check but is not reported");
  return it->second;
}

std::string state_number(double value) {
  if (std::isnan(value)) return "nan";
  std::ostringstream out;
  out.precision(17);  // round-trips a double
  out << value;
  return out.str();
}

double state_number(const std::map<std::string, std::string>& state, const std::string& key, double fallback) {
  auto it = state.find(key);
  if (it == state.end()) return fallback;
  try {
    return std::stod(it->second);
  } catch (const std::exception&) {
    throw Error::runtime("checkpoint policy state '" + key + "' is not a number: '" + it->second + "'");
  }
}

}  // namespace dltrain::train
