#include "paddock/api/router.hpp"

#include <algorithm>

namespace paddock::api {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler) {
  Route r{std::move(method), pattern, split_path(pattern), std::move(handler)};
  routes_.push_back(std::move(r));
}

bool Router::match(const Route& route, const std::vector<std::string>& segments,
                   PathParams& params) {
  if (route.segments.size() != segments.size()) return false;
  PathParams found;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& want = route.segments[i];
    if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
      if (segments[i].empty()) return false;
      found[want.substr(1, want.size() - 2)] = segments[i];
    } else if (want != segments[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

Response Router::handle(const Request& request) const {
  const auto segments = split_path(request.path);
  std::vector<std::string> allowed;
  for (const auto& route : routes_) {
    PathParams params;
    if (!match(route, segments, params)) continue;
    if (route.method == request.method ||
        (request.method == "HEAD" && route.method == "GET")) {
      return route.handler(request, params);
    }
    if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end()) {
      allowed.push_back(route.method);
    }
  }
  if (allowed.empty()) {
    return Response::error(404, "not_found", "no route for " + request.path);
  }
  std::string allow;
  for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
  auto r = Response::error(405, "method_not_allowed",
                           request.method + " is not allowed on " + request.path + "; use " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

std::vector<RouteInfo> Router::routes() const {
  std::vector<RouteInfo> out;
  for (const auto& r : routes_) out.push_back({r.method, r.pattern});
  return out;
}

}  // namespace paddock::api
