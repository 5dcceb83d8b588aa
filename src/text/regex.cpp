#include "text/regex.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "common/error.h"
#include "text/unicode.h"
#include "text/utf8.h"

namespace qg::text {

namespace {

constexpr int kMaxProgramSize = 200000;  // guards x{1,100000}-style blow-ups of the compiled program
constexpr int kInfinite = -1;

struct Node {
  enum Kind { kEmpty, kChar, kClass, kAny, kConcat, kAlt, kRepeat, kLook, kAtomic, kAssert } kind = kEmpty;
  char32_t ch = 0;
  bool ci = false;         // kChar: case-insensitive
  int class_index = -1;    // kClass
  std::vector<int> kids;   // kConcat, kAlt; kRepeat/kLook/kAtomic: one kid
  int min = 0, max = 0;    // kRepeat
  bool greedy = true, possessive = false;
  bool negate = false;     // kLook
  Regex::Anchor anchor = Regex::Anchor::kTextBegin;
};

// Code points that case-insensitive matching treats as equal to c.
std::vector<char32_t> case_variants(char32_t c) {
  std::vector<char32_t> v{c};
  if (c < 128 && std::isalpha(static_cast<int>(c))) {
    v.push_back(static_cast<char32_t>(std::islower(static_cast<int>(c)) ? std::toupper(static_cast<int>(c))
                                                                         : std::tolower(static_cast<int>(c))));
  }
  const char32_t lower = c < 128 ? static_cast<char32_t>(std::tolower(static_cast<int>(c))) : c;
  if (lower == U's' || c == 0x17F) {
    v = {U's', U'S', 0x17F};
  } else if (lower == U'k' || c == 0x212A) {
    v = {U'k', U'K', 0x212A};
  }
  return v;
}

std::optional<std::uint32_t> category_mask_by_name(std::string name) {
  std::string n;
  for (char c : name)
    if (c != ' ' && c != '_' && c != '-') n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  using GC = GeneralCategory;
  auto b = [](GC c) { return category_bit(c); };
  struct Entry {
    const char* a;
    const char* b;
    std::uint32_t mask;
  };
  const Entry entries[] = {
      {"l", "letter", kLetterMask},
      {"lu", "uppercaseletter", b(GC::Lu)},
      {"ll", "lowercaseletter", b(GC::Ll)},
      {"lt", "titlecaseletter", b(GC::Lt)},
      {"lm", "modifierletter", b(GC::Lm)},
      {"lo", "otherletter", b(GC::Lo)},
      {"lc", "casedletter", b(GC::Lu) | b(GC::Ll) | b(GC::Lt)},
      {"l&", "casedletter", b(GC::Lu) | b(GC::Ll) | b(GC::Lt)},
      {"m", "mark", kMarkMask},
      {"mn", "nonspacingmark", b(GC::Mn)},
      {"mc", "spacingmark", b(GC::Mc)},
      {"me", "enclosingmark", b(GC::Me)},
      {"n", "number", kNumberMask},
      {"nd", "decimalnumber", b(GC::Nd)},
      {"nl", "letternumber", b(GC::Nl)},
      {"no", "othernumber", b(GC::No)},
      {"p", "punctuation", kPunctuationMask},
      {"pc", "connectorpunctuation", b(GC::Pc)},
      {"pd", "dashpunctuation", b(GC::Pd)},
      {"ps", "openpunctuation", b(GC::Ps)},
      {"pe", "closepunctuation", b(GC::Pe)},
      {"pi", "initialpunctuation", b(GC::Pi)},
      {"pf", "finalpunctuation", b(GC::Pf)},
      {"po", "otherpunctuation", b(GC::Po)},
      {"s", "symbol", kSymbolMask},
      {"sm", "mathsymbol", b(GC::Sm)},
      {"sc", "currencysymbol", b(GC::Sc)},
      {"sk", "modifiersymbol", b(GC::Sk)},
      {"so", "othersymbol", b(GC::So)},
      {"z", "separator", kSeparatorMask},
      {"zs", "spaceseparator", b(GC::Zs)},
      {"zl", "lineseparator", b(GC::Zl)},
      {"zp", "paragraphseparator", b(GC::Zp)},
      {"c", "other", kOtherMask},
      {"cc", "control", b(GC::Cc)},
      {"cf", "format", b(GC::Cf)},
      {"cs", "surrogate", b(GC::Cs)},
      {"co", "privateuse", b(GC::Co)},
      {"cn", "unassigned", b(GC::Cn)},
  };
  for (const auto& e : entries)
    if (n == e.a || n == e.b) return e.mask;
  if (n == "combiningmark") return kMarkMask;
  if (n == "digit") return b(GC::Nd);
  if (n == "punct") return kPunctuationMask;
  return std::nullopt;
}

}  // namespace

bool Regex::CharClass::matches_slow(char32_t c) const {
  bool hit = false;
  for (const auto& it : items) {
    bool m = false;
    switch (it.kind) {
      case ClassItem::kRange: m = c >= it.lo && c <= it.hi; break;
      case ClassItem::kCategories: m = in_categories(c, it.mask); break;
      case ClassItem::kSpace: m = is_white_space(c); break;
      case ClassItem::kWord: m = is_word_char(c); break;
      case ClassItem::kHex: m = c < 128 && std::isxdigit(static_cast<int>(c)); break;
    }
    if (m != it.negated) {
      hit = true;
      break;
    }
  }
  return hit != negated;
}

bool Regex::CharClass::matches(char32_t c) const {
  if (c < 128) return (ascii[c >> 6] >> (c & 63)) & 1u;
  return matches_slow(c);
}

// Recursive-descent parser (pattern -> Node tree) and compiler (Node tree -> backtracking program).
class RegexCompiler {
 public:
  RegexCompiler(Regex& re, const std::string& context) : re_(re), context_(context) {
    if (find_invalid_utf8(re.pattern_) != std::string_view::npos) fail("pattern is not valid UTF-8");
    pat_ = to_utf32(re.pattern_);
  }

