#include "worker/host/crash_report.h"

#include <dlfcn.h>
#include <signal.h>
#include <ucontext.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/log.h"

namespace tether {
namespace {

// The handler runs on its own stack: a stack overflow must still be reported.
alignas(16) char crash_stack[64 * 1024];

void* instruction_pointer(void* context) {
#if defined(__x86_64__)
  return reinterpret_cast<void*>(static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return reinterpret_cast<void*>(static_cast<ucontext_t*>(context)->uc_mcontext.pc);
#else
  (void)context;
  return nullptr;
#endif
}

// Not strictly async-signal-safe (dladdr, snprintf), like every crash reporter that names
// symbols; the process is about to die either way, and the handler runs once (SA_RESETHAND).
void on_crash(int signum, siginfo_t* info, void* context) {
  void* pc = instruction_pointer(context);
  Dl_info where{};
  const char* object = "?";
  char symbol[256] = "?";
  if (pc && dladdr(pc, &where) != 0) {
    if (where.dli_fname) object = where.dli_fname;
    auto offset_in_object = static_cast<std::uintptr_t>(reinterpret_cast<char*>(pc) - static_cast<char*>(where.dli_fbase));
    if (where.dli_sname)
      snprintf(symbol, sizeof symbol, "%s+0x%lx", where.dli_sname,
               static_cast<unsigned long>(reinterpret_cast<char*>(pc) - static_cast<char*>(where.dli_saddr)));
    else
      snprintf(symbol, sizeof symbol, "+0x%lx", static_cast<unsigned long>(offset_in_object));
  }
  Log::write(LogLevel::error, "crashed: signal %d (%s) at address %p, instruction %p in %s (%s)", signum,
             strsignal(signum), info ? info->si_addr : nullptr, pc, object, symbol);
  // Returning re-runs the faulting instruction with the default action restored: the process
  // dies by the same signal, which the master reports.
}

}  // namespace

void install_crash_report() {
  stack_t stack{};
  stack.ss_sp = crash_stack;
  stack.ss_size = sizeof crash_stack;
  sigaltstack(&stack, nullptr);
  struct sigaction action {};
  action.sa_sigaction = on_crash;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int signum : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) sigaction(signum, &action, nullptr);
}

}  // namespace tether
