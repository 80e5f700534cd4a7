// The placement modes a Disk can be created in and opened with (vdisk/placement.h). A new mode
// adds its accessor here, declared and listed (and its format::Mode value to format.h).
#include "vdisk/placement.h"

namespace vdisk {

const PlacementMode& shuffle_placement_mode();  // vdisk/shuffle_mode.cpp
const PlacementMode& oram_placement_mode();     // vdisk/oram_open.cpp

const PlacementMode* find_placement_mode(format::Mode mode) {
  static const PlacementMode* const kModes[] = {
      &shuffle_placement_mode(),
      &oram_placement_mode(),
  };
  for (const PlacementMode* m : kModes)
    if (m->mode() == mode) return m;
  return nullptr;
}

}  // namespace vdisk