  void compile() {
    const int root = parse_alt();
    if (pos_ != pat_.size()) fail(fmt::format("unbalanced ')' at character {}", pos_));
    emit(root);
    add({.op = Regex::Op::kMatch});
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(fmt::format("{}: unsupported or invalid regex '{}': {}", context_, re_.pattern_, why),
                {.hint = "quantgate implements the Oniguruma subset that tokenizer.json pre-tokenizers use"});
  }

  bool at_end() const { return pos_ >= pat_.size(); }
  char32_t peek(std::size_t k = 0) const { return pos_ + k < pat_.size() ? pat_[pos_ + k] : 0; }
  char32_t take() {
    if (at_end()) fail("pattern ends too early");
    return pat_[pos_++];
  }

  int new_node(Node n) {
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size()) - 1;
  }

  // ---- parser ------------------------------------------------------------------------------------
  int parse_alt() {
    std::vector<int> alts{parse_seq()};
    while (!at_end() && peek() == U'|') {
      ++pos_;
      alts.push_back(parse_seq());
    }
    if (alts.size() == 1) return alts[0];
    Node n{.kind = Node::kAlt};
    n.kids = std::move(alts);
    return new_node(std::move(n));
  }

  // A sequence up to '|' or ')'. An inline "(?i)" / "(?-i)" changes the flag for the rest of the
  // enclosing group, the following alternatives included (group_body restores it), as in Onig.
  int parse_seq() {
    Node n{.kind = Node::kConcat};
    while (!at_end() && peek() != U'|' && peek() != U')') {
      if (peek() == U'(' && peek(1) == U'?') {
        std::size_t k = pos_ + 2;
        bool on = true;
        if (k < pat_.size() && pat_[k] == U'-') {
          on = false;
          ++k;
        }
        if (k + 1 < pat_.size() && pat_[k] == U'i' && pat_[k + 1] == U')') {
          ci_ = on;
          pos_ = k + 2;
          continue;
        }
      }
      n.kids.push_back(parse_quantified());
    }
    if (n.kids.size() == 1) return n.kids[0];
    return new_node(std::move(n));
  }

