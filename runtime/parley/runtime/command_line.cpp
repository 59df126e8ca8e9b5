// Reads a program's settings from flags, the environment and a TOML file,
// in that order of precedence, and names the source of anything wrong.
//
// CLI11 reads flags; the environment and the file are applied here rather
// than by CLI11 itself, because CLI11 lets a config file beat the
// environment (it applies the file first, and an option that has a value
// takes no environment variable) and blames every bad value on the flag.
// The file is read with toml++ (Debian's libtomlplusplus-dev), which gives
// each value its line.
#include "parley/runtime/command_line.hpp"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace parley::runtime {

namespace {

/// A setting that is wrong: where it came from, and why.
struct usage_error {
  std::string what;
};

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

/// CLI11's message without the option's name in front ("--port: ..."), in
/// words a person reads: what was expected.
std::string reason_of(const CLI::Error& e, const CLI::Option* opt) {
  auto what = one_line(e.what());
  if (opt) {
    for (auto& prefix : {opt->get_name() + ": ", opt->get_name(false, true) + ": "})
      if (what.rfind(prefix, 0) == 0) {
        what.erase(0, prefix.size());
        break;
      }
  }
  // "Value abc not in range 0 to 65535" (CLI::Range, which also sees values
  // that are no number at all).
  auto range = what.find(" not in range ");
  if (what.rfind("Value ", 0) == 0 && range != std::string::npos)
    return "expected a number from " + what.substr(range + 14);
  return what;
}

/// Levenshtein distance, for "did you mean". Ten lines, not worth a
/// dependency (CLI11 has no suggestion of its own).
size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// The options a file may set, by key (the long flag without its dashes).
std::vector<std::pair<std::string, CLI::Option*>> file_keys(CLI::App& app) {
  std::vector<std::pair<std::string, CLI::Option*>> keys;
  for (auto* opt : app.get_options()) {
    if (!opt->get_configurable())
      continue;
    for (auto& name : opt->get_lnames())
      if (name != "config" && name != "help" && name != "help-all" && name != "version")
        keys.emplace_back(name, opt);
  }
  return keys;
}

/// Sets `opt` from `values` after the command line was parsed: its checks
/// and its callback run as for a flag.
void set_option(CLI::Option* opt, const std::vector<std::string>& values) {
  for (auto& v : values)
    opt->add_result(v);
  opt->run_callback();
}

/// A scalar of the file as the text a flag would carry.
bool text_of(const toml::node& n, std::string& out) {
  if (auto* s = n.as_string()) {
    out = s->get();
  } else if (auto* i = n.as_integer()) {
    out = std::to_string(i->get());
  } else if (auto* f = n.as_floating_point()) {
    std::ostringstream text;
    text << f->get();
    out = text.str();
  } else if (auto* b = n.as_boolean()) {
    out = b->get() ? "true" : "false";
  } else {
    return false;
  }
  return true;
}

/// A value as the file wrote it, for an error line.
std::string node_text(const toml::node& n) {
  std::string text;
  if (!text_of(n, text))
    return "(a list)";
  return n.is_string() ? "\"" + text + "\"" : text;
}

std::string at(const std::string& path, const toml::source_region& where) {
  return path + ":" + std::to_string(where.begin.line);
}

/// Applies every key of the file at `path` that no flag or variable set.
void apply_file(CLI::App& app, const std::string& path) {
  if (std::ifstream probe{path}; !probe)
    throw usage_error{"--config=" + path + ": cannot read the file (" + std::strerror(errno) + ")"};
  toml::table file;
  try {
    file = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    auto& where = e.source().begin;
    if (where.line == 0) // the file could not be read at all
      throw usage_error{"--config=" + path + ": " + one_line(std::string{e.description()})};
    throw usage_error{path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column)
                      + ": not TOML: " + one_line(std::string{e.description()})};
  }
  auto keys = file_keys(app);
  for (auto&& [key, node] : file) {
    std::string name{key.str()};
    auto where = at(path, node.source());
    auto known = std::find_if(keys.begin(), keys.end(), [&](auto& k) { return k.first == name; });
    if (known == keys.end()) {
      auto nearest = std::min_element(keys.begin(), keys.end(), [&](auto& x, auto& y) {
        return distance(name, x.first) < distance(name, y.first);
      });
      std::string hint;
      if (nearest != keys.end() && distance(name, nearest->first) <= 3)
        hint = " (did you mean '" + nearest->first + "'?)";
      throw usage_error{where + ": unknown key '" + name + "'" + hint};
    }
    auto* opt = known->second;
    std::vector<std::string> values;
    std::string text;
    if (auto* list = node.as_array()) {
      for (auto& element : *list) {
        if (!text_of(element, text))
          throw usage_error{where + ": " + name + ": expected a list of plain values"};
        values.push_back(text);
      }
    } else if (text_of(node, text)) {
      values.push_back(text);
    } else {
      throw usage_error{where + ": " + name
                        + ": expected a string, number or true/false (tables are not used)"};
    }
    if (opt->count() > 0)
      continue; // a flag or an environment variable set it: they win
    try {
      set_option(opt, values);
    } catch (const CLI::ParseError& e) {
      throw usage_error{where + ": " + name + " = " + node_text(node) + ": " + reason_of(e, opt)};
    }
  }
}

