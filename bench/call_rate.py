#!/usr/bin/env python3
"""Short calls per second, beside the machine's own ceiling.

For each offered RATE, places RATE x SECONDS short calls from sipp (answer,
the caller listens HOLD ms, hangs up; signalling only, media to a socket
nobody reads) first into sipp's own UAS (`-sn uas`: the ceiling of this
machine and load generator), then into a release `hotline serve` playing
its welcome prompt. Reports calls completed per second, failed calls,
retransmissions and the answering process's CPU.

Prints a table and writes CSV (--csv). Needs sipp (apt-get install -y
sip-tester) and `cargo build --release`.

    bench/call_rate.py [--rates 1000,2000,2500] [--seconds 10] [--hold 1000]
"""

import argparse
import csv
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from concurrency import ROOT, cpu_seconds, sipp_failures, wait_listening  # noqa: E402


def stat_column(stat_file, name):
    rows = list(csv.reader(stat_file.read_text().splitlines(), delimiter=";"))
    if len(rows) < 2 or name not in rows[0]:
        return None
    return int(rows[-1][rows[0].index(name)])


def last_success_after(stat_file):
    """Seconds from sipp's start until its last successful call ended,
    interpolated between its once-a-second stat rows. Failed calls wait out
    their timeouts after that, so the wall time of the whole run would
    understate the rate the calls were completed at."""
    rows = list(csv.reader(stat_file.read_text().splitlines(), delimiter=";"))
    if len(rows) < 2 or "SuccessfulCall(C)" not in rows[0]:
        return None
    head = rows[0]
    at = lambda row, name: float(row[head.index(name)].split("\t")[-1])
    ok = lambda row: int(row[head.index("SuccessfulCall(C)")])
    start, final = at(rows[1], "StartTime"), ok(rows[-1])
    previous = (start, 0)
    for row in rows[1:]:
        t, n = at(row, "CurrentTime"), ok(row)
        if n >= final:
            t0, n0 = previous
            return t0 - start + (t - t0) * (final - n0) / max(1, n - n0)
        previous = (t, n)
    return None


def run(side, rate, args, work, sink_port, hotline):
    calls = rate * args.seconds
    log = work / f"{side}-{rate}.log"
    if side == "sipp":
        server = subprocess.Popen(
            ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(args.sipp_port), "-nostdin"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        target = f"127.0.0.1:{args.sipp_port}"
        time.sleep(1)
    else:
        config = work / "hotline.toml"
        # Room for every call offered (capped by the port range, one port
        # a call): past its CPU the node must refuse calls by itself.
        room = min(40_000, max(500, rate * (args.hold // 1000 + 3) * 2))
        config.write_text(
            'sip_trusted = "127.0.0.1"\n'
            "rtp_port_min = 20000\nrtp_port_max = 59999\n"
            f"max_calls = {args.max_calls or room}\n")
        pin = ["taskset", "-c", args.hotline_cpus] if args.hotline_cpus else []
        # The IVR's once-a-second `load` line counts the calls it refused
        # for want of CPU.
        env = dict(os.environ, HOTLINE_LOG=os.environ.get("HOTLINE_LOG", "info")
                   + ",hotline_ivr::service=debug")
        server = subprocess.Popen(
            [*pin, hotline, "serve", "--config", str(config), "--data-dir", str(work / f"data-{rate}"),
             "--sip-listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
             "--admin-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
             "--web-listen", "127.0.0.1:0"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env)
        target = wait_listening(log)
        time.sleep(3)
    inf = work / "media.csv"
    inf.write_text(f"SEQUENTIAL\n{sink_port};\n")
    stat = work / f"{side}-{rate}-stat.csv"
    cpu0, t0 = cpu_seconds(server.pid), time.time()
    # sipp's own caller against its own UAS (the ceiling); our load
    # scenario (media aimed at the sink) against hotline.
    scenario = ["-sn", "uac"] if side == "sipp" else [
        "-sf", str(ROOT / "tests/sipp/load.xml"), "-inf", str(inf)]
    uac = subprocess.run(
        ["sipp", *scenario,
         "-d", str(args.hold), "-m", str(calls), "-r", str(rate), "-l", str(rate * 10),
         "-i", "127.0.0.1", "-p", "0", "-nostdin", "-timeout", f"{args.seconds * 4 + 60}s",
         # -trace_screen keeps sipp's last screen in the work directory
         # (see --keep): retransmissions per message, unexpected answers.
         "-trace_stat", "-stf", str(stat), "-fd", "1", "-trace_screen", target],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1, cpu1 = time.time(), cpu_seconds(server.pid)
    server.terminate()
    try:
        server.wait(30)
        stopped = "on SIGTERM"
    except subprocess.TimeoutExpired:
        server.kill()
        stopped = "killed: SIGTERM unanswered in 30 s"
    ok, failed = sipp_failures(stat)
    refused = re.findall(r"refused_total=(\d+)", log.read_text()) if side == "hotline" else []
    return {
        "side": side,
        "offered_per_s": rate,
        "calls": calls,
        "succeeded": ok,
        "failed": failed,
        "failed_pct": round(100.0 * (failed or 0) / calls, 3),
        # Over the time calls were being placed: the last ones end HOLD
        # later; failed calls' timeouts after the last success do not count.
        "completed_per_s": round(
            (ok or 0) / max(0.001, (last_success_after(stat) or (t1 - t0)) - args.hold / 1000), 1),
        "retransmissions": stat_column(stat, "Retransmissions(C)"),
        "cpu_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
        "sipp_exit": uac.returncode,
        # Refused at once with 503 because the CPU carried no more calls.
        "refused_503": int(refused[-1]) if refused else "",
        "server_stopped": stopped,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rates", default="1000,2000,2500")
    p.add_argument("--seconds", type=int, default=10, help="seconds of offered load per rate")
    p.add_argument("--hold", type=int, default=1000, help="ms the caller listens before hanging up")
    p.add_argument("--sipp-port", type=int, default=15071)
    p.add_argument("--only", choices=["sipp", "hotline"])
    p.add_argument("--max-calls", type=int, help="hotline's max_calls (default: room for every call offered)")
    p.add_argument("--hotline-cpus", help="taskset CPU list for hotline (e.g. 1), to overload it on purpose")
    p.add_argument("--csv", type=Path)
    p.add_argument("--binary", type=Path, help="the hotline binary (default: target/release/hotline)")
    p.add_argument("--keep", type=Path, help="work in this directory and keep it (logs, sipp stats)")
    args = p.parse_args()
    hotline = args.binary or ROOT / "target/release/hotline"
    if not hotline.exists():
        sys.exit("no target/release/hotline: run `cargo build --release` first")
    if subprocess.run(["which", "sipp"], capture_output=True).returncode != 0:
        sys.exit("sipp is missing: apt-get install -y sip-tester")
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            tmp = args.keep
        for rate in [int(r) for r in args.rates.split(",")]:
            for side in ["sipp", "hotline"]:
                if args.only and args.only != side:
                    continue
                rows.append(run(side, rate, args, Path(tmp), sink.getsockname()[1], str(hotline)))
                print(rows[-1], flush=True)
    out = sys.stdout if args.csv is None else open(args.csv, "w", newline="")
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)


if __name__ == "__main__":
    main()
