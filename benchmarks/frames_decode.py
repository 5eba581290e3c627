"""Decode speed and memory of the frames:PATH cache for a 100k-frame input.

Generates the input once into ``--work`` (sprite frames, 96 x 128 grey, from
``tests/data/sprite_video.py``): ``npy`` is an (S, T, 96, 128) uint8 array, ``mp4`` one H.264
video (100k frames is an hour of 30 fps video less 8,000 frames). Each decode runs in a fresh
process into an empty data root (so nothing is cached) and reports wall time, frames per second
and memory: the peak resident set (VmHWM) and the peak anonymous resident memory (RssAnon,
sampled at every progress call), which is what the decode itself holds; file-backed pages of the
mapped input and cache are the kernel's page cache and are counted in VmHWM only.

    nice -n 10 python benchmarks/frames_decode.py --forms npy mp4 --frames 100000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "data"))

from sprite_video import HEIGHT, WIDTH, sprite_walk  # noqa: E402

CHUNK = 5000


def make_input(work: Path, form: str, frames: int) -> Path:
    """The ``form`` input of ``frames`` frames in ``work`` (generated once)."""
    rng = np.random.default_rng(0)
    path = work / f"sprites_{frames}.{form}"
    if path.exists():
        return path
    work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    if form == "npy":
        sequences = 10
        out = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(sequences, frames // sequences, HEIGHT, WIDTH)
        )
        for s in range(sequences):
            for start in range(0, frames // sequences, CHUNK):
                n = min(CHUNK, frames // sequences - start)
                out[s, start : start + n] = sprite_walk(n, rng)[0]
        out.flush()
        del out
    else:
        import imageio_ffmpeg

        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            (WIDTH, HEIGHT),
            fps=30,
            codec="libx264",
            pix_fmt_in="gray",
            output_params=["-crf", "18", "-f", "mp4"],
            macro_block_size=16,
        )
        writer.send(None)
        for start in range(0, frames, CHUNK):
            for frame in sprite_walk(min(CHUNK, frames - start), rng)[0]:
                writer.send(np.ascontiguousarray(frame))
        writer.close()
    tmp.rename(path)
    return path


def _status_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "RssAnon"):
            out[key] = int(value.split()[0]) / 1024
    return out


def decode(path: str, root: str, queue: mp.Queue) -> None:
    """In a fresh process: decode ``path`` into the data root ``root``; report time and memory."""
    from slowvae.data.frames import open_frames

    peak_anon = [0.0]

    def progress(done: int, total: int | None, name: str) -> None:
        if done % 1000 < 256:
            peak_anon[0] = max(peak_anon[0], _status_mb()["RssAnon"])

    start = time.perf_counter()
    frames = open_frames(path, root=Path(root), progress=progress)
    seconds = time.perf_counter() - start
    mem = _status_mb()
    queue.put(
        {
            "seconds": round(seconds, 1),
            "frames": len(frames),
            "frames_per_s": round(len(frames) / seconds),
            "cache_shape": list(frames.frames.shape),
            "binary": frames.binary,
            "peak_rss_mb": round(mem["VmHWM"]),
            "peak_anon_rss_mb": round(max(peak_anon[0], mem["RssAnon"])),
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", nargs="+", default=["npy", "mp4"], choices=["npy", "mp4"])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/slowvae-frames-decode"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "frames" / "frames_decode.json")
    args = parser.parse_args()

    results = {}
    for form in args.forms:
        path = make_input(args.work, form, args.frames)
        root = args.work / "root"
        shutil.rmtree(root, ignore_errors=True)
        queue: mp.Queue = mp.get_context("spawn").Queue()
        proc = mp.get_context("spawn").Process(target=decode, args=(str(path), str(root), queue))
        proc.start()
        result = queue.get()
        proc.join()
        cache = next((root / "frames").glob("*.npy"))
        result.update(
            input=f"{path.name}, {path.stat().st_size / 1e6:.0f} MB", cache_mb=round(cache.stat().st_size / 1e6)
        )
        results[form] = result
        print(form, result, flush=True)
        shutil.rmtree(root, ignore_errors=True)
    import os

    record = {
        "command": " ".join(["python", *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, SHARED: measured with other processes running "
        "(load average about {:.0f}); the speeds are lower bounds".format(os.getloadavg()[0]),
        "date": time.strftime("%Y-%m-%d"),
        "input": f"sprite frames {HEIGHT}x{WIDTH} grey -> cache (N, C, 64, 64) uint8 (crop to 96x96, area resize); "
        "the mp4 decodes as RGB (C = 3), the .npy stays grey (C = 1)",
        "note": "the mp4 is decoded by an ffmpeg subprocess, whose memory is not in these numbers",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
