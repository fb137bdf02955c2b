"""Benchmarks P1 + P2 for LiveCurve, measured in a real Jupyter kernel.

P1, training overhead: a tiny fastai model (an MLP on generated tensors, about 1 ms a
step, one torch thread) fitted in ONE kernel under three configurations, interleaved
(rounds alternate the order) and compared by their medians:

  (a) bare      ``with learn.no_bar(): learn.fit(n)``
  (b) livecurve ``with learn.no_bar(): learn.fit(n, cbs=LiveCurve())`` (the callback
                displays the widget; its construction is inside the timed region)
  (c) fastai    ``learn.fit(n, cbs=ShowGraphCallback())`` with fastai's default
                ProgressCallback: HTML bars plus a matplotlib graph per epoch

P2, messages: every iopub message is collected on the client side.  The stream sends
its last points and the final snapshot on a trailing timer after ``fit`` returns, so in
(b) the kernel cell polls ``curve._stream.settled`` after the fit (with a timeout) and
the widget's ``comm_msg`` messages (``custom`` = deltas, ``update`` = trait syncs) are
counted from the start of the fit until the stream settled: messages per second over
that window, the busiest 1-second window (both <= max_hz = 10) and the smallest gap
between consecutive messages (>= 1 / max_hz).  For each delta the buffer bytes are
compared with the new points it carries (16 bytes = one x and one y float64 per point
and series).

The figures are printed as ratios against targets; nothing here asserts on time.

    .venv/bin/python bench/curve_overhead.py              # 40 rounds x 2 epochs (~8 min)
    .venv/bin/python bench/curve_overhead.py --quick      # 1 round x 1 epoch (< 60 s)
    .venv/bin/python bench/curve_overhead.py --json bench/out/curve_overhead.json
    .venv/bin/python bench/curve_overhead.py --profile    # + per-call costs and cProfile
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import textwrap
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _kernel import TINY_DATA_SETUP, Execution, IopubMsg, Kernel
from _report import KERNEL_INFO, flag, kernel_line, median, median_ci, write_json

CONFIGS = ("bare", "livecurve", "fastai")
LABELS = {
    "bare": "bare fastai fit",
    "livecurve": "+ LiveCurve",
    "fastai": "fastai Progress+ShowGraph",
}
OVERHEAD_TARGET = 1.03
MSG_RATE_TARGET = 10.0  # LiveCurve's default max_hz
MIN_GAP_TARGET = 1.0 / MSG_RATE_TARGET
GAP_TOLERANCE = 1e-3  # the header dates come from the wall clock, the throttle's from monotonic
SETTLE_TIMEOUT = 10.0  # seconds to wait for the stream's trailing messages after a fit
GATE_BLOCK = 20  # steps per on/off block of the in-fit A/B (~30 ms, shorter than a slow spell)
TAIL = 10  # unlogged steps after a logged block charged to it: a send's IOPub follow-up
JUPYTER_IOPUB_LIMIT = 1000.0

# Runs once in the kernel.  The data is generated (no download) and pre-batched, so a
# step costs what fastai's loop costs, not per-item collation: ~1 ms on one CPU thread.
SETUP = (
    TINY_DATA_SETUP
    + """
import gc, json, os, random, time
from fastai.callback.progress import ShowGraphCallback
from fastwidgets import LiveCurve

def _learner():
    torch.manual_seed(0)
    dls = DataLoaders(DataLoader(_train, bs=None, shuffle=True),
                      DataLoader(_valid, bs=None), device="cpu")
    model = nn.Sequential(nn.Linear(64, _HIDDEN), nn.ReLU(), nn.Linear(_HIDDEN, 10))
    return Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=accuracy)

