%% The Erlang/OTP reference for Parley's actor benchmarks (bench/actor_bench.cpp):
%% the same workloads written with plain processes, `!` and `receive`.
%% scripts/bench-erlang.sh runs them alternately with the Parley benchmarks;
%% bench/peers/erlang/README.md says what each one measures.
%%
%%   erlc -o DIR parley_peer.erl
%%   erl -noshell -pa DIR -run parley_peer main WORKLOAD [SECONDS [N]]
%%
%% WORKLOAD is pingpong, spawn, memory, fanout (N members, default 10000),
%% mailbox or mailbox_off_heap (N senders, default 100). SECONDS (default 3,
%% may be fractional) is how long the timed rounds run, after one untimed
%% warm-up round; memory takes no time and N is its process count (default
%% 100000). Prints one line, `LABEL COUNTER VALUE`, and halts the VM (status 0;
%% 2 on bad arguments). From a shell, run/3 returns that line instead.
-module(parley_peer).

-export([main/1, run/3]).
%% Spawned by name (spawn/3), so that the process carries no closure.
-export([idle/1]).

-define(ROUND_TRIPS_PER_GAME, 10000).
-define(SPAWNS_PER_ROUND, 10000).
-define(MESSAGES_PER_SENDER, 10000).

%% -- entry points -----------------------------------------------------------

main(Args) ->
    Strings = [to_string(A) || A <- Args],
    case parse(Strings) of
        {ok, Workload, Seconds, N} ->
            io:put_chars([run(Workload, Seconds, N), $\n]),
            erlang:halt(0);
        {error, Why} ->
            io:format(standard_error,
                      "parley_peer: ~s~n"
                      "usage: erl -noshell -pa DIR -run parley_peer main WORKLOAD [SECONDS [N]]~n"
                      "  WORKLOAD: pingpong | spawn | memory | fanout | mailbox | mailbox_off_heap~n",
                      [Why]),
            erlang:halt(2)
    end.

%% Runs one workload in the calling process (the driver) and returns its line.
run(pingpong, Seconds, _) ->
    Ponger = spawn(fun ponger/0),
    Pinger = spawn(fun() -> pinger(Ponger) end),
    {Games, Elapsed} = timed(Seconds, fun() ->
        Pinger ! {play, self(), ?ROUND_TRIPS_PER_GAME},
        receive {played, Pinger} -> ok end
    end),
    kill([Pinger, Ponger]),
    line("pingpong", "round_trips_per_s", Games * ?ROUND_TRIPS_PER_GAME / Elapsed);
run(spawn, Seconds, _) ->
    Spawner = spawn(fun spawner/0),
    {Rounds, Elapsed} = timed(Seconds, fun() ->
        Spawner ! {spawn, self(), ?SPAWNS_PER_ROUND},
        receive {spawned, Spawner} -> ok end
    end),
    kill([Spawner]),
    line("spawn", "spawns_per_s", Rounds * ?SPAWNS_PER_ROUND / Elapsed);
run(memory, _, N) ->
    memory(N);
run(fanout, Seconds, N) ->
    Self = self(),
    Hub = spawn(fun() -> hub(Self, N) end),
    receive {ready, Hub} -> ok end,
    {Rounds, Elapsed} = timed(Seconds, fun() ->
        Hub ! {round, self()},
        receive {acked, Hub} -> ok end
    end),
    kill([Hub]),  % its members are linked to it
    line("fanout_" ++ integer_to_list(N), "deliveries_per_s", N * Rounds / Elapsed);
run(Mailbox, Seconds, S) when Mailbox =:= mailbox; Mailbox =:= mailbox_off_heap ->
    QueueData = case Mailbox of mailbox -> on_heap; mailbox_off_heap -> off_heap end,
    Self = self(),
    Total = S * ?MESSAGES_PER_SENDER,
    Receiver = spawn_opt(fun() -> receiver(Self, Total) end,
                         [{message_queue_data, QueueData}]),
    Senders = [spawn(fun() -> sender(Receiver, ?MESSAGES_PER_SENDER) end)
               || _ <- lists:seq(1, S)],
    {Rounds, Elapsed} = timed(Seconds, fun() ->
        [Sender ! go || Sender <- Senders],
        receive {counted, Receiver} -> ok end
    end),
    kill([Receiver | Senders]),
    line(atom_to_list(Mailbox) ++ "_" ++ integer_to_list(S), "msgs_per_s",
         Total * Rounds / Elapsed).

%% -- timing -------------------------------------------------------------------

%% One untimed warm-up round, then rounds until Seconds have passed.
%% Returns {Rounds, ElapsedSeconds}.
timed(Seconds, Round) ->
    Round(),
    Start = erlang:monotonic_time(),
    Deadline = Start + erlang:convert_time_unit(round(Seconds * 1000000), microsecond, native),
    timed(Round, Start, Deadline, 0).

timed(Round, Start, Deadline, Rounds) ->
    Round(),
    Now = erlang:monotonic_time(),
    case Now >= Deadline of
        true -> {Rounds + 1, erlang:convert_time_unit(Now - Start, native, nanosecond) / 1.0e9};
        false -> timed(Round, Start, Deadline, Rounds + 1)
    end.

%% -- pingpong: one ball in flight -------------------------------------------------

pinger(Ponger) ->
    receive
        {play, From, N} ->
            play(Ponger, 1, N),
            From ! {played, self()},
            pinger(Ponger)
    end.

play(_, I, N) when I > N -> ok;
play(Ponger, I, N) ->
    Ponger ! {ping, self(), I},
    receive {pong, I} -> play(Ponger, I + 1, N) end.

ponger() ->
    receive
        {ping, From, N} ->
            From ! {pong, N},
            ponger()
    end.

