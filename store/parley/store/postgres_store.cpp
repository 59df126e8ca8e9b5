// The PostgreSQL store: every node of a cluster writes and reads one
// database, and the database decides who owns a room.
//
// Ownership is a fencing epoch per room: a node that loads a room takes it
// (epoch + 1), and every commit carries the epoch it loaded with, so a node
// that hung or was cut off cannot commit once another node took the room,
// whatever it believes. Each node also holds a lease (parley_nodes), renewed
// every third of its length: a room whose owner's lease is live and which
// this node cannot see is taken over only from the majority side of the
// cluster, so the two halves of a split do not take a room back and forth.
// A node that finds its own lease ran out (it was stopped, or could not
// reach the database) asks which of its rooms were taken meanwhile and
// reports them (`watch_ownership`): they stop and their members join again.
//
// libpq (Debian's libpq-dev) is the client. Three connections, one per
// thread that uses them: the writer's (loads, commits, retention), the
// reader's (history pages) and the lease's (its own thread, here).
#include "parley/store/history_store.hpp"

#include <libpq-fe.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <map>
#include <mutex>
#include <pthread.h>
#include <set>
#include <thread>

namespace parley::store {

namespace {

// Each step takes the schema from the version before it to its own. Never
// edit a step that shipped: add one.
const char* const pg_migrations[] = {
  // 1: rooms (their last seq outlives retention) and their messages.
  "CREATE TABLE parley_rooms ("
  "  id bigserial PRIMARY KEY,"
  "  name text NOT NULL UNIQUE,"
  "  last_seq bigint NOT NULL DEFAULT 0);"
  "CREATE TABLE parley_messages ("
  "  room bigint NOT NULL REFERENCES parley_rooms(id),"
  "  seq bigint NOT NULL,"
  "  sender text NOT NULL,"
  "  text text NOT NULL,"
  "  body bytea NOT NULL,"
  "  sent_ms bigint NOT NULL,"
  "  PRIMARY KEY (room, seq));"
  "CREATE INDEX parley_messages_by_age ON parley_messages(sent_ms);",
  // 2: ownership: each room's owner and fencing epoch, each node's lease.
  "ALTER TABLE parley_rooms ADD COLUMN owner text,"
  "  ADD COLUMN epoch bigint NOT NULL DEFAULT 0;"
  "CREATE TABLE parley_nodes ("
  "  name text PRIMARY KEY,"
  "  lease_until timestamptz NOT NULL);",
  // 3: idempotency keys of publishes (NULL: none).
  "ALTER TABLE parley_messages ADD COLUMN idem_key text;",
};
static_assert(std::size(pg_migrations) == postgres_schema_version);

// Serialises migrations of nodes that start at once (any fixed number).
constexpr const char* migration_lock = "SELECT pg_advisory_xact_lock(7213560)";

// Commits hold at most this many parameters per statement (PostgreSQL's
// limit is 65,535); a batch is never split across statements.
constexpr size_t max_params = 30'000;

struct result {
  PGresult* res = nullptr;
  explicit result(PGresult* r) : res(r) {
    // nop
  }
  result(result&& other) noexcept : res(other.res) {
    other.res = nullptr;
  }
  result(const result&) = delete;
  result& operator=(const result&) = delete;
  result& operator=(result&&) = delete;
  ~result() {
    if (res)
      PQclear(res);
  }
  int rows() const {
    return PQntuples(res);
  }
  bool null(int row, int col) const {
    return PQgetisnull(res, row, col) != 0;
  }
  std::string text(int row, int col) const {
    return {PQgetvalue(res, row, col), static_cast<size_t>(PQgetlength(res, row, col))};
  }
  int64_t integer(int row, int col) const {
    return std::strtoll(PQgetvalue(res, row, col), nullptr, 10);
  }
  bool boolean(int row, int col) const {
    return !null(row, col) && PQgetvalue(res, row, col)[0] == 't';
  }
  std::string bytes(int row, int col) const {
    size_t n = 0;
    auto* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(res, row, col)),
                                &n);
    if (!raw)
      throw store_error{"out of memory reading a message body"};
    std::string out{reinterpret_cast<const char*>(raw), n};
    PQfreemem(raw);
    return out;
  }
};

