#include "service/runtimes/stream_json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>
#include <boost/system/error_code.hpp>
#include <cmath>
#include <cstring>

namespace overseer::service::stream_json {

namespace json = boost::json;

namespace {
constexpr int64_t kCountMax = int64_t{1} << 50;
}  // namespace

const json::object* ParseLine(std::string_view line, json::value& out, AgentUsage& u) {
  ++u.lines;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kLineMaxBytes) {
    ++u.oversized_lines;
    ++u.malformed_lines;
    return nullptr;
  }
  boost::system::error_code ec;
  out = json::parse(line, ec);
  if (ec || !out.is_object()) {
    out = nullptr;
    ++u.malformed_lines;
    return nullptr;
  }
  return &out.get_object();
}

void SkimField::Key() {
  if (seen_) {
    state_ = State::kOther;  // a duplicate: which one a parse keeps is not Skim's call
    return;
  }
  seen_ = true;
  state_ = State::kString;
  size_ = 0;
}

void SkimField::Append(std::string_view part) {
  if (state_ != State::kString) return;
  if (part.size() > kMaxBytes - size_) {
    state_ = State::kOther;
    return;
  }
  std::memcpy(text_ + size_, part.data(), part.size());
  size_ += part.size();
}

namespace {

// basic_parser's handler for Skim: builds nothing, notes the fields Skimmed names. Its limits
// are those of json::parse's handler, so a line fails here exactly when it fails there.
class SkimHandler {
 public:
  // The names basic_parser requires of a handler.
  // NOLINTBEGIN(readability-identifier-naming)
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();
  // NOLINTEND(readability-identifier-naming)

  explicit SkimHandler(Skimmed* out) : out_(out) {}

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) {
    if (depth_ == 0) out_->object = true;
    const bool event = event_value_ && depth_ == 1;
    Value();
    ++depth_;
    if (event) in_event_ = true;
    return true;
  }
  bool on_object_end(size_t, boost::system::error_code&) {
    if (depth_ == 2) in_event_ = false;
    --depth_;
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    Value();
    ++depth_;
    return true;
  }
  bool on_array_end(size_t, boost::system::error_code&) {
    --depth_;
    return true;
  }
  bool on_key_part(json::string_view part, size_t, boost::system::error_code&) {
    if (KeyMatters()) AppendKey(part);
    return true;
  }
  bool on_key(json::string_view part, size_t, boost::system::error_code&) {
    if (!KeyMatters()) return true;
    AppendKey(part);
    const std::string_view key = key_long_ ? std::string_view() : std::string_view(key_, key_size_);
    key_size_ = 0;
    key_long_ = false;
    if (depth_ == 1) {
      if (key == "type") {
        Expect(out_->type);
      } else if (key == "subtype") {
        Expect(out_->subtype);
      } else if (key == "event") {
        if (++events_ == 1) {
          event_value_ = true;
        } else {
          out_->event_type.NotString();
        }
      }
    } else if (depth_ == 2 && in_event_ && key == "type") {
      Expect(out_->event_type);
    }
    return true;
  }
  bool on_string_part(json::string_view part, size_t, boost::system::error_code&) {
    if (string_ != nullptr) string_->Append(part);
    event_value_ = false;
    return true;
  }
  bool on_string(json::string_view part, size_t, boost::system::error_code&) {
    if (string_ != nullptr) string_->Append(part);
    string_ = nullptr;
    event_value_ = false;
    return true;
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return Value(); }
  bool on_int64(int64_t, json::string_view, boost::system::error_code&) { return Value(); }
  bool on_uint64(uint64_t, json::string_view, boost::system::error_code&) { return Value(); }
  bool on_double(double, json::string_view, boost::system::error_code&) { return Value(); }
  bool on_bool(bool, boost::system::error_code&) { return Value(); }
  bool on_null(boost::system::error_code&) { return Value(); }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

 private:
  static constexpr size_t kKeyMaxBytes = 16;  // longer keys are none of ours

  // Only the top level's keys and the "event" object's are looked at.
  bool KeyMatters() const { return depth_ == 1 || (depth_ == 2 && in_event_); }
  void Expect(SkimField& f) {
    f.Key();
    string_ = &f;
  }
  // A value other than a string begins: the key it belongs to is not a string field.
  bool Value() {
    if (string_ != nullptr) string_->NotString();
    string_ = nullptr;
    event_value_ = false;
    return true;
  }
  void AppendKey(json::string_view part) {
    if (key_long_ || part.size() > kKeyMaxBytes - key_size_) {
      key_long_ = true;
      return;
    }
    std::memcpy(key_ + key_size_, part.data(), part.size());
    key_size_ += part.size();
  }

