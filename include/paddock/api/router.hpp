#pragma once
/// A pure router: (method, path pattern) -> handler. Patterns use {name} segments, e.g.
/// "/v1/workers/{id}". Unknown paths give 404, known paths with another method 405 + Allow.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "paddock/api/http.hpp"

namespace paddock::api {

using PathParams = std::map<std::string, std::string>;
using Handler = std::function<Response(const Request&, const PathParams&)>;

struct RouteInfo {
  std::string method;
  std::string pattern;
};

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);
  Response handle(const Request& request) const;
  /// Every registered (method, pattern), in registration order (the OpenAPI test compares these).
  std::vector<RouteInfo> routes() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool match(const Route& route, const std::vector<std::string>& segments,
                    PathParams& params);
  std::vector<Route> routes_;
};

}  // namespace paddock::api
