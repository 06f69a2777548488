// The master's listening sockets: for every [[listen]] address, one SO_REUSEPORT socket per
// worker slot, kept open across reloads. Worker slot i of a generation with W workers accepts
// on every socket s of an address with s % W == i, so when a reload lowers the worker count no
// socket is closed (closing a SO_REUSEPORT socket resets the connections in its backlog).
//
// A reload first prepares (opens what the new config adds), then either commits (addresses
// the new config dropped are handed back to be closed once the old generation stopped
// accepting) or rolls back (closes only what prepare opened).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/unique_fd.h"
#include "core/listen_socket.h"

namespace tether {

class ListenerSet {
 public:
  // Opens the sockets `config` needs for `workers` slots that are not open yet. `retired`: the
  // sockets of earlier generations' retired_unlisted() the master still holds.
  bool prepare(const Config& config, unsigned workers, const std::vector<int>& retired, std::string* error);
  void commit_staged();
  void rollback_staged();
  // Removes and returns the sockets of addresses `config` no longer lists.
  std::vector<UniqueFd> retire_unlisted(const Config& config);

  // The sockets worker `slot` of `workers` accepts on, for the addresses of `config`.
  std::vector<ListenSocket> fds_for_slot(const Config& config, unsigned slot, unsigned workers) const;
  // Every descriptor held, so that a forked worker can close the ones that are not its own.
  std::vector<int> all_fds() const;

 private:
  bool holds_overlapping(const SocketAddress& address, const std::vector<int>& retired) const;

  struct Address {
    std::vector<UniqueFd> slots;
    std::size_t committed = 0;  // slots[committed..] were opened by the reload being prepared
  };
  std::map<std::string, Address> addresses_;
};

}  // namespace tether
