#include "graph/expr.h"

#include <cctype>
#include <cerrno>
#include <cmath>

#include "util/strings.h"

namespace dltrain::graph {
namespace {

using spec::Value;

class Parser {
 public:
  Parser(const std::string& text, const SourceLoc& loc, const ExprEnv& env) : text_(text), loc_(loc), env_(env) {}

  Value run() {
    Value v = parse_or();
    skip_space();
    if (pos_ < text_.size()) fail("unexpected '" + text_.substr(pos_) + "'");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("in expression \"" + text_ + "\": " + what, loc_);
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(const std::string& token) {
    skip_space();
    if (text_.compare(pos_, token.size(), token) != 0) return false;
    // Word operators must not be the prefix of a longer name ("order" is not "or").
    if (std::isalpha(static_cast<unsigned char>(token[0])) && pos_ + token.size() < text_.size() &&
        (std::isalnum(static_cast<unsigned char>(text_[pos_ + token.size()])) || text_[pos_ + token.size()] == '_'))
      return false;
    pos_ += token.size();
    return true;
  }
  std::string identifier() {
    skip_space();
    size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) ++pos_;
    if (start == pos_) fail("expected a name");
    return text_.substr(start, pos_ - start);
  }

  static bool truthy(const Value& v) {
    if (v.type() == Value::Type::Bool) return v.as_bool();
    if (v.is_number()) return v.as_double() != 0;
    if (v.is_string()) return !v.as_string().empty();
    return false;
  }
  double number(const Value& v, const char* op) const {
    if (!v.is_number()) fail(std::string("'") + op + "' needs numbers, got " + v.describe());
    return v.as_double();
  }
  static Value make_number(double d) {
    if (std::floor(d) == d && std::abs(d) < 9e15) return Value::integer(static_cast<int64_t>(d));
    return Value::real(d);
  }

  Value parse_or() {
    Value left = parse_and();
    while (accept("or")) {
      Value right = parse_and();
      left = Value::boolean(truthy(left) || truthy(right));
    }
    return left;
  }
  Value parse_and() {
    Value left = parse_not();
    while (accept("and")) {
      Value right = parse_not();
      left = Value::boolean(truthy(left) && truthy(right));
    }
    return left;
  }
  // Each level of parentheses, `not` and unary minus recurses: bounded, so that no expression
  // can exhaust the stack.
  static constexpr int kMaxDepth = 200;
  struct Nest {
    Parser& parser;
    explicit Nest(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxDepth)
        parser.fail("expression nested deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    ~Nest() { --parser.depth_; }
  };

  Value parse_not() {
    if (accept("not")) {
      Nest nest(*this);
      return Value::boolean(!truthy(parse_not()));
    }
    return parse_comparison();
  }
  Value parse_comparison() {
    Value left = parse_sum();
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (!accept(op)) continue;
      Value right = parse_sum();
      std::string o = op;
      if (o == "==") return Value::boolean(left == right);
      if (o == "!=") return Value::boolean(left != right);
      double a = number(left, op), b = number(right, op);
      if (o == "<=") return Value::boolean(a <= b);
      if (o == ">=") return Value::boolean(a >= b);
      if (o == "<") return Value::boolean(a < b);
      return Value::boolean(a > b);
    }
    return left;
  }
  Value parse_sum() {
    Value left = parse_product();
    while (true) {
      if (accept("+")) {
        Value right = parse_product();
        left = make_number(number(left, "+") + number(right, "+"));
      } else if (accept("-")) {
        Value right = parse_product();
        left = make_number(number(left, "-") - number(right, "-"));
      } else {
        return left;
      }
    }
  }
  Value parse_product() {
    Value left = parse_unary();
    while (true) {
      if (accept("//")) {
        double b = number(parse_unary(), "//");
        if (b == 0) fail("division by zero");
        left = make_number(std::floor(number(left, "//") / b));
      } else if (accept("*")) {
        left = make_number(number(left, "*") * number(parse_unary(), "*"));
      } else if (accept("/")) {
        double b = number(parse_unary(), "/");
        if (b == 0) fail("division by zero");
        left = Value::real(number(left, "/") / b);
      } else if (accept("%")) {
        double b = number(parse_unary(), "%");
        if (b == 0) fail("division by zero");
        left = make_number(std::fmod(number(left, "%"), b));
      } else {
        return left;
      }
    }
  }
  Value parse_unary() {
    if (accept("-")) {
      Nest nest(*this);
      return make_number(-number(parse_unary(), "-"));
    }
    return parse_primary();
  }
  Value variable(const std::string& name) {
    if (auto v = env_.variable(name)) return *v;
    fail("unknown parameter '" + name + "'" + did_you_mean(name, env_.variable_names) +
         (env_.variable_names.empty() ? "" : "; parameters: " + join(env_.variable_names)));
  }
  Value parse_primary() {
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end");
    char c = text_[pos_];
    if (accept("(")) {
      Nest nest(*this);
      Value v = parse_or();
      if (!accept(")")) fail("missing ')'");
      return v;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      const char* start = text_.c_str() + pos_;
      char* end = nullptr;
      errno = 0;
      const double d = std::strtod(start, &end);
      const size_t used = static_cast<size_t>(end - start);
      if (used == 0) fail("a number was expected");
      if (errno == ERANGE || !std::isfinite(d)) fail("number out of range: " + text_.substr(pos_, used));
      bool is_float = text_.substr(pos_, used).find_first_of(".eE") != std::string::npos;
      pos_ += used;
      return is_float ? Value::real(d) : make_number(d);
    }
    if (c == '\'' || c == '"') {
      size_t end = text_.find(c, pos_ + 1);
      if (end == std::string::npos) fail("unterminated string");
      Value v = Value::string(text_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return v;
    }
    bool dollar = accept("$");
    std::string name = identifier();
    if (!dollar && (name == "true" || name == "false")) return Value::boolean(name == "true");
    if (!dollar && accept("(")) return call(name);
    return variable(name);
  }
  Value call(const std::string& fn) {
    Nest nest(*this);
    std::vector<std::string> shape_fns = {"channels", "height", "width", "features"};
    for (size_t i = 0; i < shape_fns.size(); ++i) {
      if (fn != shape_fns[i]) continue;
      accept("$");
      std::string ref = identifier();
      if (!accept(")")) fail("missing ')' after " + fn + "(" + ref);
      Shape s = env_.shape_of(ref);
      if (fn == "features") {
        if (s.size() != 1) fail("features(" + ref + ") needs a vector, " + ref + " is " + to_string(s));
        return Value::integer(s[0]);
      }
      if (fn == "channels") return Value::integer(s.at(0));
      if (s.size() != 3) fail(fn + "(" + ref + ") needs an image, " + ref + " is " + to_string(s));
      return Value::integer(fn == "height" ? s[1] : s[2]);
    }
    if (fn == "min" || fn == "max") {
      double a = number(parse_or(), fn.c_str());
      if (!accept(",")) fail(fn + " takes two arguments");
      double b = number(parse_or(), fn.c_str());
      if (!accept(")")) fail("missing ')'");
      return make_number(fn == "min" ? std::min(a, b) : std::max(a, b));
    }
    fail("unknown function '" + fn + "'" + did_you_mean(fn, {"channels", "height", "width", "features", "min", "max"}));
  }

  const std::string& text_;
  const SourceLoc& loc_;
  const ExprEnv& env_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

int64_t elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string to_string(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

spec::Value evaluate(const std::string& text, const SourceLoc& loc, const ExprEnv& env) {
  Value v = Parser(text, loc, env).run();
  v.set_loc(loc);
  return v;
}

}  // namespace dltrain::graph
