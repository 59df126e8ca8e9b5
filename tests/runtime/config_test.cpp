#include "parley/runtime/config.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace parley::runtime;

namespace {

class ConfigTest : public ::testing::Test {
protected:
  CLI::App app{"test", "parley-test"};
  node_config cfg;
  std::string file_path;

  void SetUp() override {
    add_node_options(app, cfg);
    ::unsetenv("PARLEY_THREADS");
    ::unsetenv("PARLEY_LOG_LEVEL");
    ::unsetenv("PARLEY_NAME");
    ::unsetenv("PARLEY_SCHEDULER");
  }

  void TearDown() override {
    if (!file_path.empty())
      std::remove(file_path.c_str());
    ::unsetenv("PARLEY_THREADS");
    ::unsetenv("PARLEY_LOG_LEVEL");
  }

  std::optional<int> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "parley-test");
    std::vector<const char*> argv;
    for (auto& a : args)
      argv.push_back(a.c_str());
    ::testing::internal::CaptureStderr();
    auto result = parse_command_line(app, static_cast<int>(argv.size()), argv.data());
    last_stderr = ::testing::internal::GetCapturedStderr();
    return result;
  }

  std::string write_file(const std::string& name, const std::string& text) {
    file_path = ::testing::TempDir() + name;
    std::ofstream{file_path} << text;
    return file_path;
  }

  std::string last_stderr;
};

// One line, naming the program, ending in a newline.
void expect_one_line(const std::string& text) {
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find('\n'), text.size() - 1) << text;
  EXPECT_EQ(text.rfind("parley-test: error: ", 0), 0u) << text;
}

} // namespace

TEST_F(ConfigTest, DefaultsNeedNoFlags) {
  EXPECT_FALSE(parse({}));
  EXPECT_EQ(cfg.threads, 0u);
  EXPECT_EQ(cfg.log_level, "info");
  EXPECT_EQ(cfg.scheduler_threads(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST_F(ConfigTest, FlagsSetValues) {
  EXPECT_FALSE(parse({"--threads=3", "--log-level", "debug", "--name=n1"}));
  EXPECT_EQ(cfg.threads, 3u);
  EXPECT_EQ(cfg.scheduler_threads(), 3u);
  EXPECT_EQ(cfg.log_level, "debug");
  EXPECT_EQ(cfg.name, "n1");
}

TEST_F(ConfigTest, HelpExitsWithZero) {
  ::testing::internal::CaptureStdout();
  auto status = parse({"--help"});
  auto out = ::testing::internal::GetCapturedStdout();
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0);
  EXPECT_NE(out.find("--threads"), std::string::npos);
}

TEST_F(ConfigTest, UnknownFlagIsAUsageError) {
  auto status = parse({"--thread=2"});
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find("--thread"), std::string::npos) << last_stderr;
}

TEST_F(ConfigTest, WrongTypeIsAUsageError) {
  auto status = parse({"--threads=many"});
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find("threads"), std::string::npos) << last_stderr;
}

