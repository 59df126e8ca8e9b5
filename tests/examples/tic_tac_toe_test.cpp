#include "tic_tac_toe/tic_tac_toe.hpp"

#include "support/behavior_room.hpp"

#include <initializer_list>

using namespace parley::actors;
using namespace parley::examples;
using parley::test::behavior_member;
using parley::test::behavior_room_test;
using namespace std::chrono_literals;

namespace {

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

board make_board(std::string_view cells) {
  auto b = board::from_compact(cells);
  EXPECT_TRUE(b) << cells;
  return b ? *b : board{};
}

class TicTacToeTest : public behavior_room_test {
protected:
  void SetUp() override {
    start(tic_tac_toe_rule("ttt:"), "ttt:1");
  }

  /// Plays `squares` alternately, `x` first (or whoever is to move first
  /// when `o_first`), expecting every move to be accepted.
  void play(const behavior_member& x, const behavior_member& o, std::initializer_list<int> squares,
            bool o_first = false) {
    bool x_turn = !o_first;
    for (int n : squares) {
      auto res = publish(x_turn ? x : o, "/move " + std::to_string(n));
      ASSERT_TRUE(res) << "move " << n << ": " << render(res.error());
      x_turn = !x_turn;
    }
  }

  /// The reason `m`'s publish of `text` was refused; empty if it was not.
  std::string refused(const behavior_member& m, std::string text) {
    auto res = publish(m, std::move(text));
    return res ? std::string{} : refusal(res.error());
  }

  /// The first line of the last message the room published, with its sender.
  std::pair<std::string, std::string> last_published() {
    auto all = published();
    if (all.empty())
      return {};
    return {all.back().sender, first_line(all.back().text)};
  }
};

using line = std::pair<std::string, std::string>;
const std::string game{tic_tac_toe_sender};

} // namespace

// -- pure logic ---------------------------------------------------------------------

TEST(TicTacToeBoardTest, EmptyBoardHasNoWinnerAndIsNotFull) {
  board b;
  EXPECT_EQ(b.winner(), mark::none);
  EXPECT_FALSE(b.full());
  EXPECT_EQ(b.compact(), ".........");
  for (int n = 1; n <= 9; ++n)
    EXPECT_TRUE(b.free(n)) << n;
}

TEST(TicTacToeBoardTest, EveryRowColumnAndDiagonalWins) {
  const int lines[8][3] = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {1, 4, 7},
                           {2, 5, 8}, {3, 6, 9}, {1, 5, 9}, {3, 5, 7}};
  for (auto m : {mark::x, mark::o}) {
    for (auto& l : lines) {
      board b;
      for (int n : l)
        ASSERT_TRUE(b.place(n, m));
      EXPECT_EQ(b.winner(), m) << to_char(m) << " on " << l[0] << l[1] << l[2];
      // Two of the three are not enough.
      board two;
      two.place(l[0], m);
      two.place(l[1], m);
      two.place(l[2], opponent(m));
      EXPECT_EQ(two.winner(), mark::none) << l[0] << l[1] << l[2];
    }
  }
}

TEST(TicTacToeBoardTest, FullBoardWithoutALineIsADraw) {
  auto b = make_board("XOXXOOOXX");
  EXPECT_TRUE(b.full());
  EXPECT_EQ(b.winner(), mark::none);
  auto almost = make_board("XOXXOOOX.");
  EXPECT_FALSE(almost.full());
  // The last square can win and fill the board at once: a win, not a draw.
  auto won = make_board("XOXOXOOXX");
  EXPECT_TRUE(won.full());
  EXPECT_EQ(won.winner(), mark::x);
}

TEST(TicTacToeBoardTest, PlaceRefusesTakenAndOutOfRangeSquares) {
  board b;
  EXPECT_TRUE(b.place(5, mark::x));
  EXPECT_FALSE(b.place(5, mark::o));
  EXPECT_EQ(b.at(5), mark::x);
  EXPECT_FALSE(b.place(0, mark::o));
  EXPECT_FALSE(b.place(10, mark::o));
  EXPECT_FALSE(b.place(1, mark::none));
  EXPECT_EQ(b.compact(), "....X....");
}

