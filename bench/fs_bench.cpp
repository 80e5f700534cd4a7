// vdisk-fs-bench: directory operations against directory size.
//
// For each size N (default 1,000, 10,000 and 100,000 entries) and each of --repeat rounds, on a
// Disk over a file in --dir (default bench-tmp/, created and removed here):
//   create   N empty files in one directory, then sync            -> time per entry
//   lookup   stat of random entries, warm cache (after a warm-up)  -> median per lookup
//   cold     the same after unmount + remount (nothing cached)     -> median and mean per lookup
//   list     the whole directory                                   -> total time
//   delete   unlink every entry, then sync                         -> time per entry
// Medians over the rounds are printed as a table (or JSON with --json), with the ratio of the
// per-lookup cost at the largest size to the smallest: about 1 when a lookup does not depend on
// the directory's size. Timings belong here, never in tests.
//
// Exit codes: 0 success, 1 a filesystem call failed, 2 bad command line.
#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "vdisk/fs.h"

using namespace vdisk;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Args {
  std::vector<uint64_t> sizes = {1000, 10000, 100000};
  std::string dir = "bench-tmp";
  uint64_t lookups = 5000;
  int repeat = 3;
  bool json = false;
};

[[noreturn]] void usage_error(const std::string& what) {
  fmt::print(stderr, "vdisk-fs-bench: {} (see --help)\n", what);
  std::exit(kExitUsage);
}

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "vdisk-fs-bench: error: {}\n", what);
  std::exit(kExitFailure);
}

void check(const Status& s, const std::string& what) {
  if (!s.ok()) die(fmt::format("{}: {}", what, s.message()));
}

double seconds_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

uint64_t parse_count(const std::string& option, const std::string& text) {
  uint64_t v = 0;
  size_t used = 0;
  try {
    v = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || text[0] == '-' || v == 0)
    usage_error(fmt::format("{} wants a positive integer, not \"{}\"", option, text));
  return v;
}

KeyMaterial bench_key() {
  std::array<uint8_t, 32> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 11 + 5);
  return KeyMaterial::from_raw(std::move(crypto::SecretKey::from_bytes(b)).value(), "bench key");
}

// Room for the largest directory with plenty to spare; the image file is sparse.
constexpr uint64_t kCapacityBlocks = uint64_t{1} << 19;  // 2 GiB

std::unique_ptr<FileSystem> mount_image(const std::string& path, bool create) {
  std::unique_ptr<Disk> disk;
  if (create) {
    auto g = format::geometry_for_capacity(kCapacityBlocks);
    check(g.status(), "geometry");
    auto store = create_file_store(path, g->total_slots, /*overwrite=*/true);
    check(store.status(), "create " + path);
    CreateOptions o;
    o.capacity_blocks = kCapacityBlocks;
    o.fill_random = false;
    auto d = Disk::create(std::move(store).value(), bench_key(), o);
    check(d.status(), "format " + path);
    check(format_filesystem(**d), "format the filesystem of " + path);
    disk = std::move(d).value();
  } else {
    auto store = open_file_store(path, OpenMode::kReadWrite);
    check(store.status(), "open " + path);
    auto d = Disk::open(std::move(store).value(), bench_key(), OpenOptions{});
    check(d.status(), "open " + path);
    disk = std::move(d).value();
  }
  auto fs = mount_disk(std::move(disk), FsOptions{});
  check(fs.status(), "mount " + path);
  return std::move(fs).value();
}

std::string entry_name(uint64_t i) { return fmt::format("/d/entry-{:07}", i); }

struct Lookups {
  double median = 0;
  double mean = 0;  // includes the first touches that fill the caches
};

