// fuzz_disk_meta: what the Disk decodes after authentication — superblock content, block-map
// nodes and their pointers, allocation-bitmap blocks (shuffle mode), the ORAM client state and
// bucket headers (ORAM mode) — reached by sealing fuzzer-chosen plaintext with the image's real
// keys, so that it passes AES-GCM and hits the decoders and everything behind them.
//
// Each input starts from a template image (built once: a few blocks written over two commits,
// both superblocks valid) and rewrites slots of it:
//   flags(u8) then records until the input ends. flags: bit 0 ORAM template; bit 1 open read-only;
//   bit 2 open the previous commit; bit 3 write, trim and commit after the checks; bits 4-5 cache
//   size (default, 1, 4 or 64 blocks); bits 6-7 ORAM cached levels (default, 0, 1, 2).
//   record = type(u8), then by type % 4:
//     0 sealed block: slot(u16) kind(u8) level(u8) index(u32) nblocks-1(u8) nlinks(u8)
//                     nlinks x [offset(u16) target(u8)] len(u32) plaintext[len]
//       The plaintext (nblocks blocks, zero-padded) is sealed as a block of that kind/level/index
//       at that slot. A link writes, at `offset` of the plaintext, the 48-byte pointer (slot,
//       session, counter, tag) of the sealed record number `target`; targets must come later in
//       the input (records are sealed last to first), so pointers can only form a DAG.
//     1 superblock: which(u8: slot 1 + bit 0) nlinks(u8) links len(u32) plaintext (4056 bytes)
//     2 raw bytes: slot(u16) len(u16) bytes, written without sealing (a host's tampering)
//     3 copy: from(u16) to(u16), a whole slot (a host's replay or move)
//   Slots are taken modulo the image's slot count. Store writes happen in input order.
// Then: Disk::open; on success read every block, verify, slot_map, info; optionally write and
// commit. Properties: errors are clean (expected codes, never kInternal; no crash, no UB, no
// hang); blocks written and committed read back after a reopen (ORAM: when the image verified).
#include <array>
#include <cstring>
#include <map>
#include <optional>

#include "fuzz/fuzz_util.h"
#include "vdisk/crypto.h"
#include "vdisk/disk.h"
#include "vdisk/format.h"
#include "vdisk/key_ring.h"
#include "vdisk/keyslot.h"

using namespace vdisk;
using vdisk::fuzz::Input;
using vdisk::fuzz::Writer;

namespace {

constexpr uint64_t kShuffleCapacity = 200;  // map height 2: a root over 3 leaves
constexpr uint64_t kOramCapacity = 32;
constexpr size_t kMaxRecords = 64;
constexpr size_t kMaxPlainBytes = size_t{4} << 20;  // plaintext of all records of one input

struct Template {
  std::vector<uint8_t> image;
  format::Header header;
  crypto::SecretKey data_key;
};

void write_pattern(Disk& disk, uint64_t lba, uint8_t tag) {
  std::vector<uint8_t> block(kBlockSize);
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<uint8_t>(lba * 7 + i * 13 + tag);
  FUZZ_OK(disk.write(lba, block));
}

Template build_template(bool oram) {
  CreateOptions c;
  c.capacity_blocks = oram ? kOramCapacity : kShuffleCapacity;
  c.mode = oram ? format::Mode::kOram : format::Mode::kShuffle;
  c.fill_random = false;
  auto slots = Disk::image_slots(c);
  FUZZ_OK(slots);
  fuzz::VectorStore store(std::vector<uint8_t>(*slots * kBlockSize, 0));
  {
    auto disk = Disk::create(std::make_unique<fuzz::BorrowedStore>(store), fuzz::fuzz_key(), c);
    FUZZ_OK(disk);
    Disk& d = **disk;
    // Blocks under every leaf of the shuffle map (85 entries per leaf), the last block, a trim.
    for (uint64_t lba : {0u, 1u, 2u, 50u, 84u, 85u, 86u, 150u}) write_pattern(d, lba % d.capacity(), 1);
    FUZZ_OK(d.commit());
    write_pattern(d, 3, 2);
    write_pattern(d, d.capacity() - 1, 2);
    FUZZ_OK(d.trim(50 % d.capacity(), 1));
    FUZZ_OK(d.commit());
  }
  Template t;
  t.image = store.bytes();
  auto header = read_public_header(store);
  FUZZ_OK(header);
  t.header = *header;
  auto key = unlock_keyslots(t.header, fuzz::fuzz_key());
  FUZZ_OK(key);
  t.data_key = std::move(key).value();
  return t;
}

const Template& get_template(bool oram) {
  static const Template shuffle = build_template(false);
  static const Template oram_t = build_template(true);
  return oram ? oram_t : shuffle;
}

// Seals like KeyRing, under a session of the harness's own.
class Forger {
 public:
  explicit Forger(const Template& t) : image_id_(t.header.image_id) {
    for (size_t i = 0; i < session_.size(); ++i) session_[i] = static_cast<uint8_t>(0xF0 + i);
    auto bk = crypto::hkdf_sha256(t.data_key.bytes(), {}, format::kLabelBlockKey, session_);
    FUZZ_OK(bk);
    auto sk = crypto::hkdf_sha256(t.data_key.bytes(), {}, format::kLabelSuperblockKey, session_);
    FUZZ_OK(sk);
    auto ba = crypto::Aead::create(*bk);
    FUZZ_OK(ba);
    auto sa = crypto::Aead::create(*sk);
    FUZZ_OK(sa);
    block_.emplace(std::move(ba).value());
    super_.emplace(std::move(sa).value());
  }