  int parse_quantified() {
    int atom = parse_atom();
    for (;;) {
      if (at_end()) return atom;
      int min = 0, max = 0;
      const char32_t c = peek();
      bool interval = false;
      if (c == U'*') {
        min = 0, max = kInfinite;
        ++pos_;
      } else if (c == U'+') {
        min = 1, max = kInfinite;
        ++pos_;
      } else if (c == U'?') {
        min = 0, max = 1;
        ++pos_;
      } else if (c == U'{' && parse_interval(min, max)) {
        interval = true;
      } else {
        return atom;
      }
      Node n{.kind = Node::kRepeat, .min = min, .max = max};
      if (!at_end() && peek() == U'?') {
        n.greedy = false;
        ++pos_;
      } else if (!at_end() && peek() == U'+') {
        if (interval) fail("'{n,m}+' is ambiguous in Ruby syntax; write '(?:x{n,m})+' or '(?>x{n,m})'");
        n.possessive = true;
        ++pos_;
      }
      if (nodes_[static_cast<std::size_t>(atom)].kind == Node::kAssert || nodes_[static_cast<std::size_t>(atom)].kind == Node::kLook)
        fail("quantifier on an assertion");
      n.kids = {atom};
      atom = new_node(std::move(n));
    }
  }

  // {n} {n,} {n,m} {,m}; returns false (and leaves pos_) when '{' is a literal, as in Onig.
  bool parse_interval(int& min, int& max) {
    std::size_t k = pos_ + 1;
    auto number = [&](int& out) {
      const std::size_t start = k;
      long v = 0;
      while (k < pat_.size() && pat_[k] >= U'0' && pat_[k] <= U'9') {
        v = v * 10 + static_cast<long>(pat_[k] - U'0');
        if (v > 100000) fail("repeat count too large");
        ++k;
      }
      out = static_cast<int>(v);
      return k > start;
    };
    int a = 0, b = 0;
    const bool has_a = number(a);
    if (k < pat_.size() && pat_[k] == U'}') {
      if (!has_a) return false;
      min = max = a;
      pos_ = k + 1;
      return true;
    }
    if (k >= pat_.size() || pat_[k] != U',') return false;
    ++k;
    const bool has_b = number(b);
    if (k >= pat_.size() || pat_[k] != U'}') return false;
    if (!has_a && !has_b) return false;
    min = has_a ? a : 0;
    max = has_b ? b : kInfinite;
    if (max != kInfinite && max < min) fail("repeat {n,m} with m < n");
    pos_ = k + 1;
    return true;
  }

  int parse_atom() {
    const char32_t c = take();
    switch (c) {
      case U'(':
        return parse_group();
      case U'[':
        return parse_class();
      case U'.':
        return new_node({.kind = Node::kAny});
      case U'^':
        return new_node({.kind = Node::kAssert, .anchor = Regex::Anchor::kLineBegin});
      case U'$':
        return new_node({.kind = Node::kAssert, .anchor = Regex::Anchor::kLineEnd});
      case U'\\':
        return parse_escape_atom();
      case U'*':
      case U'+':
      case U'?':
        fail(fmt::format("quantifier '{}' with nothing to repeat at character {}", static_cast<char>(c), pos_ - 1));
      case U')':
        fail("unbalanced ')'");
      default:
        return literal(c);
    }
  }

  int literal(char32_t c) {
    if (ci_) {
      const auto variants = case_variants(c);
      if (variants.size() > 1) {
        Regex::CharClass cls;
        for (char32_t v : variants) cls.items.push_back({Regex::ClassItem::kRange, false, v, v, 0});
        return class_node(std::move(cls));
      }
    }
    return new_node({.kind = Node::kChar, .ch = c});
  }

  int class_node(Regex::CharClass cls) {
    for (char32_t c = 0; c < 128; ++c)
      if (cls.matches_slow(c)) cls.ascii[c >> 6] |= std::uint64_t{1} << (c & 63);
    re_.classes_.push_back(std::move(cls));
    return new_node({.kind = Node::kClass, .class_index = static_cast<int>(re_.classes_.size()) - 1});
  }

