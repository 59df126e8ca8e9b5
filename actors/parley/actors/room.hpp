#pragma once

/// @file
/// A chat room as a typed actor: members, a per-room sequence, a backlog of
/// the last N messages, presence, and an optional custom behaviour.
///
/// ```
///   spawned ──▶ open ──(last member leaves)──▶ idle ──(idle_timeout)──▶ stopped
///                 ▲                              │
///                 └──────────(someone joins)─────┘
/// ```
///
/// Every message gets the room's next seq (strictly increasing from 1, no
/// gaps) and is encoded at most once per encoding (`fanout_frame`); the
/// room writes the same immutable bytes into each local member's frame sink
/// itself, and sends one `relay_frame` per other node with members to the
/// relay there, which does the same for its members. A joiner's sink gets
/// the join reply first, written by the room in the same step that admits
/// it, so nothing of the room can come before it. Members are monitored: a member that dies leaves,
/// and the others get a presence diff. The seq and the backlog live in a
/// `room_memory` the rooms directory owns, so a room restarted after a crash
/// continues where it stopped (until history is durable, that memory ends
/// with the process).
///
/// With a history store (`room_config::store`), a message is committed
/// before anyone sees it: publishes wait in the room's next batch while
/// one is being committed, the batch gets its seqs when it goes to the
/// store, and only once the store says it is in are its messages fanned
/// out and their publishers acknowledged (a refused batch refuses its
/// publishers with STORE_UNAVAILABLE and delivers nothing). Resumes and
/// history pages older than the backlog are read from the store.

#include "parley/actors/chat.hpp"
#include "parley/actors/room_behavior.hpp"
#include "parley/store/history_store.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

namespace parley::store {
class store_service;
} // namespace parley::store

namespace parley::actors {

using committed_atom = caf::atom_constant<caf::atom("committed")>;
using stored_atom = caf::atom_constant<caf::atom("stored")>;

/// A room: join / leave / publish / history / presence.
using room_actor = caf::typed_actor<
  caf::replies_to<join_atom, join_request>::with<join_reply>,
  caf::replies_to<leave_atom, member_id>::with<bool>,
  caf::replies_to<publish_atom, publish_request>::with<seq_t>,
  caf::replies_to<history_atom, history_request>::with<history_reply>,
  caf::replies_to<presence_atom>::with<std::vector<std::string>>,
  caf::replies_to<summary_atom>::with<room_summary>,
  // An operator's notice (sender, text): a message from a name no user can
  // have ("@..."), past the behaviour, as any other message.
  caf::replies_to<notice_atom, std::string, std::string>::with<seq_t>,
  // Internal: the idle timer (timer generation).
  caf::reacts_to<idle_atom, uint64_t>,
  // Internal: the behaviour's timer tick.
  caf::reacts_to<tick_atom>,
  // Internal: send the presence changes collected so far.
  caf::reacts_to<flush_atom>,
  // Internal, from the store's thread: a batch (id) committed, or why not
  // (error), with the store's last seq on a conflict.
  caf::reacts_to<committed_atom, uint64_t, std::string, seq_t>,
  // Internal, from the store's thread: a page read (request id), or why
  // not.
  caf::reacts_to<stored_atom, uint64_t, std::shared_ptr<const store::page>, std::string>>;

/// The gevent chat server's backlog: the last 25 messages.
constexpr size_t default_backlog = 25;

/// Counters shared by every room of a directory, read by `/metrics`.
struct room_stats {
  /// Rooms running now.
  std::atomic<int64_t> open{0};
  /// Rooms started (first start and restarts).
  std::atomic<uint64_t> started{0};
  /// Messages given a seq.
  std::atomic<uint64_t> messages{0};
  /// Frames handed to members (messages, presence diffs).
  std::atomic<uint64_t> deliveries{0};
  /// Frames sent to relays on other nodes: one per node with members, not
  /// one per member.
  std::atomic<uint64_t> relayed{0};
  /// Members of all rooms now (local ones and those behind relays).
  std::atomic<int64_t> members{0};
};

struct room_config {
  /// Messages kept and sent on join.
  size_t backlog = default_backlog;
  /// Largest history page; also the default page.
  size_t max_history = 100;
  /// A room without members stops after this long (zero: never).
  caf::timespan idle_timeout = std::chrono::seconds(60);
  /// Longest wait for the custom behaviour's answer.
  caf::timespan behavior_timeout = std::chrono::seconds(5);
  /// Presence changes are collected for this long and sent as one diff
  /// (zero: one diff per change). Without it, N joins cost N² deliveries.
  caf::timespan presence_interval = std::chrono::milliseconds(200);
  /// In a big room the interval grows: one `presence_interval` per this
  /// many members (0: fixed), up to `max_presence_interval`. Every diff goes
  /// to every member, so while 1,000 people arrive a fixed 200 ms costs
  /// 1,000 deliveries five times a second.
  size_t presence_members_per_interval = 100;
  caf::timespan max_presence_interval = std::chrono::seconds(2);
  /// Longest member list in a join reply (member_count is always exact).
  size_t max_presence_list = 1000;
  /// Shared by the rooms of one directory.
  std::shared_ptr<room_stats> stats = std::make_shared<room_stats>();
  /// Where history is kept; null: only the backlog, in memory.
  std::shared_ptr<store::store_service> store;
};

/// What a room keeps across its own restarts; owned by the rooms directory.
struct room_memory {
  seq_t last_seq = 0;
  /// The fencing epoch the room was loaded with (store::room_head::epoch).
  uint64_t epoch = 0;
  std::deque<chat_message> backlog;
  /// How many times a room with this name started.
  uint64_t incarnations = 0;
  /// Idempotency keys of the newest keyed publishes (store::publish_id_window
  /// at most), with their seqs; `key_order` is oldest first.
  std::unordered_map<std::string, seq_t> keys;
  std::deque<std::string> key_order;

