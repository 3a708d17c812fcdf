// Deliberately broken variants of the protocol's rules, compiled into the product and switched on
// only by tests: the protocol simulation (tests/unit/protocol_sim_test.cpp) drives the real engine,
// queue, window and counter folding, and must fail with each of these on. A test that has never
// failed has not been shown to test anything. Nothing but a test assigns `active`; each check sits
// on a path that runs only while a snapshot is in progress or messages are held (never the fast path).
#pragma once

namespace mpisnap::mutation {

enum class Kind {
  None,
  ChannelClosedOnMarker,    // SnapshotEngine::channel_closed: closed once its marker arrived, drained or not
  HeldAlwaysDeliverable,    // ReplayQueue::find: held entries deliverable while their channel is open
  RecordedAfterHeld,        // ReplayQueue::push_recorded: appended behind held entries of its source
  ReceivesUncounted,        // CommTable::begin_epoch: the epoch's receive counts not given to the engine
  WildcardTakesOpenChannel, // ReceiveWindow: a wildcard receive takes a message from an open channel
};

inline Kind active = Kind::None;

inline bool on(Kind k) noexcept { return active == k; }

}  // namespace mpisnap::mutation
