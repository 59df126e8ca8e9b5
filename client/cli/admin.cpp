// parley-cli admin: one HTTP request per command (Boost.URL reads the URL,
// Boost.JSON writes the bodies).
#include "cli/admin.hpp"

#include "cli/commands.hpp"
#include "parley/client/ws_client.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

namespace parley::cli {

namespace json = boost::json;

namespace {

struct endpoint {
  std::string host;
  uint16_t port = 80;
};

std::optional<endpoint> parse_url(const std::string& text, std::string& why) {
  auto u = boost::urls::parse_uri(text);
  if (!u || u->scheme() != "http" || u->encoded_host().empty()) {
    why = "--admin-url '" + text + "': expected http://HOST[:PORT] (the console speaks plain "
          "HTTP; reach a remote one through an SSH tunnel)";
    return std::nullopt;
  }
  if (!u->encoded_path().empty() && u->encoded_path() != "/") {
    why = "--admin-url '" + text + "': no path, just http://HOST[:PORT]";
    return std::nullopt;
  }
  endpoint ep;
  ep.host = std::string{u->host_address()};
  if (u->has_port()) {
    auto n = u->port_number();
    if (n == 0) {
      why = "--admin-url '" + text + "': the port is 1 to 65535";
      return std::nullopt;
    }
    ep.port = n;
  }
  return ep;
}

/// The secret of the first token in `path` (NAME:SECRET or SECRET lines).
std::optional<std::string> read_token(const std::string& path, std::string& why) {
  std::ifstream in{path};
  if (!in) {
    why = "--admin-token-file: cannot read '" + path + "'";
    return std::nullopt;
  }
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
      line.pop_back();
    if (line.empty() || line.front() == '#')
      continue;
    auto colon = line.find(':');
    return colon == std::string::npos ? line : line.substr(colon + 1);
  }
  why = "--admin-token-file: '" + path + "' holds no token";
  return std::nullopt;
}

std::string path_segment(const std::string& s) {
  boost::urls::url u;
  u.set_path_absolute(true);
  u.segments().push_back(s);
  return std::string{u.encoded_path()};
}

std::string joined(const std::vector<std::string>& words, size_t from) {
  std::string out;
  for (size_t i = from; i < words.size(); ++i) {
    if (!out.empty())
      out += ' ';
    out += words[i];
  }
  return out;
}

int usage(const std::string& why) {
  std::fprintf(stderr, "%s: error: %s (see --help)\n", program, why.c_str());
  return usage_error_status;
}

} // namespace

std::string check_admin_url(const std::string& url) {
  std::string why;
  return parse_url(url, why) ? std::string{} : why;
}

int run_admin(const admin_options& opt) {
  std::string why;
  auto ep = parse_url(opt.url, why);
  if (!ep)
    return usage(why);
  std::string token = opt.token;
  if (!opt.token_file.empty()) {
    auto t = read_token(opt.token_file, why);
    if (!t)
      return usage(why);
    token = *t;
  }
  if (token.empty())
    return usage("admin: an operator token is needed: PARLEY_ADMIN_TOKEN or --admin-token-file");
  std::string method = "GET";
  std::string target;
  std::string body;
  auto& a = opt.args;
  auto want = [&](size_t min, const char* what) {
    if (a.size() < min) {
      why = "admin " + opt.action + " needs " + what;
      return false;
    }
    return true;
  };
  const auto& act = opt.action;
  if (act == "status" || act == "connections" || act == "rooms" || act == "tree"
      || act == "cluster" || act == "metrics") {
    target = "/" + act;
  } else if (act == "kick") {
    if (!want(1, "a connection id (admin connections lists them)"))
      return usage(why);
    method = "POST";
    target = "/connections" + path_segment(a[0]) + "/close";
    if (a.size() > 1)
      body = json::serialize(json::object{{"reason", joined(a, 1)}});
  } else if (act == "close-room") {
    if (!want(1, "a room"))
      return usage(why);
    method = "POST";
    target = "/rooms" + path_segment(a[0]) + "/close";
  } else if (act == "notice") {
    if (!want(2, "a room and a text"))
      return usage(why);
    method = "POST";
    target = "/rooms" + path_segment(a[0]) + "/notice";
    body = json::serialize(json::object{{"text", joined(a, 1)}});
  } else if (act == "log-level") {
    if (!want(1, "a level (trace, debug, info, warn, error, off)"))
      return usage(why);
    method = "PUT";
    target = "/log-level";
    body = json::serialize(json::object{{"level", a[0]}});
  } else if (act == "drain") {
    method = "POST";
    target = "/drain";
  } else {
    return usage("unknown admin command '" + act
                 + "' (status, connections, rooms, tree, cluster, metrics, kick, close-room, "
                   "notice, log-level, drain)");
  }
  auto timeout = std::chrono::milliseconds{static_cast<int64_t>(opt.timeout_s * 1000)};
  auto reply = client::http_call(ep->host, ep->port, method, target, "Bearer " + token, body,
                                 timeout);
  if (reply.status == 0)
    return fail("admin " + act + ": " + reply.body);
  if (reply.status < 200 || reply.status >= 300) {
    // The console explains in {"error": "..."}.
    std::string reason = reply.body;
    json::error_code ec;
    auto v = json::parse(reply.body, ec);
    if (!ec && v.is_object())
      if (auto* e = v.as_object().if_contains("error"); e && e->is_string())
        reason = std::string{e->as_string()};
    while (!reason.empty() && reason.back() == '\n')
      reason.pop_back();
    return fail("admin " + act + ": HTTP " + std::to_string(reply.status) + ": " + reason);
  }
  std::cout << reply.body;
  if (!reply.body.empty() && reply.body.back() != '\n')
    std::cout << '\n';
  return 0;
}

} // namespace parley::cli
