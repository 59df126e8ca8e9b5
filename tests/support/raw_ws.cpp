#include "support/raw_ws.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <sstream>

namespace parley::test {

using clock_type = std::chrono::steady_clock;

uint16_t raw_frame::close_code() const {
  if (opcode != 0x8 || payload.size() < 2)
    return 0;
  return static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8)
                               | static_cast<uint8_t>(payload[1]));
}

raw_ws::~raw_ws() {
  close();
}

void raw_ws::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool raw_ws::connect(uint16_t port, const std::string& source, int rcvbuf) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    return false;
  if (rcvbuf > 0)
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_port = 0;
  if (::inet_pton(AF_INET, source.c_str(), &src.sin_addr) != 1
      || ::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0)
    return false;
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  port_ = port;
  ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  return ::connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) == 0;
}

bool raw_ws::send_raw(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    auto n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool raw_ws::fill(clock_type::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0)
      return false;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    char chunk[16384];
    auto n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
}

int raw_ws::handshake(const std::string& target, const std::string& headers) {
  std::ostringstream req;
  req << "GET " << target << " HTTP/1.1\r\n"
      << "Host: 127.0.0.1:" << port_ << "\r\n" << headers
      << "Upgrade: websocket\r\n"
      << "Connection: Upgrade\r\n"
      << "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      << "Sec-WebSocket-Version: 13\r\n\r\n";
  if (!send_raw(req.str()))
    return 0;
  auto deadline = clock_type::now() + std::chrono::seconds(10);
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(deadline))
      return 0;
  auto head = buf_.substr(0, end);
  buf_.erase(0, end + 4);
  if (head.compare(0, 9, "HTTP/1.1 ") != 0)
    return 0;
  return std::atoi(head.c_str() + 9);
}

std::string raw_ws::frame(uint8_t opcode, const std::string& payload, bool masked, bool fin) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0x00) | (opcode & 0x0F)));
  uint8_t mask_bit = masked ? 0x80 : 0x00;
  auto n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i)
      out.push_back(static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xFF));
  }
  if (!masked)
    return out + payload;
  static std::mt19937 rng{12345};
  char key[4];
  for (auto& k : key)
    k = static_cast<char>(rng() & 0xFF);
  out.append(key, 4);
  for (size_t i = 0; i < n; ++i)
    out.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return out;
}

std::optional<raw_frame> raw_ws::read_frame(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (buf_.size() >= 2) {
      auto b0 = static_cast<uint8_t>(buf_[0]);
      auto b1 = static_cast<uint8_t>(buf_[1]);
      size_t len = b1 & 0x7F;
      size_t head = 2;
      bool have_len = true;
      if (len == 126) {
        have_len = buf_.size() >= 4;
        if (have_len)
          len = (static_cast<uint8_t>(buf_[2]) << 8) | static_cast<uint8_t>(buf_[3]);
        head = 4;
      } else if (len == 127) {
        have_len = buf_.size() >= 10;
        if (have_len) {
          len = 0;
          for (int i = 2; i < 10; ++i)
            len = (len << 8) | static_cast<uint8_t>(buf_[i]);
        }
        head = 10;
      }
      if (b1 & 0x80)
        head += 4; // servers do not mask; tolerate it anyway
      if (have_len && buf_.size() >= head + len) {
        raw_frame f;
        f.fin = (b0 & 0x80) != 0;
        f.opcode = b0 & 0x0F;
        f.payload = buf_.substr(head, len);
        if (b1 & 0x80) {
          auto key = buf_.substr(head - 4, 4);
          for (size_t i = 0; i < len; ++i)
            f.payload[i] = static_cast<char>(f.payload[i] ^ key[i % 4]);
        }
        buf_.erase(0, head + len);
        return f;
      }
    }
    if (!fill(deadline))
      return std::nullopt;
  }
}

bool raw_ws::wait_eof(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  while (!eof_) {
    buf_.clear();
    if (!fill(deadline) && !eof_)
      return false;
  }
  return true;
}

std::string raw_ws::http_get(uint16_t port, const std::string& target, const std::string& source,
                             std::chrono::milliseconds timeout) {
  raw_ws c;
  if (!c.connect(port, source))
    return {};
  c.send_raw("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  auto deadline = clock_type::now() + timeout;
  while (!c.eof_ && c.fill(deadline)) {
  }
  return c.buf_;
}

std::optional<double> raw_ws::metric(const std::string& page, const std::string& name) {
  std::istringstream in{page};
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, name.size(), name) == 0 && line.size() > name.size()
        && line[name.size()] == ' ')
      return std::stod(line.substr(name.size() + 1));
  return std::nullopt;
}

} // namespace parley::test