/// Environment variables come off the options while CLI11 parses (it would
/// apply them before a file could be seen), and go back for --help.
class env_names {
public:
  explicit env_names(CLI::App& app) {
    for (auto* opt : app.get_options())
      if (!opt->get_envname().empty()) {
        names_.emplace_back(opt, opt->get_envname());
        opt->envname("");
      }
  }

  ~env_names() {
    restore();
  }

  void restore() {
    for (auto& [opt, name] : names_)
      opt->envname(name);
  }

  /// Sets every option no flag set from its variable, if that is set.
  void apply() const {
    for (auto& [opt, name] : names_) {
      if (opt->count() > 0)
        continue; // a flag wins
      const char* value = std::getenv(name.c_str());
      if (value == nullptr)
        continue;
      try {
        set_option(opt, {value});
      } catch (const CLI::ParseError& e) {
        throw usage_error{"environment " + name + "=" + value + ": " + reason_of(e, opt)};
      }
    }
  }

private:
  std::vector<std::pair<CLI::Option*, std::string>> names_;
};

/// The option a CLI11 error is about (its message starts with the name).
const CLI::Option* option_of(CLI::App& app, const std::string& what) {
  for (auto* opt : app.get_options())
    for (auto& name : opt->get_lnames())
      if (what.rfind("--" + name + ":", 0) == 0)
        return opt;
  return nullptr;
}

/// --help in words: "N (0 to 1024)" rather than CLI11's "UINT:INT in
/// [0 - 1024]", and "sharing|stealing" rather than "TEXT:{sharing,stealing}".
class readable_help : public CLI::Formatter {
public:
  std::string make_option_opts(const CLI::Option* opt) const override {
    auto out = CLI::Formatter::make_option_opts(opt);
    // The type comes first: up to the first space outside brackets.
    auto begin = out.find_first_not_of(' ');
    // A flag has no type: just "(Env:PARLEY_...)".
    if (begin == std::string::npos || out[begin] == '(')
      return out;
    auto range = out.find(" in [", begin);
    auto choice = out.find('{', begin);
    auto first_space = out.find(' ', begin);
    if (range != std::string::npos && range == first_space) {
      // "UINT:INT in [0 - 1024]"
      auto close = out.find(']', range);
      auto dash = out.find(" - ", range);
      if (close != std::string::npos && dash != std::string::npos && dash < close) {
        auto low = out.substr(range + 5, dash - range - 5);
        auto high = out.substr(dash + 3, close - dash - 3);
        out.replace(begin, close + 1 - begin, "N (" + low + " to " + high + ")");
      }
    } else if (choice != std::string::npos && (first_space == std::string::npos || choice < first_space)) {
      // "TEXT:{sharing,stealing}"
      auto close = out.find('}', choice);
      if (close != std::string::npos) {
        auto list = out.substr(choice + 1, close - choice - 1);
        std::replace(list.begin(), list.end(), ',', '|');
        out.replace(begin, close + 1 - begin, list);
      }
    } else {
      auto end = first_space == std::string::npos ? out.size() : first_space;
      auto type = out.substr(begin, end - begin);
      if (auto colon = type.find(':'); colon != std::string::npos) {
        // "TEXT:DIR": the check says more than the type.
        type = type.substr(colon + 1);
        out.replace(begin, end - begin, type);
        end = begin + type.size();
      }
      if (type == "UINT" || type == "INT")
        out.replace(begin, end - begin, "N");
      else if (type == "FLOAT")
        out.replace(begin, end - begin, "X");
    }
    return out;
  }
};

/// The flag as the command line wrote it ("--port=abc"), for an error line.
std::string flag_text(const CLI::Option* opt, int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    for (auto& name : opt->get_lnames()) {
      auto flag = "--" + name;
      if (arg.rfind(flag + "=", 0) == 0)
        return arg;
      if (arg == flag)
        return i + 1 < argc && opt->get_expected_min() > 0 ? flag + " " + argv[i + 1] : flag;
    }
  }
  return opt->get_name();
}

} // namespace

std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv) {
  auto fail = [&](const std::string& what) {
    std::cerr << app.get_name() << ": error: " << what << " (see --help)\n";
    return usage_error_status;
  };
  app.formatter(std::make_shared<readable_help>());
  env_names env{app};
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    env.restore();
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    env.restore();
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    // A flag: CLI11 names it; say what was expected.
    auto what = one_line(e.what());
    if (auto* opt = option_of(app, what))
      return fail(flag_text(opt, argc, argv) + ": " + reason_of(e, opt));
    return fail(what);
  }
  try {
    // Flags beat the environment, and both beat the file.
    env.apply();
    if (auto* config = app.get_option_no_throw("--config"); config && config->count() > 0)
      apply_file(app, config->as<std::string>());
  } catch (const usage_error& e) {
    return fail(e.what);
  }
  return std::nullopt;
}

} // namespace parley::runtime
