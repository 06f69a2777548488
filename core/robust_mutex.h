// A mutex in memory shared by processes that survives the death of its holder: a worker killed
// while holding it (SIGKILL, a crash) hands it to the next process that locks it, instead of
// freezing every other one. It lives inside a shared mapping; init() it once, in the process
// that creates the mapping, before anything forks.
#pragma once

#include <pthread.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tether {

class RobustMutex {
 public:
  bool init(std::string* why) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&mutex_, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) *why = std::string("cannot create a shared mutex: ") + std::strerror(rc);
    return rc == 0;
  }

  // A dead holder leaves what it guarded half-updated at worst; the users here write the
  // record first and publish it (a count) last, so taking the mutex over is safe.
  void lock() {
    if (pthread_mutex_lock(&mutex_) == EOWNERDEAD) pthread_mutex_consistent(&mutex_);
  }
  void unlock() { pthread_mutex_unlock(&mutex_); }

  class Hold {
   public:
    explicit Hold(RobustMutex& mutex) : mutex_(mutex) { mutex_.lock(); }
    ~Hold() { mutex_.unlock(); }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    RobustMutex& mutex_;
  };

 private:
  pthread_mutex_t mutex_;
};

}  // namespace tether
