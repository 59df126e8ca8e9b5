// The cluster's options and their checks; CLI11 only, no CAF networking.

#include "parley/runtime/cluster.hpp"

#include <CLI/CLI.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <memory>

namespace parley::runtime {

namespace {

/// A duration in whole milliseconds on the command line.
void add_millis(CLI::App& app, const std::string& flag, caf::timespan& target,
                const std::string& env, const std::string& help) {
  auto current = std::chrono::duration_cast<std::chrono::milliseconds>(target).count();
  app
    .add_option_function<int64_t>(
      flag, [&target](int64_t ms) { target = std::chrono::milliseconds(ms); }, help)
    ->envname(env)
    ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}))
    ->default_str(std::to_string(current));
}

bool readable(const std::string& path) {
  std::ifstream in{path};
  return in.good();
}

std::string openssl_reason() {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "not valid PEM";
  char buf[256] = {};
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

// Loads the three files the way the node links will, so a bad file is a
// one-line error at startup instead of a failed handshake (libcaf-openssl
// throws from its I/O thread on a file it cannot load).
std::optional<std::string> check_tls_files(const cluster_config& cfg) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{SSL_CTX_new(TLS_method()),
                                                        &SSL_CTX_free};
  if (!ctx)
    return "cannot create a TLS context: " + openssl_reason();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cfg.cert.c_str()) != 1)
    return "--cluster-cert " + cfg.cert + ": " + openssl_reason();
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), cfg.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    auto why = openssl_reason();
    // A valid key for another certificate: say so rather than in
    // OpenSSL's words.
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> bare{SSL_CTX_new(TLS_method()),
                                                           &SSL_CTX_free};
    if (bare && SSL_CTX_use_PrivateKey_file(bare.get(), cfg.key.c_str(), SSL_FILETYPE_PEM) == 1)
      return "--cluster-key " + cfg.key + " does not belong to --cluster-cert " + cfg.cert;
    ERR_clear_error();
    return "--cluster-key " + cfg.key + ": " + why;
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return "--cluster-key " + cfg.key + " does not belong to --cluster-cert " + cfg.cert;
  if (SSL_CTX_load_verify_locations(ctx.get(), cfg.ca.c_str(), nullptr) != 1)
    return "--cluster-ca " + cfg.ca + ": " + openssl_reason();
  return std::nullopt;
}

} // namespace

std::string cluster_config::advertised_host() const {
  if (!advertise.empty())
    return advertise;
  if (bind != "0.0.0.0" && bind != "::")
    return bind;
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) == 0 && buf[0] != '\0')
    return buf;
  return "127.0.0.1";
}

