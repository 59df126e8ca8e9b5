#include "parley/gateway/origin.hpp"

#include <algorithm>
#include <cctype>

namespace parley::gateway {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct parts {
  std::string scheme;
  std::string host;
  std::string port; ///< empty when it is the scheme's default
};

bool host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '['
         || c == ']' || c == ':';
}

/// Splits "host[:port]" (an IPv6 host in brackets), dropping the default
/// port of `scheme`. False if it is not one.
bool split_authority(std::string_view auth, const std::string& scheme, parts& out) {
  if (auth.empty())
    return false;
  std::string_view host = auth;
  std::string_view port;
  auto colon = auth.rfind(':');
  if (colon != std::string_view::npos && auth.find(']', colon) == std::string_view::npos) {
    host = auth.substr(0, colon);
    port = auth.substr(colon + 1);
    if (port.empty() || port.size() > 5
        || !std::all_of(port.begin(), port.end(),
                        [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return false;
  }
  if (host.empty() || !std::all_of(host.begin(), host.end(), host_char))
    return false;
  out.host = lower(host);
  out.port = std::string{port};
  if ((scheme == "http" && out.port == "80") || (scheme == "https" && out.port == "443"))
    out.port.clear();
  return true;
}

/// "scheme://host[:port]" with nothing after; http and https only. By hand
/// rather than with Boost.URL (which the gateway links): an origin is a
/// strict subset of a URL, and a URL parser accepts userinfo, paths,
/// escapes and sub-delimiters in hosts that would each need refusing here
/// anyway.
std::optional<parts> parse_origin(std::string_view text) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    return std::nullopt;
  parts p;
  p.scheme = lower(text.substr(0, sep));
  if (p.scheme != "http" && p.scheme != "https")
    return std::nullopt;
  if (!split_authority(text.substr(sep + 3), p.scheme, p))
    return std::nullopt;
  return p;
}

} // namespace

std::optional<std::string> origin_policy::check(std::string_view entry) {
  if (entry == "*")
    return std::nullopt;
  std::string text{entry};
  if (auto star = text.find("://*."); star != std::string::npos)
    text.erase(star + 3, 2);
  if (!parse_origin(text))
    return "an allowed origin is scheme://host[:port] (https://chat.example.com), with *. "
           "before the host for its subdomains (https://*.example.com), or * for any";
  return std::nullopt;
}

origin_policy::origin_policy(const std::vector<std::string>& allowed) {
  for (auto& a : allowed) {
    if (a == "*") {
      any_ = true;
      continue;
    }
    std::string text = a;
    bool sub = false;
    if (auto star = text.find("://*."); star != std::string::npos) {
      text.erase(star + 3, 2);
      sub = true;
    }
    if (auto p = parse_origin(text))
      entries_.push_back({p->scheme, p->host, p->port, sub});
  }
}

bool origin_policy::allows(std::string_view origin, std::string_view host) const {
  if (origin.empty() || any_)
    return true;
  auto o = parse_origin(origin);
  if (!o)
    return false; // "null", or not an origin at all
  if (entries_.empty()) {
    // The gateway's own: the page was served by this host and port.
    parts h;
    return split_authority(host, o->scheme, h) && h.host == o->host && h.port == o->port;
  }
  for (auto& e : entries_) {
    if (e.scheme != o->scheme || e.port != o->port)
      continue;
    if (!e.subdomains && o->host == e.host)
      return true;
    if (e.subdomains && o->host.size() > e.host.size() + 1
        && o->host.compare(o->host.size() - e.host.size(), e.host.size(), e.host) == 0
        && o->host[o->host.size() - e.host.size() - 1] == '.')
      return true;
  }
  return false;
}

} // namespace parley::gateway
