#pragma once

// The tests' PostgreSQL server (started by the CTest fixture `postgres`,
// tests/support/postgres.sh) and a fresh database on it per test.

#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace parley::test {

/// The server's folder (PARLEY_TEST_PG_DIR, set for tests marked POSTGRES).
inline std::string postgres_dir() {
  const char* dir = std::getenv("PARLEY_TEST_PG_DIR");
  return dir ? dir : "";
}

/// tests/support/postgres.sh, to start and stop servers of a test's own.
/// (A compile definition: CTest's ENVIRONMENT of gtest_discover_tests
/// takes one variable only, its list separator splits the rest off.)
inline std::string postgres_script() {
  return PARLEY_TEST_PG_SCRIPT;
}

/// The URL of the server's `postgres` database; empty if none runs.
inline std::string postgres_server_url() {
  auto dir = postgres_dir();
  if (dir.empty())
    return {};
  std::ifstream in{dir + "/url"};
  std::string url;
  std::getline(in, url);
  return url;
}

/// Runs one statement on `url`; empty on success, else the error.
inline std::string postgres_exec(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  std::string why;
  if (PQstatus(c) != CONNECTION_OK) {
    why = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      why = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return why;
}

/// The first column of the first row of `sql` on `url`, as text.
inline std::string postgres_value(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  std::string out;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
      out = PQgetvalue(r, 0, 0);
    else
      out = std::string{"error: "} + PQresultErrorMessage(r);
    PQclear(r);
  } else {
    out = std::string{"error: "} + PQerrorMessage(c);
  }
  PQfinish(c);
  return out;
}

/// Every row of `sql` on `url`, as text (empty on an error, which fails the
/// test).
inline std::vector<std::vector<std::string>> postgres_rows(const std::string& url,
                                                           const std::string& sql) {
  std::vector<std::vector<std::string>> out;
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    ADD_FAILURE() << PQerrorMessage(c);
    PQfinish(c);
    return out;
  }
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    ADD_FAILURE() << PQresultErrorMessage(r);
  } else {
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(r); ++j)
        row.emplace_back(PQgetvalue(r, i, j));
      out.push_back(std::move(row));
    }
  }
  PQclear(r);
  PQfinish(c);
  return out;
}

/// Creates an empty database for one test and returns its URL (the test
/// fails if the server does not run).
inline std::string fresh_postgres_database() {
  static std::atomic<int> counter{0};
  auto server = postgres_server_url();
  EXPECT_FALSE(server.empty()) << "no PostgreSQL for the tests: PARLEY_TEST_PG_DIR is unset or "
                                  "its server did not start (ctest runs the postgres_start "
                                  "fixture first)";
  if (server.empty())
    return {};
  auto name = "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  auto why = postgres_exec(server, "CREATE DATABASE " + name);
  EXPECT_EQ(why, "");
  auto slash = server.rfind('/');
  return server.substr(0, slash + 1) + name;
}

} // namespace parley::test
