// A worker that crashes (SIGSEGV, SIGBUS, SIGFPE, SIGILL) logs where: the faulting address and
// the instruction's shared object and nearest symbol (dladdr), so a crash inside a module names
// the module's file. Then the signal's default action runs and the master respawns the worker.
#pragma once

namespace tether {

void install_crash_report();

}  // namespace tether
