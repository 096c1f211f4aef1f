#include "paddock/api/worker_list.hpp"

#include <algorithm>
#include <charconv>

#include "paddock/api/openapi.hpp"
#include "paddock/api/worker_json.hpp"

namespace paddock::api {

namespace {

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_number(std::string& out, const std::optional<std::uint64_t>& v) {
  if (!v) {
    out += "null";
    return;
  }
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, *v);
  out.append(buf, r.ptr);
}

}  // namespace

const std::vector<std::string>& worker_field_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    const auto& doc = openapi_document();
    const auto* props = &doc;
    for (const char* k : {"components", "schemas", "Worker", "properties"}) {
      if (!props->is_object() || !props->contains(k)) return out;
      props = &(*props)[k];
    }
    for (const auto& [name, schema] : props->items()) out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
  }();
  return names;
}

Result<std::vector<std::string>> parse_worker_fields(std::string_view text) {
  const auto& known = worker_field_names();
  std::vector<std::string> out;
  while (true) {
    const auto comma = text.find(',');
    const std::string name(text.substr(0, comma));
    if (!std::binary_search(known.begin(), known.end(), name)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return make_error(
          "invalid_query",
          name.empty() ? "fields must be a comma-separated list of worker fields (" + list + ")"
                       : "fields names an unknown worker field '" + name + "'; known: " + list,
          "fields");
    }
    out.push_back(name);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

nlohmann::json select_fields(const nlohmann::json& worker, const std::vector<std::string>& fields) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& f : fields) {
    if (auto it = worker.find(f); it != worker.end()) out[f] = *it;
  }
  return out;
}

void append_usage_field(std::string& out, const std::optional<cgroup::Usage>& usage) {
  out += "\"usage\":";
  if (!usage) {
    out += "null";
    return;
  }
  // The keys in the order nlohmann's (sorted) objects dump them.
  out += "{\"cpu_usec\":";
  append_number(out, usage->cpu_usec);
  out += ",\"memory_bytes\":";
  append_number(out, usage->memory_bytes);
  out += ",\"oom_kills\":";
  append_number(out, usage->oom_kills);
  out += ",\"pids\":";
  append_number(out, usage->pids);
  out += '}';
}

const WorkerListCache::Piece& WorkerListCache::piece(const supervisor::Supervisor& sup,
                                                     const supervisor::ListedWorker& l) {
  Piece& p = pieces_[l.serial];
  p.used = generation_;
  if (p.version == l.version && !p.spans.empty()) return p;
  p.version = l.version;
  p.body.clear();
  p.spans.clear();
  ++renders_;
  const auto snap = sup.get(std::string(l.id));
  if (!snap) return p;  // listed a moment ago on the same thread: cannot happen
  const auto j = to_json(*snap);
  for (const auto& [name, value] : j.items()) {
    if (name == "usage") continue;  // written per request
    if (!p.body.empty()) p.body.push_back(',');
    const auto begin = static_cast<std::uint32_t>(p.body.size());
    p.body += dump(name);
    p.body.push_back(':');
    p.body += dump(value);
    p.spans.push_back({name, begin, static_cast<std::uint32_t>(p.body.size() - begin)});
  }
  return p;
}

std::string WorkerListCache::render(const supervisor::Supervisor& sup,
                                    const std::vector<supervisor::ListedWorker>& listed,
                                    const std::optional<std::vector<std::string>>& fields) {
  ++generation_;
  const bool usage = !fields || std::binary_search(fields->begin(), fields->end(), "usage");
  std::string out;
  if (!fields) out.reserve(last_size_ + 4096);
  out += "{\"workers\":[";
  bool first = true;
  for (const auto& l : listed) {
    const Piece& p = piece(sup, l);
    if (!first) out.push_back(',');
    first = false;
    out.push_back('{');
    bool empty = true;
    if (!fields) {
      out += p.body;
      empty = p.body.empty();
    } else {
      for (const auto& s : p.spans) {
        if (!std::binary_search(fields->begin(), fields->end(), s.name)) continue;
        if (!empty) out.push_back(',');
        out.append(p.body, s.begin, s.size);
        empty = false;
      }
    }
    if (usage) {
      if (!empty) out.push_back(',');
      append_usage_field(out, l.usage);
    }
    out.push_back('}');
  }
  out += "],\"count\":" + std::to_string(listed.size()) + "}\n";
  if (!fields) last_size_ = out.size();
  // Forget workers the supervisor no longer knows (a filtered list may drop some it does: they
  // are rendered again when next listed).
  if (pieces_.size() > sup.known_count()) {
    std::erase_if(pieces_, [this](const auto& kv) { return kv.second.used != generation_; });
  }
  return out;
}

}  // namespace paddock::api