void add_cluster_options(CLI::App& app, cluster_config& cfg) {
  app
    .add_option_function<int>(
      "--cluster-port", [&cfg](int port) { cfg.port = static_cast<uint16_t>(port); },
      "Join a cluster: the port other nodes connect to (0: any free port)")
    ->envname("PARLEY_CLUSTER_PORT")
    ->check(CLI::Range(0, 65535));
  app.add_option("--cluster-bind", cfg.bind, "Address the cluster port listens on")
    ->envname("PARLEY_CLUSTER_BIND")
    ->capture_default_str();
  app
    .add_option("--cluster-advertise", cfg.advertise,
                "Address other nodes reach this one at (default: --cluster-bind, or the "
                "host name)")
    ->envname("PARLEY_CLUSTER_ADVERTISE");
  app
    .add_option("--seed", cfg.seeds,
                "A node to join through, host:port (repeat, or separate with commas)")
    ->envname("PARLEY_SEEDS")
    ->delimiter(',');
  app.add_option("--cluster-cert", cfg.cert, "This node's certificate chain (PEM)")
    ->envname("PARLEY_CLUSTER_CERT");
  app.add_option("--cluster-key", cfg.key, "This node's private key (PEM)")
    ->envname("PARLEY_CLUSTER_KEY");
  app.add_option("--cluster-ca", cfg.ca, "The cluster's CA certificate (PEM)")
    ->envname("PARLEY_CLUSTER_CA");
  app
    .add_flag("--cluster-insecure", cfg.insecure,
              "Node links without TLS or authentication (development only)")
    ->envname("PARLEY_CLUSTER_INSECURE");
  add_millis(app, "--cluster-heartbeat-ms", cfg.heartbeat, "PARLEY_CLUSTER_HEARTBEAT_MS",
             "Heartbeat interval on node links");
  add_millis(app, "--cluster-handshake-timeout-ms", cfg.handshake_timeout,
             "PARLEY_CLUSTER_HANDSHAKE_TIMEOUT_MS",
             "A connection to the cluster port that has not authenticated (TLS and its first "
             "message) within this is closed");
  app
    .add_option("--cluster-max-pending", cfg.max_pending,
                "Connections to the cluster port not yet authenticated, at most; more are "
                "closed at once")
    ->envname("PARLEY_CLUSTER_MAX_PENDING")
    ->check(CLI::Range(size_t{1}, size_t{100'000}))
    ->capture_default_str();
  app
    .add_option("--cluster-max-pending-per-address", cfg.max_pending_per_address,
                "The same, from one address")
    ->envname("PARLEY_CLUSTER_MAX_PENDING_PER_ADDRESS")
    ->check(CLI::Range(size_t{1}, size_t{100'000}))
    ->capture_default_str();
  add_millis(app, "--cluster-failure-timeout-ms", cfg.failure_timeout,
             "PARLEY_CLUSTER_FAILURE_TIMEOUT_MS",
             "A node silent this long is cut off and removed from the view");
  add_millis(app, "--cluster-retry-ms", cfg.retry, "PARLEY_CLUSTER_RETRY_MS",
             "How often unconnected seeds are tried again");
}

std::optional<std::string> validate(const cluster_config& cfg) {
  if (!cfg.enabled()) {
    if (!cfg.seeds.empty())
      return "--seed needs --cluster-port (the node's own cluster port)";
    // Given and silently ignored, they would let an operator believe the
    // node is in a cluster, over TLS.
    if (!cfg.cert.empty() || !cfg.key.empty() || !cfg.ca.empty() || cfg.insecure)
      return "--cluster-cert, --cluster-key, --cluster-ca and --cluster-insecure need "
             "--cluster-port: without it this node is in no cluster";
    return std::nullopt;
  }
  for (auto& seed : cfg.seeds) {
    auto colon = seed.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == seed.size())
      return "--seed " + seed + ": expected host:port";
    auto port_text = seed.substr(colon + 1);
    char* end = nullptr;
    errno = 0;
    auto port = std::strtol(port_text.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
      return "--seed " + seed + ": the port is not a number from 1 to 65535";
  }
  if (cfg.failure_timeout <= cfg.heartbeat)
    return "--cluster-failure-timeout-ms must be longer than --cluster-heartbeat-ms";
  bool any_tls = !cfg.cert.empty() || !cfg.key.empty() || !cfg.ca.empty();
  if (cfg.insecure) {
    if (any_tls)
      return "--cluster-insecure and --cluster-cert/--cluster-key/--cluster-ca exclude each other";
    return std::nullopt;
  }
  if (cfg.cert.empty() || cfg.key.empty() || cfg.ca.empty())
    return "a cluster node needs --cluster-cert, --cluster-key and --cluster-ca (mutual TLS), "
           "or --cluster-insecure";
  for (auto* path : {&cfg.cert, &cfg.key, &cfg.ca})
    if (!readable(*path))
      return "cannot read " + *path;
  return check_tls_files(cfg);
}

std::vector<std::string> warnings(const cluster_config& cfg) {
  std::vector<std::string> out;
  if (!cfg.enabled() || cfg.insecure || cfg.cert.empty() || cfg.ca.empty())
    return out;
  ERR_clear_error();
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store{X509_STORE_new(),
                                                                &X509_STORE_free};
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new_file(cfg.cert.c_str(), "r"), &BIO_free};
  if (!store || !bio || X509_STORE_load_file(store.get(), cfg.ca.c_str()) != 1) {
    ERR_clear_error();
    return out; // validate() said what is wrong with the files
  }
  std::unique_ptr<X509, decltype(&X509_free)> cert{
    PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free};
  // The rest of the chain file: intermediates between the CA and the node.
  std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> chain{
    sk_X509_new_null(), [](STACK_OF(X509)* s) { sk_X509_pop_free(s, X509_free); }};
  while (auto* more = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    sk_X509_push(chain.get(), more);
  ERR_clear_error(); // the end of the file
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx{X509_STORE_CTX_new(),
                                                                      &X509_STORE_CTX_free};
  if (!cert || !ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), chain.get()) != 1)
    return out;
  if (X509_verify_cert(ctx.get()) != 1)
    out.push_back("--cluster-cert " + cfg.cert + " is not signed by --cluster-ca " + cfg.ca + " ("
                  + X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))
                  + "): peers that trust that CA will refuse this node");
  ERR_clear_error();
  return out;
}

} // namespace parley::runtime