  Skimmed* out_;
  int depth_ = 0;                // open objects and arrays
  SkimField* string_ = nullptr;  // the field the value being read belongs to
  bool event_value_ = false;     // the value being read is the first top-level "event"'s
  bool in_event_ = false;        // inside that "event" object (it is at depth 2)
  int events_ = 0;               // top-level "event" keys seen
  char key_[kKeyMaxBytes] = {};
  size_t key_size_ = 0;
  bool key_long_ = false;
};

// LineParser's arena: lines up to this size parse without allocating.
constexpr size_t kArenaBytes = 16 * 1024;
// The parser's own stack of values under construction.
constexpr size_t kStackBytes = 4 * 1024;

}  // namespace

Skimmed Skim(std::string_view line) {
  Skimmed out;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kLineMaxBytes) return out;
  json::basic_parser<SkimHandler> p(json::parse_options(), &out);
  boost::system::error_code ec;
  const size_t n = p.write_some(false, line.data(), line.size(), ec);
  if (ec || n != line.size()) out = Skimmed();  // as json::parser::write: extra data fails
  return out;
}

struct LineParser::State {
  // Declared in the order they depend on each other: the document uses the arena.
  unsigned char arena_buffer[kArenaBytes];
  std::optional<json::monotonic_resource> arena;
  unsigned char stack_buffer[kStackBytes];
  std::optional<json::parser> parser;
  std::optional<json::value> doc;

  void NewParser() { parser.emplace(json::storage_ptr(), json::parse_options(), stack_buffer); }
};

LineParser::LineParser() : state_(std::make_unique<State>()) { state_->NewParser(); }
LineParser::~LineParser() = default;
LineParser::LineParser(LineParser&&) noexcept = default;
LineParser& LineParser::operator=(LineParser&&) noexcept = default;

const json::object* LineParser::Parse(std::string_view line, AgentUsage& u) {
  ++u.lines;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kLineMaxBytes) {
    ++u.oversized_lines;
    ++u.malformed_lines;
    return nullptr;
  }
  State& st = *state_;
  st.doc.reset();
  st.parser->reset();
  // A fresh arena each line: monotonic_resource::release() would keep growing the size of the
  // blocks it takes next.
  st.arena.emplace(st.arena_buffer, sizeof st.arena_buffer);
  st.parser->reset(json::storage_ptr(&*st.arena));
  boost::system::error_code ec;
  st.parser->write(line.data(), line.size(), ec);
  if (!ec) st.doc.emplace(st.parser->release());
  st.parser->reset();
  // A long line grew the parser's stack beyond its buffer: give that back.
  if (line.size() > kArenaBytes) st.NewParser();
  if (ec || !st.doc->is_object()) {
    st.doc.reset();
    ++u.malformed_lines;
    return nullptr;
  }
  return &st.doc->get_object();
}

const json::object* Object(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_object() : nullptr;
}

const json::array* Array(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_array() : nullptr;
}

std::string_view String(const json::value& v) {
  const json::string* s = v.if_string();
  return s != nullptr ? std::string_view(s->data(), s->size()) : std::string_view();
}

std::string_view String(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? String(*v) : std::string_view();
}

int64_t Count(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (const int64_t* i = v->if_int64()) return *i >= 0 && *i <= kCountMax ? *i : 0;
  if (const uint64_t* u = v->if_uint64()) {
    return *u <= static_cast<uint64_t>(kCountMax) ? static_cast<int64_t>(*u) : 0;
  }
  if (const double* d = v->if_double()) {
    if (std::isfinite(*d) && *d >= 0 && *d <= static_cast<double>(kCountMax) &&
        std::floor(*d) == *d) {
      return static_cast<int64_t>(*d);
    }
  }
  return 0;
}

std::optional<double> Number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  double d = 0;
  if (const int64_t* i = v->if_int64()) {
    d = static_cast<double>(*i);
  } else if (const uint64_t* u = v->if_uint64()) {
    d = static_cast<double>(*u);
  } else {
    d = v->get_double();
  }
  if (!std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

bool True(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

}  // namespace overseer::service::stream_json