def _bench_fit(config, epochs):
    learn = _learner()
    gc.collect()
    out = {{"config": config}}
    c0 = time.process_time()  # the fit's CPU time: every kernel thread (IOPub included)
    if config == "fastai":
        t0, p0 = time.time(), time.perf_counter()
        learn.fit(epochs, cbs=ShowGraphCallback())
        p1, t1 = time.perf_counter(), time.time()
    else:
        with learn.no_bar():
            if config == "bare":
                t0, p0 = time.time(), time.perf_counter()
                learn.fit(epochs)
                p1, t1 = time.perf_counter(), time.time()
            else:
                t0, p0 = time.time(), time.perf_counter()
                curve = LiveCurve()
                out["construct_seconds"] = time.perf_counter() - p0
                learn.fit(epochs, cbs=curve)
                p1, t1 = time.perf_counter(), time.time()
    out.update(t0=t0, t1=t1, seconds=p1 - p0, cpu_seconds=time.process_time() - c0,
               load1=os.getloadavg()[0], steps=epochs * len(learn.dls.train),
               valid_steps=epochs * len(learn.dls.valid))
    if config == "livecurve":
        # The last points and the final snapshot leave on the stream's trailing timer
        # after fit() returns: wait (outside the timed region) until it has sent them,
        # so P2 sees every message and the next config's fit is not disturbed.
        out["settled"] = _wait_settled(curve, {settle_timeout})
        out["t_settled"] = time.time()
        out["comm_id"] = curve.comm.comm_id
        out["points"] = {{s.name: len(s) for s in curve._stream}}
    return out

def _wait_settled(curve, timeout):
    deadline = time.monotonic() + timeout
    while not curve._stream.settled:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True

class _Gate:
    # The in-fit A/B: LiveCurve is attached to and detached from the learner's callbacks
    # in random blocks of training steps within one fit (so an off-step pays nothing of
    # it, fastai's dispatch of every event included), and every step is timed by the
    # wall clock between two before_batch events.  From the end of training to the next
    # epoch it stays attached: it has the epoch's values to log.
    name, order, learn = "gate", 64, None  # just before LiveCurve (65)

    def __init__(self, curve, block, seed):
        self.curve, self.block, self.rng = curve, block, random.Random(seed)
        self.plan, self.t, self.on = [], None, True
        self.steps = []  # [seconds, on] per training step; None where an epoch ended
        self.t_event = 0.0

    def _attach(self, on):
        if on != self.on:
            if on:
                self.learn.cbs.items.append(self.curve)
            else:
                self.learn.cbs.items.remove(self.curve)
            self.on = on

    def __call__(self, event):
        now = self.t_event = time.perf_counter()
        if event == "before_batch" and self.learn.training:
            if self.t is not None:
                self.steps.append([now - self.t, self.on])
            if not self.plan:
                pair = [True, False]
                self.rng.shuffle(pair)
                self.plan = [pair[0]] * self.block + [pair[1]] * self.block
            self._attach(self.plan.pop())
            self.t = now
        elif event == "after_train":
            self.t = None  # the validation pass is not a step
            self.steps.append(None)
            self._attach(True)

class _Stamp:
    # Right after LiveCurve: times what it does outside the training steps (before_fit's
    # display, the epoch's last rows, its values, the end of the fit).
    name, order, learn = "stamp", 66, None

    def __init__(self, gate):
        self.gate, self.seconds = gate, 0.0

    def __call__(self, event):
        if event in ("before_fit", "after_train", "after_epoch", "after_fit") and self.gate.on:
            self.seconds += time.perf_counter() - self.gate.t_event

def _gated_fit(epochs, block, seed, silent):
    learn = _learner()
    gc.collect()
    curve = LiveCurve()
    curve._stream.enabled = not silent
    gate = _Gate(curve, block, seed)
    stamp = _Stamp(gate)
    with learn.no_bar():
        learn.fit(epochs, cbs=[curve, gate, stamp])
    if not silent:
        _wait_settled(curve, {settle_timeout})
    return {{"steps": gate.steps, "outside_steps_s": stamp.seconds}}
"""
)

PROFILE = """
import cProfile, io, pstats
_learn = _learner()
_curve = LiveCurve()
_prof = cProfile.Profile()
with _learn.no_bar():
    _prof.enable()
    _learn.fit({epochs}, cbs=_curve)
    _prof.disable()
_steps = {epochs} * len(_learn.dls.train)
_s = io.StringIO()
_st = pstats.Stats(_prof, stream=_s)
_only = r"fastwidgets|fastai/callback/core|traitlets|comm|ipywidgets|anywidget"
_st.sort_stats("cumulative").print_stats(_only, 30)
print(_s.getvalue())
_s = io.StringIO()
_st = pstats.Stats(_prof, stream=_s)
_st.sort_stats("tottime").print_stats(25)
print(_s.getvalue())
print("steps", _steps)
"""

# Per-call cost of each part of LiveCurve's path, timed in the kernel outside fastai's
# loop (the profiler inflates small functions; this does not).  The fit first counts the
# events fastai fires per training batch; LiveCurve's proxy dispatches only the adapter's
# ``events`` (after_batch among them), so every other one is a dictionary miss.
MICRO = """
import timeit

