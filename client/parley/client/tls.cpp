#include "parley/client/tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <openssl/ssl.h>

namespace parley::client {

namespace net = boost::asio;
namespace beast = boost::beast;

/// A client TLS context: TLS 1.2 or later, the peer checked as `opt` says.
/// Empty with `why` set if the CA file does not load.
std::optional<net::ssl::context> make_client_context(const tls_options& opt, std::string& why) {
  std::optional<net::ssl::context> ctx{std::in_place, net::ssl::context::tls_client};
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2
                   | net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1
                   | net::ssl::context::no_tlsv1_1);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  beast::error_code ec;
  if (!opt.verify) {
    ctx->set_verify_mode(net::ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(net::ssl::verify_peer);
  if (opt.ca_file.empty())
    ctx->set_default_verify_paths(ec);
  else
    ctx->load_verify_file(opt.ca_file, ec);
  if (ec) {
    why = "TLS: cannot load the trusted authorities"
          + (opt.ca_file.empty() ? std::string{} : " from '" + opt.ca_file + "'") + ": "
          + ec.message();
    return std::nullopt;
  }
  return ctx;
}

/// Before the handshake: the name to ask for (SNI) and to check the
/// certificate against. An address is checked as an address.
void prepare_handshake(tls_stream& stream, const std::string& host, bool verify) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  if (ec)
    SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  if (verify)
    stream.set_verify_callback(net::ssl::host_name_verification(host));
}

/// A failed TLS handshake, said for a person.
std::string tls_failure(const beast::error_code& ec) {
  auto msg = ec.message();
  if (msg.find("certificate verify failed") != std::string::npos)
    msg += " (the server's certificate is not signed by a trusted authority, or not for "
           "this host name: name its authority's certificate as the CA file)";
  return msg;
}

} // namespace parley::client
