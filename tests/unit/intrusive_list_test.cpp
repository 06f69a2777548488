// The one intrusive list of the tree (core/intrusive_list.h): what its owners rely on.
#include <gtest/gtest.h>

#include <vector>

#include "core/intrusive_list.h"

using tether::ForwardLink;
using tether::IntrusiveForwardList;
using tether::IntrusiveList;
using tether::ListLink;

namespace {

struct Item : ListLink<Item> {
  explicit Item(int v) : value(v) {}
  int value;
};

std::vector<int> values(const IntrusiveList<Item>& list) {
  std::vector<int> seen;
  for (const Item& item : list) seen.push_back(item.value);
  return seen;
}

}  // namespace

TEST(IntrusiveList, KeepsTheNewestFirstAndCountsWhatItHolds) {
  Item a(1), b(2), c(3);
  IntrusiveList<Item> list;
  EXPECT_TRUE(list.empty());
  list.push_front(a);
  list.push_front(b);
  list.push_front(c);
  EXPECT_EQ(list.size(), 3u);
  EXPECT_EQ(values(list), (std::vector<int>{3, 2, 1}));
  EXPECT_EQ(list.front(), &c);
}

TEST(IntrusiveList, RemovesAnElementFromAnywhere) {
  Item a(1), b(2), c(3);
  IntrusiveList<Item> list;
  list.push_front(a);
  list.push_front(b);
  list.push_front(c);
  EXPECT_TRUE(list.remove(b));
  EXPECT_EQ(values(list), (std::vector<int>{3, 1}));
  EXPECT_TRUE(list.remove(c));
  EXPECT_TRUE(list.remove(a));
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.front(), nullptr);
}

// The worker's connection list broke this way: unlinking a connection it never linked emptied it.
TEST(IntrusiveList, RemovingAnElementThatIsInNoListChangesNothing) {
  Item a(1), b(2), stranger(3);
  IntrusiveList<Item> list;
  list.push_front(a);
  list.push_front(b);
  EXPECT_FALSE(list.remove(stranger));
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(values(list), (std::vector<int>{2, 1}));
  EXPECT_TRUE(list.remove(a));
  EXPECT_FALSE(list.remove(a));  // twice: the second does nothing
  EXPECT_EQ(values(list), (std::vector<int>{2}));
}

TEST(IntrusiveList, AVisitMayUnlinkTheElementItIsGiven) {
  Item a(1), b(2), c(3);
  IntrusiveList<Item> list;
  list.push_front(a);
  list.push_front(b);
  list.push_front(c);
  std::vector<int> visited;
  list.for_each([&](Item& item) {
    visited.push_back(item.value);
    list.remove(item);
  });
  EXPECT_EQ(visited, (std::vector<int>{3, 2, 1}));
  EXPECT_TRUE(list.empty());
}

TEST(IntrusiveList, AnElementCanBeInOneListPerTag) {
  struct InA {};
  struct InB {};
  struct Both : ListLink<InA>, ListLink<InB> {};
  Both x, y;
  IntrusiveList<Both, InA> first;
  IntrusiveList<Both, InB> second;
  first.push_front(x);
  first.push_front(y);
  second.push_front(x);
  EXPECT_TRUE(first.remove(x));
  EXPECT_EQ(first.size(), 1u);
  EXPECT_EQ(second.front(), &x);
  EXPECT_TRUE(static_cast<ListLink<InB>&>(x).linked());
}

TEST(IntrusiveList, ADestroyedListLeavesItsElementsUnlinked) {
  Item a(1);
  {
    IntrusiveList<Item> list;
    list.push_front(a);
  }
  EXPECT_FALSE(a.linked());
}

TEST(IntrusiveForwardList, GivesItsElementsBackNewestFirstAndThenNothing) {
  struct Entry : ForwardLink<Entry> {
    explicit Entry(int v) : value(v) {}
    int value;
  };
  Entry a(1), b(2), c(3);
  IntrusiveForwardList<Entry> list;
  EXPECT_TRUE(list.empty());
  list.push_front(a);
  list.push_front(b);
  list.push_front(c);
  std::vector<int> walked;
  for (const Entry& e : list) walked.push_back(e.value);
  EXPECT_EQ(walked, (std::vector<int>{3, 2, 1}));
  std::vector<int> popped;
  while (Entry* e = list.pop_front()) popped.push_back(e->value);
  EXPECT_EQ(popped, (std::vector<int>{3, 2, 1}));
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.pop_front(), nullptr);
  list.push_front(b);  // a popped element can be linked again, alone
  EXPECT_EQ(list.pop_front(), &b);
  EXPECT_EQ(list.pop_front(), nullptr);
}

TEST(IntrusiveForwardList, AnElementCanBeInItAndInADoublyLinkedListAtOnce) {
  struct InChannel {};
  struct OfOwner {};
  struct Both : ListLink<InChannel>, ForwardLink<OfOwner> {};
  Both x, y;
  IntrusiveList<Both, InChannel> channel;
  IntrusiveForwardList<Both, OfOwner> owner;
  channel.push_front(x);
  channel.push_front(y);
  owner.push_front(x);
  EXPECT_EQ(owner.pop_front(), &x);
  EXPECT_EQ(channel.size(), 2u);  // leaving one list is not leaving the other
  EXPECT_TRUE(channel.remove(x));
  EXPECT_EQ(channel.front(), &y);
}