// Parameters of one statement: text, except the ones marked binary (bodies).
struct params {
  std::vector<std::string> values;
  std::vector<int> binary;

  size_t add(std::string v, bool bin = false) {
    values.push_back(std::move(v));
    binary.push_back(bin ? 1 : 0);
    return values.size();
  }
  size_t add(int64_t v) {
    return add(std::to_string(v));
  }
  size_t size() const {
    return values.size();
  }
};

std::string one_line(const char* msg) {
  std::string s{msg ? msg : ""};
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  for (auto& c : s)
    if (c == '\n')
      c = ' ';
  return s;
}

// A PostgreSQL array literal of texts: {"a","b"} with " and \ escaped.
std::string text_array(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char c : xs[i]) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

int64_t as_int(seq_t x) {
  return static_cast<int64_t>(std::min<seq_t>(x, static_cast<seq_t>(INT64_MAX)));
}

// One connection, reconnected when it broke. Used by one thread at a time.
class connection {
public:
  explicit connection(std::string url) : url_(std::move(url)) {
    // nop
  }
  ~connection() {
    if (conn_)
      PQfinish(conn_);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Connects (again) if needed; throws store_error when it cannot.
  PGconn* get() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK)
      return conn_;
    if (conn_) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
    // Defaults a URL may override: a dead server is found out in seconds,
    // not at the kernel's TCP timeout (minutes).
    const char* keys[] = {"connect_timeout", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "application_name",
                          "dbname", nullptr};
    const char* vals[] = {"3", "5", "2", "2", "10000", "parley", url_.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, vals, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      auto why = one_line(conn_ ? PQerrorMessage(conn_) : "out of memory");
      if (conn_) {
        PQfinish(conn_);
        conn_ = nullptr;
      }
      throw store_error{"PostgreSQL: " + why};
    }
    // The server's NOTICEs ("relation ... already exists, skipping" from
    // the migrations) are not news to whoever reads the gateway's log.
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    // A statement stuck behind a lock or a stalled server gives up.
    exec("SET statement_timeout = 10000");
    return conn_;
  }

  // Runs `sql`; throws store_error unless it returned `want`.
  result exec(const std::string& sql, const params& p = {},
              ExecStatusType want = PGRES_COMMAND_OK) {
    auto* c = conn_ && PQstatus(conn_) == CONNECTION_OK ? conn_ : get();
    std::vector<const char*> vals;
    std::vector<int> lens;
    vals.reserve(p.size());
    lens.reserve(p.size());
    for (auto& v : p.values) {
      vals.push_back(v.data());
      lens.push_back(static_cast<int>(v.size()));
    }
    // Without parameters, PQexec: it takes several statements (migrations).
    result r{p.size() == 0
               ? PQexec(c, sql.c_str())
               : PQexecParams(c, sql.c_str(), static_cast<int>(p.size()), nullptr, vals.data(),
                              lens.data(), p.binary.data(), 0)};
    auto status = r.res ? PQresultStatus(r.res) : PGRES_FATAL_ERROR;
    if (status != want) {
      auto why = one_line(r.res ? PQresultErrorMessage(r.res) : PQerrorMessage(c));
      if (why.empty())
        why = one_line(PQerrorMessage(c));
      if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(conn_);
        conn_ = nullptr;
      } else if (PQtransactionStatus(c) == PQTRANS_INERROR) {
        PQclear(PQexec(c, "ROLLBACK"));
      }
      throw store_error{"PostgreSQL: " + why};
    }
    return r;
  }

  result query(const std::string& sql, const params& p = {}) {
    return exec(sql, p, PGRES_TUPLES_OK);
  }

  // Rolls back a transaction left open by a failure (best effort).
  void abandon() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK
        && PQtransactionStatus(conn_) != PQTRANS_IDLE)
      PQclear(PQexec(conn_, "ROLLBACK"));
  }

