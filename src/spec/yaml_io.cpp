#include "spec/yaml_io.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dltrain::spec {
namespace {

SourceLoc loc_of(const YAML::Node& node, const std::string& origin) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return {origin, 0, 0};
  return {origin, mark.line + 1, mark.column + 1};
}

// How many ASCII digits start at s[at].
size_t digits_at(const std::string& s, size_t at) {
  size_t end = at;
  while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
  return end - at;
}

// 1 when s[at] is a sign.
size_t sign_at(const std::string& s, size_t at) { return at < s.size() && (s[at] == '-' || s[at] == '+') ? 1 : 0; }

// YAML 1.2 core-schema numbers: an integer is [-+]?[0-9]+, a float
// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?. Scanned rather than matched with std::regex,
// which took seconds over the million scalars an alias-heavy document may expand to.

bool is_integer(const std::string& s) {
  const size_t sign = sign_at(s, 0);
  const size_t digits = digits_at(s, sign);
  return digits > 0 && sign + digits == s.size();
}

bool is_float(const std::string& s) {
  size_t at = sign_at(s, 0);
  const size_t whole = digits_at(s, at);
  at += whole;
  size_t fraction = 0;
  if (at < s.size() && s[at] == '.') {
    fraction = digits_at(s, ++at);
    at += fraction;
  }
  if (whole == 0 && fraction == 0) return false;
  if (at < s.size() && (s[at] == 'e' || s[at] == 'E')) {
    at += 1 + sign_at(s, at + 1);
    const size_t exponent = digits_at(s, at);
    if (exponent == 0) return false;
    at += exponent;
  }
  return at == s.size();
}

// YAML 1.2 core-schema resolution of a plain (unquoted) scalar.
Value plain_scalar(const std::string& s, SourceLoc loc) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Value::null(loc);
  if (s == "true" || s == "True" || s == "TRUE") return Value::boolean(true, loc);
  if (s == "false" || s == "False" || s == "FALSE") return Value::boolean(false, loc);
  if (is_integer(s)) {
    try {
      return Value::integer(std::stoll(s), loc);
    } catch (const std::out_of_range&) {
      throw Error("integer out of range: " + s, loc);
    }
  }
  if (is_float(s)) {
    // strtod, not stod: a number that underflows is 0 (or subnormal), one that overflows an error.
    const double value = std::strtod(s.c_str(), nullptr);
    if (std::isinf(value)) throw Error("number out of range: " + s, loc);
    return Value::real(value, loc);
  }
  if (s == ".inf" || s == "+.inf") return Value::real(HUGE_VAL, loc);
  if (s == "-.inf") return Value::real(-HUGE_VAL, loc);
  if (s == ".nan") return Value::real(NAN, loc);
  return Value::string(s, loc);
}

std::string hex(uint32_t value, int digits = 2) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (int shift = 28; shift >= 0; shift -= 4)
    if ((value >> shift) != 0 || shift < 4 * digits) out += kDigits[(value >> shift) & 0xF];
  return out;
}

// How deeply lists and maps may nest once aliases are copied (chains of anchors of aliases).
constexpr int kMaxDepth = 500;

// `depth`: how deeply the node sits once aliases are copied.
Value convert(const YAML::Node& node, const std::string& origin, int& depth) {
  SourceLoc loc = loc_of(node, origin);
  struct Level {
    int& depth;
    explicit Level(int& d) : depth(++d) {}
    ~Level() { --depth; }
  } level(depth);
  if (depth > kMaxDepth)
    throw Error("lists and maps nested more than " + std::to_string(kMaxDepth) +
                    " levels deep once aliases are copied (anchors of aliases of anchors?)",
                loc);
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Value::null(loc);
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") return Value::string(node.Scalar(), loc);  // quoted
      return plain_scalar(node.Scalar(), loc);
    case YAML::NodeType::Sequence: {
      std::vector<Value> items;
      for (const auto& item : node) items.push_back(convert(item, origin, depth));
      return Value::list(std::move(items), loc);
    }
    case YAML::NodeType::Map: {
      Value map = Value::map(loc);
      std::set<std::string> seen;
      for (const auto& kv : node) {
        SourceLoc key_loc = loc_of(kv.first, origin);
        if (!kv.first.IsScalar()) throw Error("map keys must be plain names", key_loc);
        const std::string key = kv.first.Scalar();
        if (!seen.insert(key).second) throw Error("duplicate key '" + key + "'", key_loc);
        map.entries().push_back({key, key_loc, convert(kv.second, origin, depth)});
      }
      return map;
    }
  }
  return Value::null(loc);
}

