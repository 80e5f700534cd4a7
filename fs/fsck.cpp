// check_filesystem (include/vdisk/fsck.h): being written.
#include "vdisk/fsck.h"

namespace vdisk {

Result<FsckReport> check_filesystem(Disk&, const FsckOptions&) {
  return Status(ErrorCode::kInternal, "check_filesystem is not implemented yet");
}

}  // namespace vdisk