private:
  std::string url_;
  PGconn* conn_ = nullptr;
};

// Creates the tables or migrates them to `target`; refuses a newer schema.
void migrate(connection& db, int target, std::string& why) {
  db.exec("BEGIN");
  db.query(migration_lock);
  db.exec("CREATE TABLE IF NOT EXISTS parley_schema (version int NOT NULL)");
  auto r = db.query("SELECT max(version) FROM parley_schema");
  int version = r.null(0, 0) ? 0 : static_cast<int>(r.integer(0, 0));
  if (version == 0) {
    // Tables without a version: someone else's, or a broken install.
    auto t = db.query("SELECT count(*) FROM information_schema.tables "
                      "WHERE table_schema = current_schema() AND table_name IN "
                      "('parley_rooms', 'parley_messages')");
    if (t.integer(0, 0) > 0) {
      db.exec("ROLLBACK");
      why = "the database has Parley's tables but no schema version: not touching it";
      return;
    }
  }
  if (version > postgres_schema_version) {
    db.exec("ROLLBACK");
    why = "the database was written by a newer Parley (schema version "
          + std::to_string(version) + "; this one knows up to "
          + std::to_string(postgres_schema_version) + "): refusing to touch it; run the newer "
          "version";
    return;
  }
  for (int v = version; v < target; ++v)
    db.exec(pg_migrations[v]);
  if (version < target) {
    db.exec("DELETE FROM parley_schema");
    params p;
    p.add(int64_t{target});
    db.exec("INSERT INTO parley_schema(version) VALUES ($1::int)", p);
  }
  db.exec("COMMIT");
}

class postgres_store final : public history_store {
public:
  explicit postgres_store(postgres_options opts)
    : opts_(std::move(opts)), w_(opts_.url), r_(opts_.url), l_(opts_.url) {
    view_.insert(opts_.node);
  }

