/*
 * hostile — a module for the integration tests that plays a compromised worker: it finds the
 * worker's pub/sub link to the master (its only AF_UNIX stream socket) and writes onto it what
 * no honest worker sends. The last segment of the request's path says what:
 *   .../oversized  a frame header announcing a gigabyte
 *   .../garbage    a frame of an unknown type
 *   .../bad-name   a publish to the channel "a b"
 * It answers 200 "sent" (if the master has not killed the worker first). And
 *   .../scribble?bytes=N  fills every shared anonymous mapping of N bytes (rounded up to pages:
 *                  the status board's size) with 'A's, as a worker that was taken over could
 *   .../extreme-times?bytes=N  writes into that mapping a valid master area (under its sequence
 *                  lock) whose generation and last reload carry the time UINT64_MAX ms
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <tether/module.h>

static const tether_host *host;

static int create_config(const tether_host *h, tether_config *settings, void **config) {
  host = h;
  *config = NULL;
  return host->config_only_keys(settings, NULL, 0);
}

static int link_fd(void) {
  int fd;
  for (fd = 3; fd < 1024; ++fd) {
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    int type = 0;
    socklen_t type_length = sizeof type;
    if (getsockname(fd, (struct sockaddr *)&address, &length) != 0 || address.ss_family != AF_UNIX) continue;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) == 0 && type == SOCK_STREAM) return fd;
  }
  return -1;
}

/* Appends a frame: u32 body length, u8 type, body (host order, as core/pubsub_wire.h). */
static size_t frame(unsigned char *out, uint32_t length, uint8_t type, const void *body, size_t body_length) {
  memcpy(out, &length, 4);
  out[4] = type;
  memcpy(out + 5, body, body_length);
  return 5 + body_length;
}

static size_t bad_name_publish(unsigned char *out) {
  unsigned char body[64];
  uint64_t request = 0;
  uint32_t channel_length = 3, data_length = 1;
  size_t n = 0;
  memcpy(body + n, &request, 8), n += 8;
  memcpy(body + n, &channel_length, 4), n += 4;
  memcpy(body + n, "a b", 3), n += 3;
  memcpy(body + n, &data_length, 4), n += 4;
  body[n++] = 'x';
  return frame(out, (uint32_t)n, 1, body, n);
}

static void write_extreme_times(unsigned char *board);

/* Every "/dev/zero (deleted)" mapping (MAP_SHARED | MAP_ANONYMOUS) of `bytes` bytes: filled
 * with 'A's, or (extreme) given a master area with extreme times. */
static int scribble(size_t bytes, int extreme) {
  char line[512];
  int found = 0;
  FILE *maps = fopen("/proc/self/maps", "r");
  if (!maps) return 0;
  while (fgets(line, sizeof line, maps)) {
    unsigned long start, end;
    if (sscanf(line, "%lx-%lx", &start, &end) != 2 || !strstr(line, "/dev/zero") || end - start != bytes) continue;
    if (extreme) write_extreme_times((unsigned char *)start);
    else memset((void *)start, 'A', bytes);
    ++found;
  }
  fclose(maps);
  return found;
}

/* The master's area as core/status_board.h lays it out (x86-64/aarch64: u64 aligned to 8):
 * a u32 sequence, then the area at offset 8. */
struct generation_record {
  uint32_t number, state, workers, pid_count;
  uint64_t since_ms;
  int32_t pids[64];
  uint32_t running;
};
struct master_area {
  uint32_t generation_count, reload_ok;
  uint64_t reload_time_ms;
  struct generation_record generations[1]; /* the first of them */
};

static void write_extreme_times(unsigned char *board) {
  volatile uint32_t *sequence = (volatile uint32_t *)board;
  struct master_area area;
  uint32_t s = *sequence;
  memset(&area, 0, sizeof area);
  area.generation_count = 1;
  area.reload_ok = 1;
  area.reload_time_ms = UINT64_MAX;
  area.generations[0].number = 1;
  area.generations[0].state = 1; /* serving */
  area.generations[0].workers = 2;
  area.generations[0].since_ms = UINT64_MAX;
  *sequence = s | 1u;
  __sync_synchronize();
  memcpy(board + 8, &area, sizeof area);
  __sync_synchronize();
  *sequence = (s | 1u) + 1;
}

static int content(tether_request *request, void *config, void *route) {
  tether_request_info info;
  unsigned char bytes[128];
  size_t n = 0;
  int fd = link_fd();
  (void)config;
  (void)route;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (fd < 0 || host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  int extreme = info.path_length >= 13 && memcmp(info.path + info.path_length - 13, "extreme-times", 13) == 0;
  if (extreme || (info.path_length >= 8 && memcmp(info.path + info.path_length - 8, "scribble", 8) == 0)) {
    char number[32] = "";
    size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes;
    if (info.query_length > 6 && info.query_length - 6 < sizeof number) memcpy(number, info.query + 6, info.query_length - 6);
    bytes = strtoul(number, NULL, 10); /* "bytes=N" */
    bytes = (bytes + page - 1) / page * page;
    if (bytes == 0 || scribble(bytes, extreme) == 0) return host->respond(request, 404, "text/plain", "no such mapping\n", 16);
    return host->respond(request, 200, "text/plain", "sent\n", 5);
  }
  if (info.path_length >= 9 && memcmp(info.path + info.path_length - 9, "oversized", 9) == 0)
    n = frame(bytes, 1u << 30, 1, "", 0);
  else if (info.path_length >= 7 && memcmp(info.path + info.path_length - 7, "garbage", 7) == 0)
    n = frame(bytes, 3, 99, "abc", 3);
  else if (info.path_length >= 8 && memcmp(info.path + info.path_length - 8, "bad-name", 8) == 0)
    n = bad_name_publish(bytes);
  if (n == 0 || send(fd, bytes, n, MSG_NOSIGNAL) != (ssize_t)n) return TETHER_ERROR;
  return host->respond(request, 200, "text/plain", "sent\n", 5);
}

static const tether_module hostile_module = {
    .size = sizeof(tether_module),
    .abi_major = TETHER_MODULE_ABI_MAJOR,
    .abi_minor = TETHER_MODULE_ABI_MINOR,
    .name = "hostile",
    .version = "1",
    .create_config = create_config,
    .content = content,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &hostile_module; }
