// Single-flight: concurrent calls with the same key run the work once; the others wait for its result.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace ifo::infisical {

template <typename T>
class SingleFlight {
 public:
  // Runs fn unless a call with this key is in flight, in which case it waits for and shares that call's
  // value or exception. `shared` (optional) tells whether this caller was a follower.
  T run(const std::string& key, const std::function<T()>& fn, bool* shared = nullptr) {
    std::shared_ptr<Call> call;
    bool leader = false;
    {
      std::lock_guard lock(mu_);
      auto it = calls_.find(key);
      if (it == calls_.end()) {
        call = std::make_shared<Call>();
        calls_.emplace(key, call);
        leader = true;
      } else {
        call = it->second;
      }
    }
    if (shared != nullptr) *shared = !leader;
    if (leader) {
      std::optional<T> value;
      std::exception_ptr error;
      try {
        value.emplace(fn());
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard lock(mu_);
        calls_.erase(key);
      }
      {
        std::lock_guard lock(call->mu);
        call->value = value;
        call->error = error;
        call->done = true;
      }
      call->cv.notify_all();
      if (error) std::rethrow_exception(error);
      return std::move(*value);
    }
    std::unique_lock lock(call->mu);
    call->cv.wait(lock, [&] { return call->done; });
    if (call->error) std::rethrow_exception(call->error);
    return *call->value;
  }

 private:
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::optional<T> value;
    std::exception_ptr error;
  };
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Call>> calls_;
};

}  // namespace ifo::infisical
