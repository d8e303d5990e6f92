"""`:mpi` cells through a real kernel and the machine's real mpirun.

Each test runs a cell on local ranks and checks what a student sees: output
tagged by rank, results of collectives, a failing rank named in an MpiError,
a timeout and an interrupt that end the whole job, and no process of the job
left behind afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from helpers import (
    assert_error,
    assert_ok,
    get_reply,
    collect_iopub,
    only,
    request,
    run,
    start_kernel,
    stop_kernel,
    stream_text,
    strip_ansi,
    wait_for_stdout,
)

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None, reason="no mpirun on this machine (install openmpi-bin)")

# The first :mpi cell may build the shared MPI project (the prelude with MPI).
FIRST_MPI_CELL_TIMEOUT = 900


def job_processes() -> list[str]:
    """Processes of :mpi jobs still alive: their programs run from .../runs/cell-*."""
    found = subprocess.run(["pgrep", "-af", "mpi-builds/.*/runs/cell-"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


@pytest.fixture(scope="module")
def kc(kernel):
    km, kc = kernel
    reply, msgs = run(kc, ":mpi -n 1\nprintln!(\"ready\");", timeout=FIRST_MPI_CELL_TIMEOUT)
    assert_ok(reply, msgs)
    return kc


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    deadline = time.time() + 3
    while job_processes() and time.time() < deadline:
        time.sleep(0.1)
    assert job_processes() == [], "an :mpi job left processes behind"


def test_every_line_is_tagged_with_its_rank(kc):
    reply, msgs = run(kc, ':mpi -n 3\nprintln!("hello from {rank} of {size}");\neprintln!("note {rank}");')
    assert_ok(reply, msgs)
    out = stream_text(msgs)
    for rank in range(3):
        assert f"[rank {rank}] hello from {rank} of 3\n" in out
        assert f"[rank {rank}] note {rank}\n" in stream_text(msgs, "stderr")


def test_gather_scatter_and_reduce_give_the_right_values(kc):
    code = """:mpi -n 4
let mine = scatter_from_root(&world, (rank == 0).then(|| vec![1.5f64, 2.5, 3.5, 4.5]).as_deref());
let doubled = gather_to_root(&world, mine * 2.0);
let total = reduce_sum(&world, rank as u64 + 1);
let everyone = all_reduce_sum(&world, 1i32);
assert_eq!(everyone, size);
if rank == 0 {
    println!("gathered {:?} total {}", doubled.unwrap(), total.unwrap());
}"""
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    assert "[rank 0] gathered [3.0, 5.0, 7.0, 9.0] total 10\n" in stream_text(msgs)


def test_structs_travel_between_ranks_and_items_may_be_defined(kc):
    code = """:mpi -n 2
#[derive(Equivalence, Default, Clone, Copy, Debug, PartialEq)]
struct Particle { x: f64, y: f64, id: u32 }
fn moved(p: Particle) -> Particle { Particle { x: p.x + 1.0, ..p } }
if rank == 0 {
    world.process_at_rank(1).send(&Particle { x: 1.0, y: 2.0, id: 7 });
} else {
    let (p, _) = world.process_at_rank(0).receive::<Particle>();
    println!("got {:?}", moved(p));
}"""
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    assert "[rank 1] got Particle { x: 2.0, y: 2.0, id: 7 }" in stream_text(msgs)


def test_displays_from_ranks_render_and_long_lines_arrive_whole(kc):
    code = """:mpi -n 2
html(format!("<b>rank {rank}</b>"));
let long = "x".repeat(200_000);
println!("{rank}:{long}:end");"""
    reply, msgs = run(kc, code)
    assert_ok(reply, msgs)
    htmls = sorted(m["content"]["data"]["text/html"] for m in only(msgs, "display_data"))
    assert htmls == ["<b>rank 0</b>", "<b>rank 1</b>"]
    out = stream_text(msgs)
    for rank in range(2):
        assert f"[rank {rank}] {rank}:{'x' * 200_000}:end\n" in out


def test_a_panicking_rank_fails_the_cell_with_its_message(kc):
    code = ':mpi -n 3\nif rank == 2 { panic!("rank two gives up"); }\nworld.barrier();'
    reply, msgs = run(kc, code)
    error = assert_error(reply, msgs, "MpiError")
    assert "Rank 2 panicked: rank two gives up" in error["evalue"]
    assert "whole job was stopped" in error["evalue"]
    assert "at line 2 of the cell:" in "\n".join(error["traceback"]), error["traceback"]


def test_an_error_returned_by_a_rank_fails_the_cell(kc):
    code = ':mpi -n 2\nif rank == 1 { let n: u32 = "many".parse()?; println!("{n}"); }\nworld.barrier();'
    reply, msgs = run(kc, code)
    error = assert_error(reply, msgs, "MpiError")
    assert "Rank 1 returned an error: invalid digit found in string" in error["evalue"]


def test_a_compile_error_points_into_the_cell(kc):
    reply, msgs = run(kc, ':mpi -n 2\nlet x: u32 = "text";')
    error = assert_error(reply, msgs, "CompileError")
    assert error["evalue"] == "mismatched types"
    assert "cell:2:" in strip_ansi("\n".join(error["traceback"]))


def test_bad_options_say_how_to_write_them(kc):
    reply, msgs = run(kc, ":mpi -n two\nprintln!();")
    error = assert_error(reply, msgs, "MpiError")
    assert ":mpi -n 4" in error["evalue"]


def test_a_sleeping_barrier_leaves_the_core_to_the_ranks_at_work(kc):
    cell = """:mpi -n 2
