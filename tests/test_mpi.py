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
