"""Benchmarks P1 + P2 for LiveCurve, measured in a real Jupyter kernel.

P1, training overhead: a tiny fastai model (an MLP on generated tensors, about 1 ms a
step, one torch thread) fitted in ONE kernel under three configurations, interleaved
(rounds alternate the order) and compared by their medians:

  (a) bare      ``with learn.no_bar(): learn.fit(n)``
  (b) livecurve ``with learn.no_bar(): learn.fit(n, cbs=LiveCurve())`` (the callback
                displays the widget; its construction is inside the timed region)
  (c) fastai    ``learn.fit(n, cbs=ShowGraphCallback())`` with fastai's default
                ProgressCallback: HTML bars plus a matplotlib graph per epoch

P2, messages: every iopub message is collected on the client side.  During (b) the
widget's ``comm_msg`` messages are counted (``custom`` = deltas, ``update`` = trait
syncs) and divided by the fit's wall time; for each delta the buffer bytes are compared
with the new points it carries (16 bytes = one x and one y float64 per point and series).

The figures are printed as ratios against targets; nothing here asserts on time.

    .venv/bin/python bench/curve_overhead.py              # 5 rounds x 3 epochs (~2 min)
    .venv/bin/python bench/curve_overhead.py --quick      # 1 round x 1 epoch (< 60 s)
    .venv/bin/python bench/curve_overhead.py --json bench/out/curve_overhead.json
    .venv/bin/python bench/curve_overhead.py --profile    # + cProfile of LiveCurve's path
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _kernel import Execution, IopubMsg, Kernel

CONFIGS = ("bare", "livecurve", "fastai")
LABELS = {
    "bare": "bare fastai fit",
    "livecurve": "+ LiveCurve",
    "fastai": "fastai Progress+ShowGraph",
    "fixed": "+ LiveCurve, suggested fix",
}
OVERHEAD_TARGET = 1.03
MSG_RATE_TARGET = 10.0
JUPYTER_IOPUB_LIMIT = 1000.0

# Runs once in the kernel.  The data is generated (no download) and pre-batched, so a
# step costs what fastai's loop costs, not per-item collation: ~1 ms on one CPU thread.
SETUP = """
import gc, json, os, time
import torch
from torch import nn
torch.set_num_threads(1)
get_ipython().run_line_magic("matplotlib", "inline")
import fastai.callback.all  # noqa: F401 - patches no_bar, ShowGraphCallback, ...
from fastai.callback.progress import ShowGraphCallback
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.metrics import accuracy
from fastwidgets import LiveCurve

_BS, _HIDDEN = {bs}, {hidden}
_g = torch.Generator().manual_seed(0)
_x = torch.randn(_BS * ({train_batches} + {valid_batches}), 64, generator=_g)
_noise = 0.5 * torch.randn(len(_x), 10, generator=_g)
_y = (_x @ torch.randn(64, 10, generator=_g) + _noise).argmax(1)
_batches = [(_x[i:i + _BS], _y[i:i + _BS]) for i in range(0, len(_x), _BS)]
_train, _valid = _batches[:{train_batches}], _batches[{train_batches}:]

def _learner():
    torch.manual_seed(0)
    dls = DataLoaders(DataLoader(_train, bs=None, shuffle=True),
                      DataLoader(_valid, bs=None), device="cpu")
    model = nn.Sequential(nn.Linear(64, _HIDDEN), nn.ReLU(), nn.Linear(_HIDDEN, 10))
    return Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=accuracy)

# A sketch of the fix suggested by the profile (bench only; src/ is untouched): the
# proxy forwards only the events the adapter handles, straight to its methods (fastai's
# Callback.__call__ costs ~7 us per event, mostly a failing getattr chain through
# GetAttr -> Learner -> nn.Module), and the step counter skips fastai's
# Callback.__setattr__ (whose hasattr(learn, "step") costs another failing chain).
from fastwidgets.integrations import fastai as _fw_fastai
_Adapter = _fw_fastai._live_curve_callback_class()

