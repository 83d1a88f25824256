// Answers given after the request handler has returned: a handler that must wait for something
// (a SubjectAccessReview) takes a DeferredReply and completes it later from any thread; the answer
// goes back to the connection's event loop through that loop's mailbox (a queue and an eventfd), so
// the loop never blocks and every other connection keeps being served meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "webhook/unique_fd.h"

namespace ifo::webhook {

struct HttpResponse;

// One event loop's wake-up descriptor and the deferred answers waiting for it.
class ReplyMailbox {
 public:
  struct Letter {
    uint64_t request = 0;  // which deferred request of the connection it answers
    int fd = -1;           // the connection's descriptor
    std::function<void(HttpResponse&)> fill;
  };

  // `wake_fd`: a non-blocking eventfd the loop waits on.
  explicit ReplyMailbox(UniqueFd wake_fd) : wake_fd_(std::move(wake_fd)) {}
  int wake_fd() const { return wake_fd_.get(); }
  // Makes the loop's epoll_wait return; false (errno set) when the eventfd refused the write.
  bool wake();
  // Queues a letter and wakes the loop; false when the loop has ended (the letter is dropped) or
  // the wake-up failed.
  bool post(Letter letter);
  // On the loop: the letters posted so far.
  std::vector<Letter> take();
  // The loop has ended: later letters are dropped.
  void close();

 private:
  std::mutex mu_;
  std::vector<Letter> letters_;
  bool closed_ = false;
  UniqueFd wake_fd_;
};

// The handle a handler keeps to answer later; copyable, and only the first completion counts (the
// loop drops letters for a request it no longer waits for). A default-constructed one answers nothing.
class DeferredReply {
 public:
  DeferredReply() = default;
  DeferredReply(std::weak_ptr<ReplyMailbox> mailbox, uint64_t request, int fd)
      : mailbox_(std::move(mailbox)), request_(request), fd_(fd) {}
  // From any thread: `fill` runs on the connection's loop thread and what it fills is sent (an
  // exception from it is answered 500). Nothing happens when the connection was closed meanwhile
  // (the client left, its deadline passed) or the server has stopped.
  void complete(std::function<void(HttpResponse&)> fill) const;

 private:
  std::weak_ptr<ReplyMailbox> mailbox_;
  uint64_t request_ = 0;
  int fd_ = -1;
};

// What the server lends a handler for one request: defer() takes it (see HttpRequest::defer).
struct Deferral {
  std::weak_ptr<ReplyMailbox> mailbox;
  uint64_t request = 0;
  int fd = -1;
  bool taken = false;
};

}  // namespace ifo::webhook
