// DiskImpl::slot_map: every slot the last commit references (being written; see disk.h).
#include "vdisk/disk_impl.h"

namespace vdisk {

Result<std::vector<SlotUse>> DiskImpl::slot_map() {
  return Status(ErrorCode::kInternal, "slot_map is not implemented yet for shuffle images");
}

}  // namespace vdisk
