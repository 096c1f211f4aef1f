#include "paddock/api/json_body.hpp"

#include <cmath>

#include "paddock/util/strings.hpp"

namespace paddock::api {

using nlohmann::json;

bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < len) return false;
    for (std::size_t i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += len;
  }
  return true;
}

namespace {

struct TooDeep {};
struct DuplicateKey {
  std::string key;
};

// Finds a number that does not fit a double (parsed as +-inf) and returns its path.
std::optional<std::string> find_non_finite(const json& j, const std::string& path) {
  if (j.is_number_float() && !std::isfinite(j.get<double>())) return path.empty() ? "." : path;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      auto found = find_non_finite(*it, path.empty() ? it.key() : path + "." + it.key());
      if (found) return found;
    }
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) {
      auto found = find_non_finite(j[i], path + "[" + std::to_string(i) + "]");
      if (found) return found;
    }
  }
  return std::nullopt;
}

// 'text' in single quotes. Built by appending: `"'" + std::string&&` inserts at the front of the
// temporary, which GCC 12 at -O3 misreads as an overlapping memcpy (-Wrestrict, GCC bug 105329).
std::string in_quotes(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out += text;
  out += '\'';
  return out;
}

std::string strip_exception_prefix(const std::string& what) {
  // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
  if (!what.empty() && what[0] == '[') {
    const auto close = what.find("] ");
    if (close != std::string::npos) return what.substr(close + 2);
  }
  return what;
}

const char* type_word(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

}  // namespace

Result<json> parse_json_object(std::string_view body, std::size_t max_depth) {
  if (!is_valid_utf8(body)) {
    return make_error("invalid_utf8", "the request body is not valid UTF-8");
  }
  // Where the parser is: one frame per open container, so errors can name a JSON path.
  struct Frame {
    bool array = false;
    std::string key;  // objects: the current key
    long index = -1;  // arrays: index of the current element
    std::set<std::string> keys;
  };
  std::vector<Frame> frames;
  auto element_starts = [&] {
    if (!frames.empty() && frames.back().array) ++frames.back().index;
  };
  auto current_path = [&](bool pending_element) {
    std::string path;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const Frame& f = frames[i];
      const bool last = i + 1 == frames.size();
      if (f.array) {
        path += "[" + std::to_string(last && pending_element ? f.index + 1 : f.index) + "]";
      } else if (!f.key.empty() || !last) {
        path += (path.empty() ? "" : ".") + f.key;
      }
    }
    return path;
  };
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        // `depth` counts the containers already open; this one makes it depth + 1.
        if (static_cast<std::size_t>(depth) + 1 > max_depth) throw TooDeep{};
        element_starts();
        frames.push_back(Frame{event == json::parse_event_t::array_start, {}, -1, {}});
        break;
      case json::parse_event_t::key: {
        auto key = parsed.get<std::string>();
        if (!frames.empty()) {
          frames.back().key = key;
          if (!frames.back().keys.insert(key).second) throw DuplicateKey{current_path(false)};
        }
        break;
      }
      case json::parse_event_t::value:
        element_starts();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!frames.empty()) frames.pop_back();
        break;
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(body.begin(), body.end(), callback, /*allow_exceptions=*/true,
                      /*ignore_comments=*/false);
  } catch (const TooDeep&) {
    return make_error("too_deep", "the request body nests objects and arrays deeper than " +
                                      std::to_string(max_depth) + " levels");
  } catch (const DuplicateKey& d) {
    return make_error("duplicate_field", "the key '" + d.key + "' appears twice in one object",
                      d.key);
  } catch (const json::out_of_range& e) {
    // 406: a number that does not fit a double (1e999).
    const std::string at = current_path(true);
    return make_error(
        "invalid_number",
        "the number at '" + at + "' does not fit a double: " + strip_exception_prefix(e.what()),
        at);
  } catch (const json::exception& e) {
    return make_error("invalid_json",
                      "the request body is not valid JSON: " + strip_exception_prefix(e.what()));
  }
  if (!doc.is_object()) {
    return make_error("not_an_object",
                      std::string("the request body must be a JSON object, got ") + type_word(doc));
  }
  if (auto bad = find_non_finite(doc, "")) {
    return make_error("invalid_number", "the number at '" + *bad + "' does not fit a double", *bad);
  }
  return doc;
}

Response bad_request(const Error& error) {
  return Response::error(400, error.code, error.message, error.field);
}

FieldReader::FieldReader(const json& object, std::string path)
    : FieldReader(std::make_shared<Node>(Node{&object, std::move(path), {}}),
                  std::make_shared<Shared>()) {
  state_->nodes.push_back(node_);
  if (!object.is_object()) {
    fail("not_an_object",
         in_quotes(node_->path.empty() ? std::string_view("body") : std::string_view(node_->path)) +
             " must be an object",
         node_->path);
  }
}

FieldReader::FieldReader(std::shared_ptr<Node> node, std::shared_ptr<Shared> state)
    : node_(std::move(node)), state_(std::move(state)) {}

std::string FieldReader::path_of(const std::string& key) const {
  return node_->path.empty() ? key : node_->path + "." + key;
}

void FieldReader::fail(std::string code, std::string message, std::string field) {
  if (!state_->error) state_->error = Error{std::move(code), std::move(message), std::move(field)};
}

void FieldReader::accept(const std::string& key) { node_->known.insert(key); }

