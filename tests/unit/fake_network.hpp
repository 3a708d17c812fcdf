// An in-process stand-in for MPI with many ranks, for testing the snapshot protocol without MPI:
// FIFO channels per (source, destination, color), markers with synchronous-send semantics, and the
// two collective steps the engine uses (marker barrier, done gather + barrier).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "protocol/control_port.hpp"

namespace mpisnap::testing {

struct FakeMessage {
  std::uint64_t id = 0;
  int source = 0;
  int dest = 0;
  int tag = 0;
  std::uint64_t send_epoch = 0;  // sender's epoch (snapshots begun) when sent
};

class FakeNetwork {
 public:
  explicit FakeNetwork(int ranks) : n_(ranks), markers_(static_cast<std::size_t>(ranks)) {}
  int size() const { return n_; }

  // Application traffic: one FIFO per (source, destination, color). Only the first `visible`
  // messages have arrived; deliver_some() lets more arrive, in FIFO order per channel and in random
  // order across channels, so markers and messages race as they do on a real network.
  struct Channel {
    std::deque<FakeMessage> messages;
    std::size_t visible = 0;
  };
  Channel& channel(int source, int dest, int color) { return data_[{source, dest, color}]; }

  template <class Rng>
  void deliver_some(Rng& rng) {
    std::vector<Channel*> pending;
    for (auto& [k, c] : data_)
      if (c.visible < c.messages.size()) pending.push_back(&c);
    for (auto& box : markers_)
      if (box.visible < box.slots.size()) ++box.visible;  // markers arrive one per round per rank
    if (pending.empty()) return;
    Channel& c = *pending[rng() % pending.size()];
    ++c.visible;
  }

  struct MarkerSlot {
    int from;
    protocol::Marker marker;
    std::shared_ptr<bool> delivered;
  };
  struct MarkerBox {
    std::deque<MarkerSlot> slots;
    std::size_t visible = 0;
  };
  MarkerBox& marker_box(int dest) { return markers_[static_cast<std::size_t>(dest)]; }

  // Collective steps, counted per generation (each rank's k-th call joins generation k).
  std::map<int, int> barrier_entered;
  std::map<int, std::vector<std::pair<int, protocol::DoneRecord>>> done_entered;
  std::uint64_t markers_sent = 0;

 private:
  struct Key {
    int s, d, c;
    bool operator<(const Key& o) const { return std::tie(s, d, c) < std::tie(o.s, o.d, o.c); }
  };
  int n_;
  std::map<Key, Channel> data_;
  std::vector<MarkerBox> markers_;
};

class FakePort final : public protocol::ControlPort {
 public:
  FakePort(FakeNetwork& net, int rank) : net_(net), rank_(rank) {}

  void send_marker(protocol::WorldRank to, const protocol::Marker& m) override {
    auto flag = std::make_shared<bool>(false);
    net_.marker_box(protocol::value(to)).slots.push_back({rank_, m, flag});
    pending_.push_back(flag);
    ++net_.markers_sent;
  }
  bool markers_delivered() override {
    for (const auto& f : pending_)
      if (!*f) return false;
    pending_.clear();
    return true;
  }
  bool poll_marker(protocol::WorldRank& from, protocol::Marker& m) override {
    auto& box = net_.marker_box(rank_);
    if (box.visible == 0) return false;
    from = protocol::WorldRank{box.slots.front().from};
    m = box.slots.front().marker;
    *box.slots.front().delivered = true;
    box.slots.pop_front();
    --box.visible;
    return true;
  }
  void start_marker_barrier() override { net_.barrier_entered[barrier_gen_++] += 1; }
  bool marker_barrier_done() override { return net_.barrier_entered[barrier_gen_ - 1] == net_.size(); }
  void start_done(const protocol::DoneRecord& mine) override { net_.done_entered[done_gen_++].push_back({rank_, mine}); }
  bool done_complete(std::vector<protocol::DoneRecord>& at_root) override {
    auto& v = net_.done_entered[done_gen_ - 1];
    if (static_cast<int>(v.size()) != net_.size()) return false;
    at_root.clear();
    if (rank_ == 0) {
      at_root.resize(v.size());
      for (auto& [r, rec] : v) at_root[static_cast<std::size_t>(r)] = rec;
    }
    return true;
  }

 private:
  FakeNetwork& net_;
  int rank_;
  std::vector<std::shared_ptr<bool>> pending_;
  int barrier_gen_ = 0;
  int done_gen_ = 0;
};

}  // namespace mpisnap::testing
