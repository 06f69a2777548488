#include "master/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tether {

bool resolve_worker_identity(const std::string& user, std::optional<WorkerIdentity>* identity, std::string* why) {
  identity->reset();
  if (geteuid() != 0 || user.empty()) return true;
  passwd* entry = getpwnam(user.c_str());
  if (!entry) {
    *why = "user \"" + user + "\" does not exist";
    return false;
  }
  *identity = WorkerIdentity{entry->pw_uid, entry->pw_gid, user};
  return true;
}

bool drop_privileges(const WorkerIdentity& identity, std::string* why) {
  if (initgroups(identity.user.c_str(), identity.gid) != 0 || setgid(identity.gid) != 0 ||
      setuid(identity.uid) != 0) {
    *why = "cannot switch to user \"" + identity.user + "\": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace tether