  /// Remembers a committed keyed message, forgetting the oldest past the
  /// window.
  void remember(const std::string& key, seq_t seq) {
    if (!keys.emplace(key, seq).second)
      return;
    key_order.push_back(key);
    while (key_order.size() > store::publish_id_window) {
      keys.erase(key_order.front());
      key_order.pop_front();
    }
  }
};

/// State of one room; runs only inside its actor.
class room_state {
public:
  using pointer = room_actor::stateful_pointer<room_state>;

  static inline const char* name = "parley.room";

  explicit room_state(pointer self) : self_(self) {
    // nop
  }

  ~room_state();

  void init(std::string room, room_config cfg, std::shared_ptr<room_memory> memory,
            room_behavior_actor behavior, caf::timespan tick);

  // -- the room's logic, callable directly from tests -------------------------


  /// Removes a member; false if it was none.
  bool remove(const caf::actor_addr& member);

  history_reply history(const history_request& req) const;

  /// Users present, each once, sorted; at most `limit` of them.
  std::vector<std::string> presence(size_t limit = SIZE_MAX) const;

  /// Name, member count and latest seq, for the rooms list.
  room_summary summary() const;

  const std::string& room_name() const {
    return room_;
  }

  size_t member_count() const {
    return members_.size();
  }

  seq_t last_seq() const {
    return memory_->last_seq;
  }

  // -- message handlers --------------------------------------------------------

  caf::result<join_reply> on_join(join_request& req);
  bool on_leave(const member_id& member);
  caf::result<seq_t> on_publish(publish_request& req);
  caf::result<history_reply> on_history(const history_request& req);
  caf::result<seq_t> on_notice(std::string& sender, std::string& text);
  void on_committed(uint64_t batch, const std::string& error, seq_t store_last);
  void on_stored(uint64_t id, const std::shared_ptr<const store::page>& p,
                 const std::string& error);
  void on_idle(uint64_t generation);
  void on_tick();
  void flush_presence();

private:
  struct member {
    std::string user;
    encoding enc = encoding::json;
    /// The relay of the member's node, if that is not this one.
    relay_sink via;
    /// The sink of a member on this node: the room writes the member's
    /// frames there itself (one call, no trip through the member's mailbox
    /// and the scheduler per frame). Null for a member behind a relay, or
    /// one that wants no frames.
    frame_sink_ptr sink;
  };

  /// A relay of another node, with the encodings its members use there.
  struct relay_use {
    relay_sink relay;
    size_t members = 0;
    size_t binary = 0;
    size_t json = 0;
  };

  /// A publisher waiting for its message's commit: acknowledged with the
  /// seq of message `index` of its batch (-1: the seq before the batch).
  struct ack_waiter {
    caf::typed_response_promise<seq_t> rp;
    ptrdiff_t index = -1;
  };

  struct batch {
    std::vector<chat_message> messages;
    /// Each message's idempotency key (empty: none), by index.
    std::vector<std::string> keys;
    std::vector<ack_waiter> acks;
  };

