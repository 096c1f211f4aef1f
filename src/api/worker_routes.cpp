// The worker, run, log and event routes: JSON in, Supervisor calls, JSON (or a stream) out.
#include <charconv>
#include <limits>
#include <memory>
#include <variant>

#include "paddock/api/error_codes.hpp"
#include "paddock/api/json_body.hpp"
#include "paddock/api/routes.hpp"
#include "paddock/api/worker_json.hpp"
#include "paddock/api/worker_list.hpp"
#include "paddock/log/log.hpp"

namespace paddock::api {

using supervisor::Supervisor;

unsigned status_for(const Error& e) {
  // A code missing from the table is a bug in the daemon, not in the request.
  return error_status(e.code).value_or(500);
}

namespace {

constexpr std::chrono::seconds kKeepAlive{15};
/// How long POST /v1/runs holds its status line back for the run's end (see api.md).
constexpr std::chrono::milliseconds kRunAnswerHold{1000};
/// Text of log lines taken from the ring for one answer with since= (follow or not).
constexpr std::size_t kBacklogBytes = 512 * 1024;

Response error_response(const Error& e) {
  return Response::error(status_for(e), e.code, e.message, e.field);
}

Response not_available() {
  return Response::error(501, "not_implemented", "workers are not available in this build");
}

Result<std::uint64_t> query_uint(const Request& req, const std::string& name, std::uint64_t max) {
  auto v = req.query_param(name);
  if (!v) return std::uint64_t{0};
  std::uint64_t out = 0;
  const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc{} || p != v->data() + v->size() || out > max) {
    return make_error("invalid_query",
                      name + " must be a whole number between 0 and " + std::to_string(max), name);
  }
  return out;
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// ?grace_seconds= of the stop routes: nullopt when absent (the configured default applies).
Result<std::optional<std::chrono::seconds>> grace_param(const Request& req) {
  if (!req.query_param("grace_seconds")) return std::optional<std::chrono::seconds>{};
  auto g = query_uint(req, "grace_seconds", 3600);
  if (!g) return g.error();
  return std::optional<std::chrono::seconds>(std::chrono::seconds(*g));
}

/// ?fields= of the worker routes: nullopt when absent (every field).
Result<std::optional<std::vector<std::string>>> fields_param(const Request& req) {
  auto f = req.query_param("fields");
  if (!f) return std::optional<std::vector<std::string>>{};
  auto parsed = parse_worker_fields(*f);
  if (!parsed) return parsed.error();
  return std::optional<std::vector<std::string>>(std::move(*parsed));
}

bool query_flag(const Request& req, const std::string& name) {
  auto v = req.query_param(name);
  return v && (*v == "1" || *v == "true" || v->empty());
}

/// Checks, at every keep-alive tick, that the client is still there; calls `gone` when not.
/// `tick` may write a heartbeat. Stops by itself once the sink closes.
void keep_alive(supervisor::Scheduler* sched, std::shared_ptr<StreamSink> sink,
                std::function<void()> tick, std::function<void()> gone) {
  if (sched == nullptr) return;
  sched->after(kKeepAlive, [sched, sink, tick, gone] {
    if (!sink->open()) {
      gone();
      return;
    }
    if (tick) tick();
    keep_alive(sched, sink, tick, gone);
  });
}

enum class Among { Workers, Runs, Both };

/// The id that `query` (an id, a name or a unique id prefix) names, or the 404 / 409 answer.
std::variant<std::string, Response> resolve(const Supervisor& sup, const std::string& query,
                                            Among among) {
  // An exact id, the common case, is found directly (lookup_id tries it first too) instead of
  // after a copy of every id and name.
  if (const auto run = sup.names_run(query);
      run && (among == Among::Both || *run == (among == Among::Runs))) {
    return query;
  }
  std::vector<supervisor::IdEntry> entries;
  if (among != Among::Runs) entries = sup.lookup_entries(false);
  if (among != Among::Workers) {
    auto runs = sup.lookup_entries(true);
    entries.insert(entries.end(), runs.begin(), runs.end());
  }
  const char* what = among == Among::Workers ? "worker"
                     : among == Among::Runs  ? "run"
                                             : "worker or run";
  const auto found = supervisor::lookup_id(query, entries);
  switch (found.outcome) {
    case supervisor::Lookup::Outcome::Found:
      return found.id;
    case supervisor::Lookup::Outcome::NotFound:
      return Response::error(
          404, "not_found",
          std::string("no ") + what + " with id, name or id prefix '" + query + "'", "id");
    case supervisor::Lookup::Outcome::Ambiguous:
      break;
  }
  std::string listed;
  nlohmann::json matches = nlohmann::json::array();
  for (const auto& m : found.matches) {
    listed += (listed.empty() ? "" : ", ") + m.id + (m.name.empty() ? "" : " (" + m.name + ")");
    matches.push_back(
        {{"id", m.id}, {"name", m.name.empty() ? nlohmann::json() : nlohmann::json(m.name)}});
  }
  const char* whats = among == Among::Workers ? "workers"
                      : among == Among::Runs  ? "runs"
                                              : "workers or runs";
  return Response::json(
      409, {{"error",
             {{"code", "ambiguous_id"},
              {"message", "'" + query + "' matches " + std::to_string(found.matches.size()) + " " +
                              whats + ": " + listed + "; give more of the id"},
              {"field", "id"},
              {"matches", std::move(matches)}}}});
}

/// DELETE /v1/workers/{id} and /v1/runs/{id}: SIGTERM, SIGKILL after ?grace_seconds.
Handler stop_route(Supervisor* sup, Among among) {
  return [sup, among](const Request& req, const PathParams& p) {
    if (sup == nullptr) return not_available();
    auto grace = grace_param(req);
    if (!grace) return error_response(grace.error());
    auto id = resolve(*sup, p.at("id"), among);
    if (auto* refused = std::get_if<Response>(&id)) return std::move(*refused);
    auto s = sup->stop(std::get<std::string>(id), *grace);
    if (!s) return error_response(s.error());
    return Response::json(202, to_json(*s));
  };
}

}  // namespace

void register_worker_routes(Router& router, const Services& services) {
  Supervisor* sup = services.supervisor;
  supervisor::EventBus* events = services.events;
  supervisor::Scheduler* sched = services.scheduler;

  router.add("POST", "/v1/workers", [sup](const Request& req, const PathParams&) {
    if (sup == nullptr) return not_available();
    auto body = parse_json_object(req.body);
    if (!body) return bad_request(body.error());
    auto spec = parse_worker_spec(*body);
    if (!spec) return bad_request(spec.error());
    auto w = sup->create(*spec);
    if (!w) return error_response(w.error());
    auto r = Response::json(201, to_json(*w));
    r.headers.emplace_back("Location", "/v1/workers/" + w->id);
    return r;
  });

  auto list_cache = std::make_shared<WorkerListCache>();
  router.add("GET", "/v1/workers", [sup, list_cache](const Request& req, const PathParams&) {
    if (sup == nullptr) return not_available();
    std::optional<supervisor::State> state;
    if (auto s = req.query_param("state")) {
      state = supervisor::parse_state(*s);
      if (!state) {
        return Response::error(
            400, "invalid_query",
            "state must be one of starting, running, ready, stopping, exited, failed", "state");
      }
    }
    std::optional<std::pair<std::string, std::string>> label;
    if (auto l = req.query_param("label")) {
      const auto eq = l->find('=');
      if (eq == std::string::npos || eq == 0) {
        return Response::error(400, "invalid_query", "label must be key=value", "label");
      }
      label = std::make_pair(l->substr(0, eq), l->substr(eq + 1));
    }
    auto fields = fields_param(req);
    if (!fields) return error_response(fields.error());
    // Each worker's JSON is rendered once per change and kept; the list joins the pieces.
    Response res;
    res.body = list_cache->render(*sup, sup->list_versions(state, label), *fields);
    return res;
  });

  router.add("GET", "/v1/workers/{id}", [sup](const Request& req, const PathParams& p) {
    if (sup == nullptr) return not_available();
    auto fields = fields_param(req);
    if (!fields) return error_response(fields.error());
    auto id = resolve(*sup, p.at("id"), Among::Workers);
    if (auto* refused = std::get_if<Response>(&id)) return std::move(*refused);
    auto j = to_json(*sup->get(std::get<std::string>(id)));
    return Response::json(200, *fields ? select_fields(j, **fields) : std::move(j));
  });

  router.add("DELETE", "/v1/workers/{id}", stop_route(sup, Among::Workers));

  router.add("POST", "/v1/workers/{id}/restart", [sup](const Request&, const PathParams& p) {
    if (sup == nullptr) return not_available();
    auto id = resolve(*sup, p.at("id"), Among::Workers);
    if (auto* refused = std::get_if<Response>(&id)) return std::move(*refused);
    auto s = sup->restart(std::get<std::string>(id));
    if (!s) return error_response(s.error());
    return Response::json(202, to_json(*s));
  });

  router.add("POST", "/v1/workers/{id}/signal", [sup](const Request& req, const PathParams& p) {
    if (sup == nullptr) return not_available();
    auto body = parse_json_object(req.body);
    if (!body) return bad_request(body.error());
    FieldReader r(*body);
    auto name = r.string("signal", FieldReader::Required::Yes);
    if (auto done = r.finish(); !done) return bad_request(done.error());
    auto sig = parse_signal(*name);
    if (!sig) return bad_request(sig.error());
    auto id = resolve(*sup, p.at("id"), Among::Workers);
    if (auto* refused = std::get_if<Response>(&id)) return std::move(*refused);
    const auto& worker_id = std::get<std::string>(id);
    if (auto s = sup->send_signal(worker_id, *sig); !s) return error_response(s.error());
    return Response::json(202, to_json(*sup->get(worker_id)));
  });

  router.add("GET", "/v1/workers/{id}/logs", [sup, sched](const Request& req, const PathParams& p) {
    if (sup == nullptr) return not_available();
    auto resolved = resolve(*sup, p.at("id"), Among::Both);
    if (auto* refused = std::get_if<Response>(&resolved)) return std::move(*refused);
    const std::string id = std::get<std::string>(resolved);
    const auto* ring = sup->logs(id);
    if (ring == nullptr)
      return Response::error(404, "not_found", "no worker or run with id '" + id + "'", "id");
    auto tail = query_uint(req, "tail", 100000);
    if (!tail) return error_response(tail.error());
    const std::size_t n = req.query_param("tail") ? *tail : 100;
    std::optional<supervisor::Stream> stream;
    if (auto s = req.query_param("stream")) {
      stream = supervisor::parse_stream(*s);
      if (!stream)
        return Response::error(400, "invalid_query", "stream must be stdout or stderr", "stream");
    }
    std::optional<std::uint64_t> since;
    if (req.query_param("since")) {
      auto v = query_uint(req, "since", std::numeric_limits<std::int64_t>::max());
      if (!v) return error_response(v.error());
      since = *v;
    }
    // since=<seq>: every line after that one still held (the resume point a cut stream names);
    // otherwise the last `tail` lines.
    // At most kBacklogBytes of text is taken at once, so a request from far back costs no more
    // memory than one stream's queue; the client asks again from where the answer stopped.
    auto lines = since ? ring->since(*since, stream, kBacklogBytes) : ring->tail(n, stream);
    const bool more = since && !lines.empty() && !ring->since(lines.back().seq, stream, 1).empty();
    // Lines after `since` that are no longer held, in memory or in the worker's log file.
    std::uint64_t missing = 0;
    if (since && ring->first_after(*since) > *since + 1) {
      missing = ring->first_after(*since) - *since - 1;
    }
    if (!query_flag(req, "follow")) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& l : lines) arr.push_back(to_json(l));
      nlohmann::json body{{"lines", std::move(arr)}, {"dropped_bytes", ring->dropped_bytes()}};
      if (since) {
        body["missing_lines"] = missing;
        body["more"] = more;
      }
      return Response::json(200, body);
    }
    // follow: one JSON object per line (NDJSON) until the worker exits or the client leaves.
    Response r;
    r.status = 200;
    r.content_type = "application/x-ndjson";
    // The position of a follow stream is the seq of the last line sent; a stream the server
    // ends (slow reader, lifetime, shutdown) says so in a last control line.
    r.stream_position = since ? *since : (lines.empty() ? ring->last_seq() : lines.front().seq - 1);
    // The seq after which lines not in `lines` begin: the stream catches up from there before it
    // subscribes, so a line printed between this answer and the stream's start is not lost.
    const std::uint64_t caught_up = lines.empty() ? r.stream_position : lines.back().seq;
    auto end_line = [id](const std::string& reason, std::uint64_t seq) {
      const std::string why = reason == "slow_reader" ? "the reader fell too far behind"
                              : reason == "backlog"   ? "more lines are held than one answer sends"
                                                      : "the stream was ended by the server";
      return dump({{"event", "end"},
                   {"reason", reason},
                   {"last_seq", seq},
                   {"resume", "/v1/workers/" + id + "/logs?follow=1&since=" + std::to_string(seq)},
                   {"message", why + "; resume from since=" + std::to_string(seq)}}) +
             "\n";
    };
    r.stream_end = [end_line](StreamEndReason reason, std::uint64_t seq) {
      return end_line(to_string(reason), seq);
    };
    r.stream = [sup, sched, id, stream, missing, since, more, end_line, caught_up,
                lines = std::move(lines)](std::shared_ptr<StreamSink> sink) {
      if (missing > 0) {
        sink->write(dump({{"event", "gap"},
                          {"after_seq", *since},
                          {"missing_lines", missing},
                          {"message",
                           "lines after since are no longer held: neither in memory nor "
                           "in the worker's log file ([log] worker_log_dir, "
                           "worker_log_max_bytes)"}}) +
                    "\n");
      }
      for (const auto& l : lines) {
        if (!sink->write(dump(to_json(l)) + "\n", l.seq)) return;
      }
      if (more) {
        sink->write(end_line("backlog", lines.back().seq));
        sink->finish();
        return;
      }
      // Lines that arrived after the answer was made and before this subscription (same thread:
      // nothing arrives between this read and subscribe_logs).
      if (const auto* held = sup->logs(id)) {
        std::uint64_t last = caught_up;
        for (;;) {
          const auto newer = held->since(last, stream, kBacklogBytes);
          if (newer.empty()) break;
          for (const auto& l : newer) {
            if (!sink->write(dump(to_json(l)) + "\n", l.seq)) return;
          }
          last = newer.back().seq;
        }
      }
      auto token = std::make_shared<std::uint64_t>(0);
      *token = sup->subscribe_logs(
          id,
          [sup, id, sink, stream, token](const supervisor::LogLine& l) {
            if (stream && l.stream != *stream) return;
            if (!sink->write(dump(to_json(l)) + "\n", l.seq)) sup->unsubscribe_logs(id, *token);
          },
          [sink] { sink->finish(); });
      if (*token != 0) {
        keep_alive(
            sched, sink,
            [sink] {
              sink->write(dump({{"event", "heartbeat"}}) + "\n");
            },
            [sup, id, token] { sup->unsubscribe_logs(id, *token); });
      }
    };
    return r;
  });

  router.add("POST", "/v1/runs", [sup](const Request& req, const PathParams&) {
    if (sup == nullptr) return not_available();
    auto body = parse_json_object(req.body);
    if (!body) return bad_request(body.error());
    auto spec = parse_run_spec(*body);
    if (!spec) return bad_request(spec.error());
    const bool async = query_flag(req, "async");
    // The result is sent when the run ends. Errors in the request get their 4xx/5xx at once;
    // a run that has started gets its 200 when it ends, or after kRunAnswerHold if it is
    // still going then (the result follows as a chunked body).
    auto result = std::make_shared<std::optional<supervisor::RunResult>>();
    auto waiting = std::make_shared<std::shared_ptr<StreamSink>>();
    auto started =
        sup->start_run(std::move(*spec), [result, waiting](const supervisor::RunResult& r) {
          *result = r;
          if (*waiting) {
            (*waiting)->write(
                to_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
            (*waiting)->finish();
          }
        });
    if (!started) return error_response(started.error());
    if (async) {
      auto r = Response::json(202, {{"id", started->id},
                                    {"state", std::string(supervisor::to_string(started->state))}});
      r.headers.emplace_back("Location", "/v1/runs/" + started->id);
      return r;
    }
    Response r;
    r.status = 200;
    r.content_type = "application/json";
    r.stream_end = [id = started->id](StreamEndReason reason, std::uint64_t) {
      if (reason == StreamEndReason::SlowReader) return std::string();
      return dump({{"error",
                    {{"code", "stream_ended"},
                     {"message", std::string("the answer was not ready when the stream ended (") +
                                     to_string(reason) + "); the run goes on: GET /v1/runs/" + id},
                     {"run", id}}}}) +
             "\n";
    };
    // Where the run can be read or stopped (DELETE) while this answer waits for its end.
    r.headers.emplace_back("Location", "/v1/runs/" + started->id);
    // A run that ends within the hold is answered as one ordinary response (and the
    // connection is kept); a longer one gets its status line then, its result at its end.
    r.stream_hold = kRunAnswerHold;
    r.stream = [result, waiting](std::shared_ptr<StreamSink> sink) {
      if (result->has_value()) {
        sink->write(
            to_json(**result).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
            "\n");
        sink->finish();
        return;
      }
      *waiting = std::move(sink);
    };
    return r;
  });

  router.add("GET", "/v1/runs/{id}", [sup](const Request&, const PathParams& p) {
    if (sup == nullptr) return not_available();
    auto id = resolve(*sup, p.at("id"), Among::Runs);
    if (auto* refused = std::get_if<Response>(&id)) return std::move(*refused);
    return Response::json(200, to_json(*sup->get_run(std::get<std::string>(id))));
  });

  router.add("DELETE", "/v1/runs/{id}", stop_route(sup, Among::Runs));

  router.add("GET", "/v1/events", [events, sched](const Request& req, const PathParams&) {
    if (events == nullptr) return not_available();
    std::uint64_t last = 0;
    auto header = req.header("last-event-id");
    if (!header) header = req.query_param("last_event_id");
    if (header && !header->empty()) {
      const auto [p, ec] = std::from_chars(header->data(), header->data() + header->size(), last);
      if (ec != std::errc{} || p != header->data() + header->size()) {
        return Response::error(400, "invalid_header", "Last-Event-ID must be an event id number",
                               "Last-Event-ID");
      }
    }
    Response r;
    r.status = 200;
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.stream_position = last;
    r.stream_end = [](StreamEndReason reason, std::uint64_t id) {
      return "event: stream-end\ndata: " +
             dump({{"reason", to_string(reason)},
                   {"last_event_id", id},
                   {"message", "reconnect with Last-Event-ID: " + std::to_string(id) +
                                   " to get every event after this one"}}) +
             "\n\n";
    };
    r.stream = [events, sched, last](std::shared_ptr<StreamSink> sink) {
      auto format = [](const supervisor::Event& e) {
        return "id: " + std::to_string(e.id) + "\nevent: " + e.kind + "\ndata: " +
               to_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
      };
      bool complete = true;
      auto backlog = events->since(last, &complete);
      if (!complete)
        sink->write(": some events before this point were dropped from the buffer\n\n");
      for (const auto& e : backlog) {
        if (!sink->write(format(e), e.id)) return;
      }
      auto token = std::make_shared<std::uint64_t>(0);
      *token = events->subscribe([events, sink, format, token](const supervisor::Event& e) {
        if (!sink->write(format(e), e.id)) events->unsubscribe(*token);
      });
      keep_alive(
          sched, sink, [sink] { sink->write(": keep-alive\n\n"); },
          [events, token] { events->unsubscribe(*token); });
    };
    return r;
  });
}

}  // namespace paddock::api
