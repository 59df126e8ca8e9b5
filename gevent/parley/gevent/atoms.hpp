#pragma once

/// @file
/// Atoms of the gevent-style primitives: join_all, timeouts, event,
/// async_result, bounded_queue, pool and group. The generic verbs (get, put,
/// set, wait, stop) come from the runtime and are re-exported here. CAF 0.17
/// atoms hold at most 10 characters, which `caf::atom` checks.
///
/// An atom is a value: two aliases of `caf::atom("join")` in different
/// namespaces are the same type, so a later runtime atom of the same text
/// cannot clash with one of these.

#include "parley/runtime/atoms.hpp"

#include <caf/atom.hpp>

namespace parley::gevent {

// -- re-exported from the runtime ---------------------------------------------------
using runtime::get_atom;
using runtime::put_atom;
using runtime::set_atom;
using runtime::stop_atom;
using runtime::wait_atom;

// -- tasks and joining (gevent.spawn, joinall, Greenlet.get) -------------------------
using runtime::join_atom; // one alias for both uses (chat, joinall)

// -- timeouts (gevent.sleep, gevent.Timeout) ------------------------------------------
using sleep_atom = caf::atom_constant<caf::atom("sleep")>;

// -- event and async_result (gevent.event) ----------------------------------------------
using fail_atom = caf::atom_constant<caf::atom("fail")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using clear_atom = caf::atom_constant<caf::atom("clear")>;

// -- bounded_queue (gevent.queue.Queue) -------------------------------------------------
using size_atom = caf::atom_constant<caf::atom("size")>;

// -- pool (gevent.pool.Pool) ------------------------------------------------------------
using map_atom = caf::atom_constant<caf::atom("map")>;
using imap_atom = caf::atom_constant<caf::atom("imap")>;
using result_atom = caf::atom_constant<caf::atom("result")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;

// -- group (gevent.pool.Group) ----------------------------------------------------------
using add_atom = caf::atom_constant<caf::atom("add")>;
using discard_atom = caf::atom_constant<caf::atom("discard")>;

// -- internal -----------------------------------------------------------------------------

/// A deadline an actor set for itself has passed. Part of the typed
/// interfaces that need timers (CAF 0.17 has no private messages in typed
/// actors); an `expire` for an unknown id does nothing.
using expire_atom = caf::atom_constant<caf::atom("expire")>;

} // namespace parley::gevent
