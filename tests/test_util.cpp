#include "test_util.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "vdisk/fsck.h"

namespace vdisk::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/vdisk-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

KeyMaterial test_key(uint8_t seed) {
  std::array<uint8_t, crypto::kKeySize> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(seed * 31 + i);
  auto key = crypto::SecretKey::from_bytes(bytes);
  return KeyMaterial::from_raw(std::move(key).value(), "test key");
}

std::vector<uint8_t> pattern_block(uint64_t a, uint64_t b) {
  std::vector<uint8_t> block(4096);
  uint64_t x = a * 0x9E3779B97F4A7C15ULL + b * 0xBF58476D1CE4E5B9ULL + 1;
  for (auto& byte : block) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    byte = static_cast<uint8_t>(x);
  }
  return block;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string source_dir() { return VDISK_SOURCE_DIR; }

format::Mode test_mode() {
  const char* env = std::getenv("VDISK_TEST_MODE");
  const std::string value = env != nullptr ? env : "";
  if (value.empty() || value == "shuffle") return format::Mode::kShuffle;
  if (value == "oram") return format::Mode::kOram;
  throw std::invalid_argument("VDISK_TEST_MODE=\"" + value + "\" is not \"shuffle\" or \"oram\"");
}

CreateOptions test_create_options(uint64_t capacity_blocks, double spare_fraction) {
  CreateOptions o;
  o.capacity_blocks = capacity_blocks;
  o.spare_fraction = spare_fraction;
  o.mode = test_mode();
  o.fill_random = false;
  return o;
}

uint64_t test_image_slots(uint64_t capacity_blocks, double spare_fraction) {
  auto slots = Disk::image_slots(test_create_options(capacity_blocks, spare_fraction));
  if (!slots.ok())
    throw std::invalid_argument("test image of " + std::to_string(capacity_blocks) +
                                " blocks: " + slots.status().to_string());
  return *slots;
}

Result<std::unique_ptr<FileSystem>> format_and_mount(std::unique_ptr<Disk> disk, const FsOptions& options) {
  if (!disk) return Status(ErrorCode::kInvalidArgument, "format_and_mount: no disk");
  VDISK_RETURN_IF_ERROR(format_filesystem(*disk, options.clock));
  return mount_disk(std::move(disk), options);
}

void check_fsck_clean(BlockStore& store, const std::string& what, const KeyMaterial& key) {
  OpenOptions o;
  o.read_only = true;
  o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto disk = Disk::open(std::make_unique<ForwardStore>(store), key, o);
  INFO("fsck of " << what << ": " << (disk.ok() ? "opened" : disk.status().to_string()));
  CHECK(disk.ok());
  if (!disk.ok() || (*disk)->pristine()) return;
  auto report = check_filesystem(**disk);
  INFO("fsck of " << what << ": " << (report.ok() ? "ran" : report.status().to_string()));
  CHECK(report.ok());
  if (!report.ok()) return;
  std::string problems;
  for (const FsckProblem& p : report->problems) problems += "\n  [" + p.kind + "] " + p.path + ": " + p.message;
  INFO("fsck of " << what << " (commit " << report->sequence << ") found:" << problems);
  CHECK(report->problems.empty());
}

}  // namespace vdisk::test
