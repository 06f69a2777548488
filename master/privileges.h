// Dropping root for workers: the master keeps root (to bind low ports and read keys on reload),
// workers run as [server] user.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace tether {

struct WorkerIdentity {
  uid_t uid;
  gid_t gid;
  std::string user;
};

// Looks up `user` when we run as root; nullopt (no drop) otherwise or when user is empty.
// Returns false with *why set when the user does not exist.
bool resolve_worker_identity(const std::string& user, std::optional<WorkerIdentity>* identity, std::string* why);
// In a freshly forked worker: setgroups/setgid/setuid. Returns false with *why set.
bool drop_privileges(const WorkerIdentity& identity, std::string* why);

}  // namespace tether
