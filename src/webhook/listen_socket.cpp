// listen_tcp and peer_address for the event server.
#include "webhook/listen_socket.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace ifo::webhook {

core::Result<ListeningSocket> listen_tcp(const std::string& address, int port) {
  using R = core::Result<ListeningSocket>;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const char* host = address.empty() ? nullptr : address.c_str();
  if (int rc = getaddrinfo(host, service.c_str(), &hints, &found); rc != 0)
    return R::fail(fmt::format("cannot listen on {}:{}: {}", address, service, gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, &freeaddrinfo);
  UniqueFd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return R::fail(fmt::format("cannot create a socket: {}", std::strerror(errno)));
  const int one = 1;
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd.get(), found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd.get(), 1024) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0)
    return R::fail(fmt::format("cannot listen on {}:{}: {}", address, service, std::strerror(errno)));
  const int bound_port = bound.ss_family == AF_INET6
                             ? static_cast<int>(ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port))
                             : static_cast<int>(ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
  return ListeningSocket{std::move(fd), bound_port};
}

std::string peer_address(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = {};
  if (peer.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(peer).sin_addr, text, sizeof text);
  } else if (peer.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a))
      inet_ntop(AF_INET, &a.s6_addr[12], text, sizeof text);
    else
      inet_ntop(AF_INET6, &a, text, sizeof text);
  }
  return text[0] != '\0' ? std::string(text) : std::string("unknown");
}

}  // namespace ifo::webhook