// Where the too-deep nesting before byte `offset` (where the reader stopped) begins: the
// outermost bracket of the deepest flow nesting, else the last unindented line (block nesting).
SourceLoc nesting_start(const std::string& text, size_t offset, const std::string& origin) {
  std::vector<size_t> open;
  size_t deepest = 0, deepest_start = 0;
  char quote = 0;
  for (size_t i = 0; i < std::min(offset, text.size()); ++i) {
    const char c = text[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      open.push_back(i);
      if (open.size() > deepest) deepest = open.size(), deepest_start = open.front();
    } else if ((c == ']' || c == '}') && !open.empty()) {
      open.pop_back();
    }
  }
  size_t start = 0;
  if (deepest > 8) {
    start = deepest_start;
  } else {
    for (size_t line = 0; line <= std::min(offset, text.size());) {
      const size_t end = text.find('\n', line);
      if (line < text.size() && text[line] != ' ' && text[line] != '#' && text[line] != '\n') start = line;
      if (end == std::string::npos) break;
      line = end + 1;
    }
  }
  const int line =
      1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(start), '\n'));
  const size_t line_start = text.rfind('\n', start == 0 ? 0 : start - 1);
  const int column = static_cast<int>(start - (line_start == std::string::npos || start == 0 ? 0 : line_start + 1)) + 1;
  return {origin, line, column};
}

// YAML streams hold printable Unicode in UTF-8 only (YAML 1.2, c-printable): tab, line breaks,
// U+0020..U+007E, U+0085, U+00A0..U+D7FF, U+E000..U+FFFD, U+10000 and up. Checked before
// yaml-cpp reads the text: some malformed bytes make it allocate without bound.
void check_characters(const std::string& text, const std::string& origin) {
  int line = 1, column = 1;
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    uint32_t code = byte;
    size_t length = 1;
    if (byte >= 0x80) {
      length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 0;
      code = length == 4 ? byte & 0x07u : length == 3 ? byte & 0x0Fu : byte & 0x1Fu;
      bool valid = length > 0 && byte < 0xF5 && i + length <= text.size();
      for (size_t k = 1; valid && k < length; ++k) {
        const auto next = static_cast<unsigned char>(text[i + k]);
        valid = (next & 0xC0) == 0x80;
        code = (code << 6) | (next & 0x3Fu);
      }
      static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
      if (!valid || code < smallest[length] || code > 0x10FFFF)
        throw Error("the text is not UTF-8 here (byte 0x" + hex(byte) + "); is this a YAML file?",
                    SourceLoc{origin, line, column});
    }
    const bool printable = code == 0x9 || code == 0xA || code == 0xD || (code >= 0x20 && code <= 0x7E) ||
                           code == 0x85 || (code >= 0xA0 && code <= 0xD7FF) || (code >= 0xE000 && code <= 0xFFFD) ||
                           code >= 0x10000;
    if (!printable)
      throw Error("character U+" + hex(code, 4) + " is not allowed in YAML (a control character); is this a text file?",
                  SourceLoc{origin, line, column});
    if (code == '\n') {
      ++line, column = 1;
    } else {
      ++column;
    }
    i += length;
  }
}

// What one document may expand to. Aliases share nodes in yaml-cpp but become copies here, so
// nine levels of nine aliases (the "billion laughs") would need 9^9 values. A spec holds hundreds;
// a copy of 100,000 takes a tenth of a second.
constexpr int64_t kMaxValues = 100'000;
constexpr int64_t kMaxScalarBytes = 64 << 20;

