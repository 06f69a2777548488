// The TLS session-ticket keys of one generation: 80 random bytes the master draws when it starts
// the generation and hands to each of its workers, so that a client resumes its session on any of
// them (SSL_CTX_set_tlsext_ticket_keys takes exactly this layout: name, HMAC and AES keys).
#pragma once

#include <array>

namespace tether {

using TicketKeys = std::array<unsigned char, 80>;

}  // namespace tether
