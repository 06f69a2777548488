// floor: the physical reference for fan-out. A minimal server with no server logic: it accepts
// WebSocket (GET with Upgrade) or SSE (other GET) subscribers, and on each POST frames the body
// once and write()s that frame to every subscriber, one syscall per delivery, nothing queued
// (a write that would block is counted and dropped). Run with as many threads as the server it
// is compared with has workers: each thread has its own SO_REUSEPORT listener, epoll and
// subscribers, and writes a published frame to its own subscribers.
//
//   floor --port P [--threads 2]
//
// Prints, on SIGINT/SIGTERM, one JSON line: deliveries, writes that would have blocked.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

std::atomic<bool> stopping{false};
std::atomic<unsigned long long> deliveries{0}, would_block{0};

struct Frames {  // one published message in both wire formats
  std::string websocket;
  std::string sse;
};

class Shard;
std::vector<Shard*> shards;

class Shard {
 public:
  explicit Shard(int port) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listener_, 4096) != 0) {
      std::perror("floor: bind/listen");
      std::exit(1);
    }
    epoll_ = epoll_create1(0);
    wake_ = eventfd(0, EFD_NONBLOCK);
    add(listener_);
    add(wake_);
  }

  void post(std::shared_ptr<const Frames> frames) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      inbox_.push_back(std::move(frames));
    }
    std::uint64_t one = 1;
    (void)!write(wake_, &one, sizeof one);
  }

  void run() {
    epoll_event events[256];
    while (!stopping) {
      int n = epoll_wait(epoll_, events, 256, 200);
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listener_) accept_all();
        else if (fd == wake_) deliver();
        else readable(fd);
      }
    }
  }

 private:
  enum class Kind { reading, websocket, sse };
  struct Peer {
    Kind kind = Kind::reading;
    std::string input;
  };

  void add(int fd) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &e);
  }

  void accept_all() {
    for (;;) {
      int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK);
      if (fd < 0) return;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      peers_[fd] = Peer{};
      add(fd);
    }
  }

  void deliver() {
    std::uint64_t count;
    (void)!read(wake_, &count, sizeof count);
    std::vector<std::shared_ptr<const Frames>> batch;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batch.swap(inbox_);
    }
    for (const auto& frames : batch) {
      unsigned long long done = 0, blocked = 0;
      for (int fd : websocket_) (::send(fd, frames->websocket.data(), frames->websocket.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0 ? done : blocked)++;
      for (int fd : sse_) (::send(fd, frames->sse.data(), frames->sse.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0 ? done : blocked)++;
      deliveries += done;
      would_block += blocked;
    }
  }

  void readable(int fd) {
    char buffer[65536];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    Peer& peer = peers_[fd];
    if (n <= 0) {
      close_peer(fd);
      return;
    }
    if (peer.kind != Kind::reading) return;  // subscribers' input (pongs) is ignored
    peer.input.append(buffer, static_cast<std::size_t>(n));
    for (;;) {
      std::size_t end = peer.input.find("\r\n\r\n");
      if (end == std::string::npos) return;
      std::string head = peer.input.substr(0, end + 4);
      if (head.compare(0, 4, "POST") == 0) {
        std::size_t length = 0;
        if (const char* cl = strcasestr(head.c_str(), "content-length:")) length = std::strtoul(cl + 15, nullptr, 10);
        if (peer.input.size() < end + 4 + length) return;
        publish(peer.input.substr(end + 4, length));
        peer.input.erase(0, end + 4 + length);
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        (void)!::send(fd, ok, sizeof ok - 1, MSG_NOSIGNAL);
        continue;
      }
      subscribe(fd, peer, head);
      return;
    }
  }

  void subscribe(int fd, Peer& peer, const std::string& head) {
    const char* key = strcasestr(head.c_str(), "sec-websocket-key:");
    std::string answer;
    if (key) {
      key += 18;
      while (*key == ' ') ++key;
      std::string k(key, strcspn(key, "\r\n"));
      k += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
      unsigned char digest[SHA_DIGEST_LENGTH];
      SHA1(reinterpret_cast<const unsigned char*>(k.data()), k.size(), digest);
      char accept[64];
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(accept), digest, sizeof digest);
      answer = std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: ") + accept + "\r\n\r\n";
      peer.kind = Kind::websocket;
      websocket_.push_back(fd);
    } else {
      answer = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
      peer.kind = Kind::sse;
      sse_.push_back(fd);
    }
    peer.input.clear();
    (void)!::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
  }

  void publish(const std::string& body) {
    auto frames = std::make_shared<Frames>();
    std::string& ws = frames->websocket;
    ws.push_back(static_cast<char>(0x81));
    if (body.size() < 126) ws.push_back(static_cast<char>(body.size()));
    else {
      ws.push_back(126);
      ws.push_back(static_cast<char>(body.size() >> 8));
      ws.push_back(static_cast<char>(body.size()));
    }
    ws += body;
    frames->sse = "data: " + body + "\n\n";
    for (Shard* shard : shards) shard->post(frames);
  }

  void close_peer(int fd) {
    for (auto* list : {&websocket_, &sse_})
      for (std::size_t i = 0; i < list->size(); ++i)
        if ((*list)[i] == fd) {
          (*list)[i] = list->back();
          list->pop_back();
          break;
        }
    peers_.erase(fd);
    ::close(fd);
  }

  int listener_, epoll_, wake_;
  std::unordered_map<int, Peer> peers_;
  std::vector<int> websocket_, sse_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<const Frames>> inbox_;
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  unsigned threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--threads") == 0) threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
  }
  if (port == 0 || threads == 0) {
    std::fprintf(stderr, "usage: floor --port P [--threads N]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction stop{};
  stop.sa_handler = [](int) { stopping = true; };
  sigaction(SIGINT, &stop, nullptr);
  sigaction(SIGTERM, &stop, nullptr);
  std::vector<std::unique_ptr<Shard>> owned;
  for (unsigned i = 0; i < threads; ++i) {
    owned.push_back(std::make_unique<Shard>(port));
    shards.push_back(owned.back().get());
  }
  std::vector<std::thread> running;
  for (Shard* shard : shards) running.emplace_back([shard] { shard->run(); });
  for (auto& t : running) t.join();
  std::printf("{\"label\":\"floor\",\"deliveries\":%llu,\"would_block\":%llu}\n", deliveries.load(), would_block.load());
  return 0;
}