class _EventCounter:  # what fastai asks of a callback: name, order, learn, __call__
    name, order, learn = "event_counter", 0, None
    def __init__(self):
        self.in_batch, self.train_batches, self.events = False, 0, 0
    def __call__(self, event):
        if event == "before_batch":
            self.in_batch = bool(self.learn.training)
            self.train_batches += self.in_batch
        if self.in_batch:
            self.events += 1
        if event == "after_batch":
            self.in_batch = False

_learn = _learner()
_curve = LiveCurve()
_counter = _EventCounter()
with _learn.no_bar():
    _learn.fit(1, cbs=[_curve, _counter])  # a real fit, so the widget is live and displayed
_wait_settled(_curve, {settle_timeout})
_cb = _curve._fastai_adapter()
_cb.learn, _cb.active = _learn, True
_learn.training = True
_learn.loss = torch.tensor(0.5)
_n = 20000
def _per(stmt):
    best = min(timeit.repeat(stmt, number=_n, repeat=5, globals=globals()))
    return best / _n * 1e6
_micro = {{
  "events_per_batch": _counter.events / _counter.train_batches,
  "noop_event": _per("_curve('before_batch')"),
  "after_batch": _per("_curve('after_batch')"),
  "log": _per("_curve.log(1e9, train_loss=0.5, lr=1e-3, mom=0.9)"),
  "append_row":
      _per("_curve._stream.append_row(1e9, {{'train_loss': 0.5, 'lr': 1e-3, 'mom': 0.9}})"),
  "throttle_ready": _per("_curve._stream._throttle.ready()"),
}}
_curve._stream.enabled = False  # stop sending the test points
"""
MICRO_LABELS = {
    "events_per_batch": "fastai events per training batch (counted)",
    "noop_event": "curve('before_batch'): a no-op event via the proxy",
    "after_batch": "curve('after_batch'): adapter, log + stream",
    "log": "LiveCurve.log(step, 3 values)",
    "append_row": "stream.append_row (3 series)",
    "throttle_ready": "Throttle.ready()",
}


def _widget_msgs(ex: Execution, comm_id: str) -> list[IopubMsg]:
    return [m for m in ex.iopub if m.comm_id == comm_id]


def _max_window_rate(times: list[float], window: float = 1.0) -> int:
    """The most messages inside any half-open ``[t, t + window)`` span."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _fit_line(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares slope, intercept and Pearson r of ys against xs."""
    n = len(xs)
    if n < 2:
        return float("nan"), float("nan"), float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx if sxx else float("nan")
    r = sxy / (sxx * syy) ** 0.5 if sxx and syy else float("nan")
    return slope, my - slope * mx, r


