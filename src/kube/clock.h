// src/kube names core's clock (core/clock.h) unqualified: Clock, RealClock, FakeClock and real_clock
// here are the very same types, not a second interface. Code outside src/kube writes core::Clock.
#pragma once

#include "core/clock.h"

namespace ifo::kube {

using core::Clock;
using core::FakeClock;
using core::real_clock;
using core::RealClock;

}  // namespace ifo::kube