  int parse_group() {
    if (peek() != U'?') return group_body();  // capturing group: captures are not needed
    ++pos_;
    const char32_t c = take();
    if (c == U':') return group_body();
    if (c == U'=' || c == U'!') {
      const int body = group_body();
      Node n{.kind = Node::kLook, .negate = c == U'!'};
      n.kids = {body};
      return new_node(std::move(n));
    }
    if (c == U'>') {
      const int body = group_body();
      Node n{.kind = Node::kAtomic};
      n.kids = {body};
      return new_node(std::move(n));
    }
    if (c == U'#') {  // comment
      while (!at_end() && peek() != U')') ++pos_;
      take();
      return new_node({.kind = Node::kEmpty});
    }
    if (c == U'<' && (peek() == U'=' || peek() == U'!')) fail("lookbehind is not supported");
    if (c == U'<' || c == U'\'') {  // named group (?<name>...) / (?'name'...)
      const char32_t close = c == U'<' ? U'>' : U'\'';
      while (!at_end() && peek() != close) ++pos_;
      take();
      return group_body();
    }
    if (c == U'i' || c == U'-') {  // (?i:...) / (?-i:...)
      bool on = c == U'i';
      if (c == U'-') {
        if (take() != U'i') fail("only the 'i' flag is supported");
      }
      const char32_t next = take();
      if (next != U':') fail("only the 'i' flag is supported");
      const bool saved = ci_;
      ci_ = on;
      const int body = group_body();
      ci_ = saved;
      return body;
    }
    fail(fmt::format("group syntax '(?{}' is not supported", to_utf8(std::u32string(1, c))));
  }

  int group_body() {
    const bool saved = ci_;
    const int body = parse_alt();
    ci_ = saved;
    if (at_end() || take() != U')') fail("missing ')'");
    return body;
  }

  char32_t parse_hex(int min_digits, int max_digits) {
    char32_t v = 0;
    int n = 0;
    while (n < max_digits && !at_end() && std::isxdigit(static_cast<int>(peek() < 128 ? peek() : 0))) {
      const char32_t d = take();
      v = v * 16 + static_cast<char32_t>(d <= U'9' ? d - U'0' : (d | 0x20) - U'a' + 10);
      ++n;
    }
    if (n < min_digits) fail("bad hex escape");
    if (v > 0x10FFFF) fail("code point above U+10FFFF");
    return v;
  }

  // Escapes valid both in and out of classes: single characters. Returns nullopt if `e` is not one.
  std::optional<char32_t> char_escape(char32_t e) {
    switch (e) {
      case U'n': return U'\n';
      case U'r': return U'\r';
      case U't': return U'\t';
      case U'f': return U'\f';
      case U'v': return U'\v';
      case U'a': return 0x07;
      case U'e': return 0x1B;
      case U'x':
        if (peek() == U'{') {
          ++pos_;
          const char32_t v = parse_hex(1, 8);
          if (take() != U'}') fail("bad \\x{...} escape");
          return v;
        }
        return parse_hex(1, 2);
      case U'u': return parse_hex(4, 4);
      default: break;
    }
    if (e >= 128 || !std::isalnum(static_cast<int>(e))) return e;  // escaped punctuation or non-ASCII: literal
    return std::nullopt;
  }

  // \p{..} \P{..} \p{^..} -> a class item.
  Regex::ClassItem property(bool upper_p) {
    if (take() != U'{') fail("\\p must be followed by {Name}");
    bool negated = upper_p;
    if (peek() == U'^') {
      negated = !negated;
      ++pos_;
    }
    std::string name;
    while (!at_end() && peek() != U'}') append_utf8(name, take());
    take();
    const auto mask = category_mask_by_name(name);
    if (!mask) fail(fmt::format("Unicode property '\\p{{{}}}' is not supported (only general categories)", name));
    return {Regex::ClassItem::kCategories, negated, 0, 0, *mask};
  }