/// This process's CPU time (user and system) in ms, from /proc (100 ticks a second).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<f64> = stat.rsplit(')').next().unwrap().split_whitespace().skip(11).take(2).map(|f| f.parse().unwrap()).collect();
    (fields[0] + fields[1]) * 10.0
}
if rank == 0 {
    std::thread::sleep(std::time::Duration::from_millis(600));
}
let before = cpu_ms();
sleeping_barrier(&world);
if rank == 1 {
    println!("waited on {} ms of CPU", cpu_ms() - before);
}"""
    reply, msgs = run(kc, cell)
    assert_ok(reply, msgs)
    used = float(stream_text(msgs).split("waited on ")[1].split(" ms")[0])
    assert used < 200, f"the waiting rank used {used} ms of CPU in 600 ms: it spun"


def test_a_timeout_ends_the_whole_job_within_two_seconds(kc):
    started = time.time()
    reply, msgs = run(kc, ":mpi -n 2 --timeout 1\nloop { std::thread::sleep(std::time::Duration::from_millis(5)); }")
    took = time.time() - started
    error = assert_error(reply, msgs, "MpiError")
    assert "--timeout of 1 s" in error["evalue"]
    assert took < 1 + 2 + 2, f"the job took {took:.1f} s to end (compile included)"
    assert reply["metadata"]["rustpar"]["run_ms"] < 3000


def test_an_interrupt_ends_the_whole_job_and_the_kernel_goes_on(kc):
    msg_id = kc.execute(':mpi -n 2\nprintln!("spinning");\nloop { std::hint::spin_loop(); }', allow_stdin=False)
    wait_for_stdout(kc, msg_id, "spinning")
    sent = time.time()
    request(kc, "interrupt_request", channel="control")
    reply = get_reply(kc, msg_id, timeout=30)
    assert time.time() - sent < 2.0
    assert reply["content"]["ename"] == "Interrupted"
    collect_iopub(kc, msg_id)
    reply, msgs = run(kc, "1 + 1")
    assert_ok(reply, msgs)


def test_a_first_mpi_cell_waits_for_the_session_to_start_and_can_be_interrupted():
    """Ranks do not run beside the session's start-up (it would take a core
    from their timings), and an interrupt ends that wait at once."""
    km, kc = start_kernel(warm=False)
    try:
        msg_id = kc.execute(':mpi -n 2\nprintln!("job ran");', allow_stdin=False)
        # The session's start builds two cells (evcxr's own and the prelude's
        # line), a second here: interrupt well within it.
        time.sleep(0.2)
        sent = time.time()
        request(kc, "interrupt_request", channel="control")
        reply = get_reply(kc, msg_id, timeout=30)
        assert time.time() - sent < 2.0
        assert reply["content"]["ename"] == "Interrupted", reply["content"]
        assert "job ran" not in stream_text(collect_iopub(kc, msg_id))
        reply, msgs = run(kc, ':mpi -n 2\nprintln!("job ran");', timeout=FIRST_MPI_CELL_TIMEOUT)
        assert_ok(reply, msgs)
        assert stream_text(msgs).count("job ran") == 2
    finally:
        stop_kernel(km, kc)


def test_without_mpi_the_error_says_how_to_install_it():
    km, kc = start_kernel(env={"RUSTPAR_MPIRUN": "/nonexistent/mpirun"})
    try:
        reply, msgs = run(kc, ":mpi -n 2\nprintln!();")
        error = assert_error(reply, msgs, "MpiError")
        assert "MPI is not installed" in error["evalue"] and "apt-get install openmpi-bin" in error["evalue"]
        reply, msgs = run(kc, "1 + 1")
        assert_ok(reply, msgs)
    finally:
        stop_kernel(km, kc)


@pytest.mark.skipif(shutil.which("mpirun.mpich") is None, reason="MPICH is not installed (`bash install.sh --with-mpich` installs it)")
@pytest.mark.timeout(FIRST_MPI_CELL_TIMEOUT + 120)
def test_mpich_runs_the_cells_when_its_launcher_is_chosen():
    # Open MPI stays the machine's default; the kernel builds with MPICH's own
    # compiler wrapper because its launcher was chosen.
    km, kc = start_kernel(env={"RUSTPAR_MPIRUN": "mpirun.mpich"})
    try:
        code = """:mpi -n 2 --host localhost
