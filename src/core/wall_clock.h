// The process-wide boot->wall clock every decoder uses; the poller resyncs it every second.
#pragma once

#include "core/clock.h"

namespace sightline::core {
WallClock& wall_clock();
}