def analyse_messages(ex: Execution, fit: dict[str, Any]) -> dict[str, Any]:
    """P2 figures for one LiveCurve fit, over the window from the start of the fit (the
    widget's construction) until its stream has settled (sent its last message)."""
    t0, t_end = fit["t0"], fit["t_settled"]
    window = t_end - t0
    during = ex.between(t0, t_end)
    mine = _widget_msgs(ex, fit["comm_id"])
    late = [m for m in mine if m.msg_type == "comm_msg" and m.sent > t_end]
    msgs = [m for m in mine if m.msg_type == "comm_msg" and t0 <= m.sent <= t_end]
    sent = sorted(m.sent for m in msgs)
    gaps_s = [b - a for a, b in pairwise(sent)]
    deltas = [
        m
        for m in msgs
        if m.comm_method == "custom" and (m.comm_payload or {}).get("type") == "delta"
    ]
    updates = [m for m in msgs if m.comm_method == "update"]
    points, buf_bytes, sizes, bpp = [], [], [], []
    starts: dict[str, int] = {}
    gaps = 0
    for m in deltas:
        entries = m.comm_payload["series"]
        n = sum(e["count"] for e in entries)
        for e in entries:
            if starts.get(e["name"], 0) != e["start"]:
                gaps += 1
            starts[e["name"]] = e["start"] + e["count"]
        points.append(n)
        buf_bytes.append(m.buffer_bytes)
        sizes.append(m.size)
        if n:
            bpp.append(m.buffer_bytes / n)
    slope, intercept, r = _fit_line([float(p) for p in points], [float(b) for b in buf_bytes])
    wslope, wintercept, wr = _fit_line([float(p) for p in points], [float(s) for s in sizes])
    by_type: dict[str, int] = {}
    for m in during:
        key = m.msg_type if m.msg_type != "comm_msg" else f"comm_msg/{m.comm_method}"
        by_type[key] = by_type.get(key, 0) + 1
    return {
        "fit_seconds": fit["seconds"],
        "settled": fit["settled"],
        "drain_seconds": t_end - fit["t1"],
        "window_seconds": window,
        "widget_msgs": len(msgs),
        "widget_msgs_after_fit": sum(m.sent > fit["t1"] for m in msgs),
        "widget_msgs_after_settled": len(late),
        "widget_msgs_per_s": len(msgs) / window,
        "widget_max_msgs_in_1s": _max_window_rate(sent),
        "widget_min_gap_s": min(gaps_s, default=float("nan")),
        "deltas": len(deltas),
        "updates": len(updates),
        "update_traits": sorted(
            {k for m in updates for k in ((m.content.get("data") or {}).get("state") or {})}
        ),
        "comm_open_bytes": sum(m.size for m in mine if m.msg_type == "comm_open"),
        "points_sent": starts,
        "points_logged": fit["points"],
        "complete": gaps == 0 and starts == fit["points"],
        "delta_points": points,
        "delta_buffer_bytes": buf_bytes,
        "bytes_per_point": {
            "min": min(bpp, default=float("nan")),
            "median": median(bpp),
            "max": max(bpp, default=float("nan")),
        },
        "buffer_fit": {"slope": slope, "intercept": intercept, "r": r},
        "wire_fit": {"slope": wslope, "intercept": wintercept, "r": wr},
        "delta_wire_bytes": {
            "min": min(sizes, default=0),
            "median": median(sizes),
            "max": max(sizes, default=0),
        },
        "iopub_msgs": len(during),
        "iopub_msgs_per_s": len(during) / window,
        "iopub_max_msgs_in_1s": _max_window_rate(sorted(m.sent for m in during)),
        "iopub_by_type": by_type,
        "iopub_bytes": sum(m.size for m in during),
        "widget_timeline": [
            (
                round(m.sent - t0, 4),
                m.comm_method,
                (m.comm_payload or {}).get("type")
                if m.comm_method == "custom"
                else sorted((m.content.get("data") or {}).get("state") or {}),
            )
            for m in msgs
        ],
    }