class _FixedAdapter(_Adapter):
    def after_batch(self):
        if not (self.active and self.learn.training):
            return
        hypers = self.learn.opt.hypers[-1]
        values = {{"train_loss": self.learn.loss, "lr": hypers["lr"]}}
        if "mom" in hypers:
            values["mom"] = hypers["mom"]
        d = self.__dict__
        self.curve.log(d["step"], **values)
        d["step"] += 1

class _FixedCurve(LiveCurve):
    _EVENTS = frozenset(("before_fit", "after_batch", "after_epoch", "after_fit",
                         "after_cancel_fit"))
    def _fastai_adapter(self):
        if self._adapter_instance is None:
            self._adapter_instance = _FixedAdapter(self)
        return self._adapter_instance
    def __call__(self, event_name):
        if event_name in self._EVENTS:
            return getattr(self._fastai_adapter(), event_name)()
        return None

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
                curve = LiveCurve() if config == "livecurve" else _FixedCurve()
                out["construct_seconds"] = time.perf_counter() - p0
                learn.fit(epochs, cbs=curve)
                p1, t1 = time.perf_counter(), time.time()
                out["comm_id"] = curve.comm.comm_id
                out["points"] = {{s.name: len(s) for s in curve._stream}}
    out.update(t0=t0, t1=t1, seconds=p1 - p0, cpu_seconds=time.process_time() - c0,
               load1=os.getloadavg()[0], steps=epochs * len(learn.dls.train),
               valid_steps=epochs * len(learn.dls.valid))
    return out
"""

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

# Per-batch cost of each part of LiveCurve's path, timed in the kernel outside fastai's
# loop (the profiler inflates small functions; this does not).
MICRO = """
import timeit
_learn = _learner()
_curve = LiveCurve()
with _learn.no_bar():
    _learn.fit(1, cbs=_curve)          # a real fit, so the widget is live and displayed
_cb = _curve._fastai_adapter()
_cb.learn, _cb.active = _learn, True
_fixed = _FixedCurve()
_fcb = _fixed._fastai_adapter()
_fcb.learn, _fcb.active = _learn, True
_learn.training = True
_learn.loss = torch.tensor(0.5)
_n = 20000
def _per(stmt):
    best = min(timeit.repeat(stmt, number=_n, repeat=5, globals=globals()))
    return best / _n * 1e6
_events = ["before_batch", "after_pred", "after_loss", "before_backward", "after_backward",
           "before_step", "after_step", "after_batch"]