  format::BlockPointer seal_block(format::BlockKind kind, uint32_t level, uint64_t index, uint64_t slot,
                                  std::span<const uint8_t> plain, std::span<uint8_t> out) {
    format::BlockPointer p;
    p.slot = slot;
    p.session = session_;
    p.counter = counter_++;
    const auto aad = format::block_aad(image_id_, kind, level, index, slot);
    FUZZ_OK(block_->seal(format::nonce_for_counter(p.counter), aad, plain, out, p.tag));
    return p;
  }

  void seal_superblock(uint64_t slot, std::span<const uint8_t, format::kSuperblockCipherSize> plain,
                       std::span<uint8_t, kBlockSize> out) {
    const uint64_t counter = counter_++;
    std::copy(session_.begin(), session_.end(), out.begin());
    for (size_t i = 0; i < 8; ++i) out[format::kSessionIdSize + i] = static_cast<uint8_t>(counter >> (8 * i));
    const auto aad = format::block_aad(image_id_, format::BlockKind::kSuperblock, 0, 0, slot);
    crypto::Tag tag{};
    FUZZ_OK(super_->seal(format::nonce_for_counter(counter), aad, plain,
                         out.subspan(format::kSuperblockCipherOffset, format::kSuperblockCipherSize), tag));
    std::copy(tag.begin(), tag.end(), out.begin() + kBlockSize - crypto::kTagSize);
  }

