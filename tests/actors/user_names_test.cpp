// Names people choose (actors/names.hpp): user names in any script, taken in
// NFC and counted in characters; what is refused and the words it is refused
// with; room names; and the key under which look-alikes meet.

#include "parley/actors/auth.hpp"
#include "parley/actors/names.hpp"

#include <gtest/gtest.h>

#include <string>

using parley::actors::check_user_name;
using parley::actors::look_alike;
using parley::actors::look_alike_keys;
using parley::actors::room_name_problem;

namespace {

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += s;
  return out;
}

} // namespace

TEST(UserNames, NamesInManyScriptsAreAccepted) {
  for (std::string good : {
         "ann", "José", "Zoë O'Brien", "Ελένη", "Дмитрий", "山田太郎", "やまだ たろう",
         "عمر", "שרה", "हिन्दी", "김민준", "Nguyễn Văn An", "ann-marie_2.0", "李 小龙"}) {
    auto checked = check_user_name(good);
    EXPECT_TRUE(checked.ok()) << good << ": " << checked.problem;
    EXPECT_EQ(checked.name, good);
  }
}

TEST(UserNames, ANameIsTakenInNormalFormC) {
  // "e" and U+0301 COMBINING ACUTE ACCENT become "é" (U+00E9).
  auto checked = check_user_name("Jose\u0301");
  ASSERT_TRUE(checked.ok()) << checked.problem;
  EXPECT_EQ(checked.name, "Jos\u00e9");
}

TEST(UserNames, LengthIsCountedInCharactersNotBytes) {
  // 32 "é" are 64 bytes and one name; 33 are too many.
  EXPECT_TRUE(check_user_name(repeat("é", 32)).ok());
  EXPECT_EQ(check_user_name(repeat("é", 33)).problem, "a name has at most 32 characters");
  EXPECT_TRUE(check_user_name(repeat("山", 32)).ok());
  EXPECT_FALSE(check_user_name(repeat("a", 33)).ok());
  // 32 decomposed "é" (64 code points) are 32 characters once composed.
  EXPECT_TRUE(check_user_name(repeat("e\u0301", 32)).ok());
}

TEST(UserNames, EachRefusalSaysWhyInWordsForThePerson) {
  struct bad_case {
    std::string name;
    std::string problem;
  };
  for (auto& [name, problem] : std::initializer_list<bad_case>{
         {"", "a name needs at least one character"},
         {"\xc3", "a name must be valid UTF-8 text"},                 // truncated
         {"\xc0\xaf", "a name must be valid UTF-8 text"},             // overlong '/'
         {"a\xed\xa0\x80", "a name must be valid UTF-8 text"},        // a surrogate
         {"ann\x01", "a name cannot hold control or invisible characters (such as direction "
                     "overrides)"},
         {std::string{"an\0n", 4}, "a name cannot hold control or invisible characters (such "
                                   "as direction overrides)"},
         {"ann\u202egpj", "a name cannot hold control or invisible characters (such as "
                          "direction overrides)"},                     // RIGHT-TO-LEFT OVERRIDE
         {"an\u200bn", "a name cannot hold control or invisible characters (such as direction "
                       "overrides)"},                                  // ZERO WIDTH SPACE
         // Default-ignorable: a letter and marks by category that show
         // nothing.
         {"\u3164", "a name cannot hold control or invisible characters (such as direction "
                    "overrides)"},                                     // HANGUL FILLER
         {"ann\u3164", "a name cannot hold control or invisible characters (such as direction "
                       "overrides)"},
         {"an\u034fn", "a name cannot hold control or invisible characters (such as direction "
                       "overrides)"},                                  // GRAPHEME JOINER
         {"ann\ufe0f", "a name cannot hold control or invisible characters (such as direction "
                       "overrides)"},                                  // VARIATION SELECTOR-16
         {"\u0301ann", "a name cannot start with an accent or other combining mark"},
         {" ann", "a name cannot start or end with a space"},
         {"ann ", "a name cannot start or end with a space"},
         {"ann  lee", "a name cannot hold two spaces in a row"},
         {"~ann", "a name holds letters, digits, spaces and - _ . ' only"},
         {"a<b>", "a name holds letters, digits, spaces and - _ . ' only"},
         {"ann\U0001F600", "a name holds letters, digits, spaces and - _ . ' only"},
         {"ann\tlee", "a name cannot hold control or invisible characters (such as direction "
                      "overrides)"},
         // Latin "p", "y", "l" with Cyrillic "а": one name, two scripts that
         // look alike.
         {"p\u0430ypal", "a name cannot mix letters of scripts that look alike (such as "
                         "Latin and Cyrillic)"},
       }) {
    auto checked = check_user_name(name);
    EXPECT_FALSE(checked.ok()) << name;
    EXPECT_EQ(checked.problem, problem) << name;
    EXPECT_TRUE(checked.name.empty()) << name;
  }
}

