#pragma once

/// @file
/// Tic-tac-toe as a custom room behaviour: a turn-based game played with
/// room messages, so spectators see every move.
///
/// Seats: the first user to join plays X, the next one O; everyone after
/// them watches (they are accepted and may chat). A user with several
/// connections counts once.
///
/// Commands (anything else is chat and passes unchanged):
///
/// | the member sends | the room publishes                                      |
/// |------------------|---------------------------------------------------------|
/// | `/move 5`        | valid: the move, transformed into "X on 5" + the board  |
/// |                  | + whose turn it is; on a win or draw also an announcement |
/// |                  | from "#tic-tac-toe". Invalid: nothing; the sender gets   |
/// |                  | ERROR_CODE_REFUSED with the reason (spectator, waiting   |
/// |                  | for an opponent, game over, not your turn, bad or taken  |
/// |                  | square; checked in that order)                           |
/// | `/reset`         | a player: only "ann reset the game" + the empty board;   |
/// |                  | a spectator: refused                                     |
/// | `/board`         | only the board and whose turn it is                      |
///
/// A player who leaves (their last connection) forfeits the seat: the game is
/// announced as abandoned and starts over, with the longest-waiting spectator
/// in the free seat if there is one, else the seat waits for the next joiner.
/// With a tick (the rule's `tick`) and `turn_ticks`, a player who lets
/// `turn_ticks` ticks pass without moving loses on time.
///
/// ```
///              second player seated             win / draw / out of time
///   waiting ───────────────────────▶ playing ──────────────────────────▶ over
///      ▲                              │  ▲                                 │
///      └──── a player leaves ─────────┘  └────────────── /reset ───────────┘
/// ```

#include "parley/actors/room_behavior.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::examples {

/// The name the game's own announcements carry as sender.
constexpr std::string_view tic_tac_toe_sender = "#tic-tac-toe";

/// The reason sent with a `/move` whose square is not 1..9.
extern const std::string move_usage;

// -- pure logic ---------------------------------------------------------------------

enum class mark : uint8_t { none, x, o };

/// 'X', 'O', or '.' for none.
char to_char(mark m);

/// X for O and O for X.
mark opponent(mark m);

/// A 3x3 board; squares are numbered 1 to 9, row by row from the top left.
class board {
public:
  static constexpr int size = 9;

  /// Nine characters 'X', 'O' or '.', row by row; nothing if malformed.
  static std::optional<board> from_compact(std::string_view cells);

  /// The mark on square `n`; none also for a square outside 1..9.
  mark at(int n) const;

  /// True if `n` is in 1..9 and nobody played it.
  bool free(int n) const;

  /// Puts `m` on square `n`; false (and no change) unless `free(n)`.
  bool place(int n, mark m);

  /// The mark with three in a row, column or diagonal; none if nobody has.
  mark winner() const;

  /// True when no square is free.
  bool full() const;

  /// Nine characters 'X', 'O' or '.', row by row (sent as the message body
  /// so that clients can draw their own board).
  std::string compact() const;

  /// The board in ASCII, free squares showing their number:
  /// ```
  ///  X | 2 | 3
  /// ---+---+---
  ///  4 | O | 6
  /// ---+---+---
  ///  7 | 8 | 9
  /// ```
  std::string render() const;

private:
  std::array<mark, size> cells_{};
};

/// The square of `/move N`'s argument: one digit 1..9; nothing otherwise.
std::optional<int> parse_square(std::string_view arg);

// -- the behaviour -------------------------------------------------------------------

struct tic_tac_toe_config {
  /// Ticks the player to move may let pass before losing on time (0: no
  /// limit). The tick's length is the rule's `tick`; with a zero tick the
  /// game never gets one and there is no limit either.
  uint32_t turn_ticks = 0;
};

/// One game per room: the board, the two seats and the spectators. Runs
/// inside its actor; tests may also call the member functions directly.
class tic_tac_toe_state {
public:
  static inline const char* name = "parley.tic_tac_toe";

  void init(tic_tac_toe_config cfg) {
    cfg_ = cfg;
  }

  // -- the room's questions ----------------------------------------------------

  actors::join_verdict on_join(const actors::join_event& ev);
  actors::publish_verdict on_publish(const actors::publish_event& ev);
  actors::room_effects on_leave(const actors::leave_event& ev);
  actors::room_effects on_tick(const actors::tick_event& ev);

  // -- observers -----------------------------------------------------------------

  const board& current_board() const {
    return board_;
  }

  /// Who sits at `m` (X or O); empty while the seat is free.
  const std::string& player(mark m) const {
    return players_[m == mark::o ? 1 : 0];
  }

  /// Whose turn it is.
  mark to_move() const {
    return turn_;
  }

  /// True after a win, a draw or a loss on time, until `/reset`.
  bool over() const {
    return over_;
  }

  /// Spectators in the order they joined, each once.
  const std::vector<std::string>& spectators() const {
    return spectators_;
  }

private:
  actors::publish_verdict move(const std::string& user, std::string_view arg);
  actors::publish_verdict reset(const std::string& user);
  /// The seat `user` holds; none for a spectator.
  mark seat_of(const std::string& user) const;
  std::string& seat(mark m) {
    return players_[m == mark::o ? 1 : 0];
  }
  bool seated() const {
    return !players_[0].empty() && !players_[1].empty();
  }
  void new_game();
  /// "X (ann)".
  std::string who(mark m) const;
  /// Whose turn, who won, or which seat is free.
  std::string status() const;
  /// The board and the status, as one message.
  std::string board_text() const;

  tic_tac_toe_config cfg_;
  board board_;
  /// X, then O; empty when free.
  std::array<std::string, 2> players_;
  std::vector<std::string> spectators_;
  /// Connections per user: a user leaves when the last one does.
  std::map<std::string, uint32_t> connections_;
  mark turn_ = mark::x;
  bool over_ = false;
  /// Ticks since the last move (or the start of the game).
  uint32_t waited_ = 0;
};

/// The game as a room behaviour.
actors::room_behavior_actor::behavior_type
tic_tac_toe_impl(actors::room_behavior_actor::stateful_pointer<tic_tac_toe_state> self,
                 tic_tac_toe_config cfg);

/// A rule giving every room whose name starts with `prefix` a game. With a
/// non-zero `tick` and `turn_ticks`, a player has `tick * turn_ticks` for a
/// move.
actors::room_behavior_rule tic_tac_toe_rule(std::string prefix, caf::timespan tick = {},
                                            uint32_t turn_ticks = 0);

} // namespace parley::examples
