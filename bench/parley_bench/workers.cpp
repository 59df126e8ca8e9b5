#include "parley_bench/modes.hpp"

#include <cstdio>
#include <iostream>

#include <sys/wait.h>
#include <unistd.h>

namespace parley::bench {

using namespace std::chrono_literals;

/// Runs `o.mode` in this process with `n` connections (fanout: `n` rooms).
run_result run_local(const options& o, const parley::bench::target& tgt, size_t n,
                     const barrier_fn& barrier) {
  double allowance = o.timeout > 0 ? o.timeout : 30 + o.duration + o.hold + static_cast<double>(n) / 100.0;
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(allowance));
  size_t conns = o.mode == "fanout" ? n * o.members : n;
  engine e(o, tgt, conns);
  if (o.mode == "conns")
    return run_conns(e, o, n, barrier, deadline);
  if (o.mode == "fanout")
    return run_fanout(e, o, n, barrier, deadline);
  if (o.mode == "echo")
    return run_echo(e, o, n, barrier, deadline);
  return run_churn(e, o, n, barrier, deadline);
}

namespace {

/// A worker process: its pid and the pipes to its stdin and stdout.
struct worker_proc {
  pid_t pid = -1;
  FILE* in = nullptr;  // we write "go"
  FILE* out = nullptr; // it writes READY, then its JSON line
};

std::optional<worker_proc> spawn(const std::vector<std::string>& args) {
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0)
    return std::nullopt;
  if (pipe(from_child) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return std::nullopt;
  }
  pid_t pid = fork();
  if (pid < 0)
    return std::nullopt;
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  return worker_proc{pid, fdopen(to_child[1], "w"), fdopen(from_child[0], "r")};
}

std::string read_line(FILE* f) {
  std::string line;
  int ch;
  while ((ch = std::fgetc(f)) != EOF && ch != '\n')
    line.push_back(static_cast<char>(ch));
  return line;
}


} // namespace

/// Runs the shares over worker processes and merges their results.
run_result run_workers(const options& o, const std::vector<size_t>& shares, size_t total_conns,
                       const barrier_fn& barrier) {
  size_t sources = o.sources > 0 ? o.sources
                                 : parley::bench::sources_needed(total_conns, o.per_address);
  std::vector<worker_proc> procs;
  std::vector<size_t> proc_conns;
  run_result merged;
  size_t offset = 0, room_offset = 0;
  for (auto share : shares) {
    size_t conns = o.mode == "fanout" ? share * o.members : share;
    auto args = o.mode == "fanout"
                  ? worker_argv(o, 0, share, offset, room_offset, sources)
                  : worker_argv(o, share, o.rooms, offset, 0, sources);
    offset += conns;
    room_offset += share;
    auto p = spawn(args);
    if (!p) {
      merged.first_error = "could not start a worker process";
      merged.attempted += conns;
      merged.failed += conns;
      ++merged.errors;
      continue;
    }
    procs.push_back(*p);
    proc_conns.push_back(conns);
  }
  std::cerr << "parley-bench: " << procs.size() << " worker processes\n";
  for (auto& p : procs) {
    auto line = read_line(p.out);
    if (line != "READY")
      merged.first_error = "a worker did not get ready: " + line;
  }
  barrier();
  for (auto& p : procs) {
    std::fputs("go\n", p.in);
    std::fflush(p.in);
  }
  for (size_t i = 0; i < procs.size(); ++i) {
    auto& p = procs[i];
    auto line = read_line(p.out);
    run_result r;
    if (from_json_line(line, r)) {
      merged.merge(r);
    } else {
      // A worker that died took its connections with it: all failed.
      merged.attempted += proc_conns[i];
      merged.failed += proc_conns[i];
      ++merged.errors;
      if (merged.first_error.empty())
        merged.first_error = "worker " + std::to_string(p.pid) + " gave no result";
    }
    std::fclose(p.in);
    std::fclose(p.out);
    int status = 0;
    waitpid(p.pid, &status, 0);
  }
  return merged;
}

} // namespace parley::bench