  /// A join or history request waiting for a page from the store.
  struct pending_read {
    join_request join; // for a join
    caf::typed_response_promise<join_reply> join_rp;
    history_request history; // for a history request
    caf::typed_response_promise<history_reply> history_rp;
    bool is_join = false;
  };

  const member* find(const caf::actor_addr& addr) const;
  /// Queues a message for the next commit (it gets its seq then).
  void enqueue(std::string sender, std::string text, std::string body);
  /// The next publisher to acknowledge, with the last message queued.
  void ack_last_queued(caf::typed_response_promise<seq_t> rp);
  /// Answers the repeats of the keyed messages of `b` with `err`.
  void refuse_repeats(const batch& b, const caf::error& err);
  /// Answers the repeats of a key whose publish ended without a message.
  void settle_key(const std::string& key, const caf::error& err);
  /// Answers the repeats waiting on `key` (its seq, or why it has none).
  template <class Outcome>
  void answer_repeats(const std::string& key, const Outcome& outcome) {
    auto i = repeats_.find(key);
    if (i == repeats_.end())
      return;
    auto waiting = std::move(i->second);
    repeats_.erase(i);
    for (auto& rp : waiting)
      rp.deliver(outcome);
  }
  /// Sends the queued messages to the store unless a commit is running
  /// (without a store: commits them at once).
  void submit();
  /// Fans out a committed batch and acknowledges its publishers.
  void apply(batch& b);
  /// Whether a joiner resuming from `since` needs messages older than the
  /// backlog (from the store).
  bool needs_older(const join_request& req) const;
  /// Admits a joiner: a member from now on, answered with the backlog, or
  /// with what came after its `since` (`older`: read from the store).
  join_reply admit(const join_request& req, const store::page* older = nullptr);
  /// Reads what a joiner missed from the store, then admits it.
  void admit_after_read(const join_request& req, caf::typed_response_promise<join_reply> rp);
  bool joining(const caf::actor_addr& member) const;
  /// NAME_IN_USE if someone present goes by another name that looks like
  /// `user` (names.hpp); none otherwise.
  caf::error look_alike_of(const std::string& user) const;
  /// Asks the store for the newest `limit` messages in (after, before).
  void read_page(uint64_t id, seq_t after, seq_t before, size_t limit);
  bool busy() const;
  void publish_effects(const room_effects& fx);
  void broadcast(const v1::ServerFrame& frame, const caf::actor_addr& except = {});
  void presence_diff(const std::string& user, bool joined, const caf::actor_addr& except = {});
  /// How long presence changes are collected, by the room's size.
  caf::timespan presence_delay() const;
  void arm_idle_timer();

  pointer self_;
  std::string room_;
  room_config cfg_;
  std::shared_ptr<room_memory> memory_;
  room_behavior_actor behavior_;
  caf::timespan tick_{0};
  uint64_t ticks_ = 0;
  std::unordered_map<caf::actor_addr, member> members_;
  /// Connections per user, so presence lists each user once.
  std::map<std::string, size_t> users_;
  /// Present users by their look-alike keys (one or two each): two names
  /// that look the same are never in the room together.
  std::unordered_map<std::string, std::string> look_alikes_;
  /// Relays of other nodes with members here, by address.
  std::unordered_map<caf::actor_addr, relay_use> relays_;
  uint64_t idle_generation_ = 0;
  /// Users whose presence changed since the last flush.
  std::set<std::string> pending_presence_;
  bool flush_armed_ = false;
  /// Messages waiting for the running commit to end.
  batch next_;
  /// The batch being committed.
  batch current_;
  bool in_flight_ = false;
  uint64_t batch_id_ = 0;
  /// Keyed publishes whose first copy is queued or being committed: the
  /// repeats that came meanwhile, answered with its outcome.
  std::unordered_map<std::string, std::vector<caf::typed_response_promise<seq_t>>> repeats_;
  /// Reads from the store in progress, by id.
  std::unordered_map<uint64_t, pending_read> reads_;
  uint64_t read_id_ = 0;
};

/// The room's behaviour. `behavior` may be invalid (a plain chat room).
room_actor::behavior_type room_impl(room_state::pointer self, std::string room,
                                    room_config cfg, std::shared_ptr<room_memory> memory,
                                    room_behavior_rule rule);

} // namespace parley::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const parley::store::page>)
