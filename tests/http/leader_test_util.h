// Leader-election test helper: mirrors each candidate's leadership into a flag and records the most
// candidates that ever led at the same time (which must stay 1).
#pragma once

#include <atomic>

#include "kube/leader_election.h"

namespace ifo::test {

struct LeaderCount {
  std::atomic<int> leaders{0};
  std::atomic<int> max_leaders{0};

  // Sets cfg's callbacks; `leading` and *this must outlive the elector built from cfg.
  void track(kube::LeaderElectionConfig& cfg, std::atomic<bool>& leading) {
    cfg.on_started_leading = [this, &leading] {
      leading = true;
      int n = ++leaders;
      int m = max_leaders.load();
      while (n > m && !max_leaders.compare_exchange_weak(m, n)) {
      }
    };
    cfg.on_stopped_leading = [this, &leading] {
      leading = false;
      --leaders;
    };
  }
};

}  // namespace ifo::test