_micro = {{
  "proxy call, one no-op event (e.g. before_batch)": _per("_curve('before_batch')"),
  "adapter call, one no-op event (no proxy)": _per("_cb('before_batch')"),
  "events per training batch": len(_events),
  "proxy after_batch (log + stream)": _per("_curve('after_batch')"),
  "adapter.after_batch() body": _per("_cb.after_batch()"),
  "LiveCurve.log(step, 3 floats)": _per("_curve.log(1e9, train_loss=0.5, lr=1e-3, mom=0.9)"),
  "float(loss tensor)": _per("float(_learn.loss)"),
  "opt.hypers[-1] lookup": _per("_learn.opt.hypers[-1]"),
  "self.series_meta read (traitlets)": _per("_curve.series_meta"),
  "stream.append_row (3 series)":
      _per("_curve._stream.append_row(1e9, {{'train_loss': 0.5, 'lr': 1e-3, 'mom': 0.9}})"),
  "Throttle.ready()": _per("_curve._stream._throttle.ready()"),
  "learn.cbs.sorted('order') (once per event, all cbs)": _per("_learn.cbs.sorted('order')"),
  "adapter self.step += 1 (fastai Callback.__setattr__)": _per("_cb.step += 1"),
  "same, through __dict__": _per("_cb.__dict__['step'] += 1"),
  "getattr(cb, 'training') (fastai GetAttr -> learn)": _per("getattr(_cb, 'training', True)"),
  "fixed proxy, one no-op event": _per("_fixed('before_batch')"),
  "fixed proxy after_batch (log + stream)": _per("_fixed('after_batch')"),
  "LiveCurve() construction (comm_open with the bundle)":
      min(timeit.repeat("LiveCurve()", number=1, repeat=5, globals=globals())) * 1e6,
}}
_curve._stream.enabled = _fixed._stream.enabled = False  # stop sending the test points
"""


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def _flag(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _widget_msgs(ex: Execution, comm_id: str, t0: float, t1: float) -> list[IopubMsg]:
    return [m for m in ex.between(t0, t1 + 0.5) if m.comm_id == comm_id]


def _max_window_rate(times: list[float], window: float = 1.0) -> int:
    """The most messages inside any ``window``-second span."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] > window:
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
    """P2 figures for one LiveCurve fit."""
    t0, t1, seconds = fit["t0"], fit["t1"], fit["seconds"]
    during = ex.between(t0, t1)
    mine = _widget_msgs(ex, fit["comm_id"], t0, t1)
    msgs = [m for m in mine if m.msg_type == "comm_msg"]
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
        "fit_seconds": seconds,
        "widget_msgs": len(msgs),
        "widget_msgs_per_s": len(msgs) / seconds,
        "widget_max_msgs_in_1s": _max_window_rate(sorted(m.sent for m in msgs)),
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
            "median": _median(bpp),
            "max": max(bpp, default=float("nan")),
        },
        "buffer_fit": {"slope": slope, "intercept": intercept, "r": r},
        "wire_fit": {"slope": wslope, "intercept": wintercept, "r": wr},
        "delta_wire_bytes": {
            "min": min(sizes, default=0),
            "median": _median(sizes),
            "max": max(sizes, default=0),
        },
        "iopub_msgs": len(during),
        "iopub_msgs_per_s": len(during) / seconds,
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
    during = ex.between(fit["t0"], fit["t1"])
    return {
        "msgs": len(during),
        "msgs_per_s": len(during) / fit["seconds"],
        "max_in_1s": _max_window_rate(sorted(m.sent for m in during)),
        "bytes": sum(m.size for m in during),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    epochs = args.epochs
    setup = SETUP.format(
        bs=args.bs, hidden=args.hidden, train_batches=args.batches, valid_batches=args.valid_batches
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
        },
        "fits": [],
    }
    configs = CONFIGS + (("fixed",) if args.try_fix else ())
    results["params"]["configs"] = list(configs)
    t_start = time.time()
    with Kernel(startup_timeout=args.timeout) as k:
        k.run(setup, timeout=args.timeout)
        info = k.eval(
            "{'python': __import__('sys').executable, "
            "'torch': torch.__version__, 'threads': torch.get_num_threads(), "
            "'fastai': __import__('fastai').__version__, "
            "'backend': __import__('matplotlib').get_backend()}"
        )
        results["kernel"] = info
        print(
            f"kernel: {info['python']}  torch {info['torch']} ({info['threads']} thread), "
            f"fastai {info['fastai']}, matplotlib {info['backend']}",
            flush=True,
        )

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

        if args.profile:
            ex = k.run(
                MICRO.format(), timeout=args.timeout, user_expressions={"m": "json.dumps(_micro)"}
            )
            results["micro_us"] = json.loads(ex.user_expression("m"))
            ex = k.run(PROFILE.format(epochs=epochs), timeout=args.timeout)
            results["profile"] = ex.stdout

    med = {c: _median(times[c]) for c in configs}
    cpu = {c: [f["cpu_seconds"] for f in results["fits"] if f["config"] == c] for c in configs}
    cpu_med = {c: _median(cpu[c]) for c in configs}
    by_round: dict[int, dict[str, float]] = {}
    for f in results["fits"]:
        by_round.setdefault(f["round"], {})[f["config"]] = f["seconds"]
    paired = {c: _median([rd[c] / rd["bare"] for rd in by_round.values()]) for c in configs}
    bare = times["bare"]
    results["p1"] = {
        "median_seconds": med,
        "all_seconds": times,
        "construct_seconds": _median(
            [f["construct_seconds"] for f in results["fits"] if f["config"] == "livecurve"]
        ),
        "ratio_vs_bare": {c: med[c] / med["bare"] for c in configs},
        "median_cpu_seconds": cpu_med,
        "cpu_ratio_vs_bare": {c: cpu_med[c] / cpu_med["bare"] for c in configs},
        "paired_ratio_median": paired,
        "min_ratio_vs_bare": {c: min(times[c]) / min(bare) for c in configs},
        "bare_spread": max(bare) / min(bare),
        "load1": [f["load1"] for f in results["fits"]],
        "steps": steps,
        "ms_per_step_bare": med["bare"] / steps * 1e3,
        "overhead_ms_per_step": (med["livecurve"] - med["bare"]) / steps * 1e3,
    }
    results["p1"]["pass_overhead"] = results["p1"]["ratio_vs_bare"]["livecurve"] <= OVERHEAD_TARGET
    results["p1"]["pass_below_fastai"] = med["livecurve"] < med["fastai"]
    rates = [p["widget_msgs_per_s"] for p in p2]
    bpp = [b for p in p2 for b in (p["bytes_per_point"]["min"], p["bytes_per_point"]["max"])]
    results["p2"] = {
        "per_fit": p2,
        "widget_msgs_per_s_median": _median(rates),
        "widget_msgs_per_s_max": max(rates),
        "bytes_per_point_min": min(bpp),
        "bytes_per_point_median": _median([p["bytes_per_point"]["median"] for p in p2]),
        "bytes_per_point_max": max(bpp),
        "iopub_msgs_per_s": {c: _median([s["msgs_per_s"] for s in iopub[c]]) for c in configs},
        "iopub_max_in_1s": {c: max(s["max_in_1s"] for s in iopub[c]) for c in configs},
        "iopub_bytes_per_fit": {c: _median([s["bytes"] for s in iopub[c]]) for c in configs},
    }
    results["p2"]["pass_rate"] = results["p2"]["widget_msgs_per_s_max"] <= MSG_RATE_TARGET
    results["p2"]["pass_bytes"] = (
        results["p2"]["bytes_per_point_min"] == 16.0 == results["p2"]["bytes_per_point_max"]
    )
    results["p2"]["complete"] = all(p["complete"] for p in p2)
    results["wall_seconds"] = time.time() - t_start
    return results