// Times `count` stat calls on random entries.
Lookups time_lookups(FileSystem& fs, uint64_t entries, uint64_t count, std::mt19937_64& rng) {
  std::vector<double> t;
  t.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    const std::string name = entry_name(rng() % entries);
    const auto t0 = SteadyClock::now();
    auto st = fs.stat(name);
    t.push_back(seconds_since(t0));
    check(st.status(), "stat " + name);
  }
  Lookups l;
  for (double x : t) l.mean += x;
  l.mean /= static_cast<double>(t.size());
  l.median = median(std::move(t));
  return l;
}

struct Round {
  double create_per_entry = 0;  // seconds
  double lookup_warm = 0;
  double lookup_cold = 0;
  double lookup_cold_mean = 0;
  double list_total = 0;
  double delete_per_entry = 0;
};

Round run_round(const std::string& image, uint64_t n, uint64_t lookups, uint64_t seed) {
  Round r;
  std::mt19937_64 rng(seed);
  auto fs = mount_image(image, true);
  check(fs->mkdir("/d"), "mkdir /d");
  check(fs->sync(), "sync");

  auto t0 = SteadyClock::now();
  for (uint64_t i = 0; i < n; ++i) {
    auto fd = fs->open(entry_name(i), O_WRONLY | O_CREAT | O_EXCL, 0644);
    check(fd.status(), "create " + entry_name(i));
    check(fs->close(*fd), "close");
  }
  check(fs->sync(), "sync");
  r.create_per_entry = seconds_since(t0) / static_cast<double>(n);

  (void)time_lookups(*fs, n, lookups, rng);  // warm-up
  r.lookup_warm = time_lookups(*fs, n, lookups, rng).median;

  t0 = SteadyClock::now();
  auto listing = fs->list("/d");
  r.list_total = seconds_since(t0);
  check(listing.status(), "list /d");
  if (listing->size() != n) die(fmt::format("list /d: {} entries, expected {}", listing->size(), n));

  check(fs->unmount(), "unmount");
  fs.reset();
  fs = mount_image(image, false);
  const Lookups cold = time_lookups(*fs, n, lookups, rng);
  r.lookup_cold = cold.median;
  r.lookup_cold_mean = cold.mean;

  t0 = SteadyClock::now();
  for (uint64_t i = 0; i < n; ++i) check(fs->unlink(entry_name(i)), "unlink " + entry_name(i));
  check(fs->sync(), "sync");
  r.delete_per_entry = seconds_since(t0) / static_cast<double>(n);
  check(fs->rmdir("/d"), "rmdir /d");
  check(fs->unmount(), "unmount");
  return r;
}

