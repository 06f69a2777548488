// An intrusive doubly linked list, as libuv's uv__queue and nginx's ngx_queue_t: an element
// carries its own links (it derives from ListLink<Tag>, one base per list it can be in), so
// linking and unlinking allocate nothing and take constant time. The list borrows its elements,
// it never owns or frees them.
//
// Only the list links and unlinks, and unlinking an element that is in no list does nothing: an
// owner never has to remember whether an element ever made it into its list. for_each() holds
// the next element before it visits one, so the visit may unlink the element it is given.
//
// IntrusiveForwardList is the same list linked one way (ForwardLink<Tag>, one pointer), for
// elements that only ever leave it from the front, e.g. all at once when their owner goes: a
// sink's subscriptions, of which there is one per subscriber, need no back link.
#pragma once

#include <cstddef>
#include <utility>

namespace tether {

template <typename T, typename Link>
class ListIterator;

template <typename Tag>
class ListLink {
 public:
  ListLink() = default;
  ListLink(const ListLink&) = delete;
  ListLink& operator=(const ListLink&) = delete;

  bool linked() const { return pprev_ != nullptr; }

 private:
  template <typename, typename>
  friend class IntrusiveList;
  template <typename, typename>
  friend class ListIterator;
  ListLink* next_ = nullptr;
  ListLink** pprev_ = nullptr;  // the previous link's next_, or the list's head_: null while unlinked
};

// T derives (publicly) from ListLink<Tag>; Tag tells apart the lists an element can be in at once.
template <typename T, typename Tag = T>
class IntrusiveList {
  using Link = ListLink<Tag>;

 public:
  IntrusiveList() = default;
  // Elements point at the list's head: it cannot move.
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;
  ~IntrusiveList() {
    while (head_) unlink(*head_);
  }

  bool empty() const { return head_ == nullptr; }
  std::size_t size() const { return size_; }
  T* front() const { return head_ ? &element(*head_) : nullptr; }

  // Links `element` first. It must not be in a list of this Tag already.
  void push_front(T& element) {
    Link& link = element;
    link.next_ = head_;
    if (head_) head_->pprev_ = &link.next_;
    head_ = &link;
    link.pprev_ = &head_;
    ++size_;
  }

  // Unlinks `element` if it is in this list; false (and nothing changes) if it is in none.
  bool remove(T& element) {
    Link& link = element;
    if (!link.linked()) return false;
    unlink(link);
    return true;
  }

  // Calls f(T&) for every element, first to last; f may unlink the element it was given.
  template <typename F>
  void for_each(F&& f) const {
    for (Link* link = head_; link;) {
      Link* next = link->next_;
      f(element(*link));
      link = next;
    }
  }

  using iterator = ListIterator<T, Link>;
  // For walks that unlink nothing (use for_each otherwise).
  iterator begin() const { return iterator(head_); }
  iterator end() const { return iterator(nullptr); }

 private:
  static T& element(Link& link) { return static_cast<T&>(link); }
  void unlink(Link& link) {
    *link.pprev_ = link.next_;
    if (link.next_) link.next_->pprev_ = link.pprev_;
    link.next_ = nullptr;
    link.pprev_ = nullptr;
    --size_;
  }

  Link* head_ = nullptr;
  std::size_t size_ = 0;
};

template <typename Tag>
class ForwardLink {
 public:
  ForwardLink() = default;
  ForwardLink(const ForwardLink&) = delete;
  ForwardLink& operator=(const ForwardLink&) = delete;

 private:
  template <typename, typename>
  friend class IntrusiveForwardList;
  template <typename, typename>
  friend class ListIterator;
  ForwardLink* next_ = nullptr;
};

// T derives (publicly) from ForwardLink<Tag>. It keeps no count, so that an empty list is one
// null pointer in its owner.
template <typename T, typename Tag = T>
class IntrusiveForwardList {
  using Link = ForwardLink<Tag>;

 public:
  IntrusiveForwardList() = default;
  IntrusiveForwardList(const IntrusiveForwardList&) = delete;
  IntrusiveForwardList& operator=(const IntrusiveForwardList&) = delete;
  ~IntrusiveForwardList() {
    while (head_) head_ = std::exchange(head_->next_, nullptr);
  }

  bool empty() const { return head_ == nullptr; }
  T* front() const { return head_ ? &static_cast<T&>(*head_) : nullptr; }

  // Links `element` first. It must not be in a list of this Tag already.
  void push_front(T& element) {
    Link& link = element;
    link.next_ = head_;
    head_ = &link;
  }

  // Unlinks the first element and returns it; null if the list is empty.
  T* pop_front() {
    if (!head_) return nullptr;
    Link* link = head_;
    head_ = std::exchange(link->next_, nullptr);
    return &static_cast<T&>(*link);
  }

  using iterator = ListIterator<T, Link>;
  // For walks that unlink nothing.
  iterator begin() const { return iterator(head_); }
  iterator end() const { return iterator(nullptr); }

 private:
  Link* head_ = nullptr;
};

// Walks either list, first to last.
template <typename T, typename Link>
class ListIterator {
 public:
  explicit ListIterator(Link* link) : link_(link) {}
  T& operator*() const { return static_cast<T&>(*link_); }
  T* operator->() const { return &static_cast<T&>(*link_); }
  ListIterator& operator++() {
    link_ = link_->next_;
    return *this;
  }
  bool operator==(const ListIterator& other) const { return link_ == other.link_; }
  bool operator!=(const ListIterator& other) const { return link_ != other.link_; }

 private:
  Link* link_;
};

}  // namespace tether
