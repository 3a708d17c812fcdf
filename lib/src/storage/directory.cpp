#include "storage/directory.hpp"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include <mpisnap/error.hpp>

#include "storage/fs.hpp"

namespace mpisnap::storage {

std::string checkpoint_path(const std::string& dir, std::uint64_t id) {
  char name[40];
  std::snprintf(name, sizeof name, "ckpt-%08" PRIu64, id);
  return dir + "/" + name;
}

std::string rank_file_name(int rank) {
  char name[40];
  std::snprintf(name, sizeof name, "rank-%06d.h5", rank);
  return name;
}

void check_writable(const std::string& dir) {
  try {
    fs::make_dirs(dir);
    const std::string probe = dir + "/.mpisnap-write-test-" + std::to_string(::getpid());
    fs::create_file(probe);
    fs::remove_tree(probe);
  } catch (const Error& e) {
    throw Error("mpisnap: the checkpoint directory " + dir + " (MPISNAP_DIR / Config::directory) is not writable: " +
                e.what());
  }
}

std::vector<CheckpointEntry> list_checkpoints(const std::string& dir) {
  std::vector<CheckpointEntry> out;
  for (const std::string& name : fs::list_dir(dir)) {
    if (name.size() < 6 || name.compare(0, 5, "ckpt-") != 0) continue;
    const std::string digits = name.substr(5);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18)
      continue;
    CheckpointEntry e;
    e.id = std::stoull(digits);
    e.path = dir + "/" + name;
    if (!fs::is_dir(e.path)) continue;
    e.committed = fs::exists(e.path + "/" + kManifestName);
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::uint64_t next_checkpoint_id(const std::string& dir) {
  const auto all = list_checkpoints(dir);
  return all.empty() ? 1 : all.back().id + 1;
}

PruneResult prune(const std::string& dir, unsigned keep, std::uint64_t floor) {
  PruneResult result;
  if (keep < 1) keep = 1;
  const auto all = list_checkpoints(dir);
  std::vector<const CheckpointEntry*> committed;
  for (const auto& e : all)
    if (e.committed) committed.push_back(&e);
  if (committed.empty()) return result;
  const std::uint64_t newest = committed.back()->id;
  const std::size_t keep_from = committed.size() > keep ? committed.size() - keep : 0;
  for (std::size_t i = 0; i < keep_from; ++i) {
    if (committed[i]->id < floor) continue;
    // Un-commit first: a crash half way leaves an uncommitted directory, never a broken committed one.
    fs::remove_tree(committed[i]->path + "/" + kManifestName);
    fs::remove_tree(committed[i]->path);
    result.removed.push_back(committed[i]->id);
  }
  for (const auto& e : all) {
    if (!e.committed && e.id < newest) {
      fs::remove_tree(e.path);
      result.removed.push_back(e.id);
    }
  }
  std::sort(result.removed.begin(), result.removed.end());
  return result;
}

}  // namespace mpisnap::storage