%% -- spawn: spawn_monitor N processes that end at once, await N 'DOWN's -----------

spawner() ->
    receive
        {spawn, From, N} ->
            spawn_n(fun() -> ok end, N),
            await_down(N),
            From ! {spawned, self()},
            spawner()
    end.

spawn_n(_, 0) -> ok;
spawn_n(F, N) ->
    spawn_monitor(F),
    spawn_n(F, N - 1).

await_down(0) -> ok;
await_down(N) ->
    receive {'DOWN', _, process, _, _} -> await_down(N - 1) end.

%% -- memory: N idle processes blocked in receive ----------------------------------

%% Per process: the growth of erlang:memory(processes) (and, for comparison with
%% Parley's figure, of the VM's resident set) less the growth of the driver
%% itself, which holds the list of pids (as Parley's driver holds a vector).
memory(N) ->
    erlang:garbage_collect(),
    Self0 = self_memory(),
    Procs0 = erlang:memory(processes),
    Rss0 = rss(),
    Self = self(),
    Pids = [spawn(?MODULE, idle, [Self]) || _ <- lists:seq(1, N)],
    await_ready(N),  % every one has run and is blocked in receive
    erlang:garbage_collect(),
    Self1 = self_memory(),
    Procs1 = erlang:memory(processes),
    Rss1 = rss(),
    Driver = Self1 - Self0,
    PerProcess = (Procs1 - Procs0 - Driver) / N,
    PerProcessRss = (Rss1 - Rss0 - Driver) / N,
    kill(Pids),
    line("memory", "bytes_per_idle_actor", PerProcess)
        ++ " rss_bytes_per_idle_actor " ++ float_to_list(float(PerProcessRss), [{decimals, 1}]).

idle(Parent) ->
    Parent ! ready,
    idle_loop(0).

idle_loop(Count) ->
    receive
        ping -> idle_loop(Count + 1)
    end.

await_ready(0) -> ok;
await_ready(N) -> receive ready -> await_ready(N - 1) end.

self_memory() ->
    {memory, Bytes} = process_info(self(), memory),
    Bytes.

rss() ->
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = binary:split(Statm, <<" ">>, [global]),
    binary_to_integer(Resident) * page_size().

page_size() ->
    case string:to_integer(os:cmd("getconf PAGESIZE")) of
        {Bytes, _} when is_integer(Bytes) -> Bytes;
        _ -> 4096
    end.

%% -- fanout: a hub sends one message to each of N members, awaits N acks -----------

hub(Driver, N) ->
    Self = self(),
    Members = [spawn_link(fun() -> member() end) || _ <- lists:seq(1, N)],
    Driver ! {ready, Self},
    hub_loop(Members, N).

hub_loop(Members, N) ->
    receive
        {round, From} ->
            Msg = {msg, self()},
            [Member ! Msg || Member <- Members],
            await_acks(N),
            From ! {acked, self()},
            hub_loop(Members, N)
    end.

await_acks(0) -> ok;
await_acks(N) -> receive ack -> await_acks(N - 1) end.

member() ->
    receive
        {msg, Hub} ->
            Hub ! ack,
            member()
    end.

%% -- mailbox: S senders each send K messages to one receiver ----------------------

sender(Receiver, K) ->
    receive
        go ->
            send_n(Receiver, K),
            sender(Receiver, K)
    end.

send_n(_, 0) -> ok;
send_n(Receiver, K) ->
    Receiver ! {msg, K},
    send_n(Receiver, K - 1).

%% Counts Total messages per round, then tells the driver.
receiver(Driver, Total) ->
    count(Total),
    Driver ! {counted, self()},
    receiver(Driver, Total).

count(0) -> ok;
count(K) -> receive {msg, _} -> count(K - 1) end.

%% -- helpers ----------------------------------------------------------------------

kill(Pids) ->
    [exit(P, kill) || P <- Pids],
    ok.

line(Label, Counter, Value) ->
    Label ++ " " ++ Counter ++ " " ++ float_to_list(float(Value), [{decimals, 1}]).

to_string(A) when is_atom(A) -> atom_to_list(A);
to_string(S) when is_list(S) -> S.

parse([]) ->
    {error, "no workload given"};
parse([W | Rest]) ->
    case workload(W) of
        error ->
            {error, "unknown workload '" ++ W ++ "'"};
        {ok, Workload, DefaultN} ->
            case Rest of
                [] -> {ok, Workload, 3, DefaultN};
                [S] -> with_seconds(Workload, S, integer_to_list(DefaultN));
                [S, N] -> with_seconds(Workload, S, N);
                _ -> {error, "too many arguments"}
            end
    end.

with_seconds(Workload, S, N) ->
    case {number(S), positive_count(N)} of
        {error, _} -> {error, "SECONDS: '" ++ S ++ "' is not a positive number"};
        {_, error} -> {error, "N: '" ++ N ++ "' is not a positive count"};
        {Seconds, Count} -> {ok, Workload, Seconds, Count}
    end.

workload("pingpong") -> {ok, pingpong, 1};  % N is not used
workload("spawn") -> {ok, spawn, 1};
workload("memory") -> {ok, memory, 100000};
workload("fanout") -> {ok, fanout, 10000};
workload("mailbox") -> {ok, mailbox, 100};
workload("mailbox_off_heap") -> {ok, mailbox_off_heap, 100};
workload(_) -> error.

number(S) ->
    case string:to_float(S) of
        {F, ""} when F > 0 -> F;
        _ ->
            case string:to_integer(S) of
                {I, ""} when I > 0 -> I;
                _ -> error
            end
    end.

positive_count(S) ->
    case string:to_integer(S) of
        {I, ""} when I > 0 -> I;
        _ -> error
    end.
