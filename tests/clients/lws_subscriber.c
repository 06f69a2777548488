/*
 * lws_subscriber — an independent WebSocket client for the tests, on libwebsockets' client API
 * (not our codec): connects to ws://127.0.0.1:PORT/PATH, prints every text message it receives
 * on its own line, and exits 0 after COUNT messages (1 on a connection error or after 10 s).
 * With --deflate it offers permessage-deflate through libwebsockets' own extension (its zlib
 * inflates what the server compressed, and it compresses what it sends), and prints
 * "extension: permessage-deflate" when the server's answer accepted it.
 *
 *   lws_subscriber [--deflate] PORT PATH COUNT [MESSAGE-TO-SEND]
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int wanted, received, failed, finished;
static const char *to_send;
static char message[1 << 16];
static size_t message_length;

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_WS_EXT_DEFAULTS: /* the server's answer named an extension we offered */
      printf("extension: %s\n", (const char *)user);
      break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
      printf("connected\n");
      fflush(stdout);
      if (to_send) lws_callback_on_writable(wsi);
      break;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (to_send) {
        static unsigned char buffer[LWS_PRE + 65536];
        size_t n = strlen(to_send);
        if (n > sizeof buffer - LWS_PRE) n = sizeof buffer - LWS_PRE; /* the tests send less */
        memcpy(buffer + LWS_PRE, to_send, n);
        lws_write(wsi, buffer + LWS_PRE, n, LWS_WRITE_TEXT);
        to_send = NULL;
      }
      break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
      if (message_length + len < sizeof message) {
        memcpy(message + message_length, in, len);
        message_length += len;
      }
      if (lws_is_final_fragment(wsi)) {
        printf("%.*s\n", (int)message_length, message);
        fflush(stdout);
        message_length = 0;
        if (++received >= wanted) {
          finished = 1;
          return -1; /* close */
        }
      }
      break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      fprintf(stderr, "connection error: %s\n", in ? (const char *)in : "?");
      failed = 1;
      finished = 1;
      break;
    case LWS_CALLBACK_CLIENT_CLOSED:
      finished = 1;
      break;
    default:
      break;
  }
  return 0;
}

int main(int argc, char **argv) {
  struct lws_context_creation_info info;
  struct lws_client_connect_info connect;
  struct lws_context *context;
  static const struct lws_protocols protocols[] = {{"tether-test", callback, 0, 65536, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};
  static const struct lws_extension deflate[] = {
      {"permessage-deflate", lws_extension_callback_pm_deflate, "permessage-deflate; client_max_window_bits"},
      {NULL, NULL, NULL}};
  time_t deadline = time(NULL) + 10;
  int with_deflate = argc > 1 && strcmp(argv[1], "--deflate") == 0;
  argv += with_deflate;
  argc -= with_deflate;
  if (argc < 4) {
    fprintf(stderr, "usage: lws_subscriber [--deflate] PORT PATH COUNT [MESSAGE]\n");
    return 2;
  }
  wanted = atoi(argv[3]);
  to_send = argc > 4 ? argv[4] : NULL;
  lws_set_log_level(LLL_ERR, NULL);
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  if (with_deflate) info.extensions = deflate;
  context = lws_create_context(&info);
  if (!context) return 1;
  memset(&connect, 0, sizeof connect);
  connect.context = context;
  connect.address = "127.0.0.1";
  connect.port = atoi(argv[1]);
  connect.path = argv[2];
  connect.host = "127.0.0.1";
  connect.origin = "127.0.0.1";
  connect.protocol = NULL;
  if (!lws_client_connect_via_info(&connect)) {
    lws_context_destroy(context);
    return 1;
  }
  while (!finished && time(NULL) < deadline) lws_service(context, 100);
  lws_context_destroy(context);
  return failed || received < wanted ? 1 : 0;
}
