/* An intrusive doubly-linked list for the built-in modules, as libuv's uv__queue and nginx's
 * ngx_queue_t: a module embeds a list_link in its per-connection struct, so that linking a
 * connection in or out allocates nothing and costs two pointers per connection.
 *
 * The head is a list_link of its own, circular, so that insertion and removal never test for
 * the ends:
 *
 *   static list_link connections = LIST_HEAD_INIT(connections);
 *   list_insert_head(&connections, &c->link);
 *   LIST_FOR_EACH_SAFE(at, next, &connections) { my_conn *c = LIST_ENTRY(at, my_conn, link); ... }
 *   list_remove(&c->link);
 */
#ifndef TETHER_MODULES_COMMON_LIST_H
#define TETHER_MODULES_COMMON_LIST_H

#include <stddef.h>

typedef struct list_link {
  struct list_link *prev, *next;
} list_link;

#define LIST_HEAD_INIT(head) {&(head), &(head)}

/* The struct of `type` whose member `field` is the link `link`. */
#define LIST_ENTRY(link, type, field) ((type *)((char *)(link) - offsetof(type, field)))

/* Visits every link; the one visited may be removed (and freed) on the way, because the next
 * one is read before. */
#define LIST_FOR_EACH_SAFE(at, following, head) \
  for ((at) = (head)->next, (following) = (at)->next; (at) != (head); (at) = (following), (following) = (at)->next)

static inline void list_init(list_link *head) { head->prev = head->next = head; }

static inline int list_empty(const list_link *head) { return head->next == head; }

static inline void list_insert_head(list_link *head, list_link *link) {
  link->next = head->next;
  link->prev = head;
  head->next->prev = link;
  head->next = link;
}

static inline void list_remove(list_link *link) {
  link->prev->next = link->next;
  link->next->prev = link->prev;
  link->prev = link->next = link;
}

#endif