  ~postgres_store() override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    cv_.notify_all();
    if (!lease_thread_.joinable())
      return; // never opened
    lease_thread_.join();
    // Gone cleanly: the rooms may be taken at once, not after the lease.
    try {
      params p;
      p.add(opts_.node);
      l_.exec("UPDATE parley_nodes SET lease_until = now() - interval '1 second' "
              "WHERE name = $1", p);
    } catch (const store_error&) {
      // Unreachable: the lease runs out by itself.
    }
  }

  // Connects the writer, migrates, and takes the lease; throws store_error.
  void open(std::string& why) {
    w_.get();
    migrate(w_, postgres_schema_version, why);
    if (!why.empty())
      return;
    renew();
    // The thread starts with every signal blocked, as the service's do.
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    lease_thread_ = std::thread{[this] { lease_loop(); }};
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  std::string describe() const override {
    return "postgres (node " + opts_.node + ")";
  }

  bool blocking() const override {
    return true;
  }

  bool shared() const override {
    return true;
  }

  void set_view(const std::vector<std::string>& nodes) override {
    std::lock_guard<std::mutex> guard{mtx_};
    view_ = {nodes.begin(), nodes.end()};
    view_.insert(opts_.node);
  }

  void watch_ownership(std::function<void(std::vector<std::string>)> lost) override {
    std::lock_guard<std::mutex> guard{mtx_};
    lost_ = std::move(lost);
  }

  void forget(const std::string& room) override {
    std::lock_guard<std::mutex> guard{mtx_};
    owned_.erase(room);
  }

  room_head load(const std::string& room, size_t recent) override {
    try {
      return take(room, recent);
    } catch (const store_error&) {
      w_.abandon();
      throw;
    }
  }

  void commit(std::vector<room_batch>& batches) override {
    // Batches go in statements of at most `max_params` parameters, each its
    // own transaction: a batch is in or out as a whole either way.
    size_t from = 0;
    while (from < batches.size()) {
      size_t n = 0;
      size_t to = from;
      while (to < batches.size()) {
        size_t need = 4 + 7 * batches[to].records.size();
        if (to > from && n + need > max_params)
          break;
        n += need;
        ++to;
      }
      commit_some(batches, from, to);
      from = to;
    }
  }

  page read(const std::string& room, seq_t after, seq_t before, size_t limit,
            bool newest) override {
    try {
      page p;
      r_.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      params q;
      q.add(room);
      auto head = r_.query("SELECT r.id, r.last_seq, (SELECT min(seq) FROM parley_messages m "
                           "WHERE m.room = r.id) FROM parley_rooms r WHERE r.name = $1",
                           q);
      if (head.rows() == 0) {
        r_.exec("COMMIT");
        return p;
      }
      auto id = head.integer(0, 0);
      p.last_seq = static_cast<seq_t>(head.integer(0, 1));
      p.oldest = head.null(0, 2) ? p.last_seq + 1 : static_cast<seq_t>(head.integer(0, 2));
      params m;
      m.add(id);
      m.add(as_int(after));
      m.add(before == 0 ? INT64_MAX : as_int(before));
      m.add(static_cast<int64_t>(limit));
      auto rows = r_.query(std::string{"SELECT seq, sender, text, body, sent_ms FROM "
                                       "parley_messages WHERE room = $1 AND seq > $2 AND "
                                       "seq < $3 ORDER BY seq "}
                             + (newest ? "DESC" : "ASC") + " LIMIT $4",
                           m);
      for (int i = 0; i < rows.rows(); ++i)
        p.records.push_back(record_of(rows, i));
      if (newest)
        std::reverse(p.records.begin(), p.records.end());
      r_.exec("COMMIT");
      return p;
    } catch (const store_error&) {
      r_.abandon();
      throw;
    }
  }

  trim_result trim(const std::vector<std::string>& rooms, const retention& keep, int64_t now_ms,
                   size_t budget) override {
    trim_result out;
    try {
      if (keep.max_messages > 0 && !rooms.empty()) {
        params p;
        p.add(text_array(rooms));
        p.add(static_cast<int64_t>(keep.max_messages));
        auto r = w_.exec("DELETE FROM parley_messages m USING parley_rooms r "
                         "WHERE r.name = ANY($1::text[]) AND m.room = r.id "
                         "AND m.seq <= r.last_seq - $2::bigint",
                         p);
        out.removed += std::strtoull(PQcmdTuples(r.res), nullptr, 10);
      }
      if (keep.max_age.count() > 0 && out.removed < budget) {
        params p;
        p.add(static_cast<int64_t>(now_ms - keep.max_age.count() * 1000));
        p.add(static_cast<int64_t>(budget - out.removed));
        auto r = w_.exec("DELETE FROM parley_messages WHERE ctid IN (SELECT ctid FROM "
                         "parley_messages WHERE sent_ms < $1::bigint LIMIT $2::bigint)",
                         p);
        out.removed += std::strtoull(PQcmdTuples(r.res), nullptr, 10);
      }
      return out;
    } catch (const store_error&) {
      w_.abandon();
      throw;
    }
  }

private:
  static record record_of(const result& r, int i) {
    record rec;
    rec.seq = static_cast<seq_t>(r.integer(i, 0));
    rec.sender = r.text(i, 1);
    rec.text = r.text(i, 2);
    rec.body = r.bytes(i, 3);
    rec.sent_ms = r.integer(i, 4);
    return rec;
  }

  // Takes the room for this node (a new epoch) unless another node holds it
  // and this one may not take it over; returns its head.
  room_head take(const std::string& room, size_t recent) {
    w_.exec("BEGIN");
    params name;
    name.add(room);
    w_.exec("INSERT INTO parley_rooms(name) VALUES ($1) ON CONFLICT (name) DO NOTHING", name);
    auto r = w_.query("SELECT r.id, r.last_seq, r.owner, r.epoch, "
                      "n.lease_until IS NOT NULL AND n.lease_until > now() "
                      "FROM parley_rooms r LEFT JOIN parley_nodes n ON n.name = r.owner "
                      "WHERE r.name = $1 FOR UPDATE OF r",
                      name);
    auto id = r.integer(0, 0);
    room_head head;
    head.last_seq = static_cast<seq_t>(r.integer(0, 1));
    std::string owner = r.null(0, 2) ? std::string{} : r.text(0, 2);
    bool owner_live = r.boolean(0, 4);
    if (!owner.empty() && owner != opts_.node && owner_live) {
      if (auto why = may_take_from(owner); !why.empty()) {
        w_.exec("ROLLBACK");
        throw store_error{"room " + room + " is held by node '" + owner + "', " + why};
      }
      spdlog::warn("store: taking room {} over from node '{}' (unreachable from here)", room,
                   owner);
    }
    params take;
    take.add(opts_.node);
    take.add(id);
    auto e = w_.query("UPDATE parley_rooms SET owner = $1, epoch = epoch + 1 WHERE id = $2 "
                      "RETURNING epoch",
                      take);
    head.epoch = static_cast<uint64_t>(e.integer(0, 0));
    if (recent > 0) {
      params q;
      q.add(id);
      q.add(static_cast<int64_t>(recent));
      auto rows = w_.query("SELECT seq, sender, text, body, sent_ms FROM parley_messages "
                           "WHERE room = $1 ORDER BY seq DESC LIMIT $2",
                           q);
      for (int i = 0; i < rows.rows(); ++i)
        head.recent.push_back(record_of(rows, i));
      std::reverse(head.recent.begin(), head.recent.end());
    }
    params k;
    k.add(id);
    k.add(static_cast<int64_t>(publish_id_window));
    auto keys = w_.query("SELECT idem_key, seq FROM parley_messages WHERE room = $1 AND "
                         "idem_key IS NOT NULL ORDER BY seq DESC LIMIT $2",
                         k);
    for (int i = keys.rows() - 1; i >= 0; --i)
      head.keys.emplace_back(keys.text(i, 0), static_cast<seq_t>(keys.integer(i, 1)));
    w_.exec("COMMIT");
    std::lock_guard<std::mutex> guard{mtx_};
    owned_[room] = head.epoch;
    return head;
  }

  // Empty if this node may take a room from `owner`, a live node it does not
  // see: only from the majority of the nodes whose leases are live, so that
  // the two sides of a split do not take rooms from each other in turn.
  std::string may_take_from(const std::string& owner) {
    std::set<std::string> view;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      view = view_;
    }
    if (view.count(owner) > 0)
      return {}; // the cluster protocol found it does not run the room
    auto live = w_.query("SELECT name FROM parley_nodes WHERE lease_until > now()");
    size_t seen = 0;
    size_t all = static_cast<size_t>(live.rows());
    std::string lowest;
    bool lowest_seen = false;
    for (int i = 0; i < live.rows(); ++i) {
      auto n = live.text(i, 0);
      bool here = view.count(n) > 0 || n == opts_.node;
      if (here)
        ++seen;
      if (lowest.empty() || n < lowest) {
        lowest = n;
        lowest_seen = here;
      }
    }
    // A tie goes to the side with the lowest live name.
    if (seen * 2 > all || (seen * 2 == all && lowest_seen))
      return {};
    return "whose lease is live; this node sees " + std::to_string(seen) + " of the "
           + std::to_string(all) + " live nodes, not a majority, and does not take it over";
  }

  void commit_some(std::vector<room_batch>& batches, size_t from, size_t to) {
    // One statement: the rooms whose epoch and seq fit take their new last
    // seq, and the messages of exactly those rooms go in.
    params p;
    std::string rooms_values;
    std::string msg_values;
    for (size_t i = from; i < to; ++i) {
      auto& b = batches[i];
      seq_t first = b.records.empty() ? b.last_seq + 1 : b.records.front().seq;
      auto a = p.add(b.room);
      p.add(static_cast<int64_t>(b.epoch));
      p.add(as_int(first));
      p.add(as_int(b.last_seq));
      rooms_values += (rooms_values.empty() ? "" : ",");
      rooms_values += "($" + std::to_string(a) + "::text,$" + std::to_string(a + 1)
                      + "::bigint,$" + std::to_string(a + 2) + "::bigint,$"
                      + std::to_string(a + 3) + "::bigint)";
      for (auto& r : b.records) {
        auto m = p.add(as_int(r.seq));
        p.add(r.sender);
        p.add(r.text);
        p.add(r.body, true);
        p.add(static_cast<int64_t>(r.sent_ms));
        p.add(r.key);
        msg_values += (msg_values.empty() ? "" : ",");
        msg_values += "($" + std::to_string(a) + "::text,$" + std::to_string(m) + "::bigint,$"
                      + std::to_string(m + 1) + "::text,$" + std::to_string(m + 2) + "::text,$"
                      + std::to_string(m + 3) + "::bytea,$" + std::to_string(m + 4)
                      + "::bigint,NULLIF($" + std::to_string(m + 5) + "::text, ''))";
      }
    }
    std::string sql = "WITH v(name, epoch, first, last) AS (VALUES " + rooms_values + "), "
                      "upd AS (UPDATE parley_rooms r SET last_seq = v.last FROM v "
                      "WHERE r.name = v.name AND r.epoch = v.epoch AND r.last_seq < v.first "
                      "RETURNING r.id, r.name)";
    if (!msg_values.empty())
      sql += ", m(name, seq, sender, text, body, sent_ms, idem_key) AS (VALUES " + msg_values
             + "), ins AS (INSERT INTO parley_messages(room, seq, sender, text, body, sent_ms, "
               "idem_key) SELECT upd.id, m.seq, m.sender, m.text, m.body, m.sent_ms, m.idem_key "
               "FROM m "
             "JOIN upd ON upd.name = m.name RETURNING 1)";
    sql += " SELECT name FROM upd";
    auto in = w_.query(sql, p);
    std::set<std::string> done;
    for (int i = 0; i < in.rows(); ++i)
      done.insert(in.text(i, 0));
    std::vector<std::string> refused;
    for (size_t i = from; i < to; ++i)
      if (done.count(batches[i].room) == 0)
        refused.push_back(batches[i].room);
    if (refused.empty())
      return;
    // Why not: another node's epoch, or seqs the store holds already.
    params q;
    q.add(text_array(refused));
    auto why = w_.query("SELECT name, last_seq, epoch, owner FROM parley_rooms "
                        "WHERE name = ANY($1::text[])",
                        q);
    std::map<std::string, int> row;
    for (int i = 0; i < why.rows(); ++i)
      row[why.text(i, 0)] = i;
    for (size_t i = from; i < to; ++i) {
      auto& b = batches[i];
      if (done.count(b.room) > 0)
        continue;
      auto k = row.find(b.room);
      if (k == row.end()) {
        b.fenced = true;
        b.error = "room " + b.room + " is not loaded by this node";
        continue;
      }
      auto epoch = static_cast<uint64_t>(why.integer(k->second, 2));
      if (epoch != b.epoch) {
        b.fenced = true;
        auto owner = why.null(k->second, 3) ? std::string{"?"} : why.text(k->second, 3);
        b.error = "room " + b.room + " is held by node '" + owner + "' now (epoch "
                  + std::to_string(epoch) + ", this node's was " + std::to_string(b.epoch)
                  + ")";
        continue;
      }
      auto last = static_cast<seq_t>(why.integer(k->second, 1));
      b.store_last_seq = last;
      b.error = "conflict: the store holds seq " + std::to_string(last) + " of room " + b.room
                + " already";
    }
  }

  // Renews this node's lease; true if it had run out before (this node was
  // away: stopped, or cut off from the database, for a lease or more).
  bool renew() {
    params p;
    p.add(opts_.node);
    p.add(std::to_string(opts_.lease.count()) + " milliseconds");
    auto r = l_.query("WITH prev AS (SELECT lease_until FROM parley_nodes WHERE name = $1) "
                      "INSERT INTO parley_nodes(name, lease_until) "
                      "VALUES ($1, now() + $2::interval) ON CONFLICT (name) DO UPDATE "
                      "SET lease_until = EXCLUDED.lease_until "
                      "RETURNING (SELECT lease_until < now() FROM prev)",
                      p);
    return r.boolean(0, 0);
  }

  // The rooms this node loaded that carry another epoch now.
  std::vector<std::string> taken_rooms() {
    std::map<std::string, uint64_t> owned;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      owned = owned_;
    }
    std::vector<std::string> names;
    for (auto& [name, epoch] : owned)
      names.push_back(name);
    std::vector<std::string> lost;
    if (names.empty())
      return lost;
    params p;
    p.add(text_array(names));
    auto r = l_.query("SELECT name, epoch FROM parley_rooms WHERE name = ANY($1::text[])", p);
    for (int i = 0; i < r.rows(); ++i) {
      auto name = r.text(i, 0);
      auto epoch = static_cast<uint64_t>(r.integer(i, 1));
      if (auto k = owned.find(name); k != owned.end() && k->second != epoch)
        lost.push_back(name);
    }
    return lost;
  }

  void lease_loop() {
    using clock = std::chrono::steady_clock;
    auto every = std::max<std::chrono::milliseconds>(opts_.lease / 3,
                                                     std::chrono::milliseconds(10));
    auto renewed = clock::now();
    bool suspect = false; // the lease may have run out: check the rooms
    std::unique_lock<std::mutex> guard{mtx_};
    while (!stopping_) {
      cv_.wait_for(guard, every, [this] { return stopping_; });
      if (stopping_)
        break;
      guard.unlock();
      auto now = clock::now();
      // Stopped (SIGSTOP, a hung VM) or starved for two renewals: the lease
      // may have run out, or come close enough that the cluster gave this
      // node up, even if the renewal below works. Check the rooms.
      if (now - renewed > 2 * every)
        suspect = true;
      try {
        if (renew())
          suspect = true;
        renewed = clock::now();
        if (suspect) {
          auto lost = taken_rooms();
          suspect = false;
          if (!lost.empty()) {
            spdlog::warn("store: this node's lease ran out and {} of its rooms are held by "
                         "other nodes now; they stop here and their members join again",
                         lost.size());
            std::function<void(std::vector<std::string>)> tell;
            {
              std::lock_guard<std::mutex> g{mtx_};
              tell = lost_;
              for (auto& n : lost)
                owned_.erase(n);
            }
            if (tell)
              tell(std::move(lost));
          }
        }
      } catch (const store_error& e) {
        spdlog::debug("store: cannot renew the lease of node '{}': {}", opts_.node, e.what());
      }
      guard.lock();
    }
  }

  postgres_options opts_;
  connection w_; // writer thread
  connection r_; // reader thread
  connection l_; // lease thread
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::set<std::string> view_;
  std::map<std::string, uint64_t> owned_; // rooms loaded here, by epoch
  std::function<void(std::vector<std::string>)> lost_;
  std::thread lease_thread_;
};

} // namespace

std::unique_ptr<history_store> open_postgres_store(const postgres_options& opts,
                                                   std::string& why) {
  if (opts.url.empty()) {
    why = "--store=postgres needs --postgres-url";
    return nullptr;
  }
  auto s = std::make_unique<postgres_store>(opts);
  try {
    s->open(why);
  } catch (const store_error& e) {
    why = e.what();
  }
  if (!why.empty())
    return nullptr;
  return s;
}

bool create_postgres_schema_at(const std::string& url, int version, std::string& why) {
  try {
    connection db{url};
    migrate(db, version, why);
    return why.empty();
  } catch (const store_error& e) {
    why = e.what();
    return false;
  }
}

} // namespace parley::store
