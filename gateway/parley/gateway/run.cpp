// The gateway, as run() (run.hpp): parley-gateway's main, and a user's own
// with behaviours of theirs. One HTTP port: GET /ws upgrades to a WebSocket (binary frames = protobuf, text frames = JSON), / serves the
// chat page, /healthz answers 200 (503 while draining), /metrics speaks
// Prometheus; with --tls-cert/--tls-key all of it over TLS (SIGHUP re-reads
// them). SIGTERM/SIGINT drain: every client gets close 1001, then the
// process exits 0. Options come from flags, PARLEY_* variables or a
// --config file; see docs/deploy.md.

#include "parley/actors/names.hpp"
#include "parley/actors/rooms_directory.hpp"
#include "parley/gateway/actor_bridge.hpp"
#include "parley/gateway/jwt_verifier.hpp"
#include "parley/gateway/origin.hpp"
#include "parley/gateway/run.hpp"
#include "parley/gateway/systemd_notify.hpp"
#include "parley/gateway/tls.hpp"
#include "parley/runtime/cluster.hpp"
#include "parley/runtime/cluster_gate.hpp"
#include "parley/runtime/config.hpp"
#include "parley/runtime/node.hpp"
#include "parley/store/store_service.hpp"
#include "parley/version.hpp"

#include <caf/actor_cast.hpp>
#include <caf/scoped_actor.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <unistd.h>