let total = reduce_sum(&world, rank as u64 + 1);
if let Some(total) = total {
    println!("total {total} on {}", mpi::environment::library_version()?.lines().next().unwrap_or_default());
}"""
        reply, msgs = run(kc, code, timeout=FIRST_MPI_CELL_TIMEOUT)
        assert_ok(reply, msgs)
        out = stream_text(msgs)
        assert "[rank 0] total 3 on MPICH Version:" in out, out
        reply, msgs = run(kc, ':mpi -n 2\nif rank == 1 { panic!("rank one stops"); }\nworld.barrier();')
        error = assert_error(reply, msgs, "MpiError")
        assert "Rank 1 panicked: rank one stops" in error["evalue"], error
        reply, msgs = run(kc, ":mpi -n 2 --timeout 1\nloop { std::thread::sleep(std::time::Duration::from_millis(5)); }")
        assert "--timeout of 1 s" in assert_error(reply, msgs, "MpiError")["evalue"]
        assert reply["metadata"]["rustpar"]["run_ms"] < 3000
    finally:
        stop_kernel(km, kc)


# --------------------------------------------------------------------------
# Two hosts: network namespaces stand in for two machines
# --------------------------------------------------------------------------

AGENT = """#!/bin/sh
# Open MPI's remote-shell agent for the test: "agent HOST COMMAND..." runs
# COMMAND inside HOST's network namespace, under HOST's own host name.
host=$1; shift
case "$host" in
  10.231.1.2) ns=rp-host1; name=rp-hostone ;;
  10.231.2.2) ns=rp-host2; name=rp-hosttwo ;;
  *) echo "agent: unknown host $host" >&2; exit 1 ;;
esac
exec ip netns exec "$ns" unshare --uts sh -c "hostname $name; $*"
"""


def sh(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


@pytest.fixture
def two_hosts(tmp_path):
    """Two network namespaces, each behind a veth link to this one (which routes
    between them), and an agent script that starts processes "on" them."""
    flavour = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
    if "Open MPI" not in flavour:
        pytest.skip("the two-host test drives Open MPI's remote-shell agent; this mpirun is not Open MPI")
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        pytest.skip("the two-host test needs `ip` (iproute2) and `unshare` to make network namespaces")
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            forwarding = f.read().strip()
        for i in (1, 2):
            sh("ip", "netns", "add", f"rp-host{i}")
            sh("ip", "link", "add", f"rp-v{i}", "type", "veth", "peer", "name", "eth0", "netns", f"rp-host{i}")
            sh("ip", "addr", "add", f"10.231.{i}.1/24", "dev", f"rp-v{i}")
            sh("ip", "link", "set", f"rp-v{i}", "up")
            for step in (["ip", "addr", "add", f"10.231.{i}.2/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                         ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", f"10.231.{i}.1"]):
                sh("ip", "netns", "exec", f"rp-host{i}", *step)
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
    except (OSError, subprocess.CalledProcessError) as error:
        for i in (1, 2):
            subprocess.run(["ip", "netns", "del", f"rp-host{i}"], capture_output=True)
        pytest.skip(f"network namespaces cannot be made here (needs root and CAP_NET_ADMIN): {error}")
    agent = tmp_path / "agent.sh"
    agent.write_text(AGENT)
    agent.chmod(0o755)
    try:
        yield agent
    finally:
        for i in (1, 2):
            subprocess.run(["ip", "netns", "del", f"rp-host{i}"], capture_output=True)
            subprocess.run(["ip", "link", "del", f"rp-v{i}"], capture_output=True)
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(forwarding)


@pytest.mark.timeout(600)
def test_one_job_runs_over_two_hosts(two_hosts):
    # The ranks reach the kernel at this machine's end of the first link.
    km, kc = start_kernel(env={"RUSTPAR_MPI_ADDRESS": "10.231.1.1"})
    try:
        code = f""":mpi -n 2 --host 10.231.1.2,10.231.2.2 -- --mca plm_rsh_agent {two_hosts} --mca oob_tcp_if_include 10.231.0.0/16 --mca btl self,tcp --mca btl_tcp_if_include 10.231.0.0/16
let host = mpi::environment::processor_name().unwrap_or_default();
let partner = world.process_at_rank(1 - rank);
let received: f64 = if rank == 0 {{
    partner.send(&2.5f64);
    partner.receive::<f64>().0
}} else {{
    let (value, _) = partner.receive::<f64>();
    partner.send(&(value * 2.0));
    value
}};
println!("on {{host}} got {{received}}");"""
        reply, msgs = run(kc, code, timeout=FIRST_MPI_CELL_TIMEOUT)
        assert_ok(reply, msgs)
        out = stream_text(msgs)
        assert "[rank 0] on rp-hostone got 5\n" in out
        assert "[rank 1] on rp-hosttwo got 2.5\n" in out
    finally:
        stop_kernel(km, kc)
