// Small string helpers shared by every module: joining, edit distance and "did you mean".
#pragma once

#include <string>
#include <vector>

namespace dltrain {

std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

// Levenshtein distance; used to suggest the closest valid name.
int edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `name` when within distance 2 (or a case-insensitive match), else "".
std::string closest_match(const std::string& name, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" — appended to unknown-name messages.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

bool starts_with(const std::string& s, const std::string& prefix);
std::vector<std::string> split(const std::string& s, char separator);
std::string trim(const std::string& s);

}  // namespace dltrain
