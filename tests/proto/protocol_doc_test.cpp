// Every JSON example in docs/protocol.md decodes, strictly, as the frame its
// label names: the protocol's documentation cannot drift from the schema.
#include "parley/proto/codec.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace parley::proto;

namespace {

struct example {
  std::string label; // "client", "server" or "client, invalid"
  std::string json;
  int line = 0;
};

std::vector<example> examples() {
  std::ifstream in{PARLEY_PROTOCOL_DOC};
  std::vector<example> result;
  std::string line;
  std::string label;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("<!-- ", 0) == 0) {
      label = line.substr(5, line.size() - 9);
      continue;
    }
    if (line == "```json" && !label.empty()) {
      example ex{label, {}, n};
      while (std::getline(in, line) && line != "```") {
        ++n;
        ex.json += line;
      }
      ++n;
      result.push_back(std::move(ex));
      label.clear();
    }
  }
  return result;
}

} // namespace

TEST(ProtocolDocTest, EveryExampleDecodesAsItsLabelSays) {
  auto all = examples();
  ASSERT_GE(all.size(), 20u) << "examples not found in " << PARLEY_PROTOCOL_DOC;
  int clients = 0;
  int servers = 0;
  for (auto& ex : all) {
    if (ex.label == "client") {
      ++clients;
      auto res = decode_client(ex.json, encoding::json);
      auto* err = std::get_if<decode_error>(&res);
      EXPECT_EQ(err, nullptr) << "line " << ex.line << ": " << (err ? err->reason : "");
    } else if (ex.label == "client, invalid") {
      auto res = decode_client(ex.json, encoding::json);
      EXPECT_TRUE(std::holds_alternative<decode_error>(res)) << "line " << ex.line;
    } else if (ex.label == "server") {
      ++servers;
      auto res = decode_server(ex.json, encoding::json);
      auto* err = std::get_if<decode_error>(&res);
      EXPECT_EQ(err, nullptr) << "line " << ex.line << ": " << (err ? err->reason : "");
      // Round trip through binary keeps it intact.
      if (auto* f = std::get_if<v1::ServerFrame>(&res)) {
        auto back = decode_server(encode(*f, encoding::binary), encoding::binary);
        EXPECT_TRUE(std::holds_alternative<v1::ServerFrame>(back)) << "line " << ex.line;
      }
    } else {
      ADD_FAILURE() << "line " << ex.line << ": unknown label '" << ex.label << "'";
    }
  }
  EXPECT_GE(clients, 7) << "every request kind has an example";
  EXPECT_GE(servers, 10);
}

TEST(ProtocolDocTest, TheDocumentedUnknownFieldReasonIsTheRealOne) {
  auto res = decode_client(R"({"ref":"10","jion":{"room":"lobby"}})", encoding::json);
  ASSERT_TRUE(std::holds_alternative<decode_error>(res));
  std::ifstream in{PARLEY_PROTOCOL_DOC};
  std::stringstream doc;
  doc << in.rdbuf();
  EXPECT_NE(doc.str().find(std::get<decode_error>(res).reason), std::string::npos)
    << std::get<decode_error>(res).reason;
}