def iopub_summary(ex: Execution, fit: dict[str, Any]) -> dict[str, Any]:
    """All iopub traffic from the start of the fit to its end (LiveCurve: until settled)."""
    t0, t_end = fit["t0"], fit.get("t_settled", fit["t1"])
    during = ex.between(t0, t_end)
    return {
        "msgs": len(during),
        "msgs_per_s": len(during) / (t_end - t0),
        "max_in_1s": _max_window_rate(sorted(m.sent for m in during)),
        "bytes": sum(m.size for m in during),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    epochs = args.epochs
    setup = SETUP.format(
        bs=args.bs,
        hidden=args.hidden,
        train_batches=args.batches,
        valid_batches=args.valid_batches,
        settle_timeout=SETTLE_TIMEOUT,
    )
    results: dict[str, Any] = {
        "params": {
            "rounds": args.rounds,
            "epochs": epochs,
            "bs": args.bs,
            "hidden": args.hidden,
            "train_batches_per_epoch": args.batches,
            "valid_batches_per_epoch": args.valid_batches,
            "torch_threads": 1,
            "gated": args.gated,
        },
        "fits": [],
    }
    configs = CONFIGS
    results["params"]["configs"] = list(configs)
    t_start = time.time()
    with Kernel(startup_timeout=args.timeout) as k:
        k.run(setup, timeout=args.timeout)
        info = k.eval(KERNEL_INFO)
        results["kernel"] = info
        print(kernel_line(info), flush=True)

        def fit(config: str, n_epochs: int) -> tuple[dict[str, Any], Execution]:
            ex = k.run(
                f"_r = _bench_fit({config!r}, {n_epochs})",
                timeout=args.timeout,
                user_expressions={"r": "json.dumps(_r)"},
            )
            return json.loads(ex.user_expression("r")), ex

        # Warm-up: lazy imports, matplotlib's first figure, the adapter class, ...
        for config in configs:
            fit(config, 1)
        print(f"warm-up done ({time.time() - t_start:.0f} s)", flush=True)

        times: dict[str, list[float]] = {c: [] for c in configs}
        p2: list[dict[str, Any]] = []
        iopub: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
        for r in range(args.rounds):
            order = configs if r % 2 == 0 else tuple(reversed(configs))
            line = []
            for config in order:
                out, ex = fit(config, epochs)
                out["round"] = r
                results["fits"].append(out)
                times[config].append(out["seconds"])
                iopub[config].append(iopub_summary(ex, out))
                if config == "livecurve":
                    p2.append(analyse_messages(ex, out))
                line.append(f"{config} {out['seconds']:.2f}s")
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(line), flush=True)
        steps = results["fits"][-1]["steps"]

        gated: dict[str, list[dict[str, Any]]] = {"silent": [], "sending": []}
        for g in range(args.gated):
            for mode in ("silent", "sending") if g % 2 == 0 else ("sending", "silent"):
                ex = k.run(
                    f"_g = _gated_fit({epochs}, {GATE_BLOCK}, {g}, {mode == 'silent'})",
                    timeout=args.timeout,
                    user_expressions={"g": "json.dumps(_g)"},
                )
                gated[mode].append(json.loads(ex.user_expression("g")))
        if args.gated:
            print(f"in-fit A/B done ({time.time() - t_start:.0f} s)", flush=True)
        results["gated"] = gated

        if args.profile:
            ex = k.run(
                MICRO.format(settle_timeout=SETTLE_TIMEOUT),
                timeout=args.timeout,
                user_expressions={"m": "json.dumps(_micro)"},
            )
            results["micro_us"] = json.loads(ex.user_expression("m"))
            ex = k.run(PROFILE.format(epochs=epochs), timeout=args.timeout)
            results["profile"] = ex.stdout

    med = {c: median(times[c]) for c in configs}
    cpu = {c: [f["cpu_seconds"] for f in results["fits"] if f["config"] == c] for c in configs}
    cpu_med = {c: median(cpu[c]) for c in configs}
    by_round: dict[int, dict[str, float]] = {}
    for f in results["fits"]:
        by_round.setdefault(f["round"], {})[f["config"]] = f["seconds"]
    ratios = {c: [rd[c] / rd["bare"] for rd in by_round.values()] for c in configs}
    paired = {c: median(ratios[c]) for c in configs}
    bare = times["bare"]
    results["p1"] = {
        "median_seconds": med,
        "all_seconds": times,
        "construct_seconds": median(
            [f["construct_seconds"] for f in results["fits"] if f["config"] == "livecurve"]
        ),
        "ratio_vs_bare": {c: med[c] / med["bare"] for c in configs},
        "median_cpu_seconds": cpu_med,
        "cpu_ratio_vs_bare": {c: cpu_med[c] / cpu_med["bare"] for c in configs},
        "paired_ratio_median": paired,
        "paired_ratio_ci90": {c: median_ci(ratios[c]) for c in configs},
        "min_ratio_vs_bare": {c: min(times[c]) / min(bare) for c in configs},
        "bare_spread": max(bare) / min(bare),
        "load1": [f["load1"] for f in results["fits"]],
        "steps": steps,
        "ms_per_step_bare": med["bare"] / steps * 1e3,
        "overhead_ms_per_step": (paired["livecurve"] - 1) * med["bare"] / steps * 1e3,
    }
    # The headline is the median of per-round ratios: each round runs the configs back
    # to back, so the shared machine's slow spells (±25% between identical bare fits
    # here) hit both sides of a ratio instead of one median.
    results["p1"]["pass_overhead"] = paired["livecurve"] <= OVERHEAD_TARGET
    if gated["silent"] and gated["sending"]:
        results["p1"]["in_fit"] = in_fit_estimate(gated, results["p1"])
    results["p1"]["pass_below_fastai"] = paired["livecurve"] < paired["fastai"]
    rates = [p["widget_msgs_per_s"] for p in p2]
    busiest = [p["widget_max_msgs_in_1s"] for p in p2]
    gaps = [p["widget_min_gap_s"] for p in p2]
    min_gap = float("nan") if any(math.isnan(g) for g in gaps) else min(gaps)
    bpp = [b for p in p2 for b in (p["bytes_per_point"]["min"], p["bytes_per_point"]["max"])]
    results["p2"] = {
        "per_fit": p2,
        "widget_msgs_per_s_median": median(rates),
        "widget_msgs_per_s_max": max(rates),
        "widget_max_msgs_in_1s": max(busiest),
        "widget_min_gap_s": min_gap,
        "all_settled": all(p["settled"] for p in p2),
        "msgs_after_settled": sum(p["widget_msgs_after_settled"] for p in p2),
        "bytes_per_point_min": min(bpp),
        "bytes_per_point_median": median([p["bytes_per_point"]["median"] for p in p2]),
        "bytes_per_point_max": max(bpp),
        "iopub_msgs_per_s": {c: median([s["msgs_per_s"] for s in iopub[c]]) for c in configs},
        "iopub_max_in_1s": {c: max(s["max_in_1s"] for s in iopub[c]) for c in configs},
        "iopub_bytes_per_fit": {c: median([s["bytes"] for s in iopub[c]]) for c in configs},
    }
    results["p2"]["pass_rate"] = results["p2"]["widget_msgs_per_s_max"] <= MSG_RATE_TARGET
    results["p2"]["pass_busiest"] = max(busiest) <= MSG_RATE_TARGET
    # NaN (fewer than two messages) fails, which is what we want to hear about.
    results["p2"]["pass_gap"] = min_gap >= MIN_GAP_TARGET - GAP_TOLERANCE
    results["p2"]["pass_bytes"] = (
        results["p2"]["bytes_per_point_min"] == 16.0 == results["p2"]["bytes_per_point_max"]
    )
    results["p2"]["complete"] = all(p["complete"] for p in p2)
    results["wall_seconds"] = time.time() - t_start
    return results


