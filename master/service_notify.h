// systemd readiness (Type=notify) without libsystemd: when systemd started us it sets
// NOTIFY_SOCKET, and we send it datagrams "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...".
// Without NOTIFY_SOCKET every call does nothing.
#pragma once

#include <string>

namespace tether {

class ServiceNotifier {
 public:
  ServiceNotifier();  // reads NOTIFY_SOCKET (and unsets it, so children do not inherit it)
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;
  ~ServiceNotifier();

  void ready(const std::string& status);
  void reloading();
  void stopping();

 private:
  void send(const std::string& message);
  std::string path_;
  int fd_ = -1;
};

}  // namespace tether