TEST(TicTacToeBoardTest, RenderNumbersTheFreeSquares) {
  EXPECT_EQ(make_board("X...O...X").render(), " X | 2 | 3\n"
                                               "---+---+---\n"
                                               " 4 | O | 6\n"
                                               "---+---+---\n"
                                               " 7 | 8 | X");
}

TEST(TicTacToeBoardTest, FromCompactRefusesMalformedBoards) {
  EXPECT_FALSE(board::from_compact(""));
  EXPECT_FALSE(board::from_compact("........"));
  EXPECT_FALSE(board::from_compact(".........."));
  EXPECT_FALSE(board::from_compact("....x...."));
  EXPECT_EQ(make_board("XO.......").at(2), mark::o);
}

TEST(TicTacToeBoardTest, ParseSquareAcceptsOneDigitFromOneToNine) {
  EXPECT_EQ(parse_square("1"), 1);
  EXPECT_EQ(parse_square(" 9 "), 9);
  for (auto bad : {"", "0", "10", "x", "5 6", "-1", "05"})
    EXPECT_FALSE(parse_square(bad)) << '"' << bad << '"';
}

// -- through a room -----------------------------------------------------------------

TEST_F(TicTacToeTest, FirstTwoJoinersPlayAndTheRestWatch) {
  auto& ann = join_new("ann");
  EXPECT_EQ(last_published(), (line{game, "ann plays X"}));
  join_new("bob");
  EXPECT_EQ(last_published(), (line{game, "bob plays O"}));
  auto& carol = join_new("carol");
  EXPECT_EQ(last_published(), (line{game, "carol is watching"}));
  // The spectator was accepted and receives the game's messages.
  ASSERT_TRUE(publish(ann, "/move 5"));
  auto seen = carol.messages();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().sender(), "ann");
  EXPECT_EQ(first_line(seen.back().text()), "X on 5");
}

TEST_F(TicTacToeTest, ValidMoveIsPublishedAsThePlayersMessageWithTheBoard) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  auto seq = publish(ann, "/move 5");
  ASSERT_TRUE(seq);
  auto msgs = bob.messages();
  ASSERT_FALSE(msgs.empty());
  auto& mv = msgs.back();
  EXPECT_EQ(mv.seq(), *seq);
  EXPECT_EQ(mv.sender(), "ann");
  EXPECT_EQ(mv.text(), "X on 5\n" + make_board("....X....").render() + "\nO (bob) to move");
  EXPECT_EQ(mv.body(), "....X....");
}

TEST_F(TicTacToeTest, MovesFollowTurns) {
  auto& ann = join_new("ann");
  EXPECT_EQ(refused(ann, "/move 5"), "waiting for an opponent");
  auto& bob = join_new("bob");
  EXPECT_EQ(refused(bob, "/move 5"), "not your turn: X (ann) to move");
  ASSERT_TRUE(publish(ann, "/move 5"));
  EXPECT_EQ(refused(ann, "/move 1"), "not your turn: O (bob) to move");
  ASSERT_TRUE(publish(bob, "/move 1"));
  EXPECT_EQ(refused(bob, "/move 2"), "not your turn: X (ann) to move");
  auto all = published();
  ASSERT_GE(all.size(), 2u);
  EXPECT_EQ(all.back().body, "O...X....") << "refused moves change nothing";
}

TEST_F(TicTacToeTest, SpectatorCannotMoveButMayChat) {
  auto& ann = join_new("ann");
  join_new("bob");
  auto& carol = join_new("carol");
  auto before = published().size();
  EXPECT_EQ(refused(carol, "/move 1"),
            "spectators cannot move; the players are X (ann) and O (bob)");
  EXPECT_EQ(published().size(), before);
  ASSERT_TRUE(publish(carol, "go ann"));
  EXPECT_EQ(last_published(), (line{"carol", "go ann"}));
  ASSERT_TRUE(publish(ann, "/move 1")) << "the spectator's attempt did not use X's turn";
}

TEST_F(TicTacToeTest, OccupiedAndInvalidSquaresAreRefused) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  ASSERT_TRUE(publish(ann, "/move 5"));
  EXPECT_EQ(refused(bob, "/move 5"), "square 5 is taken");
  for (auto bad : {"/move", "/move 0", "/move 10", "/move x", "/move 1 2"})
    EXPECT_EQ(refused(bob, bad), move_usage) << bad;
  ASSERT_TRUE(publish(bob, "/move 1")) << "still O's turn after the refusals";
}

