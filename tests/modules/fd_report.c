/*
 * fd_report — a module for the integration tests: its create_config writes, into the file
 * <directory>/<pid>, one line per descriptor the process holds ("<fd> <what it is>"), then
 * "listening <n>", the number of listening sockets among them. create_config runs in the module
 * checker and in every worker, so a test can tell what each of them can reach.
 *   [modules.fd_report] directory = "/tmp/..."
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <tether/module.h>

static int is_listening(int fd) {
  int value = 0;
  socklen_t length = sizeof value;
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value != 0;
}

static void report(FILE *out) {
  DIR *dir = opendir("/proc/self/fd");
  struct dirent *entry;
  int listening = 0;
  if (!dir) return;
  while ((entry = readdir(dir)) != NULL) {
    char link[64], target[PATH_MAX];
    ssize_t n;
    int fd = atoi(entry->d_name);
    if (entry->d_name[0] == '.' || fd == dirfd(dir) || fd == fileno(out)) continue;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = '\0';
    fprintf(out, "%d %s\n", fd, target);
    listening += is_listening(fd);
  }
  closedir(dir);
  fprintf(out, "listening %d\n", listening);
}

static int create_config(const tether_host *host, tether_config *settings, void **config) {
  static const char *const known[] = {"directory"};
  const char *directory = NULL;
  char path[PATH_MAX];
  FILE *out;
  if (host->config_only_keys(settings, known, 1) != TETHER_OK) return TETHER_ERROR;
  if (host->config_string(settings, "directory", &directory) != TETHER_OK) return TETHER_ERROR;
  snprintf(path, sizeof path, "%s/%d", directory, (int)getpid());
  out = fopen(path, "w");
  if (!out) return TETHER_ERROR;
  report(out);
  fclose(out);
  *config = NULL;
  return TETHER_OK;
}

static const tether_module fd_report_module = {
    sizeof(tether_module), TETHER_MODULE_ABI_MAJOR, TETHER_MODULE_ABI_MINOR, "fd_report", "1",
    create_config, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &fd_report_module; }