struct Row {
  uint64_t entries = 0;
  Round median;
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(s + " needs a value");
      return argv[++i];
    };
    if (s == "--sizes") {
      a.sizes.clear();
      std::stringstream list(next());
      std::string item;
      while (std::getline(list, item, ',')) a.sizes.push_back(parse_count("--sizes", item));
      if (a.sizes.empty()) usage_error("--sizes wants a comma-separated list of entry counts");
    } else if (s == "--dir") {
      a.dir = next();
      if (a.dir.empty()) usage_error("--dir wants a directory");
    } else if (s == "--lookups") {
      a.lookups = parse_count("--lookups", next());
    } else if (s == "--repeat") {
      a.repeat = static_cast<int>(std::min<uint64_t>(parse_count("--repeat", next()), 1000));
    } else if (s == "--json") {
      a.json = true;
    } else if (s == "--help" || s == "-h") {
      fmt::print(
          "usage: vdisk-fs-bench [--sizes N,N,...] [--lookups N] [--repeat N] [--dir DIR] [--json]\n"
          "Times create, lookup (warm and after a remount), list and delete in directories of N entries\n"
          "(default 1000,10000,100000) on an image in DIR (default bench-tmp, created and removed).\n"
          "Prints medians over --repeat rounds (default 3) and the lookup cost ratio largest/smallest.\n"
          "Exit codes: 0 success, 1 a filesystem call failed, 2 bad command line.\n");
      return 0;
    } else {
      usage_error("unknown argument " + s);
    }
  }

  std::error_code ec;
  const bool dir_existed = std::filesystem::exists(a.dir, ec);
  std::filesystem::create_directories(a.dir, ec);
  if (ec) die(fmt::format("cannot create {}: {}", a.dir, ec.message()));
  const std::string image = a.dir + "/fs-bench.vdisk";

  std::vector<Row> rows;
  for (uint64_t n : a.sizes) {
    std::vector<Round> rounds;
    for (int r = 0; r < a.repeat; ++r) {
      if (!a.json) fmt::print(stderr, "{} entries, round {}/{}...\n", n, r + 1, a.repeat);
      rounds.push_back(run_round(image, n, a.lookups, n * 1000 + static_cast<uint64_t>(r)));
    }
    auto med = [&](double Round::*field) {
      std::vector<double> v;
      for (const Round& x : rounds) v.push_back(x.*field);
      return median(std::move(v));
    };
    Row row;
    row.entries = n;
    row.median.create_per_entry = med(&Round::create_per_entry);
    row.median.lookup_warm = med(&Round::lookup_warm);
    row.median.lookup_cold = med(&Round::lookup_cold);
    row.median.lookup_cold_mean = med(&Round::lookup_cold_mean);
    row.median.list_total = med(&Round::list_total);
    row.median.delete_per_entry = med(&Round::delete_per_entry);
    rows.push_back(row);
  }
  std::filesystem::remove(image, ec);
  if (!dir_existed) std::filesystem::remove(a.dir, ec);

  const auto smallest = std::min_element(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.entries < y.entries; });
  const auto largest = std::max_element(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.entries < y.entries; });
  const double warm_ratio = largest->median.lookup_warm / smallest->median.lookup_warm;
  const double cold_ratio = largest->median.lookup_cold / smallest->median.lookup_cold;

  if (a.json) {
    fmt::print("{{\"repeat\": {}, \"lookups\": {},\n \"results\": [", a.repeat, a.lookups);
    for (size_t i = 0; i < rows.size(); ++i) {
      const Round& m = rows[i].median;
      fmt::print("{}\n  {{\"entries\": {}, \"create_us_per_entry\": {:.3f}, \"lookup_warm_us\": {:.3f}, "
                 "\"lookup_cold_us\": {:.3f}, \"lookup_cold_mean_us\": {:.3f}, \"list_ms\": {:.3f}, "
                 "\"delete_us_per_entry\": {:.3f}}}",
                 i ? "," : "", rows[i].entries, m.create_per_entry * 1e6, m.lookup_warm * 1e6, m.lookup_cold * 1e6,
                 m.lookup_cold_mean * 1e6, m.list_total * 1e3, m.delete_per_entry * 1e6);
    }
    fmt::print("],\n \"lookup_ratio\": {{\"from_entries\": {}, \"to_entries\": {}, \"warm\": {:.3f}, \"cold\": {:.3f}}}}}\n",
               smallest->entries, largest->entries, warm_ratio, cold_ratio);
    return 0;
  }
  fmt::print("| entries | create / entry | lookup, warm (median) | lookup after remount (median / mean) | list | delete / entry |\n"
             "|---|---|---|---|---|---|\n");
  for (const Row& row : rows) {
    const Round& m = row.median;
    fmt::print("| {} | {:.1f} us | {:.2f} us | {:.2f} / {:.2f} us | {:.2f} ms | {:.1f} us |\n", row.entries,
               m.create_per_entry * 1e6, m.lookup_warm * 1e6, m.lookup_cold * 1e6, m.lookup_cold_mean * 1e6,
               m.list_total * 1e3, m.delete_per_entry * 1e6);
  }
  fmt::print("\nlookup cost at {} entries / at {} entries: {:.2f} warm, {:.2f} after remount (1.0 = independent of size)\n",
             largest->entries, smallest->entries, warm_ratio, cold_ratio);
  return 0;
}
