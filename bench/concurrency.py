#!/usr/bin/env python3
"""Concurrent prompt-playing calls, side by side with the machine's yardstick.

Runs the same load twice on loopback: CALLS sipp callers (signalling only)
answered first by sipp itself, streaming a looped prompt with its
rtp_stream engine, then by a release `hotline serve` playing its menu. Each
caller's SDP points its media at a socket this script owns: a few sampling
receivers (one per SAMPLE-th call) that note the kernel's arrival time of
every packet, the rest a sink nobody reads. While every call is up it
measures, for the answering process:

- CPU (user + system, from /proc) per call-second;
- RTP send pacing at the sampling receivers: gaps between packets of one
  call (p50, p99, max) and p99 of the deviation from 20 ms;
- resident memory: idle, with every call up, and after the load (hotline).

Prints a table and writes CSV (--csv). Needs sipp and sox
(apt-get install -y sip-tester sox) and `cargo build --release`.

    bench/concurrency.py [--calls 5000] [--rate 250] [--window 15] [--sample 100]
"""

import argparse
import csv
import os
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
# Linux: the kernel stamps each datagram on arrival (not in Python's socket module).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def cpu_seconds(pid):
    """User + system CPU of a process and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid):
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


class Receivers:
    """Sampling sockets, read on a thread, timed by the kernel on arrival."""

    def __init__(self, count):
        self.sockets = []
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.setblocking(False)
            self.sockets.append(s)
        # Everyone else's media: bound, never read; the kernel drops what
        # does not fit (as cheap for the sender as a real phone's socket).
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.bind(("127.0.0.1", 0))
        self.sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.arrivals = {s.getsockname()[1]: [] for s in self.sockets}
        self.recording = False
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def ports(self):
        return [s.getsockname()[1] for s in self.sockets]

    def sink_port(self):
        return self.sink.getsockname()[1]

    def _run(self):
        sel = selectors.DefaultSelector()
        for s in self.sockets:
            sel.register(s, selectors.EVENT_READ)
        size = struct.calcsize("ll")
        while not self.stop:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                port = s.getsockname()[1]
                while True:
                    try:
                        _, anc, _, _ = s.recvmsg(2048, socket.CMSG_SPACE(size))
                    except BlockingIOError:
                        break
                    if not self.recording:
                        continue
                    for level, kind, data in anc:
                        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                            sec, nsec = struct.unpack("ll", data[:size])
                            self.arrivals[port].append(sec + nsec / 1e9)

    def reset(self):
        for v in self.arrivals.values():
            v.clear()

    def pacing(self):
        """Gaps between consecutive packets of one call, in ms."""
        gaps = []
        for times in self.arrivals.values():
            gaps.extend((b - a) * 1000 for a, b in zip(times, times[1:]))
        gaps.sort()
        if not gaps:
            return None
        pick = lambda p: gaps[min(len(gaps) - 1, int(p * (len(gaps) - 1)))]
        deviation = sorted(abs(g - 20.0) for g in gaps)
        return {
            "gap_p50_ms": pick(0.5),
            "gap_p99_ms": pick(0.99),
            "gap_max_ms": gaps[-1],
            "jitter_p99_ms": deviation[int(0.99 * (len(deviation) - 1))],
            "gaps": len(gaps),
        }


def wait_listening(log, timeout=60):
    """The SIP address from hotline's `listening ...` line."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("listening "):
                for kv in line.split()[1:]:
                    if kv.startswith("sip="):
                        return kv[4:]
        time.sleep(0.2)
    sys.exit(f"hotline did not start; its log:\n{log.read_text(errors='replace')[-3000:]}")


def sipp_failures(stat_file):
    """Successful and failed calls from sipp's last statistics line."""
    rows = list(csv.reader(stat_file.read_text().splitlines(), delimiter=";"))
    if len(rows) < 2:
        return None, None
    head, last = rows[0], rows[-1]
    get = lambda name: int(last[head.index(name)])
    return get("SuccessfulCall(C)"), get("FailedCall(C)")