const json* FieldReader::lookup(const std::string& key, Required required) {
  node_->known.insert(key);
  if (state_->error || !node_->object->is_object()) return nullptr;
  auto it = node_->object->find(key);
  if (it == node_->object->end()) {
    if (required == Required::Yes) {
      fail("missing_field", in_quotes(path_of(key)) + " is required", path_of(key));
    }
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> FieldReader::string(const std::string& key, Required required) {
  const json* v = lookup(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    fail("invalid_field", in_quotes(path_of(key)) + " must be a string, got " + type_word(*v),
         path_of(key));
    return std::nullopt;
  }
  const auto& s = v->get_ref<const std::string&>();
  if (s.find('\0') != std::string::npos) {
    fail("invalid_field", in_quotes(path_of(key)) + " contains a NUL character", path_of(key));
    return std::nullopt;
  }
  return s;
}

std::optional<std::int64_t> FieldReader::integer(const std::string& key, std::int64_t min,
                                                 std::int64_t max, Required required) {
  const json* v = lookup(key, required);
  if (v == nullptr) return std::nullopt;
  const std::string range = std::to_string(min) + ".." + std::to_string(max);
  if (!v->is_number_integer()) {
    fail("invalid_field",
         in_quotes(path_of(key)) + " must be an integer in " + range + ", got " + type_word(*v),
         path_of(key));
    return std::nullopt;
  }
  if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    fail("invalid_field", in_quotes(path_of(key)) + " must be in " + range, path_of(key));
    return std::nullopt;
  }
  const auto n = v->get<std::int64_t>();
  if (n < min || n > max) {
    fail("invalid_field",
         in_quotes(path_of(key)) + " = " + std::to_string(n) + " is outside " + range,
         path_of(key));
    return std::nullopt;
  }
  return n;
}

std::optional<double> FieldReader::number(const std::string& key, double min, double max,
                                          Required required) {
  const json* v = lookup(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) {
    fail("invalid_field", in_quotes(path_of(key)) + " must be a number, got " + type_word(*v),
         path_of(key));
    return std::nullopt;
  }
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < min || d > max) {
    fail("invalid_field", in_quotes(path_of(key)) + " is outside the allowed range", path_of(key));
    return std::nullopt;
  }
  return d;
}

std::optional<bool> FieldReader::boolean(const std::string& key, Required required) {
  const json* v = lookup(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) {
    fail("invalid_field", in_quotes(path_of(key)) + " must be true or false, got " + type_word(*v),
         path_of(key));
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<std::vector<std::string>> FieldReader::string_array(const std::string& key,
                                                                  Required required) {
  const json* v = lookup(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_array()) {
    fail("invalid_field",
         in_quotes(path_of(key)) + " must be an array of strings, got " + type_word(*v),
         path_of(key));
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const auto& el = (*v)[i];
    const std::string at = path_of(key) + "[" + std::to_string(i) + "]";
    if (!el.is_string()) {
      fail("invalid_field", in_quotes(at) + " must be a string, got " + type_word(el), at);
      return std::nullopt;
    }
    const auto& s = el.get_ref<const std::string&>();
    if (s.find('\0') != std::string::npos) {
      fail("invalid_field", in_quotes(at) + " contains a NUL character", at);
      return std::nullopt;
    }
    out.push_back(s);
  }
  return out;
}

std::optional<std::map<std::string, std::string>> FieldReader::string_map(const std::string& key,
                                                                          Required required) {
  const json* v = lookup(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_object()) {
    fail("invalid_field",
         in_quotes(path_of(key)) + " must be an object of strings, got " + type_word(*v),
         path_of(key));
    return std::nullopt;
  }
  std::map<std::string, std::string> out;
  for (auto it = v->begin(); it != v->end(); ++it) {
    const std::string at = path_of(key) + "." + it.key();
    if (it.key().find('\0') != std::string::npos) {
      fail("invalid_field", "a key of '" + path_of(key) + "' contains a NUL character",
           path_of(key));
      return std::nullopt;
    }
    if (!it->is_string()) {
      fail("invalid_field", in_quotes(at) + " must be a string, got " + type_word(*it), at);
      return std::nullopt;
    }
    const auto& s = it->get_ref<const std::string&>();
    if (s.find('\0') != std::string::npos) {
      fail("invalid_field", in_quotes(at) + " contains a NUL character", at);
      return std::nullopt;
    }
    out.emplace(it.key(), s);
  }
  return out;
}

std::optional<FieldReader> FieldReader::object(const std::string& key, Required required) {
  const json* v = lookup(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_object()) {
    fail("invalid_field", in_quotes(path_of(key)) + " must be an object, got " + type_word(*v),
         path_of(key));
    return std::nullopt;
  }
  auto node = std::make_shared<Node>(Node{v, path_of(key), {}});
  state_->nodes.push_back(node);
  return FieldReader(std::move(node), state_);
}

Result<void> FieldReader::finish() {
  if (!state_->error) {
    for (const auto& node : state_->nodes) {
      if (!node->object->is_object()) continue;
      const std::vector<std::string> known(node->known.begin(), node->known.end());
      for (auto it = node->object->begin(); it != node->object->end(); ++it) {
        if (node->known.count(it.key()) != 0) continue;
        const std::string at = node->path.empty() ? it.key() : node->path + "." + it.key();
        const std::string hint = util::closest_match(it.key(), known);
        fail("unknown_field",
             "unknown field '" + at + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?"),
             at);
        break;
      }
      if (state_->error) break;
    }
  }
  if (state_->error) return *state_->error;
  return {};
}

}  // namespace paddock::api
