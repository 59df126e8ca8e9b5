#pragma once

/// @file
/// The cluster port's front door: a TLS terminator in front of CAF's BASP.
///
/// libcaf-openssl 0.17 builds a fresh TLS context for every accepted
/// connection (its certificate, key and CA files read again, about 0.8 ms of
/// CPU) on the middleman's one I/O thread, and has no handshake timeout and
/// no limit on connections that have not authenticated: a connect/close loop
/// starves the node links, and silent sockets are held for ever. CAF offers
/// no hook to change that (its session and doorman are file-local), so the
/// node publishes BASP on an ephemeral loopback port and this gate owns the
/// public cluster port: one TLS context built once (mutual TLS against the
/// cluster CA), a deadline for the handshake and the peer's first BASP
/// header, caps on connections not yet through it (per address and in all),
/// and, once through, bytes copied both ways to the loopback port. Outgoing
/// links still use libcaf-openssl's client, which presents its certificate
/// to the other node's gate. Asio and OpenSSL only, its own thread, no CAF.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace parley::runtime {

struct cluster_gate_config {
  /// The public cluster port (0: any free port) and its address.
  std::string bind = "0.0.0.0";
  uint16_t port = 0;
  /// Where BASP listens (127.0.0.1).
  uint16_t backend_port = 0;
  /// Mutual TLS: this node's certificate chain and key, the cluster's CA.
  std::string cert;
  std::string key;
  std::string ca;
  /// From accept to the end of the TLS handshake and the peer's first
  /// BASP header; a connection that takes longer is closed.
  std::chrono::milliseconds handshake_timeout{5000};
  /// Connections not yet through the handshake, in all and per address;
  /// past either a new one is closed at once, before any TLS.
  size_t max_pending = 256;
  size_t max_pending_per_address = 16;
};

/// What every gate of the process counted (for /metrics).
struct cluster_gate_stats {
  /// Connections accepted on the cluster port.
  std::atomic<uint64_t> accepted{0};
  /// Closed at once: past --cluster-max-pending or its per-address cap.
  std::atomic<uint64_t> refused{0};
  /// Closed for not completing the handshake in time.
  std::atomic<uint64_t> timed_out{0};
  /// Failed TLS handshakes (no certificate, one the CA did not sign, not TLS).
  std::atomic<uint64_t> handshake_failed{0};
  /// Connections not yet through the handshake (gauge).
  std::atomic<int64_t> pending{0};
  /// Authenticated links being relayed to BASP (gauge).
  std::atomic<int64_t> links{0};
};

cluster_gate_stats& cluster_gate_counters();

class cluster_gate {
public:
  /// Binds and starts serving; a one-line reason when it cannot (the port
  /// is taken, a file does not load).
  static std::variant<std::shared_ptr<cluster_gate>, std::string>
  start(const cluster_gate_config& cfg);

  ~cluster_gate();

  cluster_gate(const cluster_gate&) = delete;
  cluster_gate& operator=(const cluster_gate&) = delete;

  /// The bound public port.
  uint16_t port() const;

  /// Closes the port and every connection through it; waits for the
  /// gate's thread. Idempotent.
  void stop();

  /// Reads the certificate, key and CA files again: new connections take
  /// them, open links keep theirs. On failure the old ones stay, and the
  /// reason is returned.
  std::optional<std::string> reload();

  /// `reload()` of every running gate of the process (SIGHUP); the first
  /// failure, if any.
  static std::optional<std::string> reload_all();

  struct impl;

private:
  explicit cluster_gate(std::unique_ptr<impl> p);
  static std::mutex& registry_mtx();
  static std::vector<std::weak_ptr<cluster_gate>>& registry();
  std::unique_ptr<impl> impl_;
};

} // namespace parley::runtime