TEST_F(TicTacToeTest, WinOnARowIsAnnouncedAndEndsTheGame) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  play(ann, bob, {1, 4, 2, 5, 3});
  EXPECT_EQ(last_published(), (line{game, "X (ann) wins!"}));
  EXPECT_EQ(refused(bob, "/move 6"), "the game is over; /reset for a new one");
}

TEST_F(TicTacToeTest, WinOnAColumnAndOnBothDiagonals) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  play(ann, bob, {2, 1, 5, 3, 8}); // X: column 2-5-8
  EXPECT_EQ(last_published(), (line{game, "X (ann) wins!"}));
  ASSERT_TRUE(publish(ann, "/reset"));
  play(ann, bob, {2, 1, 3, 5, 4, 9}); // O: diagonal 1-5-9
  EXPECT_EQ(last_published(), (line{game, "O (bob) wins!"}));
  ASSERT_TRUE(publish(bob, "/reset"));
  play(ann, bob, {3, 1, 5, 2, 7}); // X: diagonal 3-5-7
  EXPECT_EQ(last_published(), (line{game, "X (ann) wins!"}));
}

TEST_F(TicTacToeTest, FullBoardWithoutALineIsADraw) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  play(ann, bob, {1, 2, 3, 5, 4, 6, 8, 7, 9});
  auto all = published();
  ASSERT_GE(all.size(), 2u);
  EXPECT_EQ(all.back().sender, game);
  EXPECT_EQ(all.back().text, "draw!");
  EXPECT_EQ(all[all.size() - 2].body, "XOXXOOOXX");
  EXPECT_EQ(refused(bob, "/move 1"), "the game is over; /reset for a new one");
}

TEST_F(TicTacToeTest, ResetStartsOverAndOnlyPlayersMayReset) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  auto& carol = join_new("carol");
  play(ann, bob, {5, 1});
  EXPECT_EQ(refused(carol, "/reset"), "only the players can reset the game");
  auto seq = publish(bob, "/reset");
  ASSERT_TRUE(seq);
  auto all = published();
  EXPECT_EQ(all.back().seq, *seq);
  EXPECT_EQ(all.back().sender, game) << "the command itself is not published";
  EXPECT_EQ(all.back().text, "bob reset the game\n" + board{}.render() + "\nX (ann) to move");
  EXPECT_EQ(refused(bob, "/move 5"), "not your turn: X (ann) to move") << "X starts again";
  ASSERT_TRUE(publish(ann, "/move 5")) << "5 is free again";
}

TEST_F(TicTacToeTest, BoardCommandShowsTheBoardOnly) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  play(ann, bob, {5});
  auto before = published().size();
  ASSERT_TRUE(publish(bob, "/board"));
  auto all = published();
  ASSERT_EQ(all.size(), before + 1);
  EXPECT_EQ(all.back().sender, game);
  EXPECT_EQ(all.back().text, make_board("....X....").render() + "\nO (bob) to move");
}

TEST_F(TicTacToeTest, PlainTextPassesUnchanged) {
  auto& ann = join_new("ann");
  join_new("bob");
  ASSERT_TRUE(publish(ann, "good luck"));
  EXPECT_EQ(last_published(), (line{"ann", "good luck"}));
  ASSERT_TRUE(publish(ann, "/moves are fun"));
  EXPECT_EQ(last_published(), (line{"ann", "/moves are fun"}));
}

TEST_F(TicTacToeTest, PlayerLeavingStartsOverWithTheLongestWaitingSpectator) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  auto& carol = join_new("carol");
  join_new("dave");
  play(ann, bob, {5, 1, 9});
  ASSERT_TRUE(leave(bob));
  EXPECT_EQ(last_published(), (line{game, "O (bob) left; the game starts over, carol takes O"}));
  auto all = published();
  EXPECT_EQ(all.back().body, ".........");
  ASSERT_TRUE(publish(ann, "/move 1")) << "a new game: X to move on an empty board";
  ASSERT_TRUE(publish(carol, "/move 2")) << "carol plays O";
  // bob comes back: both seats are taken, so he watches.
  auto& bob_again = join_new("bob");
  EXPECT_EQ(last_published(), (line{game, "bob is watching"}));
  EXPECT_EQ(refused(bob_again, "/move 3"),
            "spectators cannot move; the players are X (ann) and O (carol)");
}