def _charge(steps: list[Any], tail: int = TAIL) -> tuple[float, int, float]:
    """One gated fit's steps split into those charged to LiveCurve (logged steps, and the
    first ``tail`` of the unlogged steps that follow them or an epoch's end, where the
    IOPub thread may still be sending) and the clean unlogged ones.  Returns the charged
    steps' seconds above the clean steps' mean, the number of logged steps, and that mean."""
    charged: list[float] = []
    clean: list[float] = []
    n_on, since = 0, 0
    for item in steps:
        if item is None:  # an epoch ended: its values were just sent
            since = 0
            continue
        t, on = item
        if on:
            charged.append(t)
            n_on += 1
            since = 0
        elif since < tail:
            charged.append(t)
            since += 1
        else:
            clean.append(t)
    if not clean:
        raise ValueError(f"no unlogged step beyond the {tail}-step tails: use longer epochs")
    base = sum(clean) / len(clean)
    return sum(t - base for t in charged), n_on, base


def in_fit_estimate(gated: dict[str, list[dict[str, Any]]], p1: dict[str, Any]) -> dict[str, Any]:
    """P1 from the gated fits, where a slow spell of the machine hits logged and unlogged
    steps alike.  From the silent fits (the stream disabled): what each logged step costs,
    its dispatch of fastai's events included.  From the sending fits: what the messages
    cost the loop over the fit (hand-overs are paced by the clock, so a gated fit sends
    nearly as many as a fully logged one: each waits at most one unlogged block longer),
    and LiveCurve's time outside the steps.  Scaled to a
    fit where every step is logged, plus the widget's construction."""
    silent = [_charge(r["steps"], tail=0) for r in gated["silent"]]  # nothing is sent
    sending = [_charge(r["steps"]) for r in gated["sending"]]
    per_step = median([extra / n_on for extra, n_on, _ in silent])
    messages = median([extra - per_step * n_on for extra, n_on, _ in sending])
    outside = median([r["outside_steps_s"] for r in gated["sending"]])
    construct = p1["construct_seconds"]
    total = per_step * p1["steps"] + messages + outside + construct
    ratio = 1.0 + total / p1["median_seconds"]["bare"]
    return {
        "tail_steps": TAIL,
        "per_step_us": per_step * 1e6,
        "messages_ms_per_fit": messages * 1e3,
        "outside_steps_ms_per_fit": outside * 1e3,
        "construct_ms": construct * 1e3,
        "total_ms_per_fit": total * 1e3,
        "clean_step_us": median([base * 1e6 for *_, base in silent + sending]),
        "ratio": ratio,
        "pass": ratio <= OVERHEAD_TARGET,
    }


