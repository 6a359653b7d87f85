"""Load: the app on localhost under concurrent gradio_client requests.

    python -m benchmarks.load [--clients 8] [--swaps 5] [--videos 2]

Starts `python app.py` on a free loopback port, then fires --clients threads each doing --swaps
photo swaps, plus --videos video swaps at the same time. Reports errors, p50/p95 latency per kind,
the app process's peak resident memory (VmHWM), and what the requests left on disk: no
half-written temporaries, only the finished outputs kept for download. Every request loop is
bounded; the app is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from gradio_client import Client, handle_file

from .common import PHOTOS, ROOT, VIDEOS, free_port, machine, table


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--swaps", type=int, default=5)
    p.add_argument("--videos", type=int, default=2)
    args = p.parse_args(argv)
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="codeswap-load-"))  # the app's GRADIO_TEMP_DIR: uploads and outputs
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(temp)}  # fmt: skip
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(180):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(1)
        idle_mb = peak_rss_mb(app.pid)
        sources = ["man_portrait_flags_720p.jpg", "woman_redhair_wide.jpg", "man_sports_jersey.jpg", "woman_head_tilted_roll.png"]

        def photo_client(i: int) -> list[tuple[str, float, str | None]]:
            c = Client(url, verbose=False)
            out = []
            for j in range(args.swaps):
                a, b = sources[(i + j) % 4], sources[(i + j + 1) % 4]
                t = time.perf_counter()
                try:
                    c.predict(
                        handle_file(PHOTOS / a), handle_file(PHOTOS / b), ["face"], "all", 1.0, 0.08, True, False, api_name="/swap_photo"
                    )
                    out.append(("photo", time.perf_counter() - t, None))
                except Exception as e:  # counted, not raised: the benchmark reports errors
                    out.append(("photo", time.perf_counter() - t, str(e)))
            return out

        def video_client(i: int) -> list[tuple[str, float, str | None]]:
            c = Client(url, verbose=False)
            t = time.perf_counter()
            try:
                clip = handle_file(VIDEOS / "person_waving_frontal_short.mp4")
                c.predict(handle_file(PHOTOS / sources[i % 4]), clip, ["face"], "all", 1.0, 0.08, True, 3, api_name="/swap_video")
                return [("video", time.perf_counter() - t, None)]
            except Exception as e:
                return [("video", time.perf_counter() - t, str(e))]

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients + args.videos) as pool:
            futures = [pool.submit(photo_client, i) for i in range(args.clients)] + [
                pool.submit(video_client, i) for i in range(args.videos)
            ]
            results = [r for f in futures for r in f.result(timeout=1800)]
        wall = time.perf_counter() - start
        rows = []
        for kind in ("photo", "video"):
            lat = [r[1] for r in results if r[0] == kind]
            errs = [r[2] for r in results if r[0] == kind and r[2]]
            if lat:
                rows.append({"request": kind, "count": len(lat), "errors": len(errs), "p50 s": float(np.percentile(lat, 50)),
                             "p95 s": float(np.percentile(lat, 95)), "max s": float(max(lat))})  # fmt: skip
            for e in errs[:3]:
                print(f"{kind} error: {e}")
        print(table(rows, f"Load: {args.clients} clients x {args.swaps} photo swaps + {args.videos} video swaps at once, in {wall:.0f} s"))
        print(f"\napp peak RSS: {peak_rss_mb(app.pid):.0f} MB (idle after start-up: {idle_mb:.0f} MB); {machine()}")
        files = [f for f in temp.rglob("*") if f.is_file()]
        outputs = [f for f in files if f.parent.name == "codeswap-outputs"]
        partial = [f for f in files if ".tmp" in f.name]
        print(f"left in GRADIO_TEMP_DIR: {len(outputs)} finished outputs (kept 1 h for download), {len(files) - len(outputs)} uploads "
              f"(Gradio's cache), {len(partial)} half-written temporaries")  # fmt: skip
    finally:
        app.terminate()
        app.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
