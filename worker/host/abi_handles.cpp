#include "worker/host/abi_handles.h"

#include "worker/pubsub/pubsub_hub.h"
#include "worker/transport/connection.h"

namespace tether {

Connection& connection_of(tether_connection* handle) { return *static_cast<Connection*>(handle); }
const Connection& connection_of(const tether_connection* handle) { return *static_cast<const Connection*>(handle); }
tether_connection* handle_of(Connection& connection) { return &connection; }
Feed& feed_of(tether_feed* handle) { return *static_cast<Feed*>(handle); }
tether_feed* handle_of(Feed& feed) { return &feed; }

}  // namespace tether
