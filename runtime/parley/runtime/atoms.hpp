#pragma once

/// @file
/// Every atom Parley uses, in one place. CAF 0.17 atoms hold at most 10
/// characters, which the compiler checks for us inside `caf::atom`.

#include <caf/atom.hpp>

namespace parley::runtime {

// -- supervision ----------------------------------------------------------------
using add_child_atom = caf::atom_constant<caf::atom("addchild")>;
using remove_child_atom = caf::atom_constant<caf::atom("rmchild")>;
using find_child_atom = caf::atom_constant<caf::atom("findchild")>;
using describe_atom = caf::atom_constant<caf::atom("describe")>;
using kill_child_atom = caf::atom_constant<caf::atom("killchild")>;

// -- generic verbs ----------------------------------------------------------------
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using play_atom = caf::atom_constant<caf::atom("play")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using put_atom = caf::atom_constant<caf::atom("put")>;
using set_atom = caf::atom_constant<caf::atom("set")>;
using wait_atom = caf::atom_constant<caf::atom("wait")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using timeout_atom = caf::atom_constant<caf::atom("timeout")>;

} // namespace parley::runtime