TEST_F(TicTacToeTest, PlayerLeavingWithoutSpectatorsWaitsForTheNextJoiner) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  play(ann, bob, {5});
  ASSERT_TRUE(leave(ann));
  auto all = published();
  EXPECT_EQ(all.back().text, "X (ann) left; the game starts over\n" + board{}.render()
                               + "\nwaiting for a player to take X");
  EXPECT_EQ(refused(bob, "/move 1"), "waiting for an opponent");
  auto& dave = join_new("dave");
  EXPECT_EQ(last_published(), (line{game, "dave plays X"}));
  ASSERT_TRUE(publish(dave, "/move 1"));
  ASSERT_TRUE(publish(bob, "/move 5"));
}

TEST_F(TicTacToeTest, AMemberDyingCountsAsLeaving) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  play(ann, bob, {5});
  self->send_exit(bob.handle, caf::exit_reason::kill);
  run();
  EXPECT_EQ(last_published(), (line{game, "O (bob) left; the game starts over"}));
}

TEST_F(TicTacToeTest, SecondConnectionOfAPlayerKeepsOneSeat) {
  auto& ann1 = join_new("ann");
  auto& ann2 = join_new("ann");
  auto& bob = join_new("bob");
  EXPECT_EQ(last_published(), (line{game, "bob plays O"})) << "ann's second tab is not O";
  ASSERT_TRUE(publish(ann2, "/move 5"));
  ASSERT_TRUE(publish(bob, "/move 1"));
  auto before = published().size();
  ASSERT_TRUE(leave(ann2));
  EXPECT_EQ(published().size(), before) << "ann is still here on her first connection";
  ASSERT_TRUE(publish(ann1, "/move 9")) << "and keeps X and the game";
  ASSERT_TRUE(leave(ann1));
  EXPECT_EQ(last_published(), (line{game, "X (ann) left; the game starts over"}));
}

TEST_F(TicTacToeTest, SpectatorLeavingChangesNothing) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  auto& carol = join_new("carol");
  play(ann, bob, {5});
  auto before = published().size();
  ASSERT_TRUE(leave(carol));
  EXPECT_EQ(published().size(), before);
  ASSERT_TRUE(publish(bob, "/move 1"));
}

// -- on_tick: a turn timeout -------------------------------------------------------

class TicTacToeClockTest : public TicTacToeTest {
protected:
  void SetUp() override {
    // A tick each second; three ticks without a move lose the game.
    start(tic_tac_toe_rule("ttt:", 1s, 3), "ttt:blitz");
  }
};

TEST_F(TicTacToeClockTest, PlayerWhoDoesNotMoveInTimeLoses) {
  auto& ann = join_new("ann");
  auto& bob = join_new("bob");
  auto before = published().size();
  advance_time(1s);
  advance_time(1s);
  ASSERT_TRUE(publish(ann, "/move 5")) << "after two ticks, still in time";
  before = published().size();
  advance_time(1s);
  advance_time(1s);
  EXPECT_EQ(published().size(), before) << "the move restarted O's clock";
  advance_time(1s);
  auto all = published();
  ASSERT_EQ(all.size(), before + 1);
  EXPECT_EQ(first_line(all.back().text), "O (bob) ran out of time; X (ann) wins");
  EXPECT_EQ(refused(bob, "/move 1"), "the game is over; /reset for a new one");
  // A finished game does not time out again.
  advance_time(5s);
  EXPECT_EQ(published().size(), before + 1);
}

TEST_F(TicTacToeClockTest, NoClockRunsWhileWaitingForAnOpponent) {
  auto& ann = join_new("ann");
  advance_time(5s);
  EXPECT_EQ(last_published(), (line{game, "ann plays X"})) << "nobody to lose against";
  auto& bob = join_new("bob");
  EXPECT_EQ(last_published(), (line{game, "bob plays O"}));
  advance_time(2s);
  ASSERT_TRUE(publish(ann, "/move 5")) << "ann's clock started when bob sat down";
  ASSERT_TRUE(publish(bob, "/move 1"));
}
