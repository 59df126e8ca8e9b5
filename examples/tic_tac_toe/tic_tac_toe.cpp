#include "tic_tac_toe/tic_tac_toe.hpp"

#include <caf/actor_system.hpp>

#include <algorithm>
#include <cctype>

namespace parley::examples {

using namespace actors;

const std::string move_usage = "usage: /move N with N from 1 to 9 (1 2 3 / 4 5 6 / 7 8 9)";

namespace {

std::string_view trim(std::string_view x) {
  while (!x.empty() && std::isspace(static_cast<unsigned char>(x.front())))
    x.remove_prefix(1);
  while (!x.empty() && std::isspace(static_cast<unsigned char>(x.back())))
    x.remove_suffix(1);
  return x;
}

/// If `text` is the command `cmd`, alone or followed by blanks and an
/// argument, the argument; nothing otherwise ("/moved" is not "/move").
std::optional<std::string_view> command_arg(std::string_view text, std::string_view cmd) {
  text = trim(text);
  if (text.substr(0, cmd.size()) != cmd)
    return std::nullopt;
  auto rest = text.substr(cmd.size());
  if (!rest.empty() && !std::isspace(static_cast<unsigned char>(rest.front())))
    return std::nullopt;
  return trim(rest);
}

say announce(std::string text, std::string body = {}) {
  return say{std::string{tic_tac_toe_sender}, std::move(text), std::move(body)};
}

// Rows, columns and diagonals, as squares 1..9.
constexpr std::array<std::array<int, 3>, 8> lines{{
  {1, 2, 3}, {4, 5, 6}, {7, 8, 9}, // rows
  {1, 4, 7}, {2, 5, 8}, {3, 6, 9}, // columns
  {1, 5, 9}, {3, 5, 7},            // diagonals
}};

} // namespace

// -- pure logic ---------------------------------------------------------------------

char to_char(mark m) {
  switch (m) {
    case mark::x:
      return 'X';
    case mark::o:
      return 'O';
    default:
      return '.';
  }
}

mark opponent(mark m) {
  return m == mark::x ? mark::o : mark::x;
}

std::optional<board> board::from_compact(std::string_view cells) {
  if (cells.size() != size)
    return std::nullopt;
  board result;
  for (int i = 0; i < size; ++i) {
    switch (cells[i]) {
      case 'X':
        result.cells_[i] = mark::x;
        break;
      case 'O':
        result.cells_[i] = mark::o;
        break;
      case '.':
        break;
      default:
        return std::nullopt;
    }
  }
  return result;
}

mark board::at(int n) const {
  return n >= 1 && n <= size ? cells_[n - 1] : mark::none;
}

bool board::free(int n) const {
  return n >= 1 && n <= size && cells_[n - 1] == mark::none;
}

bool board::place(int n, mark m) {
  if (!free(n) || m == mark::none)
    return false;
  cells_[n - 1] = m;
  return true;
}

mark board::winner() const {
  for (auto& [a, b, c] : lines)
    if (at(a) != mark::none && at(a) == at(b) && at(b) == at(c))
      return at(a);
  return mark::none;
}

bool board::full() const {
  return std::none_of(cells_.begin(), cells_.end(), [](mark m) { return m == mark::none; });
}

std::string board::compact() const {
  std::string result;
  for (auto m : cells_)
    result += to_char(m);
  return result;
}

std::string board::render() const {
  std::string result;
  for (int row = 0; row < 3; ++row) {
    if (row > 0)
      result += "---+---+---\n";
    for (int col = 0; col < 3; ++col) {
      int n = row * 3 + col + 1;
      result += ' ';
      result += at(n) == mark::none ? static_cast<char>('0' + n) : to_char(at(n));
      result += col < 2 ? " |" : "\n";
    }
  }
  result.pop_back(); // no trailing newline
  return result;
}

std::optional<int> parse_square(std::string_view arg) {
  arg = trim(arg);
  if (arg.size() != 1 || arg[0] < '1' || arg[0] > '9')
    return std::nullopt;
  return arg[0] - '0';
}

// -- the game ------------------------------------------------------------------------

join_verdict tic_tac_toe_state::on_join(const join_event& ev) {
  if (connections_[ev.user]++ > 0)
    return join_verdict::accepted(); // another connection of someone present
  room_effects fx;
  for (auto m : {mark::x, mark::o}) {
    if (seat(m).empty()) {
      seat(m) = ev.user;
      new_game();
      fx.messages.push_back(announce(ev.user + " plays " + to_char(m) + "\n" + board_text(),
                                     board_.compact()));
      return join_verdict::accepted(std::move(fx));
    }
  }
  // Both seats taken: a spectator, welcome to watch (and chat).
  spectators_.push_back(ev.user);
  fx.messages.push_back(announce(ev.user + " is watching\n" + board_text(), board_.compact()));
  return join_verdict::accepted(std::move(fx));
}

publish_verdict tic_tac_toe_state::on_publish(const publish_event& ev) {
  if (auto arg = command_arg(ev.text, "/move"))
    return move(ev.user, *arg);
  if (command_arg(ev.text, "/reset"))
    return reset(ev.user);
  if (command_arg(ev.text, "/board"))
    return publish_verdict::answered({{announce(board_text(), board_.compact())}});
  return publish_verdict::passed(); // chat
}

room_effects tic_tac_toe_state::on_leave(const leave_event& ev) {
  auto i = connections_.find(ev.user);
  if (i == connections_.end() || --i->second > 0)
    return {}; // unknown, or still here on another connection
  connections_.erase(i);
  auto m = seat_of(ev.user);
  if (m == mark::none) {
    spectators_.erase(std::remove(spectators_.begin(), spectators_.end(), ev.user),
                      spectators_.end());
    return {};
  }
  // A game cannot go on without its player: start over, with the spectator
  // who has waited longest in the free seat.
  auto text = who(m) + " left; the game starts over";
  seat(m).clear();
  if (!spectators_.empty()) {
    seat(m) = spectators_.front();
    spectators_.erase(spectators_.begin());
    text += ", " + seat(m) + " takes " + to_char(m);
  }
  new_game();
  return {{announce(text + "\n" + board_text(), board_.compact())}};
}

room_effects tic_tac_toe_state::on_tick(const tick_event&) {
  if (cfg_.turn_ticks == 0 || over_ || !seated())
    return {};
  if (++waited_ < cfg_.turn_ticks)
    return {};
  over_ = true;
  auto text = who(turn_) + " ran out of time; " + who(opponent(turn_)) + " wins";
  return {{announce(text + "\n" + board_text(), board_.compact())}};
}

publish_verdict tic_tac_toe_state::move(const std::string& user, std::string_view arg) {
  auto m = seat_of(user);
  if (m == mark::none)
    return publish_verdict::rejected("spectators cannot move; the players are " + who(mark::x)
                                     + " and " + who(mark::o));
  if (!seated())
    return publish_verdict::rejected("waiting for an opponent");
  if (over_)
    return publish_verdict::rejected("the game is over; /reset for a new one");
  if (m != turn_)
    return publish_verdict::rejected("not your turn: " + who(turn_) + " to move");
  auto n = parse_square(arg);
  if (!n)
    return publish_verdict::rejected(move_usage);
  if (!board_.place(*n, m))
    return publish_verdict::rejected("square " + std::to_string(*n) + " is taken");
  waited_ = 0;
  room_effects fx;
  if (board_.winner() == m) {
    over_ = true;
    fx.messages.push_back(announce(who(m) + " wins!"));
  } else if (board_.full()) {
    over_ = true;
    fx.messages.push_back(announce("draw!"));
  } else {
    turn_ = opponent(m);
  }
  // Everyone sees the move as the player's own message, with the board.
  auto v = publish_verdict::transformed(std::string{to_char(m)} + " on " + std::to_string(*n)
                                          + "\n" + board_text(),
                                        board_.compact());
  v.effects = std::move(fx);
  return v;
}

publish_verdict tic_tac_toe_state::reset(const std::string& user) {
  if (seat_of(user) == mark::none)
    return publish_verdict::rejected("only the players can reset the game");
  new_game();
  return publish_verdict::answered(
    {{announce(user + " reset the game\n" + board_text(), board_.compact())}});
}

mark tic_tac_toe_state::seat_of(const std::string& user) const {
  if (user == players_[0])
    return mark::x;
  if (user == players_[1])
    return mark::o;
  return mark::none;
}

void tic_tac_toe_state::new_game() {
  board_ = board{};
  turn_ = mark::x;
  over_ = false;
  waited_ = 0;
}

std::string tic_tac_toe_state::who(mark m) const {
  auto& p = player(m);
  return std::string{to_char(m)} + " (" + (p.empty() ? "free" : p) + ")";
}

std::string tic_tac_toe_state::status() const {
  for (auto m : {mark::x, mark::o})
    if (player(m).empty())
      return std::string{"waiting for a player to take "} + to_char(m);
  if (!over_)
    return who(turn_) + " to move";
  if (auto w = board_.winner(); w != mark::none)
    return who(w) + " won; /reset for a new game";
  if (board_.full())
    return "draw; /reset for a new game";
  return "game over; /reset for a new game"; // lost on time
}

std::string tic_tac_toe_state::board_text() const {
  return board_.render() + "\n" + status();
}

// -- the behaviour -------------------------------------------------------------------

room_behavior_actor::behavior_type
tic_tac_toe_impl(room_behavior_actor::stateful_pointer<tic_tac_toe_state> self,
                 tic_tac_toe_config cfg) {
  self->state.init(cfg);
  return {
    [self](on_join_atom, const join_event& ev) { return self->state.on_join(ev); },
    [self](on_publish_atom, const publish_event& ev) { return self->state.on_publish(ev); },
    [self](on_leave_atom, const leave_event& ev) { return self->state.on_leave(ev); },
    [self](on_tick_atom, const tick_event& ev) { return self->state.on_tick(ev); },
  };
}

room_behavior_rule tic_tac_toe_rule(std::string prefix, caf::timespan tick, uint32_t turn_ticks) {
  room_behavior_rule rule;
  rule.prefix = std::move(prefix);
  rule.factory = [turn_ticks](caf::actor_system& sys, const std::string&) -> room_behavior_actor {
    return sys.spawn(tic_tac_toe_impl, tic_tac_toe_config{turn_ticks});
  };
  rule.tick = tick;
  return rule;
}

} // namespace parley::examples