// The parser's events for a text, before anything is built: how many documents start, and how
// many values and bytes of text the first expands to with its aliases copied (refused past the
// limits above, at the node that crosses them).
class DocumentSurvey : public YAML::EventHandler {
 public:
  explicit DocumentSurvey(std::string origin) : origin_(std::move(origin)) {}
  int documents = 0;
  YAML::Mark second;  // where the second document starts

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents == 2) second = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor, 0); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto expanded = anchored_.find(anchor);
    if (expanded != anchored_.end()) return add(mark, expanded->second);
    if (documents == 1)  // the anchor's node has not ended: the alias is inside it
      throw Error("this alias is inside the node its anchor names: copied, it would nest without end", loc(mark));
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    leaf(mark, anchor, static_cast<int64_t>(value.size()));
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    start(mark, anchor);
  }
  void OnSequenceEnd() override { end(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    start(mark, anchor);
  }
  void OnMapEnd() override { end(); }

 private:
  struct Size {
    int64_t values = 0, bytes = 0;
  };
  void add(const YAML::Mark& mark, Size size) {
    if (documents != 1) return;
    total_.values += size.values;
    total_.bytes += size.bytes;
    if (total_.values <= kMaxValues && total_.bytes <= kMaxScalarBytes) return;
    throw Error("the document expands to more than " + std::to_string(kMaxValues) + " values or " +
                    std::to_string(kMaxScalarBytes >> 20) +
                    " MB of text once its aliases are copied (anchors of aliases of anchors?); "
                    "a spec is far smaller, so it is refused here",
                loc(mark));
  }
  SourceLoc loc(const YAML::Mark& mark) const { return {origin_, mark.line + 1, mark.column + 1}; }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, int64_t bytes) {
    add(mark, {1, bytes});
    if (anchor != YAML::NullAnchor) anchored_[anchor] = {1, bytes};
  }
  void start(const YAML::Mark& mark, YAML::anchor_t anchor) {
    open_.push_back({anchor, total_});
    add(mark, {1, 0});
  }
  void end() {
    const auto [anchor, at_start] = open_.back();
    open_.pop_back();
    if (anchor != YAML::NullAnchor)
      anchored_[anchor] = {total_.values - at_start.values, total_.bytes - at_start.bytes};
  }

  std::string origin_;
  Size total_;
  std::vector<std::pair<YAML::anchor_t, Size>> open_;  // collections being read: anchor, total at their start
  std::unordered_map<YAML::anchor_t, Size> anchored_;  // what each anchor's node expands to
};

Value parse(const std::string& text, const std::string& origin) {
  check_characters(text, origin);
  try {
    // Documents are counted up to two before the first is loaded: yaml-cpp's LoadAll keeps
    // taking empty documents, without end, from some malformed text (fuzz finding 6: a
    // flow sequence's closing brackets on lines of their own ran a process out of memory).
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentSurvey survey(origin);
    while (survey.documents < 2 && parser.HandleNextDocument(survey)) {
    }
    if (survey.documents == 0) return Value::null({origin, 1, 1});
    if (survey.documents > 1)
      throw Error(
          "a second YAML document starts here (a `---` line, or text the YAML reader cannot fit into the first); a "
          "spec is one document",
          SourceLoc{origin, survey.second.line + 1, survey.second.column + 1});
    int depth = 0;
    return convert(YAML::Load(text), origin, depth);
  } catch (const YAML::DeepRecursion& e) {
    throw Error("lists and maps nested too deeply from here: the YAML reader stops at a depth of " +
                    std::to_string(e.depth()) + "; a spec needs a handful of levels",
                nesting_start(text, static_cast<size_t>(std::max(e.mark.pos, 0)), origin));
  } catch (const YAML::Exception& e) {
    SourceLoc loc{origin, e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1};
    throw Error("YAML syntax error: " + e.msg, loc);
  }
}

bool needs_quotes(const std::string& s) {
  if (plain_scalar(s, {}).type() != Value::Type::String) return true;
  if (s.empty() || s.front() == ' ' || s.back() == ' ') return true;
  return s.find_first_of(":#{}[],&*!|>'\"%@`") != std::string::npos || s.front() == '-' || s.front() == '?';
}

void emit(YAML::Emitter& out, const Value& v) {
  switch (v.type()) {
    case Value::Type::Null:
      out << YAML::Null;
      break;
    case Value::Type::Bool:
      out << (v.as_bool() ? "true" : "false");
      break;
    case Value::Type::Int:
    case Value::Type::Float:
      out << v.to_text();
      break;
    case Value::Type::String:
      if (needs_quotes(v.as_string())) out << YAML::DoubleQuoted;
      out << v.as_string();
      break;
    case Value::Type::List: {
      bool flat = true;
      for (const auto& item : v.items()) flat = flat && item.is_scalar();
      if (flat) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& item : v.items()) emit(out, item);
      out << YAML::EndSeq;
      break;
    }
    case Value::Type::Map:
      out << YAML::BeginMap;
      for (const auto& e : v.entries()) {
        out << YAML::Key << e.key << YAML::Value;
        emit(out, e.value);
      }
      out << YAML::EndMap;
      break;
  }
}

}  // namespace

Value parse_yaml_string(const std::string& text, const std::string& origin) { return parse(text, origin); }

Value parse_yaml_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read spec file: " + std::string(std::strerror(errno)), SourceLoc{path, 0, 0});
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

std::string to_yaml(const Value& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

}  // namespace dltrain::spec
