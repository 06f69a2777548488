// The intrusive list the built-in C modules keep their connections in (modules/common/list.h).
#include <gtest/gtest.h>

#include <vector>

extern "C" {
#include "../../modules/common/list.h"
}

namespace {

struct item {
  int value;
  list_link link;
};

std::vector<int> values(list_link* head) {
  std::vector<int> out;
  list_link *at, *next;
  LIST_FOR_EACH_SAFE(at, next, head) out.push_back(LIST_ENTRY(at, item, link)->value);
  return out;
}

}  // namespace

TEST(ModuleList, AStaticHeadStartsEmptyAndInsertionIsAtTheHead) {
  static list_link head = LIST_HEAD_INIT(head);
  EXPECT_TRUE(list_empty(&head));
  item a{1, {}}, b{2, {}}, c{3, {}};
  list_insert_head(&head, &a.link);
  list_insert_head(&head, &b.link);
  list_insert_head(&head, &c.link);
  EXPECT_FALSE(list_empty(&head));
  EXPECT_EQ(values(&head), (std::vector<int>{3, 2, 1}));
  list_remove(&a.link);
  list_remove(&b.link);
  list_remove(&c.link);
  EXPECT_TRUE(list_empty(&head));
}

TEST(ModuleList, RemovingAnyLinkKeepsTheOthersInOrder) {
  list_link head;
  list_init(&head);
  item items[4] = {{0, {}}, {1, {}}, {2, {}}, {3, {}}};
  for (item& i : items) list_insert_head(&head, &i.link);
  list_remove(&items[2].link);  // the middle
  EXPECT_EQ(values(&head), (std::vector<int>{3, 1, 0}));
  list_remove(&items[3].link);  // the first
  list_remove(&items[0].link);  // the last
  EXPECT_EQ(values(&head), (std::vector<int>{1}));
}

TEST(ModuleList, TheLinkBeingVisitedMayBeRemovedOnTheWay) {
  list_link head;
  list_init(&head);
  item items[5] = {{0, {}}, {1, {}}, {2, {}}, {3, {}}, {4, {}}};
  for (item& i : items) list_insert_head(&head, &i.link);
  list_link *at, *next;
  std::vector<int> visited;
  LIST_FOR_EACH_SAFE(at, next, &head) {
    item* i = LIST_ENTRY(at, item, link);
    visited.push_back(i->value);
    if (i->value % 2 == 0) list_remove(at);  // as a module's on_close does from a sweep
  }
  EXPECT_EQ(visited, (std::vector<int>{4, 3, 2, 1, 0}));
  EXPECT_EQ(values(&head), (std::vector<int>{3, 1}));
}
