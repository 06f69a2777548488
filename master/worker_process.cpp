#include "master/worker_process.h"

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/log.h"
#include "core/shared_metrics.h"
#include "worker/worker.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace tether {

void prepare_forked_child(const std::vector<int>& keep) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);
  for (int signum : {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE}) signal(signum, SIG_DFL);

  std::vector<int> to_close;
  if (DIR* dir = opendir("/proc/self/fd")) {
    int own = dirfd(dir);
    while (dirent* entry = readdir(dir)) {
      int fd = std::atoi(entry->d_name);
      if (fd <= STDERR_FILENO || fd == own) continue;
      if (std::find(keep.begin(), keep.end(), fd) == keep.end()) to_close.push_back(fd);
    }
    closedir(dir);
  }
  for (int fd : to_close) ::close(fd);
}

namespace {

// Both ends of a socketpair, each closed on every path that does not hand it on.
struct FdPair {
  UniqueFd master_end;
  UniqueFd worker_end;
};

bool open_socketpair(int type, FdPair* pair, std::string* error) {
  int fds[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) {
    *error = std::string("socketpair(): ") + std::strerror(errno);
    return false;
  }
  pair->master_end = UniqueFd(fds[0]);
  pair->worker_end = UniqueFd(fds[1]);
  return true;
}

}  // namespace

bool spawn_worker(const SpawnRequest& request, WorkerProcess& process, std::string* error) {
  FdPair control, link;
  if (!open_socketpair(SOCK_SEQPACKET, &control, error) || !open_socketpair(SOCK_STREAM | SOCK_NONBLOCK, &link, error))
    return false;
  std::vector<ListenSocket> listen_sockets = request.listeners->fds_for_slot(*request.config, request.slot, request.workers);
  pid_t master = getpid();
  process.metrics_slot = shared_metrics().acquire_slot();
  pid_t pid = fork();
  if (pid < 0) {
    *error = std::string("fork(): ") + std::strerror(errno);
    shared_metrics().release_slot(process.metrics_slot);
    return false;
  }
  if (pid == 0) {
    std::vector<int> keep;
    for (const ListenSocket& s : listen_sockets) keep.push_back(s.fd);
    keep.push_back(control.worker_end.get());
    keep.push_back(link.worker_end.get());
    keep.push_back(Log::fd());
    prepare_forked_child(keep);
    if (request.identity) {
      std::string why;
      if (!drop_privileges(*request.identity, &why)) {
        LOG_ERROR("%s", why.c_str());
        _exit(2);
      }
    }
    // The worker owns its ends from here (run_worker closes them).
    WorkerStartup startup{request.config, request.slot, request.generation, listen_sockets, control.worker_end.release(),
                          link.worker_end.release(), master, process.metrics_slot, request.ticket_keys};
    int status = run_worker(startup);
#if defined(__SANITIZE_ADDRESS__)
    // _exit skips LeakSanitizer's exit hook: check the worker's heap explicitly.
    __lsan_do_leak_check();
#endif
    _exit(status);
  }
  process.pid = pid;
  process.slot = request.slot;
  process.control = std::move(control.master_end);
  process.pubsub_fd = std::move(link.master_end);
  // A frame longer than this worker can have a reason to send breaks its link; its requests
  // wait while a quarter of worker_backlog waits for it (flush_pubsub kills it past all of it).
  const PubsubConfig& pubsub = request.config->pubsub;
  process.pubsub = std::make_unique<PubsubLink>(process.pubsub_fd.get(), max_worker_frame(pubsub.max_message_size), pubsub.worker_backlog / 4);
  process.ready = false;
  process.accept_stopped = false;
  process.stop_requested = false;
  process.started_at = SteadyClock::now();
  return true;
}

}  // namespace tether