  // Class-shorthand escapes (\s \d \w \h \p and their negations) as a class item.
  std::optional<Regex::ClassItem> shorthand(char32_t e) {
    using CI = Regex::ClassItem;
    switch (e) {
      case U's': return CI{CI::kSpace, false, 0, 0, 0};
      case U'S': return CI{CI::kSpace, true, 0, 0, 0};
      case U'd': return CI{CI::kCategories, false, 0, 0, category_bit(GeneralCategory::Nd)};
      case U'D': return CI{CI::kCategories, true, 0, 0, category_bit(GeneralCategory::Nd)};
      case U'w': return CI{CI::kWord, false, 0, 0, 0};
      case U'W': return CI{CI::kWord, true, 0, 0, 0};
      case U'h': return CI{CI::kHex, false, 0, 0, 0};
      case U'H': return CI{CI::kHex, true, 0, 0, 0};
      case U'p': return property(false);
      case U'P': return property(true);
      default: return std::nullopt;
    }
  }

  int parse_escape_atom() {
    const char32_t e = take();
    using A = Regex::Anchor;
    switch (e) {
      case U'A': return new_node({.kind = Node::kAssert, .anchor = A::kTextBegin});
      case U'z': return new_node({.kind = Node::kAssert, .anchor = A::kTextEnd});
      case U'Z': return new_node({.kind = Node::kAssert, .anchor = A::kTextEndNewline});
      case U'b': return new_node({.kind = Node::kAssert, .anchor = A::kWordBoundary});
      case U'B': return new_node({.kind = Node::kAssert, .anchor = A::kNotWordBoundary});
      default: break;
    }
    if (auto item = shorthand(e)) {
      Regex::CharClass cls;
      cls.items.push_back(*item);
      return class_node(std::move(cls));
    }
    if (auto ch = char_escape(e)) return literal(*ch);
    fail(fmt::format("escape '\\{}' is not supported", to_utf8(std::u32string(1, e))));
  }

  int parse_class() {
    Regex::CharClass cls;
    if (peek() == U'^') {
      cls.negated = true;
      ++pos_;
    }
    bool first = true;
    auto add_range = [&](char32_t lo, char32_t hi) {
      cls.items.push_back({Regex::ClassItem::kRange, false, lo, hi, 0});
      if (ci_) {  // fold ASCII letters in the range (and s/k's Unicode partners)
        for (char32_t c = lo; c <= hi && c < 128; ++c)
          for (char32_t v : case_variants(c))
            if (v != c) cls.items.push_back({Regex::ClassItem::kRange, false, v, v, 0});
        if (lo <= 0x17F && hi >= 0x17F) cls.items.push_back({Regex::ClassItem::kRange, false, U's', U's', 0}), cls.items.push_back({Regex::ClassItem::kRange, false, U'S', U'S', 0});
        if (lo <= 0x212A && hi >= 0x212A) cls.items.push_back({Regex::ClassItem::kRange, false, U'k', U'k', 0}), cls.items.push_back({Regex::ClassItem::kRange, false, U'K', U'K', 0});
      }
    };
    for (;;) {
      if (at_end()) fail("missing ']'");
      char32_t c = take();
      if (c == U']' && !first) break;
      first = false;
      if (c == U'[') {
        if (peek() == U':') fail("POSIX bracket expressions are not supported");
        fail("nested character classes are not supported");
      }
      if (c == U'&' && peek() == U'&') fail("class intersection '&&' is not supported");
      char32_t lo;
      if (c == U'\\') {
        const char32_t e = take();
        if (auto item = shorthand(e)) {
          cls.items.push_back(*item);
          continue;
        }
        auto ch = char_escape(e);
        if (!ch) fail(fmt::format("escape '\\{}' in a class is not supported", to_utf8(std::u32string(1, e))));
        lo = *ch;
      } else {
        lo = c;
      }
      // a range lo-hi?
      if (peek() == U'-' && peek(1) != U']' && pos_ + 1 < pat_.size()) {
        ++pos_;
        char32_t hi = take();
        if (hi == U'\\') {
          const char32_t e = take();
          auto ch = char_escape(e);
          if (!ch) fail("class range must end in a character");
          hi = *ch;
        } else if (hi == U'[') {
          fail("nested character classes are not supported");
        }
        if (hi < lo) fail("class range out of order");
        add_range(lo, hi);
      } else {
        add_range(lo, lo);
      }
    }
    return class_node(std::move(cls));
  }

