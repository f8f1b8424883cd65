#include "api/transcript_codec.h"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>

namespace overseer::api {

namespace json = boost::json;
using service::TranscriptKind;

json::object TranscriptEntryToJson(const service::TranscriptEntry& e) {
  json::object o;
  o["kind"] = service::TranscriptKindName(e.kind);
  if (e.text) o["text"] = *e.text;
  if (e.kind == TranscriptKind::kToolCall) {
    o["tool"] = e.tool;
    o["input"] = e.input;
  }
  if (e.is_error) o["is_error"] = *e.is_error;
  if (!e.time.empty()) o["time"] = e.time;
  return o;
}

json::object TranscriptToJson(const std::vector<service::TranscriptEntry>& entries) {
  json::array items;
  items.reserve(entries.size());
  for (const service::TranscriptEntry& e : entries) items.push_back(TranscriptEntryToJson(e));
  return json::object{{"entries", std::move(items)}};
}

}  // namespace overseer::api
