#include "parley/actors/auth.hpp"

#include "parley/actors/names.hpp"

namespace parley::actors {

std::optional<auth_mode> parse_auth_mode(std::string_view text) {
  if (text == "none")
    return auth_mode::none;
  if (text == "guests")
    return auth_mode::guests;
  if (text == "required")
    return auth_mode::required;
  return std::nullopt;
}

uint8_t room_access::rights(std::string_view room) const {
  uint8_t result = 0;
  for (auto& g : grants_) {
    std::string_view p = g.pattern;
    bool match = !p.empty() && p.back() == '*'
                   ? room.substr(0, p.size() - 1) == p.substr(0, p.size() - 1)
                   : room == p;
    if (match)
      result |= g.rights;
  }
  return result;
}

std::optional<uint8_t> parse_rights(std::string_view text) {
  uint8_t bits = 0;
  while (!text.empty()) {
    auto comma = text.find_first_of(",+");
    auto word = text.substr(0, comma);
    if (word == "join")
      bits |= right_join;
    else if (word == "publish")
      bits |= right_publish;
    else if (word == "history")
      bits |= right_history;
    else if (word == "presence")
      bits |= right_presence;
    else if (word == "all")
      bits |= all_rights;
    else
      return std::nullopt;
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  if (bits == 0)
    return std::nullopt;
  return bits;
}

std::optional<std::string> check_grant(std::string_view text) {
  auto eq = text.find('=');
  auto pattern = text.substr(0, eq);
  auto body = pattern;
  if (!body.empty() && body.back() == '*')
    body.remove_suffix(1);
  // A name or a prefix is what a room name may be (in any script), so that
  // a grant can name every room a client can join.
  bool ok = !pattern.empty() && pattern.size() <= 128
            && (body.empty() || room_name_problem(body, 128).empty());
  if (!ok)
    return "a room grant is NAME, PREFIX* or *, then optionally =RIGHTS (join, publish, "
           "history, presence or all, joined with +): lobby, team-*=join+history";
  if (eq != std::string_view::npos && !parse_rights(text.substr(eq + 1)))
    return "rights are join, publish, history, presence or all, joined with +";
  return std::nullopt;
}

room_grant parse_grant(std::string_view text) {
  auto eq = text.find('=');
  room_grant g{std::string{text.substr(0, eq)}, all_rights};
  if (eq != std::string_view::npos)
    g.rights = parse_rights(text.substr(eq + 1)).value_or(0);
  return g;
}

} // namespace parley::actors