 private:
  std::array<uint8_t, format::kImageIdSize> image_id_;
  SessionId session_{};
  uint64_t counter_ = 0;
  std::optional<crypto::Aead> block_, super_;
};

struct Link {
  size_t offset = 0;
  size_t target = 0;
};

struct Record {
  enum class Type { kBlock, kSuperblock, kRaw, kCopy } type = Type::kBlock;
  uint64_t slot = 0, from = 0;
  format::BlockKind kind = format::BlockKind::kData;
  uint32_t level = 0;
  uint64_t index = 0;
  std::vector<Link> links;
  std::vector<uint8_t> plain;  // kBlock: nblocks blocks; kSuperblock: 4056 bytes; kRaw: one block
  std::vector<uint8_t> sealed;
  format::BlockPointer pointer;
  bool has_pointer = false;
};

std::vector<Link> read_links(Input& in) {
  std::vector<Link> links(in.u8() % 8);
  for (auto& l : links) {
    l.offset = in.u16();
    l.target = in.u8();
  }
  return links;
}

std::vector<uint8_t> read_plain(Input& in, size_t size) {
  std::vector<uint8_t> plain(size, 0);
  const auto b = in.bytes(std::min<size_t>(in.u32(), size));
  std::copy(b.begin(), b.end(), plain.begin());
  return plain;
}

std::vector<Record> parse(Input& in, uint64_t slots) {
  std::vector<Record> records;
  size_t plain_bytes = 0;
  while (!in.empty() && records.size() < kMaxRecords) {
    Record r;
    switch (in.u8() % 4) {
      case 0: {
        r.type = Record::Type::kBlock;
        r.slot = in.u16() % slots;
        r.kind = static_cast<format::BlockKind>(1 + in.u8() % 7);
        r.level = in.u8();
        r.index = in.u32();
        const uint64_t nblocks = std::min<uint64_t>(uint64_t{1} + in.u8(), slots - r.slot);
        r.links = read_links(in);
        r.plain = read_plain(in, nblocks * kBlockSize);
        break;
      }
      case 1:
        r.type = Record::Type::kSuperblock;
        r.slot = 1 + (in.u8() & 1);
        r.links = read_links(in);
        r.plain = read_plain(in, format::kSuperblockCipherSize);
        break;
      case 2: {
        r.type = Record::Type::kRaw;
        r.slot = in.u16() % slots;
        r.plain.assign(kBlockSize, 0);
        const auto b = in.bytes(in.u16() % (kBlockSize + 1));
        std::copy(b.begin(), b.end(), r.plain.begin());
        break;
      }
      default:
        r.type = Record::Type::kCopy;
        r.from = in.u16() % slots;
        r.slot = in.u16() % slots;
        break;
    }
    plain_bytes += r.plain.size();
    records.push_back(std::move(r));
    if (plain_bytes > kMaxPlainBytes) break;
  }
  return records;
}

// Seals last to first (resolving links to later records), then writes first to last.
void forge(const Template& t, std::vector<Record>& records, fuzz::VectorStore& store) {
  Forger forger(t);
  for (size_t i = records.size(); i-- > 0;) {
    Record& r = records[i];
    if (r.type != Record::Type::kBlock && r.type != Record::Type::kSuperblock) continue;
    for (const Link& l : r.links) {
      if (l.target <= i || l.target >= records.size() || !records[l.target].has_pointer) continue;
      if (l.offset + format::kPointerSize > r.plain.size()) continue;
      format::encode_pointer(records[l.target].pointer,
                             std::span<uint8_t>(r.plain).subspan(l.offset).first<format::kPointerSize>());
    }
    if (r.type == Record::Type::kBlock) {
      r.sealed.resize(r.plain.size());
      r.pointer = forger.seal_block(r.kind, r.level, r.index, r.slot, r.plain, r.sealed);
      r.has_pointer = true;
    } else {
      r.sealed.resize(kBlockSize);
      forger.seal_superblock(r.slot, std::span<const uint8_t, format::kSuperblockCipherSize>(r.plain.data(), r.plain.size()),
                             std::span<uint8_t, kBlockSize>(r.sealed.data(), kBlockSize));
    }
  }
  for (const Record& r : records) {
    switch (r.type) {
      case Record::Type::kBlock:
      case Record::Type::kSuperblock: FUZZ_OK(store.write(r.slot, r.sealed)); break;
      case Record::Type::kRaw: FUZZ_OK(store.write(r.slot, r.plain)); break;
      case Record::Type::kCopy: {
        std::vector<uint8_t> block(kBlockSize);
        FUZZ_OK(store.read(r.from, block));
        FUZZ_OK(store.write(r.slot, block));
        break;
      }
    }
  }
}

OpenOptions open_options(uint8_t flags) {
  OpenOptions o;
  o.read_only = (flags & 2) != 0;
  o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  o.commit = (flags & 4) != 0 ? CommitChoice::kPrevious : CommitChoice::kNewest;
  static constexpr std::array<size_t, 4> kCache = {kDefaultCacheBytes, kBlockSize, 4 * kBlockSize, 64 * kBlockSize};
  o.cache_bytes = kCache[(flags >> 4) & 3];
  static constexpr std::array<uint32_t, 4> kLevels = {kDefaultOramCachedLevels, 0, 1, 2};
  o.oram_cached_levels = kLevels[(flags >> 6) & 3];
  o.readahead_blocks = 16;
  return o;
}

bool clean_open_error(ErrorCode c) {
  // kNotVdisk / kUnsupportedVersion / kAuthFailed: a raw record rewrote the header slot;
  // kNotFound: no previous commit.
  return c == ErrorCode::kCorrupt || c == ErrorCode::kNotFound || c == ErrorCode::kNotVdisk ||
         c == ErrorCode::kUnsupportedVersion || c == ErrorCode::kAuthFailed;
}

bool clean_access_error(ErrorCode c) { return c == ErrorCode::kCorrupt || c == ErrorCode::kFailed; }

void exercise(uint8_t flags, fuzz::VectorStore& store, Input& rest) {
  const OpenOptions options = open_options(flags);
  auto opened = Disk::open(std::make_unique<fuzz::BorrowedStore>(store), fuzz::fuzz_key(), options);
  if (!opened.ok()) {
    FUZZ_CHECK(clean_open_error(opened.status().code()), opened.status().to_string());
    return;
  }
  Disk& disk = **opened;
  const DiskInfo info = disk.info();
  FUZZ_CHECK(info.sequence > 0, "opened a commit with sequence 0");
  std::vector<uint8_t> block(kBlockSize);
  for (uint64_t lba = 0; lba < disk.capacity(); ++lba) {
    Status s = disk.read(lba, block);
    FUZZ_CHECK(s.ok() || clean_access_error(s.code()), s.to_string());
  }
  auto report = disk.verify();
  FUZZ_CHECK(report.ok() || clean_access_error(report.status().code()), report.status().to_string());
  auto slots = disk.slot_map();
  FUZZ_CHECK(slots.ok() || clean_access_error(slots.status().code()), slots.status().to_string());
  if (slots.ok())
    for (const SlotUse& u : *slots) FUZZ_CHECK(u.slot < store.block_count(), "slot_map names a slot past the image");
  if ((flags & 8) == 0 || options.read_only) return;

  // Writes, a trim and a commit over whatever the fuzzed state allows; what commits must persist.
  fuzz::Rng rng(rest.u64());
  std::map<uint64_t, uint8_t> written;
  for (int i = 0; i < 6; ++i) {
    const uint64_t lba = rng.below(disk.capacity());
    const uint8_t tag = static_cast<uint8_t>(0x80 + i);
    std::vector<uint8_t> data(kBlockSize, tag);
    Status s = disk.write(lba, data);
    if (!s.ok()) {
      FUZZ_CHECK(clean_access_error(s.code()) || s.code() == ErrorCode::kNoSpace, s.to_string());
      return;
    }
    written[lba] = tag;
  }
  const uint64_t trimmed = rng.below(disk.capacity());
  if (Status s = disk.trim(trimmed, 1); !s.ok()) {
    FUZZ_CHECK(clean_access_error(s.code()), s.to_string());
    return;
  }
  written[trimmed] = 0;
  Status c = disk.commit();
  if (!c.ok()) {
    FUZZ_CHECK(clean_access_error(c.code()) || c.code() == ErrorCode::kNoSpace, c.to_string());
    return;
  }
  opened->reset();
  // In ORAM mode a block's path after the commit may cross buckets that this session never read
  // (damaged ones included), so the read-back promise needs an image that verified whole; in
  // shuffle mode the written blocks' map paths are all new.
  if (info.header.mode == format::Mode::kOram && !(report.ok() && report->ok())) return;
  OpenOptions again = options;
  again.commit = CommitChoice::kNewest;
  again.read_only = true;
  again.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
  auto reopened = Disk::open(std::make_unique<fuzz::BorrowedStore>(store), fuzz::fuzz_key(), again);
  FUZZ_CHECK(reopened.ok(), "reopen after a successful commit: " + fuzz::text(reopened));
  for (const auto& [lba, tag] : written) {
    FUZZ_OK((*reopened)->read(lba, block));
    FUZZ_CHECK(block == std::vector<uint8_t>(kBlockSize, tag), "committed block " + std::to_string(lba) + " changed");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t flags = in.u8();
  const Template& t = get_template((flags & 1) != 0);
  static fuzz::VectorStore store({});
  store.reset(t.image);
  // The last 8 bytes seed the write phase; the records come before them.
  const size_t tail_size = size >= 9 ? 8 : 0;
  Input records_in(data + (size > 0 ? 1 : 0), size > 0 ? size - 1 - tail_size : 0);
  Input tail(data + size - tail_size, tail_size);
  std::vector<Record> records = parse(records_in, store.block_count());
  forge(t, records, store);
  exercise(flags, store, tail);
  return 0;
}

// ---- seeds: the templates' own metadata, decrypted and expressed as records ------------------

namespace {

void put_record(Writer& w, const Record& r) {
  std::vector<uint8_t> plain = r.plain;
  while (!plain.empty() && plain.back() == 0) plain.pop_back();
  if (r.type == Record::Type::kSuperblock) {
    w.u8(1).u8(static_cast<uint8_t>(r.slot - 1));
  } else {
    w.u8(0).u16(static_cast<uint16_t>(r.slot)).u8(static_cast<uint8_t>(static_cast<uint32_t>(r.kind) - 1));
    w.u8(static_cast<uint8_t>(r.level)).u32(static_cast<uint32_t>(r.index));
    w.u8(static_cast<uint8_t>(r.plain.size() / kBlockSize - 1));
  }
  w.u8(static_cast<uint8_t>(r.links.size()));
  for (const Link& l : r.links) w.u16(static_cast<uint16_t>(l.offset)).u8(static_cast<uint8_t>(l.target));
  w.u32(static_cast<uint32_t>(plain.size())).bytes(plain);
}

std::vector<uint8_t> open_sealed(KeyRing& keys, BlockStore& store, format::BlockKind kind, uint32_t level,
                                 uint64_t index, const format::BlockPointer& p, size_t blocks) {
  std::vector<uint8_t> sealed(blocks * kBlockSize), plain(blocks * kBlockSize);
  FUZZ_OK(store.read(p.slot, sealed));
  FUZZ_OK(keys.open_block(kind, level, index, p, sealed, plain));
  return plain;
}

// Records re-creating the committed metadata of superblock `sb_slot`: superblock first, then its
// blocks, each linked to the records that follow it.
// With `tree` false only the superblock is re-sealed (its root pointer unchanged).
void metadata_records(const Template& t, uint64_t sb_slot, bool tree, std::vector<Record>& out) {
  fuzz::VectorStore store(t.image);
  KeyRing keys(t.data_key.clone(), t.header.image_id);
  std::array<uint8_t, kBlockSize> sb_block{};
  FUZZ_OK(store.read(sb_slot, sb_block));
  auto content = keys.open_superblock(sb_block, sb_slot);
  FUZZ_OK(content);
  Record sb;
  sb.type = Record::Type::kSuperblock;
  sb.slot = sb_slot;
  sb.plain.assign(format::kSuperblockCipherSize, 0);
  format::encode_superblock_content(*content, std::span<uint8_t, format::kSuperblockCipherSize>(sb.plain.data(), sb.plain.size()));
  // The root pointer's offset in the encoding: where its slot number sits.
  size_t root_offset = 0;
  {
    format::SuperblockContent marked = *content;
    marked.root.slot = 0x0123456789ABCDEFULL;
    std::vector<uint8_t> enc(format::kSuperblockCipherSize);
    format::encode_superblock_content(marked, std::span<uint8_t, format::kSuperblockCipherSize>(enc.data(), enc.size()));
    while (enc[root_offset] != 0xEF || enc[root_offset + 1] != 0xCD) ++root_offset;
  }
  const size_t sb_index = out.size();
  out.push_back(std::move(sb));
  if (content->root.is_null() || !tree) return;
  out[sb_index].links.push_back({root_offset, out.size()});

  if (t.header.mode == format::Mode::kOram) {
    const format::OramGeometry& g = t.header.oram;
    Record state;
    state.slot = content->root.slot;
    state.kind = format::BlockKind::kOramState;
    state.level = 0;
    state.index = content->sequence;
    state.plain = open_sealed(keys, store, state.kind, 0, state.index, content->root, g.state_slots);
    // The state's root-bucket pointer sits at byte 24 (docs/FORMAT.md, "ORAM client state").
    constexpr size_t kStateRootOffset = 24;
    const format::BlockPointer bucket = format::decode_pointer(
        std::span<const uint8_t>(state.plain).subspan(kStateRootOffset).first<format::kPointerSize>());
    const size_t state_index = out.size();
    out.push_back(std::move(state));
    if (bucket.is_null()) return;
    out[state_index].links.push_back({kStateRootOffset, out.size()});
    Record header;
    header.slot = bucket.slot;
    header.kind = format::BlockKind::kOramBucketHeader;
    header.level = 0;
    header.index = 0;
    header.plain = open_sealed(keys, store, header.kind, 0, 0, bucket, 1);
    out.push_back(std::move(header));
    return;
  }
  // Shuffle: the map, breadth first, and the bitmap blocks below it.
  const format::Geometry& g = t.header.geometry;
  struct Pending {
    uint32_t level;
    uint64_t index;
    format::BlockPointer p;
  };
  std::vector<Pending> queue = {{g.tree_height, 0, content->root}};
  for (size_t q = 0; q < queue.size(); ++q) {
    const Pending n = queue[q];
    Record r;
    r.slot = n.p.slot;
    r.level = n.level;
    r.index = n.index;
    r.kind = n.level > 0 ? format::BlockKind::kMapNode : format::BlockKind::kBitmap;
    r.plain = open_sealed(keys, store, r.kind, n.level, n.index, n.p, 1);
    const size_t my_index = out.size();
    out.push_back(std::move(r));
    if (n.level == 0) continue;
    for (uint32_t i = 0; i < format::kMapFanout; ++i) {
      const format::BlockPointer child = format::decode_pointer(
          std::span<const uint8_t>(out[my_index].plain).subspan(i * format::kPointerSize).first<format::kPointerSize>());
      const uint64_t child_index = n.index * format::kMapFanout + i;
      if (child.is_null()) continue;
      if (n.level == 1 && child_index < g.capacity_blocks) continue;  // data: left as they are
      // Records are numbered in queue order: this child becomes record (out.size() + pending ones).
      out[my_index].links.push_back({i * format::kPointerSize, out.size() + (queue.size() - q - 1)});
      queue.push_back({n.level - 1, child_index, child});
    }
  }
}

std::vector<uint8_t> seed_input(uint8_t flags, const std::vector<Record>& records, uint64_t write_seed) {
  Writer w;
  w.u8(flags);
  for (const Record& r : records) put_record(w, r);
  w.u64(write_seed);
  return w.out;
}

}  // namespace

std::vector<fuzz::Seed> vdisk::fuzz::fuzz_seeds() {
  std::vector<Seed> seeds;
  for (bool oram : {false, true}) {
    const Template& t = get_template(oram);
    const std::string mode = oram ? "oram" : "shuffle";
    const uint8_t m = oram ? 1 : 0;
    auto info = [&] {
      VectorStore store(t.image);
      OpenOptions o;
      o.read_only = true;
      o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
      auto d = Disk::open(std::make_unique<BorrowedStore>(store), fuzz_key(), o);
      FUZZ_OK(d);
      return (*d)->info();
    }();
    const uint64_t newest = static_cast<uint64_t>(info.superblock_slot);
    std::vector<Record> latest;
    metadata_records(t, newest, true, latest);
    // The older superblock too (its tree as committed; slots shared with the newest tree are
    // re-sealed by the records above, so the older tree partly fails until the fuzzer links it).
    std::vector<Record> both = latest;
    metadata_records(t, 3 - newest, false, both);
    // The re-sealed metadata must open as the template does (a check of the harness itself).
    for (const auto* rs : {&latest, &both}) {
      VectorStore store(t.image);
      std::vector<Record> copy = *rs;
      forge(t, copy, store);
      OpenOptions o;
      o.read_only = true;
      o.oram_linkable_reads = true;  // ORAM: a read-only open that accepts linkable reads
      auto d = Disk::open(std::make_unique<BorrowedStore>(store), fuzz_key(), o);
      FUZZ_OK(d);
      auto report = (*d)->verify();
      FUZZ_CHECK(report.ok() && report->ok() && (*d)->info().sequence == info.sequence, "re-sealed seed does not verify");
    }
    seeds.push_back({mode + "-latest", seed_input(m, latest, 1)});
    seeds.push_back({mode + "-both-superblocks", seed_input(m, both, 2)});
    seeds.push_back({mode + "-write-commit", seed_input(static_cast<uint8_t>(m | 8), latest, 3)});
    seeds.push_back({mode + "-previous-small-cache", seed_input(static_cast<uint8_t>(m | 4 | 0x10 | 0x40), both, 4)});
    seeds.push_back({mode + "-untouched-write", seed_input(static_cast<uint8_t>(m | 8 | 0x20 | 0x80), {}, 5)});
  }
  // Host tampering: a slot copied over the newest superblock, raw bytes over slot 0.
  Writer copy;
  copy.u8(0).u8(3).u16(2).u16(1).u64(0);
  seeds.push_back({"shuffle-copy-superblock", copy.out});
  Writer raw;
  raw.u8(0).u8(2).u16(0).u16(8).str("VDISKIMG").u64(0);
  seeds.push_back({"shuffle-raw-header", raw.out});
  return seeds;
}
