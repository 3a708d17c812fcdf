#include "storage/checkpoint_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include <functional>
#include <numeric>
#include <optional>

#include <mpisnap/error.hpp>

#include "storage/directory.hpp"
#include "storage/fs.hpp"
#include "storage/h5_reader.hpp"
#include "storage/h5_writer.hpp"
#include "storage/hdf5.hpp"
#include "storage/node_build.hpp"
#include "storage/tree_io.hpp"
#include "storage/tree_rules.hpp"

namespace mpisnap::storage {
namespace {

constexpr const char* kMajorAttr = "mpisnap_format_major";
constexpr const char* kMinorAttr = "mpisnap_format_minor";

void write_format(hid_t file, const std::string& ctx) {
  h5::write_attr_u64(file, kMajorAttr, kFormatMajor, ctx);
  h5::write_attr_u64(file, kMinorAttr, kFormatMinor, ctx);
}

void check_format(hid_t file, const std::string& ctx) {
  if (!h5::has_attr(file, kMajorAttr))
    throw Error("mpisnap: " + ctx + " is not an mpisnap file (no format version)");
  const std::uint64_t major = h5::read_attr_u64(file, kMajorAttr, ctx);
  const std::uint64_t minor = h5::has_attr(file, kMinorAttr) ? h5::read_attr_u64(file, kMinorAttr, ctx) : 0;
  if (major != kFormatMajor)
    throw Error("mpisnap: " + ctx + " has format version " + std::to_string(major) + "." +
                std::to_string(minor) + "; this mpisnap reads format " + std::to_string(kFormatMajor) +
                ".x only");
}

// The same check over the root group's attributes as read_plain_file found them.
void check_format(const std::vector<std::pair<std::string, std::uint64_t>>& attrs, const std::string& ctx) {
  std::optional<std::uint64_t> major, minor;
  for (const auto& [name, v] : attrs) {
    if (name == kMajorAttr) major = v;
    if (name == kMinorAttr) minor = v;
  }
  if (!major) throw Error("mpisnap: " + ctx + " is not an mpisnap file (no format version)");
  if (*major != kFormatMajor)
    throw Error("mpisnap: " + ctx + " has format version " + std::to_string(*major) + "." +
                std::to_string(minor.value_or(0)) + "; this mpisnap reads format " + std::to_string(kFormatMajor) +
                ".x only");
}

// Values stored as 64-bit numbers that the program holds as int (ranks, tags): a value out of int's
// range is a damaged file.
std::int32_t as_int(std::int64_t v, const std::string& what, const std::string& where) {
  if (v < INT32_MIN || v > INT32_MAX)
    throw Error("mpisnap: " + where + ": " + what + " " + std::to_string(v) + " is out of range");
  return static_cast<std::int32_t>(v);
}

// Format 1.6: the file's metadata in one record, /meta (before, a group of five scalars).
const std::vector<Column> kMetaColumns = {{"checkpoint_id", ScalarType::UInt64},
                                          {"safe_point", ScalarType::UInt64},
                                          {"rank", ScalarType::Int64},
                                          {"nranks", ScalarType::Int64},
                                          {"created_unix", ScalarType::Float64}};

Node meta_node(const RankCheckpoint& cp) {
  return table_node("meta", kMetaColumns,
                    {cp.checkpoint_id, cp.safe_point, cell(std::int64_t{cp.rank}), cell(std::int64_t{cp.nranks}),
                     cell(cp.created_unix)});
}

void meta_from(const Node& root, RankCheckpoint& cp, const std::string& path) {
  const Node& meta = child(root, "meta", path);
  const std::string where = path + ":/meta";
  if (meta.kind == Node::Kind::Group) {  // formats 1.0-1.5
    cp.checkpoint_id = scalar_value<std::uint64_t>(meta, "checkpoint_id", where);
    cp.safe_point = scalar_value<std::uint64_t>(meta, "safe_point", where);
    cp.rank = scalar_value<std::int32_t>(meta, "rank", where);
    cp.nranks = scalar_value<std::int32_t>(meta, "nranks", where);
    cp.created_unix = scalar_value<double>(meta, "created_unix", where);
    return;
  }
  if (meta.kind != Node::Kind::Table || meta.count != 1)
    throw Error("mpisnap: " + where + " is not one record");
  const std::string at = path + ":";
  cp.checkpoint_id = table_column<std::uint64_t>(meta, "checkpoint_id", at)[0];
  cp.safe_point = table_column<std::uint64_t>(meta, "safe_point", at)[0];
  cp.rank = as_int(table_column<std::int64_t>(meta, "rank", at)[0], "rank", where);
  cp.nranks = as_int(table_column<std::int64_t>(meta, "nranks", at)[0], "nranks", where);
  cp.created_unix = table_column<double>(meta, "created_unix", at)[0];
}

// Format 1.6: the channel's envelopes in one table, /channel/messages, in replay order, and their
// bytes concatenated in /channel/payload (before, four arrays comm, source, tag, length).
const std::vector<Column> kMessageColumns = {{"comm", ScalarType::UInt64},
                                             {"source", ScalarType::Int64},
                                             {"tag", ScalarType::Int64},
                                             {"length", ScalarType::UInt64}};

Node channel_node(const std::vector<RecordedMessage>& log) {
  Node g = group_node("channel");
  std::vector<std::uint64_t> cells;
  cells.reserve(log.size() * kMessageColumns.size());
  std::uint64_t total = 0;
  for (const auto& m : log) {
    cells.insert(cells.end(), {m.comm, cell(std::int64_t{m.source}), cell(std::int64_t{m.tag}),
                               std::uint64_t{m.bytes.size()}});
    total += m.bytes.size();
  }
  Node payload;
  payload.name = "payload";
  payload.kind = Node::Kind::Array;
  payload.type = ScalarType::UInt8;
  payload.count = total;
  payload.data.resize(total);
  std::size_t off = 0;
  for (const auto& m : log) {
    if (!m.bytes.empty()) std::memcpy(payload.data.data() + off, m.bytes.data(), m.bytes.size());
    off += m.bytes.size();
  }
  g.children.push_back(table_node("messages", kMessageColumns, cells));
  g.children.push_back(std::move(payload));
  return g;
}

std::vector<RecordedMessage> channel_from(const Node& g, const std::string& where) {
  std::vector<std::uint64_t> comm, length;
  std::vector<std::int32_t> source, tag;
  if (has_child(g, "messages")) {
    const Node& t = child(g, "messages", where);
    comm = table_column<std::uint64_t>(t, "comm", where);
    length = table_column<std::uint64_t>(t, "length", where);
    for (std::int64_t v : table_column<std::int64_t>(t, "source", where)) source.push_back(as_int(v, "source", where));
    for (std::int64_t v : table_column<std::int64_t>(t, "tag", where)) tag.push_back(as_int(v, "tag", where));
  } else {  // formats 1.0-1.5
    comm = array_values<std::uint64_t>(g, "comm", where);
    source = array_values<std::int32_t>(g, "source", where);
    tag = array_values<std::int32_t>(g, "tag", where);
    length = array_values<std::uint64_t>(g, "length", where);
  }
  const Node& payload = child(g, "payload", where);
  const std::size_t n = comm.size();
  if (source.size() != n || tag.size() != n || length.size() != n)
    throw Error("mpisnap: " + where + ": channel datasets disagree on the number of messages");
  const std::uint64_t total = std::accumulate(length.begin(), length.end(), std::uint64_t{0});
  if (payload.kind != Node::Kind::Array || payload.data.size() != total)
    throw Error("mpisnap: " + where + ": channel payload size does not match the message lengths");
  std::vector<RecordedMessage> log(n);
  std::size_t off = 0;
  for (std::size_t i = 0; i < n; ++i) {
    log[i].comm = comm[i];
    log[i].source = source[i];
    log[i].tag = tag[i];
    log[i].bytes.assign(payload.data.begin() + static_cast<std::ptrdiff_t>(off),
                        payload.data.begin() + static_cast<std::ptrdiff_t>(off + length[i]));
    off += length[i];
  }
  return log;
}

// Since format 1.5 every communicator's counters are in a few datasets, whatever their number
// (before, a group of eleven per communicator: the per-object cost of HDF5, some 25 us to write and
// again to read, grew with the communicators a program made). /counters/comms has one record per
// communicator; its `members`, `local_members` and `peers` say how many of the concatenated
// world_ranks, local_world_ranks and peer_totals records are its own, in record order. 1.6 keeps a
// peer's rank and totals in one record of peer_totals (1.5: three arrays, peers, sent_total and
// delivered_total).
const std::vector<std::string> kCommColumns = {"id",    "parent",  "slot",          "collectives", "idups",
                                               "live",  "members", "local_members", "peers"};
const std::vector<Column> kPeerColumns = {
    {"peer", ScalarType::Int64}, {"sent", ScalarType::UInt64}, {"delivered", ScalarType::UInt64}};

Node counters_node(const std::vector<CommCounters>& counters) {
  Node g = group_node("counters");
  std::vector<std::uint64_t> rows;
  std::vector<std::int32_t> world, local_world;
  std::vector<std::uint64_t> peers;
  rows.reserve(counters.size() * kCommColumns.size());
  for (const auto& c : counters) {
    if (c.sent_total.size() != c.peers.size() || c.delivered_total.size() != c.peers.size())
      throw Error("mpisnap: internal: communicator " + std::to_string(c.comm) + "'s counters disagree on its peers");
    rows.insert(rows.end(), {c.comm, c.parent, c.slot, c.collectives, c.idups, std::uint64_t{c.live ? 1u : 0u},
                             c.world_ranks.size(), c.local_world_ranks.size(), c.peers.size()});
    world.insert(world.end(), c.world_ranks.begin(), c.world_ranks.end());
    local_world.insert(local_world.end(), c.local_world_ranks.begin(), c.local_world_ranks.end());
    for (std::size_t k = 0; k < c.peers.size(); ++k)
      peers.insert(peers.end(), {cell(std::int64_t{c.peers[k]}), c.sent_total[k], c.delivered_total[k]});
  }
  g.children.push_back(u64_table_node("comms", kCommColumns, rows));
  g.children.push_back(array_node("world_ranks", world));
  g.children.push_back(array_node("local_world_ranks", local_world));
  g.children.push_back(table_node("peer_totals", kPeerColumns, peers));
  return g;
}

// A 1.0-1.3 file's totals, one per member, as the peers with a nonzero total.
void dense_to_peers(CommCounters& c, const std::string& where) {
  if (c.sent_total.size() != c.world_ranks.size() || c.delivered_total.size() != c.world_ranks.size())
    throw Error("mpisnap: " + where + ": counter arrays disagree on the communicator size");
  std::vector<std::uint64_t> sent = std::move(c.sent_total), delivered = std::move(c.delivered_total);
  c.sent_total.clear();
  c.delivered_total.clear();
  for (std::size_t p = 0; p < sent.size(); ++p)
    if (sent[p] || delivered[p]) c.add_peer(static_cast<std::int32_t>(p), sent[p], delivered[p]);
}

void check_peers(const CommCounters& c, const std::string& where) {
  if (c.sent_total.size() != c.peers.size() || c.delivered_total.size() != c.peers.size())
    throw Error("mpisnap: " + where + ": counter arrays disagree on the number of peers");
  for (std::size_t k = 0; k < c.peers.size(); ++k)
    if (c.peers[k] < 0 || static_cast<std::size_t>(c.peers[k]) >= c.world_ranks.size() ||
        (k && c.peers[k] <= c.peers[k - 1]))
      throw Error("mpisnap: " + where + ": peer " + std::to_string(c.peers[k]) +
                  " is not a member in increasing order (the communicator has " +
                  std::to_string(c.world_ranks.size()) + " members)");
}

// Takes the next `n` values of `all` (from `next` on) for one communicator.
template <class T>
std::vector<T> take(const std::vector<T>& all, std::uint64_t n, std::size_t& next, const std::string& what,
                    const std::string& where) {
  if (n > all.size() - next)
    throw Error("mpisnap: " + where + ": the communicators' counts of " + what + " add up to more than the " +
                std::to_string(all.size()) + " stored");
  std::vector<T> v(all.begin() + static_cast<std::ptrdiff_t>(next), all.begin() + static_cast<std::ptrdiff_t>(next + n));
  next += n;
  return v;
}

std::vector<CommCounters> counters_from_tables(const Node& g, const std::string& where) {
  const Node& comms = child(g, "comms", where);
  std::vector<std::vector<std::uint64_t>> col;
  for (const std::string& c : kCommColumns) col.push_back(table_column<std::uint64_t>(comms, c, where));
  const auto world = array_values<std::int32_t>(g, "world_ranks", where);
  const auto local_world = array_values<std::int32_t>(g, "local_world_ranks", where);
  std::vector<std::int32_t> peers;
  std::vector<std::uint64_t> sent, delivered;
  if (has_child(g, "peer_totals")) {
    const Node& t = child(g, "peer_totals", where);
    for (std::int64_t v : table_column<std::int64_t>(t, "peer", where)) peers.push_back(as_int(v, "peer", where));
    sent = table_column<std::uint64_t>(t, "sent", where);
    delivered = table_column<std::uint64_t>(t, "delivered", where);
  } else {  // format 1.5
    peers = array_values<std::int32_t>(g, "peers", where);
    sent = array_values<std::uint64_t>(g, "sent_total", where);
    delivered = array_values<std::uint64_t>(g, "delivered_total", where);
  }
  if (sent.size() != peers.size() || delivered.size() != peers.size())
    throw Error("mpisnap: " + where + ": counter arrays disagree on the number of peers");
  std::vector<CommCounters> out;
  std::size_t w = 0, lw = 0, p = 0, s = 0, d = 0;
  for (std::uint64_t r = 0; r < comms.count; ++r) {
    CommCounters c;
    c.comm = col[0][r];
    c.parent = col[1][r];
    c.slot = col[2][r];
    c.collectives = col[3][r];
    c.idups = col[4][r];
    c.live = col[5][r] != 0;
    const std::string w_r = where + "/comms[" + std::to_string(r) + "] (communicator " + std::to_string(c.comm) + ")";
    c.world_ranks = take(world, col[6][r], w, "world_ranks", w_r);
    c.local_world_ranks = take(local_world, col[7][r], lw, "local_world_ranks", w_r);
    c.peers = take(peers, col[8][r], p, "peers", w_r);
    c.sent_total = take(sent, col[8][r], s, "sent_total", w_r);
    c.delivered_total = take(delivered, col[8][r], d, "delivered_total", w_r);
    check_peers(c, w_r);
    out.push_back(std::move(c));
  }
  if (w != world.size() || lw != local_world.size() || p != peers.size())
    throw Error("mpisnap: " + where + ": values are stored beyond what the communicators' counts cover");
  return out;
}

std::vector<CommCounters> counters_from(const Node& g, const std::string& where) {
  if (has_child(g, "comms")) return counters_from_tables(g, where);  // formats 1.5-1.6
  std::vector<CommCounters> out;
  for (const Node& cg : g.children) {
    const std::string w = where + "/" + cg.name;
    CommCounters c;
    c.comm = scalar_value<std::uint64_t>(cg, "id", w);
    c.world_ranks = array_values<std::int32_t>(cg, "world_ranks", w);
    c.sent_total = array_values<std::uint64_t>(cg, "sent_total", w);
    c.delivered_total = array_values<std::uint64_t>(cg, "delivered_total", w);
    if (has_child(cg, "peers")) {  // format 1.4: the peers with a nonzero total
      c.peers = array_values<std::int32_t>(cg, "peers", w);
    } else {                       // 1.0-1.3: every member
      dense_to_peers(c, w);
    }
    check_peers(c, w);
    c.collectives = scalar_value<std::uint64_t>(cg, "collectives", w);
    if (has_child(cg, "parent")) {  // format 1.1: the lineage
      c.parent = scalar_value<std::uint64_t>(cg, "parent", w);
      c.slot = scalar_value<std::uint64_t>(cg, "slot", w);
      c.local_world_ranks = array_values<std::int32_t>(cg, "local_world_ranks", w);
      c.live = scalar_value<std::uint64_t>(cg, "live", w) != 0;
      c.idups = scalar_value<std::uint64_t>(cg, "idups", w);
    } else {
      c.parent = CommCounters::kNoParent;  // a 1.0 file: ids match only by creation order
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

namespace {

// On a full disk HDF5 cannot even close a file it failed to write (its last flush fails; the file
// stays open inside HDF5 and its exit handler crashes the process). So HDF5 is never let near a full
// disk: before a file is created the space it needs (its payload + room for HDF5's metadata) must be
// free, and it is reserved (fallocate past the end of the file, released after the close) so that
// other writers on the same file system cannot take it meanwhile. A full disk is then an error
// before any HDF5 call, naming the file, the space needed and the space free.
class SpaceGuard {
 public:
  SpaceGuard(std::string dir, std::string path, std::uint64_t needed)
      : dir_(std::move(dir)), path_(std::move(path)), needed_(needed + (std::uint64_t{1} << 16)) {
    const std::uint64_t avail = bytes_free(dir_);
    if (avail < needed_ + (std::uint64_t{1} << 20)) no_space(avail);
  }
  // After the file exists: reserve the space (a file system that cannot reserve is trusted).
  void reserve() {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    const int rc = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(needed_));
    const int err = errno;
    ::close(fd);
    if (rc != 0 && err == ENOSPC) no_space(bytes_free(dir_));
    reserved_ = rc == 0;
  }
  // After the close: what HDF5 did not use goes back to the file system.
  void release() noexcept {
    if (!reserved_) return;
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st{};
    if (::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) < needed_)
      (void)::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st.st_size,
                        static_cast<off_t>(needed_) - st.st_size);
    ::close(fd);
  }
  [[noreturn]] void no_space(std::uint64_t avail) const {
    throw Error("mpisnap: no space left on device for " + path_ + ": it needs about " + std::to_string(needed_) +
                " bytes (and 1 MiB is kept free) but the file system of " + dir_ + " has " + std::to_string(avail) +
                " bytes free");
  }

 private:
  static std::uint64_t bytes_free(const std::string& dir) {
    struct statvfs v{};
    if (::statvfs(dir.c_str(), &v) != 0) return ~std::uint64_t{0} >> 1;
    return static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
  }
  std::string dir_, path_;
  std::uint64_t needed_;
  bool reserved_ = false;
};

// Room for HDF5's own structures: a few KiB per object, and large datasets start 4 KiB-aligned.
std::uint64_t file_estimate(const Node& n) {
  std::uint64_t bytes = n.data.size() + 4096;
  for (const Node& c : n.children) bytes += file_estimate(c);
  return bytes;
}

// A write that failed anyway (an I/O error, a disk filled by someone else): the file's blocks are
// freed first so that HDF5 can close it, then it is closed and removed.
void abandon(h5::Handle& f, const std::string& tmp) noexcept {
  (void)::truncate(tmp.c_str(), 0);
  try {
    f.close(tmp);
  } catch (const Error&) {
  }
  (void)::unlink(tmp.c_str());
}

// A file written through the HDF5 library (what h5_writer does not write): `estimate` bytes of
// space checked and reserved first, the format version, then `body`; closed, fsynced. On failure
// the file is removed.
void write_with_library(const std::string& dir, const std::string& tmp, std::uint64_t estimate,
                        const std::function<void(hid_t)>& body) {
  SpaceGuard space(dir, tmp, estimate);
  h5::Handle f;
  try {
    f = h5::create_file(tmp);
    space.reserve();
    write_format(f.get(), tmp);
    body(f.get());
    f.close(tmp);
  } catch (const Error&) {
    abandon(f, tmp);
    throw;
  }
  space.release();
  fs::fsync_file(tmp);
}

}  // namespace

RankFileInfo write_rank_file(const std::string& checkpoint_dir, const RankCheckpoint& cp, bool direct_io) {
  fs::make_dirs(checkpoint_dir);
  const std::string final_path = checkpoint_dir + "/" + rank_file_name(cp.rank);
  const std::string tmp = final_path + ".tmp";
  RankFileInfo info;
  Xxh64 digest;
  TreeStats stats;
  if (cp.state.kind != Node::Kind::Group) throw Error("mpisnap: internal: state root is not a group");
  rules::check_depth(cp.state, final_path);  // (what the readers would refuse)
  Node rest = group_node("");
  rest.children.push_back(meta_node(cp));
  rest.children.push_back(channel_node(cp.channel));
  rest.children.push_back(counters_node(cp.counters));
  const std::vector<const Node*> roots = {&cp.state, &rest};
  if (can_write_plain(roots)) {
    // Laid out in memory and written in one go, fsynced (h5_writer.hpp). A full disk is an error
    // of the write itself, named there; the file is removed.
    info.file_bytes = write_plain_file(tmp, {{kMajorAttr, kFormatMajor}, {kMinorAttr, kFormatMinor}}, roots, digest,
                                       stats, direct_io);
  } else {
    // Through the HDF5 library (a list of strings, a very large group), kept away from a full disk.
    std::uint64_t channel_bytes = 0;
    for (const RecordedMessage& m : cp.channel) channel_bytes += m.bytes.size() + 64;
    write_with_library(checkpoint_dir, tmp, file_estimate(cp.state) + channel_bytes, [&](hid_t f) {
      write_tree(f, cp.state, tmp, digest, stats, direct_io);
      write_tree(f, rest, tmp, digest, stats, direct_io);
    });
    info.file_bytes = fs::file_size(tmp);
  }
  // The name is made durable by the commit, once for every rank's file: write_manifest syncs the
  // directory before the manifest's rename. (Until then a crash may lose the name; the checkpoint
  // is not committed, so nothing is lost that recovery would use.)
  fs::rename(tmp, final_path);
  info.digest = digest.digest();
  info.payload_bytes = stats.bytes;
  info.messages = cp.channel.size();
  return info;
}

LoadedRankFile read_rank_file(const std::string& checkpoint_dir, int rank, bool direct_io) {
  const std::string path = checkpoint_dir + "/" + rank_file_name(rank);
  if (!fs::exists(path)) throw Error("mpisnap: " + path + " is missing");
  LoadedRankFile out;
  Xxh64 digest;
  TreeStats stats;
  Node root;
  if (std::optional<PlainFile> plain = read_plain_file(path, digest, stats, direct_io)) {
    // (Read without the HDF5 library: h5_reader.hpp.)
    check_format(plain->root_attrs, path);
    root = std::move(plain->root);
  } else {
    h5::Handle f = h5::open_file_readonly(path);
    check_format(f.get(), path);
    root = read_tree(f.get(), path, digest, stats, direct_io);
    f.close(path);
  }
  RankCheckpoint& cp = out.cp;
  meta_from(root, cp, path);
  if (cp.rank != rank)
    throw Error("mpisnap: " + path + " holds rank " + std::to_string(cp.rank) + "'s data, not rank " +
                std::to_string(rank) + "'s");
  cp.channel = channel_from(child(root, "channel", path), path + ":/channel");
  cp.counters = counters_from(child(root, "counters", path), path + ":/counters");
  cp.state = group_node("");
  Node* state = find_child(root, "state");
  if (!state) throw Error("mpisnap: " + path + " has no /state");
  cp.state.children.push_back(std::move(*state));
  out.info.digest = digest.digest();
  out.info.file_bytes = fs::file_size(path);
  out.info.payload_bytes = stats.bytes;
  out.info.messages = cp.channel.size();
  return out;
}

void write_manifest(const std::string& checkpoint_dir, const Manifest& m) {
  const std::string final_path = checkpoint_dir + "/" + kManifestName;
  const std::string tmp = final_path + ".tmp";
  Node root = group_node("");
  Node c = group_node("checkpoint");
  c.children.push_back(scalar_node("checkpoint_id", m.checkpoint_id));
  c.children.push_back(scalar_node("safe_point", m.safe_point));
  c.children.push_back(scalar_node("nranks", m.nranks));
  c.children.push_back(scalar_node("created_unix", m.created_unix));
  c.children.push_back(scalar_node("commit_seconds", m.commit_seconds));
  c.children.push_back(array_node("rank_digest", m.rank_digest));
  c.children.push_back(array_node("rank_bytes", m.rank_bytes));
  c.children.push_back(array_node("rank_messages", m.rank_messages));
  c.children.push_back(array_node("program", m.program.data(), m.program.size()));
  root.children.push_back(std::move(c));
  // External links make `h5dump manifest.h5` show the whole checkpoint.
  ExternalLinks ranks{"ranks", {}};
  for (std::int32_t r = 0; r < m.nranks; ++r) {
    const std::string name = rank_file_name(r);
    ranks.links.emplace_back(name.substr(0, name.size() - 3), name);
  }
  Xxh64 digest;
  TreeStats stats;
  if (m.nranks >= 0 && static_cast<std::size_t>(m.nranks) <= kMaxPlainLinks) {
    write_plain_file(tmp, {{kMajorAttr, kFormatMajor}, {kMinorAttr, kFormatMinor}}, {&root}, digest, stats, false,
                     &ranks);  // (h5_writer.hpp; fsynced there)
  } else {  // (a group of more links than a header should hold: the library's)
    write_with_library(checkpoint_dir, tmp, std::uint64_t{8} * 4096 + m.rank_digest.size() * 64, [&](hid_t f) {
      write_tree(f, root, tmp, digest, stats);
      h5::Handle gcpl = h5::ordered_group_plist();
      h5::Handle g = h5::group(h5::check(H5Gcreate2(f, "ranks", H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), "H5Gcreate2",
                                         tmp + ":/ranks"));
      for (const auto& [link, file] : ranks.links)
        h5::check(H5Lcreate_external(file.c_str(), "/", g.get(), link.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                  "H5Lcreate_external", tmp + ":/ranks/" + link);
      g.close(tmp);
    });
  }
  // Every rank file's name first (write_rank_file leaves them to this), so that a manifest that
  // survives a crash never lists a file whose name did not; then the manifest's own.
  fs::fsync_dir(checkpoint_dir);
  fs::rename(tmp, final_path);
  fs::fsync_dir(checkpoint_dir);
}

Manifest read_manifest(const std::string& checkpoint_dir) {
  const std::string path = checkpoint_dir + "/" + kManifestName;
  if (!fs::exists(path)) throw Error("mpisnap: " + path + " is missing: the checkpoint is not committed");
  Manifest m;
  h5::Handle f = h5::open_file_readonly(path);
  check_format(f.get(), path);
  h5::Handle g = h5::group(h5::check(H5Gopen2(f.get(), "checkpoint", H5P_DEFAULT), "H5Gopen2", path + ":/checkpoint"));
  Xxh64 digest;
  TreeStats stats;
  const Node c = read_tree(g.get(), path, digest, stats);
  const std::string w = path + ":/checkpoint";
  m.checkpoint_id = scalar_value<std::uint64_t>(c, "checkpoint_id", w);
  m.safe_point = scalar_value<std::uint64_t>(c, "safe_point", w);
  m.nranks = scalar_value<std::int32_t>(c, "nranks", w);
  m.created_unix = scalar_value<double>(c, "created_unix", w);
  m.commit_seconds = scalar_value<double>(c, "commit_seconds", w);
  m.rank_digest = array_values<std::uint64_t>(c, "rank_digest", w);
  m.rank_bytes = array_values<std::uint64_t>(c, "rank_bytes", w);
  m.rank_messages = array_values<std::uint64_t>(c, "rank_messages", w);
  if (has_child(c, "program")) {
    const std::vector<char> name = array_values<char>(c, "program", w);
    m.program.assign(name.begin(), name.end());
  }
  if (m.nranks <= 0 || m.rank_digest.size() != static_cast<std::size_t>(m.nranks) ||
      m.rank_bytes.size() != m.rank_digest.size() || m.rank_messages.size() != m.rank_digest.size())
    throw Error("mpisnap: " + path + ": per-rank tables do not match nranks");
  g.close(path);
  f.close(path);
  return m;
}

}  // namespace mpisnap::storage
