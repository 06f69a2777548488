// An intrusive doubly linked list, as libuv's uv__queue and nginx's ngx_queue_t: an element
// carries its own links (it derives from ListLink<Tag>, one base per list it can be in), so
// linking and unlinking allocate nothing and take constant time. The list borrows its elements,
// it never owns or frees them.
//
// Only the list links and unlinks, and unlinking an element that is in no list does nothing: an
// owner never has to remember whether an element ever made it into its list. for_each() holds
// the next element before it visits one, so the visit may unlink the element it is given.
#pragma once

#include <cstddef>

namespace tether {

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

  class iterator {
   public:
    explicit iterator(Link* link) : link_(link) {}
    T& operator*() const { return element(*link_); }
    T* operator->() const { return &element(*link_); }
    iterator& operator++() {
      link_ = link_->next_;
      return *this;
    }
    bool operator==(const iterator& other) const { return link_ == other.link_; }
    bool operator!=(const iterator& other) const { return link_ != other.link_; }

   private:
    Link* link_;
  };
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

}  // namespace tether