  // ---- compiler ----------------------------------------------------------------------------------
  int add(Regex::Inst inst) {
    if (re_.program_.size() >= static_cast<std::size_t>(kMaxProgramSize)) fail("pattern too large once compiled");
    re_.program_.push_back(inst);
    return static_cast<int>(re_.program_.size()) - 1;
  }
  int pc() const { return static_cast<int>(re_.program_.size()); }
  Regex::Inst& at(int i) { return re_.program_[static_cast<std::size_t>(i)]; }

  bool nullable(int id) const {
    const Node& n = nodes_[static_cast<std::size_t>(id)];
    switch (n.kind) {
      case Node::kEmpty:
      case Node::kLook:
      case Node::kAssert:
        return true;
      case Node::kConcat:
        return std::all_of(n.kids.begin(), n.kids.end(), [&](int k) { return nullable(k); });
      case Node::kAlt:
        return std::any_of(n.kids.begin(), n.kids.end(), [&](int k) { return nullable(k); });
      case Node::kRepeat:
        return n.min == 0 || nullable(n.kids[0]);
      case Node::kAtomic:
        return nullable(n.kids[0]);
      default:
        return false;
    }
  }

  void emit(int id) {
    const Node n = nodes_[static_cast<std::size_t>(id)];  // copy: nodes_ does not change while emitting
    using Op = Regex::Op;
    switch (n.kind) {
      case Node::kEmpty:
        return;
      case Node::kChar:
        add({.op = Op::kChar, .c = n.ch});
        return;
      case Node::kClass:
        add({.op = Op::kClass, .x = n.class_index});
        return;
      case Node::kAny:
        add({.op = Op::kAny});
        return;
      case Node::kAssert:
        add({.op = Op::kAssert, .anchor = n.anchor});
        return;
      case Node::kConcat:
        for (int k : n.kids) emit(k);
        return;
      case Node::kAlt: {
        std::vector<int> jumps_to_end;
        for (std::size_t i = 0; i < n.kids.size(); ++i) {
          if (i + 1 < n.kids.size()) {
            const int split = add({.op = Op::kSplit});
            at(split).x = pc();
            emit(n.kids[i]);
            jumps_to_end.push_back(add({.op = Op::kJmp}));
            at(split).y = pc();
          } else {
            emit(n.kids[i]);
          }
        }
        for (int j : jumps_to_end) at(j).x = pc();
        return;
      }
      case Node::kLook:
      case Node::kAtomic: {
        const int inst = add({.op = n.kind == Node::kLook ? Op::kLook : Op::kAtomic, .negate = n.negate});
        at(inst).x = pc();
        emit(n.kids[0]);
        add({.op = Op::kMatch});
        at(inst).y = pc();
        return;
      }
      case Node::kRepeat: {
        if (n.possessive) {  // x*+ == (?>x*)
          Node inner = n;
          inner.possessive = false;
          const int inner_id = new_node(inner);
          Node atomic{.kind = Node::kAtomic};
          atomic.kids = {inner_id};
          emit(new_node(std::move(atomic)));
          return;
        }
        const int kid = n.kids[0];
        for (int i = 0; i < n.min; ++i) emit(kid);
        if (n.max == kInfinite) {
          if (nullable(kid)) fail("an unbounded quantifier over an expression that can match empty is not supported");
          const int split = add({.op = Op::kSplit});
          const int body = pc();
          emit(kid);
          add({.op = Op::kJmp, .x = split});
          const int out = pc();
          at(split).x = n.greedy ? body : out;
          at(split).y = n.greedy ? out : body;
          return;
        }
        std::vector<int> splits;
        for (int i = n.min; i < n.max; ++i) {
          splits.push_back(add({.op = Op::kSplit}));
          at(splits.back()).x = pc();  // provisional: body first
          emit(kid);
        }
        const int out = pc();
        for (int s : splits) {
          const int body = s + 1;
          at(s).x = n.greedy ? body : out;
          at(s).y = n.greedy ? out : body;
        }
        return;
      }
    }
  }

  Regex& re_;
  const std::string& context_;
  std::u32string pat_;
  std::size_t pos_ = 0;
  bool ci_ = false;
  std::vector<Node> nodes_;
};

