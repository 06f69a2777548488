// Ports for the processes a test starts.
#pragma once

namespace tether::test {

// A TCP port free right now on every IPv4 address of this machine, not only on 127.0.0.1 (the
// kernel picks it by binding 0.0.0.0:0). A port bound only on loopback may be in use on another
// address, say by an outgoing connection of the machine's external address: a test that later
// binds the wildcard on it (a reload changing the host) would then fail for a reason of the
// machine's, not tether's. Returns 0 if no port could be had.
int free_port();

}  // namespace tether::test
