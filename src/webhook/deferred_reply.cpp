// ReplyMailbox and DeferredReply: deferred answers handed back to their event loop.
#include "webhook/deferred_reply.h"

#include <unistd.h>

#include <cerrno>

namespace ifo::webhook {

bool ReplyMailbox::wake() {
  const uint64_t one = 1;
  for (;;) {
    if (::write(wake_fd_.get(), &one, sizeof one) == static_cast<ssize_t>(sizeof one)) return true;
    if (errno == EINTR) continue;
    // EAGAIN: the counter is at its maximum, so the loop has a wake-up pending anyway.
    return errno == EAGAIN;
  }
}

bool ReplyMailbox::post(Letter letter) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    letters_.push_back(std::move(letter));
  }
  return wake();
}

std::vector<ReplyMailbox::Letter> ReplyMailbox::take() {
  std::vector<Letter> out;
  std::lock_guard lock(mu_);
  out.swap(letters_);
  return out;
}

void ReplyMailbox::close() {
  std::vector<Letter> dropped;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    dropped.swap(letters_);
  }
  // `dropped` is destroyed here, outside the lock: a letter's function may own arbitrary state.
}

void DeferredReply::complete(std::function<void(HttpResponse&)> fill) const {
  if (auto box = mailbox_.lock()) box->post(ReplyMailbox::Letter{request_, fd_, std::move(fill)});
}

}  // namespace ifo::webhook