def run_side(side, args, work, receivers, hotline):
    calls, rate = args.calls, args.rate
    ramp = calls / rate
    hold = ramp + args.window + 8
    ports = [receivers.ports()[i // args.sample] if i % args.sample == 0 and i // args.sample < len(receivers.ports())
             else receivers.sink_port() for i in range(calls)]
    inf = work / "media.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{p};\n" for p in ports))

    log = work / f"{side}.log"
    if side == "sipp":
        server = subprocess.Popen(
            ["sipp", "-sf", str(ROOT / "bench/sipp/uas_stream.xml"), "-i", "127.0.0.1",
             "-p", str(args.sipp_port), "-mi", "127.0.0.1", "-mp", "40000", "-nostdin",
             "-trace_err"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        target = f"127.0.0.1:{args.sipp_port}"
        time.sleep(1)
    else:
        config = work / "hotline.toml"
        config.write_text(
            'sip_trusted = "127.0.0.1"\n'
            f"max_calls = {calls + 100}\n"
            # The callers send no audio; without this they count as gone.
            f"rtp_timeout_secs = {int(hold) + 60}\n"
            # One RTP port per call: the range must hold them all.
            f"rtp_port_min = 20000\nrtp_port_max = {20000 + max(10_000, calls + 100) - 1}\n")
        server = subprocess.Popen(
            [hotline, "serve", "--config", str(config), "--data-dir", str(work / "data"),
             "--sip-listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
             "--admin-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
             "--web-listen", "127.0.0.1:0"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        target = wait_listening(log)
        time.sleep(3)
    idle = rss_bytes(server.pid)

    stat = work / f"{side}_stat.csv"
    uac = subprocess.Popen(
        ["sipp", "-sf", str(ROOT / "tests/sipp/load.xml"), "-inf", str(inf),
         "-d", str(int(hold * 1000)), "-m", str(calls), "-l", str(calls), "-r", str(rate),
         "-i", "127.0.0.1", "-p", "0", "-nostdin", "-timeout", f"{int(hold + 120)}s",
         "-trace_stat", "-stf", str(stat), "-fd", "1", target],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(ramp + 3)
    receivers.reset()
    receivers.recording = True
    cpu0, t0 = cpu_seconds(server.pid), time.time()
    time.sleep(args.window)
    cpu1, t1 = cpu_seconds(server.pid), time.time()
    receivers.recording = False
    peak = rss_bytes(server.pid)
    pacing = receivers.pacing() or {}
    uac.wait()
    ok, failed = sipp_failures(stat)
    after = None
    if side == "hotline":
        time.sleep(args.settle)
        after = rss_bytes(server.pid)
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
    call_seconds = calls * (t1 - t0)
    row = {
        "side": side,
        "calls": calls,
        "succeeded": ok,
        "failed": failed,
        "cpu_ms_per_call_second": round((cpu1 - cpu0) * 1000 / call_seconds, 4),
        "cpu_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
        "rss_idle_mib": round(idle / 2**20, 1),
        "rss_loaded_mib": round(peak / 2**20, 1),
        "kib_per_call": round((peak - idle) / 1024 / calls, 1),
        "rss_after_mib": round(after / 2**20, 1) if after else "",
    }
    row.update({k: round(v, 3) if isinstance(v, float) else v for k, v in pacing.items()})
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--rate", type=int, default=250, help="new calls per second while ramping up")
    p.add_argument("--window", type=int, default=15, help="seconds measured with every call up")
    p.add_argument("--sample", type=int, default=100, help="one call in SAMPLE goes to a sampling receiver")
    p.add_argument("--settle", type=int, default=20, help="seconds after the load before hotline's memory is read again")
    p.add_argument("--sipp-port", type=int, default=15070)
    p.add_argument("--only", choices=["sipp", "hotline"])
    p.add_argument("--csv", type=Path)
    args = p.parse_args()

    hotline = ROOT / "target/release/hotline"
    if not hotline.exists():
        sys.exit("no target/release/hotline: run `cargo build --release` first")
    for tool, package in [("sipp", "sip-tester"), ("sox", "sox")]:
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            sys.exit(f"{tool} is missing: apt-get install -y {package}")

    try:
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    except (ValueError, OSError):
        pass
    receivers = Receivers(max(1, args.calls // args.sample))
    rows = []
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        work = Path(tmp)
        subprocess.run(["sox", str(ROOT / "prompts/zh/welcome.wav"), "-e", "u-law",
                        "-t", "wav", str(work / "prompt.ulaw.wav")], check=True)
        for side in ["sipp", "hotline"]:
            if args.only and args.only != side:
                continue
            rows.append(run_side(side, args, work, receivers, str(hotline)))
            print(rows[-1], flush=True)
    receivers.stop = True
    keys = list(dict.fromkeys(k for r in rows for k in r))
    out = sys.stdout if args.csv is None else open(args.csv, "w", newline="")
    w = csv.DictWriter(out, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)


if __name__ == "__main__":
    main()
