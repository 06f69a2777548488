/*
 * lws_subscriber — an independent WebSocket client for the tests, on libwebsockets' client API
 * (not our codec): connects to ws://127.0.0.1:PORT/PATH, prints every text message it receives
 * on its own line, and exits 0 after COUNT messages (1 on a connection error or after 10 s).
 *
 *   lws_subscriber PORT PATH COUNT [MESSAGE-TO-SEND]
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
  (void)user;
  switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      printf("connected\n");
      fflush(stdout);
      if (to_send) lws_callback_on_writable(wsi);
      break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (to_send) {
        unsigned char buffer[LWS_PRE + 1024];
        size_t n = strlen(to_send);
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
  time_t deadline = time(NULL) + 10;
  if (argc < 4) {
    fprintf(stderr, "usage: %s PORT PATH COUNT [MESSAGE]\n", argv[0]);
    return 2;
  }
  wanted = atoi(argv[3]);
  to_send = argc > 4 ? argv[4] : NULL;
  lws_set_log_level(LLL_ERR, NULL);
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
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
