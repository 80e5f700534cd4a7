// OramDisk::slot_map: every slot the last commit references (being written; see disk.h).
#include "vdisk/oram_disk.h"

namespace vdisk {

Result<std::vector<SlotUse>> OramDisk::slot_map() {
  return Status(ErrorCode::kInternal, "slot_map is not implemented yet for ORAM images");
}

}  // namespace vdisk
