// Clears OpenSSL's per-thread error queue before each TLS call of the node
// links.
//
// Why: libcaf-openssl 0.17 (Debian's libcaf-openssl) drains the error queue
// only inside a CAF_LOG_INFO statement, and Debian builds CAF with logging
// compiled out, so the queue is never drained. OpenSSL's SSL_get_error()
// answers SSL_ERROR_SSL whenever that thread's queue holds an error, so once
// one node link ends with an error (a peer that went away: OpenSSL 3 queues
// "unexpected eof while reading"), the next harmless "want read" on ANY other
// link of the same I/O thread is taken for a failure and that link is closed
// too. Seen: every link of a node dropped within one heartbeat after an
// unrelated peer disconnected (docs/cluster.md, "Known limits").
//
// How: the executables that join a cluster define these four functions and
// export them (parley_cluster's link options), so the dynamic linker binds
// libcaf-openssl's calls here first; each clears the queue and calls the
// real function from libssl. Nothing else changes.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

namespace {

template <class Fn>
Fn next_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = next_symbol<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = next_symbol<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_connect(SSL* ssl) {
  static auto real = next_symbol<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

int SSL_accept(SSL* ssl) {
  static auto real = next_symbol<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"

namespace parley::runtime {

// Referenced by setup_cluster, so the linker always takes this object from
// the static library.
bool tls_error_queue_guard() {
  return true;
}

} // namespace parley::runtime
