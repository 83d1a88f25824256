// The trust policy's lookups (grants, ServiceAccount opt-ins, the global host) without blocking an
// event loop: an attempt runs on the loop with what is known in memory, and only when it needs more is
// it run again off the loops, where a lookup may wait for the API server, answered by a deadline.
#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "webhook/admission.h"

namespace ifo::webhook {

class AsyncTrustLookup {
 public:
  using Clock = std::chrono::steady_clock;
  // One validation attempt over the lookup it is given (AdmissionHandler::validate with it).
  using Attempt = std::function<Reply(TrustLookup& lookup)>;
  // Takes the reply (a function, so that an exception in the attempt is answered as the server answers
  // any: a 500); called once, from any thread.
  using Done = std::function<void(std::function<Reply()> reply)>;

  virtual ~AsyncTrustLookup() = default;
  // Runs `attempt` now, on this thread, with a lookup that answers only from memory (recent answers,
  // never one asked `fresh`) and asks the API server nothing. Its reply; nullopt when the attempt asked
  // something memory does not hold (that reply rests on a lookup not made, and is dropped). Never blocks.
  virtual std::optional<Reply> from_memory(const Attempt& attempt) = 0;
  // Runs `attempt` off the event loops with a lookup that asks the API server. When its reply has not
  // come by the deadline (counted from `since`, when the request began), or it cannot be started (too
  // many pending, shutting down), `done` instead gets the reply of `attempt` run from memory, where
  // every other lookup fails saying why: the request is denied as "could not verify", in time. `done`
  // is called exactly once, on any thread (this one too, before run() returns). Never blocks.
  virtual void run(Attempt attempt, Done done, Clock::time_point since) = 0;
};

}  // namespace ifo::webhook
