// The event server's socket set-up: a non-blocking listening TCP socket, and a peer's address as the
// text its per-address connection cap counts by.
#pragma once

#include <sys/socket.h>

#include <string>

#include "core/result.h"
#include "webhook/unique_fd.h"

namespace ifo::webhook {

struct ListeningSocket {
  UniqueFd fd;
  int port = 0;  // the port bound (the ephemeral one when 0 was asked for)
};

// Binds `address:port` (empty address: every one) with SO_REUSEADDR and listens, non-blocking.
core::Result<ListeningSocket> listen_tcp(const std::string& address, int port);

// The peer's address as text (an IPv4-mapped IPv6 address as its IPv4 form, so a dual-stack listener
// counts one client once); "unknown" for families without one.
std::string peer_address(const sockaddr_storage& peer);

}  // namespace ifo::webhook