TEST_F(ConfigTest, OutOfRangeIsAUsageError) {
  EXPECT_EQ(parse({"--threads=5000"}), usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_EQ(parse({"--threads=-1"}), usage_error_status);
}

TEST_F(ConfigTest, UnknownLogLevelIsAUsageError) {
  EXPECT_EQ(parse({"--log-level=loud"}), usage_error_status);
  expect_one_line(last_stderr);
}

TEST_F(ConfigTest, SchedulerPolicyIsChecked) {
  EXPECT_EQ(cfg.scheduler, "affinity");
  EXPECT_FALSE(parse({"--scheduler=stealing"}));
  EXPECT_EQ(cfg.scheduler, "stealing");
  EXPECT_FALSE(parse({"--scheduler=sharing"}));
  EXPECT_EQ(cfg.scheduler, "sharing");
  EXPECT_EQ(parse({"--scheduler=fifo"}), usage_error_status);
  expect_one_line(last_stderr);
}

TEST_F(ConfigTest, EmptyNameIsAUsageError) {
  EXPECT_EQ(parse({"--name="}), usage_error_status);
  expect_one_line(last_stderr);
}

TEST_F(ConfigTest, ConfigFileSetsValues) {
  auto path = write_file("good.toml", "threads = 2\nlog-level = \"warn\"\n");
  EXPECT_FALSE(parse({"--config", path}));
  EXPECT_EQ(cfg.threads, 2u);
  EXPECT_EQ(cfg.log_level, "warn");
}

TEST_F(ConfigTest, FlagsOverrideTheConfigFile) {
  auto path = write_file("override.toml", "threads = 2\n");
  EXPECT_FALSE(parse({"--config", path, "--threads=4"}));
  EXPECT_EQ(cfg.threads, 4u);
}

TEST_F(ConfigTest, EnvironmentSetsValues) {
  ::setenv("PARLEY_THREADS", "5", 1);
  EXPECT_FALSE(parse({}));
  EXPECT_EQ(cfg.threads, 5u);
}

TEST_F(ConfigTest, BadEnvironmentValueIsAUsageError) {
  ::setenv("PARLEY_THREADS", "lots", 1);
  EXPECT_EQ(parse({}), usage_error_status);
  expect_one_line(last_stderr);
}

TEST_F(ConfigTest, UnknownKeyInConfigFileIsAUsageError) {
  auto path = write_file("unknown.toml", "threads = 2\nthreds = 3\n");
  EXPECT_EQ(parse({"--config", path}), usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find("threds"), std::string::npos) << last_stderr;
}

TEST_F(ConfigTest, WrongTypeInConfigFileIsAUsageError) {
  // CAF's own config would silently ignore this; we refuse it.
  auto path = write_file("wrongtype.toml", "threads = \"two\"\n");
  EXPECT_EQ(parse({"--config", path}), usage_error_status);
  expect_one_line(last_stderr);
}

TEST_F(ConfigTest, MalformedConfigFileIsAUsageError) {
  auto path = write_file("garbage.toml", "[[[ this is not toml\n\x01\x02 = = =\n");
  EXPECT_EQ(parse({"--config", path}), usage_error_status);
  expect_one_line(last_stderr);
}

TEST_F(ConfigTest, MissingConfigFileIsAUsageError) {
  EXPECT_EQ(parse({"--config", "/nonexistent/parley.toml"}), usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find("--config=/nonexistent/parley.toml: cannot read the file"),
            std::string::npos)
    << last_stderr;
}

// -- precedence: flag > environment > file > default, every pair ------------------

TEST_F(ConfigTest, TheEnvironmentBeatsTheFile) {
  auto path = write_file("env-vs-file.toml", "threads = 2\nlog-level = \"warn\"\n");
  ::setenv("PARLEY_THREADS", "5", 1);
  EXPECT_FALSE(parse({"--config", path}));
  EXPECT_EQ(cfg.threads, 5u) << "the variable wins";
  EXPECT_EQ(cfg.log_level, "warn") << "the file still sets what no variable does";
}

TEST_F(ConfigTest, AFlagBeatsTheEnvironment) {
  ::setenv("PARLEY_THREADS", "5", 1);
  EXPECT_FALSE(parse({"--threads=3"}));
  EXPECT_EQ(cfg.threads, 3u);
}

TEST_F(ConfigTest, AFlagBeatsTheEnvironmentAndTheFile) {
  auto path = write_file("all-three.toml", "threads = 2\n");
  ::setenv("PARLEY_THREADS", "5", 1);
  EXPECT_FALSE(parse({"--threads=3", "--config", path}));
  EXPECT_EQ(cfg.threads, 3u);
}

TEST_F(ConfigTest, AnyOneSourceBeatsTheDefault) {
  EXPECT_FALSE(parse({}));
  EXPECT_EQ(cfg.log_level, "info");
  ::setenv("PARLEY_LOG_LEVEL", "error", 1);
  EXPECT_FALSE(parse({}));
  EXPECT_EQ(cfg.log_level, "error");
}

// A bad value from the environment or the file is not blamed on the flag:
// each error names its source, the value and what was expected. (A file's
// value that a flag or variable overrides is not read, as for any setting.)
TEST_F(ConfigTest, AnErrorNamesItsSourceKeyValueAndWhatWasExpected) {
  EXPECT_EQ(parse({"--threads=many"}), usage_error_status);
  EXPECT_NE(last_stderr.find("--threads=many: expected a number from 0 to 1024"),
            std::string::npos)
    << last_stderr;

  ::setenv("PARLEY_THREADS", "lots", 1);
  EXPECT_EQ(parse({}), usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find("environment PARLEY_THREADS=lots: expected a number from 0 to 1024"),
            std::string::npos)
    << last_stderr;
  ::unsetenv("PARLEY_THREADS");

  auto path = write_file("bad-value.toml", "# a comment\nthreads = \"two\"\n");
  EXPECT_EQ(parse({"--config", path}), usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find(path + ":2: threads = \"two\": expected a number from 0 to 1024"),
            std::string::npos)
    << last_stderr;
}

TEST_F(ConfigTest, AnUnknownKeyNamesTheNearestKnownOne) {
  auto path = write_file("typo.toml", "threads = 2\nlog-levle = \"warn\"\n");
  EXPECT_EQ(parse({"--config", path}), usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find(path + ":2: unknown key 'log-levle' (did you mean 'log-level'?)"),
            std::string::npos)
    << last_stderr;
  auto far = write_file("far.toml", "colour = \"red\"\n");
  EXPECT_EQ(parse({"--config", far}), usage_error_status);
  EXPECT_NE(last_stderr.find(far + ":1: unknown key 'colour'"), std::string::npos) << last_stderr;
  EXPECT_EQ(last_stderr.find("did you mean"), std::string::npos) << "nothing is near";
}

TEST_F(ConfigTest, ATomlSyntaxErrorNamesItsLineNotAFlag) {
  auto path = write_file("syntax.toml", "threads = 2\nlog-level = = \"warn\"\n");
  EXPECT_EQ(parse({"--config", path}), usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find(path + ":2:"), std::string::npos) << last_stderr;
  EXPECT_NE(last_stderr.find("not TOML"), std::string::npos) << last_stderr;
  EXPECT_EQ(last_stderr.find("--log-level"), std::string::npos) << last_stderr;
}

TEST_F(ConfigTest, ATableInTheFileIsRefused) {
  auto path = write_file("table.toml", "[node]\nthreads = 2\n");
  EXPECT_EQ(parse({"--config", path}), usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find("unknown key 'node'"), std::string::npos) << last_stderr;
}

TEST_F(ConfigTest, AValueOfTheWrongShapeNamesItsLine) {
  auto table = write_file("shape-table.toml", "threads = { n = 2 }\n");
  EXPECT_EQ(parse({"--config", table}), usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find(table + ":1: threads: expected a string, number or true/false"),
            std::string::npos)
    << last_stderr;
  auto list = write_file("shape-list.toml", "\nlog-level = [\"info\", { a = 1 }]\n");
  EXPECT_EQ(parse({"--config", list}), usage_error_status);
  expect_one_line(last_stderr);
  EXPECT_NE(last_stderr.find(list + ":2: log-level: expected a list of plain values"),
            std::string::npos)
    << last_stderr;
}

TEST_F(ConfigTest, HelpNamesTheVariables) {
  ::testing::internal::CaptureStdout();
  auto status = parse({"--help"});
  auto out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(status, 0);
  EXPECT_NE(out.find("PARLEY_THREADS"), std::string::npos) << out;
}

TEST_F(ConfigTest, HelpShowsRangesAndChoicesInWords) {
  ::testing::internal::CaptureStdout();
  parse({"--help"});
  auto out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("N (0 to 1024)"), std::string::npos) << out;
  EXPECT_NE(out.find("sharing|stealing"), std::string::npos) << out;
  EXPECT_EQ(out.find("UINT"), std::string::npos) << out;
  EXPECT_EQ(out.find(" in ["), std::string::npos) << out;
}

TEST_F(ConfigTest, HelpShowsAFlagWithItsVariable) {
  bool quiet = false;
  app.add_flag("--quiet", quiet, "Say less")->envname("PARLEY_QUIET");
  ::testing::internal::CaptureStdout();
  parse({"--help"});
  auto out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("--quiet (Env:PARLEY_QUIET)"), std::string::npos) << out;
}