namespace parley::gateway {

namespace {

constexpr auto lookup_timeout = std::chrono::seconds(10);

// Asks a supervisor for a child's current handle.
caf::actor find_child(caf::scoped_actor& self, const runtime::supervisor_actor& sup,
                      const std::string& id) {
  caf::actor result;
  if (!sup)
    return result;
  self->request(sup, lookup_timeout, runtime::find_child_atom::value, id)
    .receive([&](caf::actor& x) { result = std::move(x); }, [&](caf::error&) {});
  return result;
}

/// Durations are whole seconds on the command line.
CLI::Option* add_seconds(CLI::App& app, const std::string& flag, std::chrono::seconds& target,
                         const std::string& env, const std::string& help, int64_t max) {
  auto* opt = app
                .add_option_function<int64_t>(
                  flag, [&target](int64_t s) { target = std::chrono::seconds(s); }, help)
                ->envname(env)
                ->check(CLI::Range(int64_t{1}, max))
                ->default_str(std::to_string(target.count()));
  return opt;
}

/// The program's name, for its messages (run() sets it).
std::string program_name = "parley-gateway";

/// One line to stderr, after the program's name: say(": error: %s\n", why).
template <class... Ts>
void say(const char* format, Ts... args) {
  std::fputs(program_name.c_str(), stderr);
  if constexpr (sizeof...(Ts) == 0)
    std::fputs(format, stderr);
  else
    std::fprintf(stderr, format, args...);
}

} // namespace

// -- behaviours by name -------------------------------------------------------------

behavior_registry& behavior_registry::add(std::string name, std::string description,
                                          actors::room_behavior_factory factory,
                                          caf::timespan tick) {
  bool ok = !name.empty() && name.size() <= 32
            && std::all_of(name.begin(), name.end(), [](char c) {
                 return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
               });
  if (!ok)
    throw std::invalid_argument("behaviour name '" + name
                                + "': use 1 to 32 of a-z, 0-9 and '-'");
  if (find(name))
    throw std::invalid_argument("behaviour '" + name + "' is registered twice");
  if (!factory)
    throw std::invalid_argument("behaviour '" + name + "' has no factory");
  entries_.push_back({std::move(name), std::move(description), std::move(factory), tick});
  return *this;
}

const named_behavior* behavior_registry::find(std::string_view name) const {
  for (auto& e : entries_)
    if (e.name == name)
      return &e;
  return nullptr;
}

std::optional<std::string> check_behavior_rule(std::string_view text,
                                               const behavior_registry& behaviors) {
  auto eq = text.rfind('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size())
    return "a room behaviour is PATTERN=NAME (a room, PREFIX* or *, then a behaviour): "
           "games:*=tic-tac-toe";
  auto pattern = text.substr(0, eq);
  auto body = pattern;
  if (body.back() == '*')
    body.remove_suffix(1);
  if (!body.empty()) {
    if (auto why = actors::room_name_problem(body, 128); !why.empty())
      return "'" + std::string{pattern} + "' is not a room, PREFIX* or *: " + why;
  }
  auto name = text.substr(eq + 1);
  if (!behaviors.find(name)) {
    std::string known;
    for (auto& e : behaviors.all())
      known += (known.empty() ? "" : ", ") + e.name;
    return "no behaviour called '" + std::string{name} + "' ("
           + (known.empty() ? std::string{"this gateway has none"} : "known: " + known) + ")";
  }
  return std::nullopt;
}

actors::room_behavior_rule make_behavior_rule(std::string_view text,
                                              const behavior_registry& behaviors) {
  if (auto why = check_behavior_rule(text, behaviors))
    throw std::invalid_argument(*why);
  auto eq = text.rfind('=');
  auto pattern = text.substr(0, eq);
  auto* b = behaviors.find(text.substr(eq + 1));
  actors::room_behavior_rule rule;
  rule.whole_name = pattern.back() != '*';
  rule.prefix = std::string{rule.whole_name ? pattern : pattern.substr(0, pattern.size() - 1)};
  rule.factory = b->factory;
  rule.tick = b->tick;
  return rule;
}

// -- the gateway ----------------------------------------------------------------------

int run(int argc, char** argv, const behavior_registry& behaviors, std::string_view program) {
  if (program.empty() && argc > 0) {
    std::string_view path{argv[0]};
    program = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  }
  program_name = std::string{program.empty() ? "parley-gateway" : program};
  // The stock gateway is Parley's version; a user's own says what it is built on.
  auto version = program_name == "parley-gateway"
                   ? version_text(program_name)
                   : program_name + " (on Parley " + parley::build().version + ", commit "
                       + parley::build().commit + ", " + parley::build().build_type + ")";
  CLI::App app{"Parley WebSocket gateway: /ws (WebSocket), / (chat page), /healthz, /metrics.",
               program_name};
  runtime::node_config cfg;
  cfg.name = program_name;
  app.set_version_flag("--version", version,
                       "Print the version, git commit and build type, and exit");
  runtime::add_node_options(app, cfg);
  gateway::gateway_config gcfg;
  gcfg.version = version;
  actors::connection_config ccfg;
  actors::rooms_config rcfg;
  app.add_option("--address", gcfg.address, "Address to listen on")
    ->envname("PARLEY_ADDRESS")
    ->capture_default_str();
  app.add_option("--port", gcfg.port, "TCP port (0: any free port)")
    ->envname("PARLEY_PORT")
    ->check(CLI::Range(0, 65535))
    ->capture_default_str();
  app.add_option("--io-threads", gcfg.io_threads, "Threads running the socket I/O")
    ->envname("PARLEY_IO_THREADS")
    ->check(CLI::Range(size_t{1}, size_t{64}))
    ->capture_default_str();
  app.add_option("--io-runs-actors", gcfg.io_runs_actors,
                 "I/O threads run the actors their sockets wake (with --scheduler=affinity)")
    ->envname("PARLEY_IO_RUNS_ACTORS")
    ->capture_default_str();
  app.add_option("--max-connections", gcfg.max_connections,
                 "Open connections at most; more get HTTP 503")
    ->envname("PARLEY_MAX_CONNECTIONS")
    ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
    ->capture_default_str();
  app.add_option("--max-connections-per-address", gcfg.max_connections_per_address,
                 "Open connections per client IP at most (0: no limit); more get HTTP 503")
    ->envname("PARLEY_MAX_CONNECTIONS_PER_ADDRESS")
    ->check(CLI::Range(size_t{0}, size_t{1'000'000}))
    ->capture_default_str();
  app.add_option("--max-frame-bytes", gcfg.max_frame_bytes,
                 "Largest WebSocket message; larger ones are closed with 1009")
    ->envname("PARLEY_MAX_FRAME_BYTES")
    ->check(CLI::Range(size_t{256}, size_t{16 * 1024 * 1024}))
    ->capture_default_str();
  app.add_option("--allowed-origins", gcfg.allowed_origins,
                 "Web pages that may open a WebSocket, comma-separated: origins "
                 "(https://chat.example.com), https://*.example.com for subdomains, or * for "
                 "any. Default: the gateway's own origin. Clients that send no Origin (not "
                 "browsers) are not affected")
    ->envname("PARLEY_ALLOWED_ORIGINS")
    ->delimiter(',')
    ->check(CLI::Validator(
      [](std::string& v) { return gateway::origin_policy::check(v).value_or(""); }, "ORIGIN"));
  gateway::tls_files tls_files;
  app.add_option("--tls-cert", tls_files.cert_file,
                 "PEM certificate (then its intermediates): the port serves https:// and "
                 "wss:// only. Re-read with the key on SIGHUP")
    ->envname("PARLEY_TLS_CERT");
  app.add_option("--tls-key", tls_files.key_file, "PEM private key of --tls-cert (unencrypted)")
    ->envname("PARLEY_TLS_KEY");
  // The admin console (docs/deploy.md).
  std::string admin_token_file;
  std::vector<std::string> admin_allow{"127.0.0.0/8", "::1"};
  app.add_option("--admin-port", gcfg.admin.port,
                 "Port of the admin console (0: any free port); none without it")
    ->envname("PARLEY_ADMIN_PORT")
    ->check(CLI::Range(0, 65535));
  app.add_option("--admin-address", gcfg.admin.address,
                 "Address of the admin console; loopback unless you say otherwise")
    ->envname("PARLEY_ADMIN_ADDRESS")
    ->check(CLI::Validator(
      [](std::string& v) {
        // A numeric address, as for --admin-allow: the console binds it.
        std::string why;
        return gateway::address_range::parse(v, why) && v.find('/') == std::string::npos
                 ? std::string{}
                 : "expected an IP address such as 127.0.0.1 or ::1";
      },
      "IP"))
    ->capture_default_str();
  app.add_option("--admin-token-file", admin_token_file,
                 "File of operator tokens, one NAME:SECRET per line (32+ characters each); "
                 "not the user-token secret")
    ->envname("PARLEY_ADMIN_TOKEN_FILE");
  app.add_option("--admin-allow", admin_allow,
                 "Addresses that may reach the admin console, comma-separated (10.0.0.0/8, "
                 "::1); others get 403 before their token is read")
    ->envname("PARLEY_ADMIN_ALLOW")
    ->delimiter(',')
    ->check(CLI::Validator(
      [](std::string& v) {
        std::string why;
        return gateway::address_range::parse(v, why) ? std::string{} : why;
      },
      "CIDR"))
    ->capture_default_str();
  app.add_flag("--public-metrics", gcfg.admin.public_metrics,
               "Serve /metrics on the public port too (it is on the admin console)")
    ->envname("PARLEY_PUBLIC_METRICS");
  app.add_option("--web-root", gcfg.web_root,
                 "Development: serve the chat page from this folder (e.g. web/), read on "
                 "every request, instead of the copy compiled in")
    ->envname("PARLEY_WEB_ROOT")
    ->check(CLI::ExistingDirectory);
  add_seconds(app, "--handshake-timeout", gcfg.handshake_timeout, "PARLEY_HANDSHAKE_TIMEOUT",
              "Seconds for the HTTP request and the WebSocket handshake", 3600);
  add_seconds(app, "--idle-timeout", gcfg.idle_timeout, "PARLEY_IDLE_TIMEOUT",
              "Seconds of silence before a WebSocket is dropped; pinged at half", 86400);
  add_seconds(app, "--poll-timeout", gcfg.poll_timeout, "PARLEY_POLL_TIMEOUT",
              "Seconds a long-poll waits for frames before it answers with none", 300);
  add_seconds(app, "--session-idle-timeout", gcfg.session_idle_timeout,
              "PARLEY_SESSION_IDLE_TIMEOUT",
              "Seconds a long-polling or SSE session lives with nobody polling or listening", 86400);
  add_seconds(app, "--sse-keepalive", gcfg.sse_keepalive, "PARLEY_SSE_KEEPALIVE",
              "Seconds between the comments that keep an idle event stream open", 3600);
  add_seconds(app, "--drain-timeout", gcfg.drain_timeout, "PARLEY_DRAIN_TIMEOUT",
              "Seconds clients get to close after SIGTERM before the process exits", 3600);
  app.add_option("--outbound-frames", gcfg.outbound.max_frames,
                 "Frames a client's write queue holds; a client that falls further behind is "
                 "dropped as a slow consumer")
    ->envname("PARLEY_OUTBOUND_FRAMES")
    ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
    ->capture_default_str();
  app.add_option("--outbound-bytes", gcfg.outbound.max_bytes,
                 "Bytes a client's write queue holds (slow consumer bound)")
    ->envname("PARLEY_OUTBOUND_BYTES")
    ->check(CLI::Range(size_t{1024}, size_t{1} << 32))
    ->capture_default_str();
  app.add_option("--rate-limit", ccfg.rate, "Requests per second a client may send on average")
    ->envname("PARLEY_RATE_LIMIT")
    ->check(CLI::Range(0.1, 1e6))
    ->capture_default_str();
  app.add_option("--rate-burst", ccfg.burst, "Requests a client may send in a burst")
    ->envname("PARLEY_RATE_BURST")
    ->check(CLI::Range(1.0, 1e6))
    ->capture_default_str();
  app.add_option("--rate-strikes", ccfg.max_strikes,
                 "Refused requests in a row before the client is closed with 1008")
    ->envname("PARLEY_RATE_STRIKES")
    ->check(CLI::Range(uint32_t{1}, uint32_t{1'000'000}))
    ->capture_default_str();
  // Who may connect (docs/security.md).
  std::string auth = "guests";
  app.add_option("--auth", auth,
                 "none: anyone names themselves; guests: a token's holder is its sub, "
                 "others are ~guests in --guest-rooms; required: a valid token or nothing")
    ->envname("PARLEY_AUTH")
    ->check(CLI::IsMember({"none", "guests", "required"}))
    ->capture_default_str();
  gateway::jwt_settings jwt;
  app.add_option("--jwt-secret-file", jwt.secret_file,
                 "File holding the HS256 secret that signs user tokens (32 bytes or more)")
    ->envname("PARLEY_JWT_SECRET_FILE");
  app.add_option("--jwt-public-key-file", jwt.public_key_file,
                 "PEM public key that verifies user tokens: RSA for RS256, P-256 for ES256")
    ->envname("PARLEY_JWT_PUBLIC_KEY_FILE");
  app.add_option("--jwt-audience", jwt.audience, "Tokens must be for this audience (aud)")
    ->envname("PARLEY_JWT_AUDIENCE");
  app.add_option("--jwt-issuer", jwt.issuer, "Tokens must come from this issuer (iss)")
    ->envname("PARLEY_JWT_ISSUER");
  std::vector<std::string> guest_rooms{"*"};
  app.add_option("--guest-rooms", guest_rooms,
                 "Rooms guests may use, comma-separated: NAME, PREFIX* or *, each optionally "
                 "=RIGHTS (join+publish+history+presence, or all); e.g. lobby,help=join+history")
    ->envname("PARLEY_GUEST_ROOMS")
    ->delimiter(',')
    ->check(CLI::Validator(
      [](std::string& v) { return actors::check_grant(v).value_or(""); }, "GRANT"))
    ->capture_default_str();
  std::vector<std::string> behavior_rules;
  {
    std::string known;
    for (auto& b : behaviors.all())
      known += "\n    " + b.name + ": " + b.description;
    app.add_option("--room-behavior", behavior_rules,
                   "Rooms that get a behaviour, comma-separated PATTERN=NAME (a room, PREFIX* or "
                   "*; the first that matches wins), e.g. games:*=tic-tac-toe. Behaviours of this "
                   "gateway:"
                     + (known.empty() ? std::string{" none"} : known))
      ->envname("PARLEY_ROOM_BEHAVIOR")
      ->delimiter(',')
      ->type_name("PATTERN=NAME")
      ->check(CLI::Validator(
        [&behaviors](std::string& v) { return check_behavior_rule(v, behaviors).value_or(""); },
        "PATTERN=NAME"));
  }
  app.add_option("--backlog", rcfg.room.backlog, "Messages a room keeps and sends on join")
    ->envname("PARLEY_BACKLOG")
    ->check(CLI::Range(size_t{0}, size_t{100'000}))
    ->capture_default_str();
  // History (docs/storage.md).
  std::string store_kind = "sqlite";
  app.add_option("--store", store_kind,
                 "Where rooms keep their history: sqlite (a file under --data-dir, kept across "
                 "restarts), postgres (one database every node of a cluster shares, which "
                 "also decides which node owns a room; --postgres-url) or memory (gone when "
                 "the process ends; for tests and benchmarks)")
    ->envname("PARLEY_STORE")
    ->check(CLI::IsMember({"memory", "sqlite", "postgres"}))
    ->capture_default_str();
  store::sqlite_options sqlite_opts;
  app.add_option("--data-dir", sqlite_opts.data_dir,
                 "Folder of the SQLite history, created if missing; one gateway per folder")
    ->envname("PARLEY_DATA_DIR")
    ->capture_default_str();
  store::postgres_options pg_opts;
  app.add_option("--postgres-url", pg_opts.url,
                 "With --store=postgres: the database, as a libpq URL or connection string "
                 "(postgresql://user@host:5432/parley); a password is better kept in "
                 "~/.pgpass or PGPASSFILE than here")
    ->envname("PARLEY_POSTGRES_URL");
  int64_t lease_ms = 0;
  app.add_option("--store-lease-ms", lease_ms,
                 "With --store=postgres: how long this node's hold on its rooms lasts "
                 "without renewal (0: the cluster failure timeout, or 1000 alone)")
    ->envname("PARLEY_STORE_LEASE_MS")
    ->check(CLI::Range(int64_t{0}, int64_t{600'000}))
    ->capture_default_str();
  std::string store_sync = "normal";
  app.add_option("--store-sync", store_sync,
                 "normal: an acknowledged message survives the process being killed; full: "
                 "it is on disk (fsync) before it is acknowledged, and survives a power cut")
    ->envname("PARLEY_STORE_SYNC")
    ->check(CLI::IsMember({"normal", "full"}))
    ->capture_default_str();
  store::service_options store_opts;
  app.add_option("--retention-messages", store_opts.keep.max_messages,
                 "Messages kept per room, the newest (0: no limit)")
    ->envname("PARLEY_RETENTION_MESSAGES")
    ->check(CLI::Range(uint64_t{0}, uint64_t{1'000'000'000}))
    ->capture_default_str();
  app.add_option_function<int64_t>(
       "--retention-age",
       [&store_opts](int64_t s) { store_opts.keep.max_age = std::chrono::seconds(s); },
       "Seconds a message is kept (0: no limit); 2592000 is 30 days")
    ->envname("PARLEY_RETENTION_AGE")
    ->check(CLI::Range(int64_t{0}, int64_t{100} * 365 * 86400))
    ->default_str(std::to_string(store_opts.keep.max_age.count()));
  app.add_option_function<int64_t>(
       "--room-idle-timeout",
       [&rcfg](int64_t s) { rcfg.room.idle_timeout = std::chrono::seconds(s); },
       "Seconds a room without members stays in memory (0: forever); it is loaded from "
       "the store again when someone joins")
    ->envname("PARLEY_ROOM_IDLE_TIMEOUT")
    ->check(CLI::Range(int64_t{0}, int64_t{86400}))
    ->default_str(std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(rcfg.room.idle_timeout).count()));
  bool allow_sqlite_cluster = false;
  app.add_flag("--allow-sqlite-cluster", allow_sqlite_cluster,
               "Run a cluster with each node's history in its own SQLite file, accepting what "
               "that does not guarantee (docs/storage.md)")
    ->envname("PARLEY_ALLOW_SQLITE_CLUSTER");
  runtime::cluster_config clcfg;
  runtime::add_cluster_options(app, clcfg);
  if (auto status = runtime::parse_command_line(app, argc, argv))
    return *status;
  // A write past RLIMIT_FSIZE fails (EFBIG: the store refuses the commit)
  // instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
  if (auto bad = runtime::validate(clcfg)) {
    say(": error: %s\n", bad->c_str());
    return runtime::usage_error_status;
  }
  for (auto& w : runtime::warnings(clcfg))
    say(": warning: %s\n", w.c_str());
  if (clcfg.enabled() && app.get_option("--name")->count() == 0) {
    say(": error: a cluster node needs --name (unique in the "
                         "cluster)\n");
    return runtime::usage_error_status;
  }

  if (clcfg.enabled() && store_kind == "sqlite" && !allow_sqlite_cluster) {
    say(": error: a cluster on --store=sqlite keeps each node's history "
                 "in a file of its own: a room that moves to another node goes on with its seqs "
                 "there, but its older history stays behind, and two nodes that both believe "
                 "they own a room (one hung, or cut off) can give one seq to two messages. Pass "
                 "--allow-sqlite-cluster to accept that (docs/storage.md), or --store=memory\n");
    return runtime::usage_error_status;
  }
  std::shared_ptr<store::store_service> history;
  {
    std::unique_ptr<store::history_store> backend;
    if (store_kind == "sqlite") {
      sqlite_opts.sync = store_sync == "full" ? store::sync_mode::full : store::sync_mode::normal;
      std::string why;
      backend = store::open_sqlite_store(sqlite_opts, why);
      if (!backend) {
        say(": error: %s\n", why.c_str());
        return runtime::usage_error_status;
      }
    } else if (store_kind == "postgres") {
      // The owner of the rooms this node loads: its cluster name, or alone
      // one per host and port (two gateways on one database must differ).
      pg_opts.node = cfg.name;
      if (!clcfg.enabled() && app.get_option("--name")->count() == 0) {
        char host[256] = {};
        ::gethostname(host, sizeof(host) - 1);
        pg_opts.node += std::string{"@"} + host + ":"
                        + (gcfg.port != 0 ? std::to_string(gcfg.port)
                                          : "pid" + std::to_string(::getpid()));
      }
      pg_opts.lease = std::chrono::milliseconds(
        lease_ms > 0 ? lease_ms
        : clcfg.enabled()
          ? std::chrono::duration_cast<std::chrono::milliseconds>(clcfg.failure_timeout).count()
          : 1000);
      std::string why;
      backend = store::open_postgres_store(pg_opts, why);
      if (!backend) {
        say(": error: --store=postgres: %s\n", why.c_str());
        return runtime::usage_error_status;
      }
    } else {
      backend = store::make_memory_store();
    }
    history = std::make_shared<store::store_service>(std::move(backend), store_opts);
    rcfg.room.store = history;
  }

  if (gcfg.admin.port && admin_token_file.empty()) {
    say(": error: --admin-port needs --admin-token-file (the "
                         "console answers operators only)\n");
    return runtime::usage_error_status;
  }
  if (!admin_token_file.empty()) {
    if (!gcfg.admin.port) {
      say(": error: --admin-token-file needs --admin-port\n");
      return runtime::usage_error_status;
    }
    auto loaded = gateway::load_admin_tokens(admin_token_file);
    if (auto* why = std::get_if<std::string>(&loaded)) {
      say(": error: %s\n", why->c_str());
      return runtime::usage_error_status;
    }
    gcfg.admin.tokens = std::get<0>(std::move(loaded));
    // An operator's secret must not open the user side, nor the reverse.
    if (!jwt.secret_file.empty()) {
      std::ifstream in{jwt.secret_file, std::ios::binary};
      std::string user_secret{std::istreambuf_iterator<char>{in}, {}};
      while (!user_secret.empty() && (user_secret.back() == '\n' || user_secret.back() == '\r'))
        user_secret.pop_back();
      for (auto& t : gcfg.admin.tokens)
        if (t.secret == user_secret) {
          say(": error: --admin-token-file: the token '%s' is "
                               "the user-token secret (--jwt-secret-file): use another\n",
                       t.name.c_str());
          return runtime::usage_error_status;
        }
    }
    for (auto& a : admin_allow) {
      std::string why;
      gcfg.admin.allow.push_back(*gateway::address_range::parse(a, why));
    }
    std::string why;
    auto loopback = gateway::address_range::parse("127.0.0.0/8", why);
    if (!loopback->contains(gcfg.admin.address) && gcfg.admin.address != "::1")
      say(": warning: the admin console at %s speaks plain HTTP: "
                           "tokens cross the network in the clear (prefer loopback and an SSH "
                           "tunnel)\n",
                   gcfg.admin.address.c_str());
  }
  if (tls_files.cert_file.empty() != tls_files.key_file.empty()) {
    say(": error: %s\n",
                 tls_files.cert_file.empty() ? "--tls-key needs --tls-cert (the certificate it "
                                               "belongs to)"
                                             : "--tls-cert needs --tls-key (its private key)");
    return runtime::usage_error_status;
  }
  if (!tls_files.cert_file.empty()) {
    auto loaded = gateway::tls_identity::load(tls_files);
    if (auto* why = std::get_if<std::string>(&loaded)) {
      say(": error: %s\n", why->c_str());
      return runtime::usage_error_status;
    }
    gcfg.tls = std::get<0>(std::move(loaded));
  }

  ccfg.auth = *actors::parse_auth_mode(auth);
  if (!jwt.secret_file.empty() || !jwt.public_key_file.empty()) {
    auto made = gateway::make_jwt_verifier(jwt);
    if (auto* why = std::get_if<std::string>(&made)) {
      say(": error: %s\n", why->c_str());
      return runtime::usage_error_status;
    }
    ccfg.verifier = std::get<0>(std::move(made));
  } else if (ccfg.auth == actors::auth_mode::required) {
    say(": error: --auth=required needs --jwt-secret-file or "
                         "--jwt-public-key-file to check tokens with\n");
    return runtime::usage_error_status;
  }
  {
    std::vector<actors::room_grant> grants;
    for (auto& g : guest_rooms)
      grants.push_back(actors::parse_grant(g));
    ccfg.guest_rooms = actors::room_access{std::move(grants)};
  }
  for (auto& r : behavior_rules)
    rcfg.behaviors.push_back(make_behavior_rule(r, behaviors));
  ccfg.node = cfg.name;
  ccfg.limits.max_frame_bytes = gcfg.max_frame_bytes;
  // Keep the announced content limits below the frame limit (the frame
  // limit bounds the encoded frame: JSON escaping and base64 add to it).
  ccfg.limits.max_text_bytes = std::min(ccfg.limits.max_text_bytes, gcfg.max_frame_bytes / 2);
  ccfg.limits.max_body_bytes = std::min(ccfg.limits.max_body_bytes, gcfg.max_frame_bytes / 2);
  ccfg.backlog = static_cast<uint32_t>(rcfg.room.backlog);
  auto stats = std::make_shared<gateway::metrics>();
  gateway::add_actor_metrics(*stats, ccfg.stats, rcfg.room.stats);
  gateway::add_store_metrics(*stats, history);

  // The node's tree: rooms first (the gateway's connections need the
  // directory), then the gateway, whose listener binds the port as it starts.
  std::vector<runtime::child_spec> children;
  if (clcfg.enabled()) {
    // In a cluster: the agent first (the rooms register with it), and rooms
    // placed across the nodes (docs/cluster.md).
    clcfg.roles.push_back("rooms");
    children.push_back(runtime::cluster_child(cfg.name, clcfg));
    rcfg.node = cfg.name;
    gateway::add_cluster_metrics(*stats, rcfg.relays);
  }
  children.push_back(actors::rooms_child(rcfg));
  std::shared_ptr<gateway::node_admin> admin;
  if (gcfg.admin.port) {
    admin = gateway::make_node_admin();
    gcfg.admin.backend = admin;
    gcfg.admin.node = cfg.name;
    gcfg.admin.version = parley::build().version;
    gcfg.admin.commit = parley::build().commit;
    gcfg.admin.build_type = parley::build().build_type;
  }
  children.push_back(gateway::gateway_child(gcfg, ccfg, stats));
  // Before the node: the node's stop hook uses it until the node is gone.
  systemd_notifier systemd;
  runtime::node node{cfg, [&](caf::actor_system_config& sys_cfg) {
                       actors::announce_chat(sys_cfg);
                       if (clcfg.enabled())
                         runtime::setup_cluster(sys_cfg, clcfg);
                     }};
  if (gcfg.tls) {
    spdlog::info("gateway: TLS certificate {}", gcfg.tls->describe());
    // New handshakes take the new files; open connections keep theirs.
    node.on_reload([tls = gcfg.tls] {
      if (auto why = tls->reload())
        spdlog::error("gateway: TLS reload failed, still serving the old certificate: {}", *why);
      else
        spdlog::info("gateway: TLS certificate reloaded: {}", tls->describe());
    });
  }
  if (clcfg.enabled() && !clcfg.insecure) {
    // The cluster port's gate read its files once: SIGHUP rotates them
    // (outgoing links read them at each connect anyway).
    node.on_reload([] {
      if (auto why = runtime::cluster_gate::reload_all())
        spdlog::error("cluster: TLS reload failed, still using the old certificate: {}", *why);
      else
        spdlog::info("cluster: TLS certificate reloaded");
    });
  }
  node.on_stop([&systemd] { systemd.stopping("draining: closing connections"); });
  auto root = node.start(std::move(children));
  gateway::add_system_metrics(*stats, node.system());
  if (admin)
    admin->attach(node.system(), root, [&node] { node.stop(); });
  caf::scoped_actor self{node.system()};
  // Supervisors start their subtrees concurrently, and one answers only
  // once its own children started: asking the rooms subtree for its
  // directory makes "listening" below mean that the rooms are up too.
  auto rooms_sup = caf::actor_cast<runtime::supervisor_actor>(find_child(self, root, "rooms"));
  find_child(self, rooms_sup, "directory");
  auto gateway_sup = caf::actor_cast<runtime::supervisor_actor>(find_child(self, root, "gateway"));
  auto listener =
    caf::actor_cast<gateway::listener_actor>(find_child(self, gateway_sup, "listener"));
  std::string address;
  uint16_t port = 0;
  uint16_t admin_port = 0;
  if (listener)
    self->request(listener, lookup_timeout, runtime::get_atom::value)
      .receive(
        [&](std::string& a, uint16_t p, uint16_t ap) {
          address = std::move(a);
          port = p;
          admin_port = ap;
        },
        [&](caf::error&) {});
  if (port == 0) {
    // The reason (a port in use, say) was logged by the supervisor.
    say(": the gateway did not start\n");
    node.stop();
    node.wait();
    return 1;
  }
  // WatchdogSec= in the unit: ping while the root supervisor answers. Its
  // probe is made before the gateway says it is ready (a scoped actor counts
  // as running), and only when systemd asks for a watchdog.
  if (systemd_notifier::watchdog_wanted()) {
    auto interval = systemd.start_watchdog(
      [probe = std::make_shared<caf::scoped_actor>(node.system(), true),
       root](std::chrono::microseconds timeout) {
        bool answered = false;
        (*probe)
          ->request(root, timeout, runtime::find_child_atom::value, std::string{"gateway"})
          .receive([&](caf::actor&) { answered = true; }, [&](caf::error&) {});
        return answered;
      });
    spdlog::info("systemd watchdog: pinging every {} ms while the actors answer",
                 std::chrono::duration_cast<std::chrono::milliseconds>(interval / 3).count());
  }
  if (admin_port != 0)
    say(" admin console on %s:%u\n", gcfg.admin.address.c_str(),
        static_cast<unsigned>(admin_port));
  say(" listening on %s:%u%s\n", address.c_str(), static_cast<unsigned>(port),
      gcfg.tls ? " (TLS: https:// and wss://)" : "");
  std::fflush(stderr);
  systemd.ready("listening on " + address + ":" + std::to_string(port));


  // Returns once the root supervisor stopped: after SIGTERM/SIGINT (the
  // node's watcher asks it to; the gateway drains on the way), or if the
  // tree gave up.
  auto reason = node.wait();
  systemd.stop_watchdog();
  // What is queued is committed (or refused) before the process ends.
  history->stop();
  say(" stopped\n");
  return runtime::node::exit_status(reason);
}

} // namespace parley::gateway