TEST(UserNames, LookAlikesShareAKeyAndOthersDoNot) {
  EXPECT_TRUE(look_alike("ann", "Ann"));
  EXPECT_TRUE(look_alike("ann", "ANN"));
  EXPECT_TRUE(look_alike("ann", "\u0430nn")) << "Cyrillic а";
  EXPECT_FALSE(look_alike("ann", "anna"));
  EXPECT_FALSE(look_alike("ann", "bob"));
  // Capital I looks like small l, and folds to small i: both hold.
  EXPECT_TRUE(look_alike("paypaI", "paypal"));
  EXPECT_TRUE(look_alike("Ian", "ian"));
  EXPECT_TRUE(look_alike("Ian", "lan"));
  EXPECT_FALSE(look_alike("ian", "lan"));
  EXPECT_TRUE(look_alike("Jos\u00e9", "jose\u0301"));
  EXPECT_TRUE(look_alike("JOS\u00c9", "jos\u00e9"));
  // A guest's "~" keeps a guest apart from the signed-in user of that name.
  EXPECT_FALSE(look_alike("~ann", "ann"));
  auto keys = look_alike_keys("ann");
  EXPECT_EQ(keys.size(), 1u) << "one key when both orders agree";
  EXPECT_EQ(look_alike_keys("Ian").size(), 2u);
}

TEST(RoomNames, AnyScriptInNormalFormCWithoutSpaces) {
  for (std::string good : {"lobby", "team:core", "café", "салон", "会議室", "a.b-c_d"})
    EXPECT_EQ(room_name_problem(good, 64), "") << good;
  EXPECT_EQ(room_name_problem("", 64), "a room name needs at least one character");
  EXPECT_EQ(room_name_problem(std::string(65, 'a'), 64), "a room name has at most 64 bytes");
  EXPECT_EQ(room_name_problem("\xff", 64), "a room name must be valid UTF-8 text");
  EXPECT_EQ(room_name_problem("cafe\u0301", 64),
            "a room name must be in Unicode normal form C (accents composed with their letters)");
  EXPECT_EQ(room_name_problem(".hidden", 64), "a room name cannot start with '.'");
  EXPECT_EQ(room_name_problem("a b", 64),
            "a room name holds letters, digits and - _ . : only (no spaces)");
  EXPECT_EQ(room_name_problem("a\u202eb", 64),
            "a room name cannot hold control or invisible characters");
  EXPECT_EQ(room_name_problem("l\u043ebby", 64), // a Cyrillic о among Latin letters
            "a room name cannot mix letters of scripts that look alike (such as Latin and "
            "Cyrillic)");
  EXPECT_EQ(room_name_problem("\u043b\u043e\u0431\u0431\u0438", 64), "") << "all Cyrillic";
  EXPECT_EQ(room_name_problem("team:\u4f1a\u8b70-2", 64), "") << "Latin with Han";
  EXPECT_EQ(room_name_problem("lobby\u3164", 64),
            "a room name cannot hold control or invisible characters");
  EXPECT_EQ(room_name_problem("lob\ufe0fby", 64),
            "a room name cannot hold control or invisible characters");
  // 22 three-byte characters are 66 bytes: the limit is in bytes, as the
  // welcome's maxRoomNameBytes says.
  EXPECT_EQ(room_name_problem(repeat("会", 22), 64), "a room name has at most 64 bytes");
}

TEST(RoomGrants, NameEveryRoomAClientCanJoin) {
  using parley::actors::check_grant;
  for (std::string good : {"lobby", "café", "会議室=join+history", "салон-*", "*", "team:*=all"})
    EXPECT_EQ(check_grant(good), std::nullopt) << good;
  for (std::string bad : {"", "lob by", "cafe\u0301", "a\u202eb", ".hidden", "x=fly", "\xff*"})
    EXPECT_NE(check_grant(bad), std::nullopt) << bad;
  parley::actors::room_access access{{parley::actors::parse_grant("caf*=join")}};
  EXPECT_EQ(access.rights("café"), parley::actors::right_join);
  EXPECT_EQ(access.rights("cabin"), 0);
}