def report(res: dict[str, Any]) -> str:
    p1, p2, prm = res["p1"], res["p2"], res["params"]
    med, ratio = p1["median_seconds"], p1["ratio_vs_bare"]
    lines = [
        f"P1 training overhead (median of {prm['rounds']}, {prm['epochs']} epochs, "
        f"{p1['steps']} steps, ~{p1['ms_per_step_bare']:.2f} ms/step incl. validation)",
        f"  {LABELS['bare']:<27}{med['bare']:7.2f} s   {ratio['bare']:.3f}x",
        f"  {LABELS['livecurve']:<27}{med['livecurve']:7.2f} s   {ratio['livecurve']:.3f}x"
        f"   target <= {OVERHEAD_TARGET:.2f}x  {_flag(p1['pass_overhead'])}"
        f"   ({p1['overhead_ms_per_step'] * 1e3:+.0f} us/step)",
        f"  {LABELS['fastai']:<27}{med['fastai']:7.2f} s   {ratio['fastai']:.3f}x"
        f"   LiveCurve below fastai's own: {_flag(p1['pass_below_fastai'])}",
    ]
    if "fixed" in med:
        lines.append(
            f"  {LABELS['fixed']:<27}{med['fixed']:7.2f} s   {ratio['fixed']:.3f}x"
            f"   (bench-only sketch, not in src/)"
        )
    cr, pr, mr = p1["cpu_ratio_vs_bare"], p1["paired_ratio_median"], p1["min_ratio_vs_bare"]
    lines.append(
        "  cross-checks vs bare:        "
        + "   ".join(
            f"{c} cpu {cr[c]:.3f}x / paired {pr[c]:.3f}x / best {mr[c]:.3f}x"
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
    lines += [
        f"  LiveCurve() construction + comm_open (inside the timed fit): "
        f"{p1['construct_seconds'] * 1e3:.1f} ms",
        "  all runs (s): "
        + "; ".join(f"{c} " + " ".join(f"{t:.2f}" for t in p1["all_seconds"][c]) for c in med),
        "P2 messages during the LiveCurve fit",
    ]
    last = p2["per_fit"][-1]
    lines += [
        f"  widget messages/s        {p2['widget_msgs_per_s_median']:5.1f}   (max of runs "
        f"{p2['widget_msgs_per_s_max']:.1f})   target <= {MSG_RATE_TARGET:.0f}  "
        f"{_flag(p2['pass_rate'])}",
        f"    last fit: {last['widget_msgs']} msgs in {last['fit_seconds']:.2f} s = "
        f"{last['deltas']} deltas + {last['updates']} trait updates "
        f"({', '.join(last['update_traits'])}); busiest 1 s: {last['widget_max_msgs_in_1s']}",
        f"  bytes per point per series  {p2['bytes_per_point_median']:.1f} "
        f"(min {p2['bytes_per_point_min']:.1f}, max {p2['bytes_per_point_max']:.1f})  "
        f"O(new points): {_flag(p2['pass_bytes'])}",
        f"    buffer bytes = {last['buffer_fit']['slope']:.2f} x points "
        f"{last['buffer_fit']['intercept']:+.1f}  (r = {last['buffer_fit']['r']:.4f}, "
        f"{len(last['delta_points'])} deltas, {min(last['delta_points'], default=0)}-"
        f"{max(last['delta_points'], default=0)} points each)",
        f"    whole message  = {last['wire_fit']['slope']:.2f} x points "
        f"{last['wire_fit']['intercept']:+.0f} bytes of JSON header/envelope",
        f"  stream complete (contiguous starts, all points sent): {_flag(p2['complete'])}",
        f"  kernel iopub messages/s during the fit (all types), vs Jupyter's "
        f"{JUPYTER_IOPUB_LIMIT:.0f}/s limit:",
    ]
    for c in p2["iopub_msgs_per_s"]:
        lines.append(
            f"    {LABELS[c]:<27}{p2['iopub_msgs_per_s'][c]:6.1f}/s  busiest 1 s: "
            f"{p2['iopub_max_in_1s'][c]:3d}   {p2['iopub_bytes_per_fit'][c] / 1024:8.1f} KiB/fit"
        )
    lines.append(f"    LiveCurve fit by type: {last['iopub_by_type']}")
    if "micro_us" in res:
        lines.append("Per-batch costs in the kernel (timeit, us per call)")
        for name, us in res["micro_us"].items():
            lines.append(f"  {name:<52}{us:8.2f}")
        mu = list(res["micro_us"].values())
        events = int(mu[2])
        now = (events - 1) * mu[0] + mu[3]  # no-op events + after_batch, through the proxy
        fixed = (events - 1) * mu[-3] + mu[-2]
        best_step = min(p1["all_seconds"]["bare"]) / p1["steps"] * 1e6
        lines.append(
            f"  => per training step: LiveCurve {now:.0f} us = {now / best_step:.1%} of the best "
            f"bare step ({best_step:.0f} us); with the suggested fix {fixed:.0f} us = "
            f"{fixed / best_step:.1%}"
        )
        res["p1"]["estimated_overhead_from_micro"] = {
            "us_per_step": now,
            "fraction": now / best_step,
            "fixed_us_per_step": fixed,
            "fixed_fraction": fixed / best_step,
        }
    lines.append(f"(total wall time {res['wall_seconds']:.0f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="1 round of 1 epoch (smoke run)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batches", type=int, default=1000, help="training batches per epoch")
    ap.add_argument("--valid-batches", type=int, default=16)
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per kernel wait")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also time LiveCurve's per-batch parts and cProfile one fit",
    )
    ap.add_argument(
        "--try-fix",
        action="store_true",
        help="add config (d): LiveCurve with the suggested per-batch fix",
    )
    ap.add_argument("--json", type=Path, help="write every figure to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.epochs = 1, 1
    res = run(args)
    print(report(res))
    if args.profile:
        print(textwrap.indent(res["profile"], "  "))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
