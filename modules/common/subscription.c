#include "subscription.h"

#include <string.h>

#include "query.h"

static const char too_many_channels[] = "too many channels (at most 16 per connection)";
static const char name_too_long[] = "the channel name is longer than 128 bytes";

static int is_parameter(const char *name, size_t length, const char *literal) {
  return strlen(literal) == length && memcmp(name, literal, length) == 0;
}

/* Appends one channel name, percent-decoded when it comes from the query. */
static const char *add_channel(subscription *s, const char *name, size_t length, int decode) {
  char *out;
  size_t n = length;
  if (s->count == SUBSCRIPTION_MAX_CHANNELS) return too_many_channels;
  out = s->names[s->count];
  if (!decode) {
    if (length > sizeof s->names[0]) return name_too_long;
    memcpy(out, name, length);
  } else {
    int status = query_decode(name, length, out, sizeof s->names[0], &n);
    if (status == QUERY_TOO_LONG) return name_too_long;
    if (status == QUERY_BAD_ESCAPE) return "bad %-escape in a channel name";
  }
  s->name_lengths[s->count++] = (uint8_t)n; /* n <= SUBSCRIPTION_MAX_NAME */
  return NULL;
}

static const char *set_since(subscription *s, const char *id, size_t length, const subscription_id_source *source,
                             int decode) {
  size_t n = length;
  s->has_since = 0;
  if (decode) {
    int status = query_decode(id, length, s->since, sizeof s->since, &n);
    if (status == QUERY_TOO_LONG) return source->too_long;
    if (status == QUERY_BAD_ESCAPE) return source->bad_escape;
  } else {
    if (length > sizeof s->since) return source->too_long;
    memcpy(s->since, id, length);
  }
  s->since_length = n;
  s->has_since = 1;
  return NULL;
}

const char *subscription_set_since(subscription *s, const char *id, size_t length, const subscription_id_source *header) {
  return set_since(s, id, length, header, 0);
}

const char *subscription_read(subscription *s, const char *path, size_t path_length, size_t route_length,
                              const char *query, size_t query_length, const subscription_id_source *since,
                              channel_check_fn check) {
  size_t position = 0, name_length, value_length, i;
  const char *name, *value, *problem;
  memset(s, 0, sizeof *s);
  if (route_length && path_length > route_length &&
      (problem = add_channel(s, path + route_length, path_length - route_length, 0)))
    return problem;
  while (query_next(query, query_length, &position, &name, &name_length, &value, &value_length)) {
    if (is_parameter(name, name_length, "channel")) problem = add_channel(s, value, value_length, 1);
    else if (since && is_parameter(name, name_length, since->name)) problem = set_since(s, value, value_length, since, 1);
    else continue;
    if (problem) return problem;
  }
  if (s->count == 0) return "no channel: use {route}{channel} or ?channel=";
  for (i = 0; i < s->count; ++i)
    if ((problem = check(s->names[i], s->name_lengths[i]))) return problem;
  return NULL;
}