Regex::Regex(std::string_view pattern, const std::string& context) : pattern_(pattern) {
  RegexCompiler(*this, context).compile();
}

bool Regex::check_anchor(Anchor a, const std::u32string& text, int pos) const {
  const int n = static_cast<int>(text.size());
  auto word_at = [&](int p) { return p >= 0 && p < n && is_word_char(text[static_cast<std::size_t>(p)]); };
  switch (a) {
    case Anchor::kLineBegin: return pos == 0 || text[static_cast<std::size_t>(pos - 1)] == U'\n';
    case Anchor::kLineEnd: return pos == n || text[static_cast<std::size_t>(pos)] == U'\n';
    case Anchor::kTextBegin: return pos == 0;
    case Anchor::kTextEnd: return pos == n;
    case Anchor::kTextEndNewline: return pos == n || (pos == n - 1 && text[static_cast<std::size_t>(pos)] == U'\n');
    case Anchor::kWordBoundary: return word_at(pos - 1) != word_at(pos);
    case Anchor::kNotWordBoundary: return word_at(pos - 1) == word_at(pos);
  }
  return false;
}

// Backtracking VM: runs from (pc, pos) and returns the end of the first match in priority order, or -1.
int Regex::run(const std::u32string& text, int pc, int pos, std::vector<Thread>& stack) const {
  const std::size_t base = stack.size();
  const int n = static_cast<int>(text.size());
  for (;;) {
    const Inst& inst = program_[static_cast<std::size_t>(pc)];
    bool ok = true;
    switch (inst.op) {
      case Op::kChar:
        ok = pos < n && text[static_cast<std::size_t>(pos)] == inst.c;
        if (ok) ++pos, ++pc;
        break;
      case Op::kClass:
        ok = pos < n && classes_[static_cast<std::size_t>(inst.x)].matches(text[static_cast<std::size_t>(pos)]);
        if (ok) ++pos, ++pc;
        break;
      case Op::kAny:  // Ruby syntax: '.' does not match a newline
        ok = pos < n && text[static_cast<std::size_t>(pos)] != U'\n';
        if (ok) ++pos, ++pc;
        break;
      case Op::kSplit:
        stack.push_back({inst.y, pos});
        pc = inst.x;
        break;
      case Op::kJmp:
        pc = inst.x;
        break;
      case Op::kMatch:
        stack.resize(base);
        return pos;
      case Op::kLook: {
        const bool hit = run(text, inst.x, pos, stack) >= 0;
        ok = hit != inst.negate;
        if (ok) pc = inst.y;
        break;
      }
      case Op::kAtomic: {
        const int end = run(text, inst.x, pos, stack);
        ok = end >= 0;
        if (ok) pos = end, pc = inst.y;
        break;
      }
      case Op::kAssert:
        ok = check_anchor(inst.anchor, text, pos);
        if (ok) ++pc;
        break;
    }
    if (!ok) {
      if (stack.size() == base) return -1;
      pc = stack.back().pc;
      pos = stack.back().pos;
      stack.pop_back();
    }
  }
}

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::u32string cps;
  std::vector<std::size_t> byte_at;  // byte offset of each code point, plus the end
  cps.reserve(text.size());
  byte_at.reserve(text.size() + 1);
  for (std::size_t i = 0; i < text.size();) {
    byte_at.push_back(i);
    cps += next_code_point(text, i);
  }
  byte_at.push_back(text.size());

  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::vector<Thread> stack;
  const int n = static_cast<int>(cps.size());
  int last_end = 0;
  int last_match_end = -1;
  while (last_end <= n) {
    int start = -1, end = -1;
    for (int s = last_end; s <= n; ++s) {
      end = run(cps, 0, s, stack);
      if (end >= 0) {
        start = s;
        break;
      }
    }
    if (start < 0) break;
    if (start == end && last_match_end == end) {  // onig's find_iter: no empty match right after a match
      ++last_end;
      continue;
    }
    last_end = end;
    last_match_end = end;
    out.emplace_back(byte_at[static_cast<std::size_t>(start)], byte_at[static_cast<std::size_t>(end)]);
  }
  return out;
}

}  // namespace qg::text