def report(res: dict[str, Any]) -> str:
    p1, p2, prm = res["p1"], res["p2"], res["params"]
    med, ratio, ci = p1["median_seconds"], p1["paired_ratio_median"], p1["paired_ratio_ci90"]
    lines = [
        f"P1 training overhead ({prm['rounds']} rounds, {prm['epochs']} epochs, "
        f"{p1['steps']} steps, ~{p1['ms_per_step_bare']:.2f} ms/step incl. validation)",
        "  median seconds; ratio = median over rounds of (config / bare of the same round),"
        " with its 90% confidence interval (order statistics)",
        f"  {LABELS['bare']:<27}{med['bare']:7.2f} s   {ratio['bare']:.3f}x",
        f"  {LABELS['livecurve']:<27}{med['livecurve']:7.2f} s   {ratio['livecurve']:.3f}x"
        f" ({ci['livecurve'][0]:.3f}-{ci['livecurve'][1]:.3f})"
        f"   target <= {OVERHEAD_TARGET:.2f}x  {flag(p1['pass_overhead'])}"
        f"   ({p1['overhead_ms_per_step'] * 1e3:+.0f} us/step)",
        f"  {LABELS['fastai']:<27}{med['fastai']:7.2f} s   {ratio['fastai']:.3f}x"
        f" ({ci['fastai'][0]:.3f}-{ci['fastai'][1]:.3f})"
        f"   LiveCurve below fastai's own: {flag(p1['pass_below_fastai'])}",
    ]
    cr, pr, mr = p1["cpu_ratio_vs_bare"], p1["ratio_vs_bare"], p1["min_ratio_vs_bare"]
    lines.append(
        "  cross-checks vs bare:        "
        + "   ".join(
            f"{c} cpu {cr[c]:.3f}x / medians {pr[c]:.3f}x / best {mr[c]:.3f}x"
            for c in med
            if c != "bare"
        )
    )
    load = p1["load1"]
    if p1["bare_spread"] > 1.15 or max(load) > 2.0:
        lines.append(
            f"  WARNING: noisy machine: bare runs spread {p1['bare_spread']:.2f}x (max/min), "
            f"1-min load average {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} CPUs; "
            "trust the CPU-time ratio and the per-batch costs below more than wall time"
        )
    if "in_fit" in p1:
        f = p1["in_fit"]
        lines += [
            f"  in-fit A/B: LiveCurve attached/detached in random blocks of {GATE_BLOCK} steps "
            f"within a fit, {res['params']['gated']} fits each way (medians)",
            f"    a logged step, its dispatch included    {f['per_step_us']:+7.1f} us"
            f"   (unlogged step {f['clean_step_us']:.0f} us)",
            f"    the messages, over a fit                {f['messages_ms_per_fit']:+7.1f} ms"
            f"   (logged steps and the {f['tail_steps']} after each block)",
            f"    before_fit/after_epoch/after_fit        {f['outside_steps_ms_per_fit']:+7.1f} ms",
            f"    construction + comm_open                {f['construct_ms']:+7.1f} ms",
            f"    => every step logged: {f['total_ms_per_fit']:.0f} ms per fit = "
            f"{f['ratio']:.3f}x the bare fit   target <= {OVERHEAD_TARGET:.2f}x  "
            f"{flag(f['pass'])}",
        ]
    lines += [
        f"  LiveCurve() construction + comm_open (inside the timed fit): "
        f"{p1['construct_seconds'] * 1e3:.1f} ms",
        "  all runs (s): "
        + "; ".join(f"{c} " + " ".join(f"{t:.2f}" for t in p1["all_seconds"][c]) for c in med),
        "P2 widget messages from the start of the LiveCurve fit until its stream settled",
    ]
    last = p2["per_fit"][-1]
    lines += [
        f"  widget messages/s        {p2['widget_msgs_per_s_median']:5.1f}   (max of runs "
        f"{p2['widget_msgs_per_s_max']:.1f})   target <= {MSG_RATE_TARGET:.0f}  "
        f"{flag(p2['pass_rate'])}",
        f"  busiest 1 s window       {p2['widget_max_msgs_in_1s']:5d}   (max of runs)"
        f"           target <= {MSG_RATE_TARGET:.0f}  {flag(p2['pass_busiest'])}",
        f"  min gap between messages {p2['widget_min_gap_s'] * 1e3:5.1f} ms (min of runs)"
        f"       target >= {MIN_GAP_TARGET * 1e3:.0f} ms  {flag(p2['pass_gap'])}",
        f"  stream settled after every fit (timeout {SETTLE_TIMEOUT:.0f} s): "
        f"{flag(p2['all_settled'])}; widget messages after settling: "
        f"{p2['msgs_after_settled']}",
        f"    last fit: {last['widget_msgs']} msgs in {last['window_seconds']:.2f} s "
        f"(fit {last['fit_seconds']:.2f} s + {last['drain_seconds'] * 1e3:.0f} ms to settle, "
        f"{last['widget_msgs_after_fit']} msgs after fit() returned) = "
        f"{last['deltas']} deltas + {last['updates']} trait updates "
        f"({', '.join(last['update_traits'])}); busiest 1 s: {last['widget_max_msgs_in_1s']}",
        f"  bytes per point per series  {p2['bytes_per_point_median']:.1f} "
        f"(min {p2['bytes_per_point_min']:.1f}, max {p2['bytes_per_point_max']:.1f})  "
        f"O(new points): {flag(p2['pass_bytes'])}",
        f"    buffer bytes = {last['buffer_fit']['slope']:.2f} x points "
        f"{last['buffer_fit']['intercept']:+.1f}  (r = {last['buffer_fit']['r']:.4f}, "
        f"{len(last['delta_points'])} deltas, {min(last['delta_points'], default=0)}-"
        f"{max(last['delta_points'], default=0)} points each)",
        f"    whole message  = {last['wire_fit']['slope']:.2f} x points "
        f"{last['wire_fit']['intercept']:+.0f} bytes of JSON header/envelope",
        f"  stream complete (contiguous starts, all points sent): {flag(p2['complete'])}",
        f"  kernel iopub messages/s during the fit (all types; LiveCurve: until settled), "
        f"vs Jupyter's "
        f"{JUPYTER_IOPUB_LIMIT:.0f}/s limit:",
    ]
    for c in p2["iopub_msgs_per_s"]:
        lines.append(
            f"    {LABELS[c]:<27}{p2['iopub_msgs_per_s'][c]:6.1f}/s  busiest 1 s: "
            f"{p2['iopub_max_in_1s'][c]:3d}   {p2['iopub_bytes_per_fit'][c] / 1024:8.1f} KiB/fit"
        )
    lines.append(f"    LiveCurve fit by type: {last['iopub_by_type']}")
    if "micro_us" in res:
        mu = res["micro_us"]
        lines.append("Per-call costs in the kernel (timeit, best of 5, us per call)")
        for key, label in MICRO_LABELS.items():
            value = mu[key]
            text = f"{value:8.2f}" if key != "events_per_batch" else f"{value:8.1f}"
            lines.append(f"  {label:<52}{text}")
        events = mu["events_per_batch"]
        # every event but after_batch is a no-op dispatch through the proxy
        per_step = (events - 1) * mu["noop_event"] + mu["after_batch"]
        best_step = min(p1["all_seconds"]["bare"]) / p1["steps"] * 1e6
        lines.append(
            f"  => per training step: {events - 1:.0f} no-op events x {mu['noop_event']:.2f} us "
            f"+ after_batch {mu['after_batch']:.2f} us = {per_step:.1f} us = "
            f"{per_step / best_step:.1%} of the best bare step ({best_step:.0f} us)"
        )
        res["p1"]["estimated_overhead_from_micro"] = {
            "us_per_step": per_step,
            "fraction": per_step / best_step,
            "best_bare_step_us": best_step,
        }
    lines.append(f"(total wall time {res['wall_seconds']:.0f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="1 round of 1 epoch (smoke run)")
    # 40 paired rounds: this VM's identical fits differ by up to 2x; the median of 9
    # ratios moved by +-3% between runs (the size of the target itself), that of 25 by
    # +-2.5%, with a 90% interval 10-15 points wide.
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument(
        "--gated", type=int, default=8, help="fits per mode of the in-fit A/B (0: skip it)"
    )
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batches", type=int, default=1000, help="training batches per epoch")
    ap.add_argument("--valid-batches", type=int, default=16)
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per kernel wait")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also time LiveCurve's per-call costs (timeit) and cProfile one fit",
    )
    ap.add_argument("--json", type=Path, help="write every figure to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.epochs, args.gated = 1, 1, 1
    res = run(args)
    print(report(res))
    if args.profile:
        print(textwrap.indent(res["profile"], "  "))
    write_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
