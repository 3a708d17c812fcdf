// The mpisnap command: look at, check and prune a checkpoint directory without MPI.
//
//   mpisnap ls DIR                 checkpoints: id, committed or not, safe point, time, ranks, bytes
//   mpisnap show DIR [ID]          per rank: state bytes, in-flight messages by source (newest committed)
//   mpisnap verify DIR [ID]        checksums, digests against the manifest, every channel's balance
//   mpisnap prune DIR --keep K     keep the newest K committed checkpoints (never the newest one)
// With two storage tiers, `ls` and `verify` take --local LOCAL_DIR (MPISNAP_LOCAL_DIR, on the node
// where the command runs): ls lists both tiers (column TIER), verify also checks the rank files this
// node holds on its local tier (its own ranks' and the partner copies) against their manifest.
// Each takes --json. Exit status: 0 fine, 1 a check failed or an error, 2 bad usage.
#include <CLI/CLI.hpp>

#include <cstring>

#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <mpisnap/error.hpp>

#include "common/diagnostics.hpp"
#include "storage/checkpoint_store.hpp"
#include "storage/checkpoint_files.hpp"
#include "storage/directory.hpp"
#include "storage/fs.hpp"
#include "storage/tiered_store.hpp"
#include "storage/verify.hpp"

namespace {

using namespace mpisnap;

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string iso_time(double unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "42 s ago", "7 min ago", "3 h ago", "2 d ago".
std::string age(double unix_seconds) {
  double s = static_cast<double>(std::time(nullptr)) - unix_seconds;
  if (s < -60) return "in the future";  // (a clock far off; within a minute, "now")
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(static_cast<long>(s)) + " s ago";
  if (s < 7200) return std::to_string(static_cast<long>(s / 60)) + " min ago";
  if (s < 172800) return std::to_string(static_cast<long>(s / 3600)) + " h ago";
  return std::to_string(static_cast<long>(s / 86400)) + " d ago";
}

std::uint64_t dir_bytes(const std::string& dir) {
  std::uint64_t n = 0;
  for (const std::string& name : fs::list_dir(dir)) {
    try {
      n += fs::file_size(dir + "/" + name);
    } catch (const Error&) {
    }
  }
  return n;
}

const storage::CheckpointEntry* find_entry(const std::vector<storage::CheckpointEntry>& all, std::int64_t id) {
  if (id >= 0) {
    for (const auto& e : all)
      if (e.id == static_cast<std::uint64_t>(id)) return &e;
    return nullptr;
  }
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (it->committed) return &*it;
  return nullptr;
}

struct Tier {
  const char* name;
  std::string dir;
};

std::vector<Tier> tiers_of(const std::string& dir, const std::string& local) {
  std::vector<Tier> t = {{"global", dir}};
  if (!local.empty()) t.push_back({"local", storage::local_tier_dir(local, dir)});
  return t;
}

// One tier's checkpoints as rows of `ls` (TIER column when the listing covers two tiers).
bool list_tier(const Tier& tier, bool tiered, bool json, std::ostringstream& js, bool& first) {
  storage::DirectoryStore store(tier.dir, true);
  const auto all = store.list();
  const std::string tier_column = tiered ? (tier.name + std::string(8 - std::strlen(tier.name), ' ')) : "";
  for (const auto& e : all) {
    const std::uint64_t bytes = dir_bytes(e.path);
    std::string state = e.committed ? "committed" : "incomplete";
    std::uint64_t sp = 0, msgs = 0;
    int ranks = 0;
    std::string created = "-", ago = "-";
    if (e.committed) {
      try {
        const auto m = store.manifest(e.id);
        sp = m.safe_point;
        ranks = m.nranks;
        created = iso_time(m.created_unix);
        ago = age(m.created_unix);
        for (auto n : m.rank_messages) msgs += n;
      } catch (const Error&) {
        state = "damaged";
      }
    }
    if (json) {
      js << (first ? "" : ",") << "{\"id\":" << e.id;
      if (tiered) js << ",\"tier\":" << json_string(tier.name);
      js << ",\"state\":" << json_string(state) << ",\"path\":" << json_string(e.path) << ",\"safe_point\":" << sp
         << ",\"created\":" << json_string(created) << ",\"ranks\":" << ranks << ",\"bytes\":" << bytes
         << ",\"in_flight\":" << msgs << "}";
      first = false;
    } else {
      std::printf("%-10" PRIu64 " %s%-11s %10" PRIu64 "  %-20s %-12s %5d %10s %9" PRIu64 "\n", e.id, tier_column.c_str(),
                  state.c_str(), sp, created.c_str(), ago.c_str(), ranks, diag::bytes(bytes).c_str(), msgs);
    }
  }
  return !all.empty();
}

// A --local that holds no tier of DIR on this node is said, not listed as empty silently.
void warn_if_no_local_tier(const std::string& dir, const std::string& local) {
  if (!local.empty() && !fs::exists(storage::local_tier_dir(local, dir)))
    std::fprintf(stderr, "mpisnap: this node holds no local tier of %s under %s (looked for %s)\n", dir.c_str(),
                 local.c_str(), storage::local_tier_dir(local, dir).c_str());
}

int cmd_ls(const std::string& dir, const std::string& local, bool json) {
  std::ostringstream js;
  js << "[";
  const bool tiered = !local.empty();
  warn_if_no_local_tier(dir, local);
  if (!json)
    std::printf("%-10s %s%-11s %10s  %-20s %-12s %5s %10s %9s\n", "ID", tiered ? "TIER    " : "", "STATE", "SAFEPOINT",
                "CREATED", "AGE", "RANKS", "SIZE", "INFLIGHT");
  bool first = true, any = false;
  for (const Tier& tier : tiers_of(dir, local)) any = list_tier(tier, tiered, json, js, first) || any;
  if (json) std::printf("%s]\n", js.str().c_str());
  else if (!any) std::printf("(no checkpoint in %s%s)\n", dir.c_str(), tiered ? " or on this node's local tier" : "");
  return 0;
}

// The node-local tier's committed checkpoints: the rank files this node holds, each checked
// (checksums) and against the manifest's digest. A node holds some ranks' files, not all.
bool verify_local(const std::string& dir, const std::string& local, std::int64_t id, bool json, std::ostringstream& js,
                  bool first, int& checked) {
  storage::DirectoryStore store(storage::local_tier_dir(local, dir), true);
  bool all_ok = true;
  for (const auto& e : store.list()) {
    if (!e.committed || (id >= 0 && e.id != static_cast<std::uint64_t>(id))) continue;
    ++checked;
    std::vector<std::string> problems;
    std::string held;
    int nranks = 0;
    try {
      const auto m = store.manifest(e.id);
      nranks = m.nranks;
      for (int r = 0; r < m.nranks; ++r) {
        if (!fs::exists(e.path + "/" + storage::rank_file_name(r))) continue;
        held += (held.empty() ? "" : ",") + std::to_string(r);
        try {
          const auto f = store.load_rank(e.id, r);
          if (f.info.digest != m.rank_digest[static_cast<std::size_t>(r)])
            problems.push_back(e.path + "/" + storage::rank_file_name(r) + " does not match the manifest's digest");
        } catch (const Error& err) {
          problems.push_back(err.what());
        }
      }
    } catch (const Error& err) {
      problems.push_back(err.what());
    }
    all_ok = all_ok && problems.empty();
    if (json) {
      js << (first ? "" : ",") << "{\"id\":" << e.id << ",\"tier\":\"local\",\"ok\":" << (problems.empty() ? "true" : "false")
         << ",\"ranks_here\":[" << held << "],\"problems\":[";
      for (std::size_t k = 0; k < problems.size(); ++k) js << (k ? "," : "") << json_string(problems[k]);
      js << "]}";
      first = false;
    } else if (problems.empty()) {
      std::printf("checkpoint %" PRIu64 " (node-local tier): OK, this node holds rank %s of %d (every checksum and digest)\n",
                  e.id, held.empty() ? "-" : held.c_str(), nranks);
    } else {
      std::printf("checkpoint %" PRIu64 " (node-local tier): FAILED\n", e.id);
      for (const auto& p : problems) std::printf("  %s\n", p.c_str());
    }
  }
  return all_ok;
}

int cmd_show(const std::string& dir, std::int64_t id, bool json) {
  storage::DirectoryStore store(dir, true);
  const auto all = store.list();
  const auto* e = find_entry(all, id);
  if (!e) throw Error(id >= 0 ? "no checkpoint " + std::to_string(id) + " in " + dir : "no committed checkpoint in " + dir);
  const auto m = store.manifest(e->id);
  std::ostringstream js;
  js << "{\"id\":" << e->id << ",\"safe_point\":" << m.safe_point << ",\"ranks\":[";
  if (!json)
    std::printf("checkpoint %" PRIu64 ": safe point %" PRIu64 ", %d ranks, created %s, commit %.3f s after the first snapshot\n",
                e->id, m.safe_point, m.nranks, iso_time(m.created_unix).c_str(), m.commit_seconds);
  for (int r = 0; r < m.nranks; ++r) {
    const auto f = store.load_rank(e->id, r);
    const std::uint64_t state_bytes = f.cp.state.total_bytes();
    std::map<std::pair<std::uint64_t, int>, std::pair<std::uint64_t, std::uint64_t>> by_source;  // (comm, source) -> (n, bytes)
    for (const auto& msg : f.cp.channel) {
      auto& slot = by_source[{msg.comm, msg.source}];
      slot.first += 1;
      slot.second += msg.bytes.size();
    }
    if (json) {
      js << (r ? "," : "") << "{\"rank\":" << r << ",\"file_bytes\":" << f.info.file_bytes << ",\"state_bytes\":" << state_bytes
         << ",\"in_flight\":[";
      bool first = true;
      for (const auto& [key, v] : by_source) {
        js << (first ? "" : ",") << "{\"comm\":" << key.first << ",\"source\":" << key.second << ",\"messages\":" << v.first
           << ",\"bytes\":" << v.second << "}";
        first = false;
      }
      js << "]}";
    } else {
      std::printf("  rank %d: file %" PRIu64 " bytes, state %" PRIu64 " bytes, %zu message(s) in flight", r,
                  f.info.file_bytes, state_bytes, f.cp.channel.size());
      for (const auto& [key, v] : by_source)
        std::printf("%s comm %" PRIu64 " from %d: %" PRIu64, key == by_source.begin()->first ? ":" : ",", key.first,
                    key.second, v.first);
      std::printf("\n");
    }
  }
  if (json) std::printf("%s]}\n", js.str().c_str());
  return 0;
}

int cmd_verify(const std::string& dir, const std::string& local, std::int64_t id, bool json) {
  storage::DirectoryStore store(dir, true);
  const auto all = store.list();
  std::vector<const storage::CheckpointEntry*> todo;
  if (id >= 0) {
    const auto* e = find_entry(all, id);
    if (e) todo.push_back(e);
    else if (local.empty()) throw Error("no checkpoint " + std::to_string(id) + " in " + dir);
  } else {
    for (const auto& e : all)
      if (e.committed) todo.push_back(&e);
    if (todo.empty() && local.empty()) throw Error("no committed checkpoint in " + dir);
  }
  bool all_ok = true;
  std::ostringstream js;
  js << "[";
  for (std::size_t i = 0; i < todo.size(); ++i) {
    const auto r = store.verify(todo[i]->id);
    all_ok = all_ok && r.ok();
    if (json) {
      js << (i ? "," : "") << "{\"id\":" << r.id << ",\"ok\":" << (r.ok() ? "true" : "false") << ",\"committed\":"
         << (r.committed ? "true" : "false") << ",\"channels\":" << r.channels << ",\"in_flight\":" << r.in_flight
         << ",\"problems\":[";
      for (std::size_t k = 0; k < r.problems.size(); ++k) js << (k ? "," : "") << json_string(r.problems[k]);
      js << "]}";
    } else if (r.ok()) {
      std::printf("checkpoint %" PRIu64 ": OK (every checksum and digest; %" PRIu64 " channels balance, %" PRIu64
                  " message(s) in flight)\n", r.id, r.channels, r.in_flight);
    } else {
      std::printf("checkpoint %" PRIu64 ": FAILED\n", r.id);
      for (const auto& p : r.problems) std::printf("  %s\n", p.c_str());
    }
  }
  if (!local.empty()) {
    warn_if_no_local_tier(dir, local);
    int checked = 0;
    all_ok = verify_local(dir, local, id, json, js, todo.empty(), checked) && all_ok;
    if (todo.empty() && checked == 0)
      throw Error(id >= 0 ? "no checkpoint " + std::to_string(id) + " in " + dir + " or on this node's local tier"
                          : "no committed checkpoint in " + dir + " or on this node's local tier");
  }
  if (json) std::printf("%s]\n", js.str().c_str());
  return all_ok ? 0 : 1;
}

int cmd_prune(const std::string& dir, unsigned keep, bool json) {
  storage::DirectoryStore store(dir, true);
  const auto r = store.prune(keep, 0);
  if (json) {
    std::printf("{\"removed\":[");
    for (std::size_t i = 0; i < r.removed.size(); ++i) std::printf("%s%" PRIu64, i ? "," : "", r.removed[i]);
    std::printf("]}\n");
  } else if (r.removed.empty()) {
    std::printf("nothing to remove\n");
  } else {
    for (auto id : r.removed) std::printf("removed checkpoint %" PRIu64 "\n", id);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mpisnap: inspect, verify and prune mpisnap checkpoint directories"};
  app.require_subcommand(1);
  bool json = false;
  std::string dir;
  std::int64_t id = -1;
  unsigned keep = 2;
  std::string local;
  app.add_flag("--json", json, "machine-readable output");
  auto* ls = app.add_subcommand("ls", "list checkpoints");
  ls->add_option("DIR", dir, "checkpoint directory")->required();
  ls->add_flag("--json", json, "machine-readable output");
  ls->add_option("--local", local, "the node-local tier's directory (MPISNAP_LOCAL_DIR): list it too");
  auto* show = app.add_subcommand("show", "per-rank contents of a checkpoint (default: newest committed)");
  show->add_option("DIR", dir, "checkpoint directory")->required();
  show->add_option("ID", id, "checkpoint id");
  show->add_flag("--json", json, "machine-readable output");
  auto* verify = app.add_subcommand("verify", "check checksums, digests and channel balance (default: every committed one)");
  verify->add_option("DIR", dir, "checkpoint directory")->required();
  verify->add_option("ID", id, "checkpoint id");
  verify->add_flag("--json", json, "machine-readable output");
  verify->add_option("--local", local, "the node-local tier's directory (MPISNAP_LOCAL_DIR): verify what this node holds too");
  auto* prune = app.add_subcommand("prune", "remove old checkpoints");
  prune->add_option("DIR", dir, "checkpoint directory")->required();
  prune->add_option("--keep", keep, "committed checkpoints to keep (at least 1)")->required()->check(CLI::Range(1u, 1000000u));
  prune->add_flag("--json", json, "machine-readable output");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    // A directory that does not exist is an error, not an empty listing: a mistyped path must not
    // look like "no checkpoints".
    if (!fs::is_dir(dir)) throw Error("no checkpoint directory " + dir + (fs::exists(dir) ? " (not a directory)" : ""));
    if (*ls) return cmd_ls(dir, local, json);
    if (*show) return cmd_show(dir, id, json);
    if (*verify) return cmd_verify(dir, local, id, json);
    if (*prune) return cmd_prune(dir, keep, json);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (msg.rfind("mpisnap: ", 0) == 0) msg = msg.substr(9);
    std::fprintf(stderr, "mpisnap: %s\n", msg.c_str());
    return 1;
  }
  return 2;
}
