"""Prints MPI figures of `:mpi` cells next to mpi4py's, measured in the same run.

    .venv/bin/python bench/mpi_pingpong.py [--repeats N]

Figures (issue "MPI cells"), each the median of N runs on 2 local ranks:
- round trip of an 8-byte message (µs): rustpar (rsmpi, a slice of bytes)
  against mpi4py with buffers (`Send`/`Recv`) and with pickled objects
  (`send`/`recv`);
- ping-pong bandwidth of an 8 MiB message (GB/s, size / one-way time);
- the time a warm `:mpi -n 2` hello cell adds over mpirun's own start: the
  cell's execute round trip minus `mpirun -n 2 true` (the bare launcher), and
  next to an mpi4py hello world run by mpirun.

mpi4py is the baseline: `.venv/bin/pip install mpi4py` (needs libopenmpi-dev).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from rustpar_client import Kernel, describe, run_timed, stream_text

ROUND_TRIPS = 20000
BIG = 8 * 1024 * 1024
BIG_ROUND_TRIPS = 40

MPI4PY_PROGRAM = f"""
import time
from mpi4py import MPI
comm = MPI.COMM_WORLD
rank = comm.Get_rank()
other = 1 - rank

def pingpong(send, recv, trips, message):
    comm.Barrier()
    began = time.perf_counter()
    for _ in range(trips):
        if rank == 0:
            send(message); recv(message)
        else:
            recv(message); send(message)
    return (time.perf_counter() - began) / trips

small = bytearray(8)
buffers = pingpong(lambda m: comm.Send(m, dest=other), lambda m: comm.Recv(m, source=other), {ROUND_TRIPS}, small)
box = [small]
pickled = pingpong(lambda m: comm.send(m[0], dest=other), lambda m: m.__setitem__(0, comm.recv(source=other)), {ROUND_TRIPS}, box)
big = bytearray({BIG})
pingpong(lambda m: comm.Send(m, dest=other), lambda m: comm.Recv(m, source=other), 2, big)  # warm-up
big_trip = pingpong(lambda m: comm.Send(m, dest=other), lambda m: comm.Recv(m, source=other), {BIG_ROUND_TRIPS}, big)
if rank == 0:
    print(f"RESULT buffers_us={{buffers * 1e6:.3f}} pickled_us={{pickled * 1e6:.3f}} big_gbs={{{BIG} / (big_trip / 2) / 1e9:.3f}}")
"""

RUSTPAR_CELL = f""":mpi -n 2
let other = 1 - rank;
let partner = world.process_at_rank(other);
let pingpong = |message: &mut [u8], trips: usize| -> f64 {{
    world.barrier();
    let began = std::time::Instant::now();
    for _ in 0..trips {{
        if rank == 0 {{
            partner.send(&message[..]);
            partner.receive_into(&mut message[..]);
        }} else {{
            partner.receive_into(&mut message[..]);
            partner.send(&message[..]);
        }}
    }}
    began.elapsed().as_secs_f64() / trips as f64
}};
let small = pingpong(&mut [1u8; 8], {ROUND_TRIPS});
let mut big_message = vec![1u8; {BIG}];
pingpong(&mut big_message, 2); // warm-up
let big = pingpong(&mut big_message, {BIG_ROUND_TRIPS});
if rank == 0 {{
    println!("RESULT buffers_us={{:.3}} big_gbs={{:.3}}", small * 1e6, {BIG} as f64 / (big / 2.0) / 1e9);
}}"""

HELLO_CELL = ':mpi -n 2\nprintln!("hello from {rank} of {size}");'


def mpirun_env():
    env = dict(os.environ)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def results(text):
    match = re.search(r"RESULT (.*)", text)
    if not match:
        raise RuntimeError(f"no RESULT line in:\n{text}")
    return {key: float(value) for key, value in (pair.split("=") for pair in match.group(1).split())}


def mpi4py_run(script):
    out = subprocess.run(["mpirun", "--oversubscribe", "-n", "2", sys.executable, script],
                         capture_output=True, text=True, env=mpirun_env(), check=True)
    return results(out.stdout)


def mpirun_seconds(*program):
    began = time.perf_counter()
    subprocess.run(["mpirun", "--oversubscribe", "-n", "2", *program], check=True, env=mpirun_env(), capture_output=True)
    return time.perf_counter() - began


MPI4PY_HELLO = ("-c", "from mpi4py import MPI; c = MPI.COMM_WORLD; print(f'hello from {c.Get_rank()} of {c.Get_size()}')")


def execute(client, code):
    """(seconds to the reply, stdout text) of one cell."""
    elapsed, reply, msgs = run_timed(client, code, timeout=900)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(describe(reply, msgs))
    return elapsed, stream_text(msgs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        sys.exit("mpi4py is the baseline: install it with `.venv/bin/pip install mpi4py`")

    # No spare session: one starting beside the mpi4py baseline would slow it.
    kernel = Kernel.start({"RUSTPAR_SPARE": "0"})
    client = kernel.client
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(MPI4PY_PROGRAM)
    try:
        execute(client, RUSTPAR_CELL)  # builds the cell once
        execute(client, HELLO_CELL)
        rows = {"rustpar": [], "mpi4py": [], "hello": [], "mpirun": [], "mpi4py_hello": []}
        # Interleaved, so that drifts of this machine's speed hit both alike.
        for _ in range(args.repeats):
            rows["rustpar"].append(results(execute(client, RUSTPAR_CELL)[1]))
            rows["mpi4py"].append(mpi4py_run(script.name))
            rows["hello"].append(execute(client, HELLO_CELL)[0])
            rows["mpirun"].append(mpirun_seconds("true"))
            rows["mpi4py_hello"].append(mpirun_seconds(sys.executable, *MPI4PY_HELLO))
    finally:
        os.unlink(script.name)
        kernel.stop(now=True)

    def median(name, key):
        return statistics.median(row[key] for row in rows[name])

    rust_small, py_small, py_pickled = median("rustpar", "buffers_us"), median("mpi4py", "buffers_us"), median("mpi4py", "pickled_us")
    rust_big, py_big = median("rustpar", "big_gbs"), median("mpi4py", "big_gbs")
    hello, mpirun, py_hello = (statistics.median(rows[name]) for name in ("hello", "mpirun", "mpi4py_hello"))
    print(f"MPI figures, 2 local ranks, median of {args.repeats} interleaved runs")
    print(f"{'figure':44} {'rustpar':>10} {'mpi4py':>10} {'ratio':>8}")
    print(f"{'8-byte round trip, buffers (µs)':44} {rust_small:10.2f} {py_small:10.2f} {py_small / rust_small:7.2f}x")
    print(f"{'8-byte round trip, mpi4py pickled (µs)':44} {rust_small:10.2f} {py_pickled:10.2f} {py_pickled / rust_small:7.2f}x")
    print(f"{'8 MiB ping-pong bandwidth (GB/s)':44} {rust_big:10.2f} {py_big:10.2f} {rust_big / py_big:7.2f}x")
    print(f"{'hello world on 2 ranks, end to end (s)':44} {hello:10.3f} {py_hello:10.3f}")
    print(f"{'mpirun -n 2 true (s)':44} {mpirun:10.3f}")
    print(f"{'cell overhead over mpirun (s, target <= 1.0)':44} {hello - mpirun:10.3f}")


if __name__ == "__main__":
    main()
