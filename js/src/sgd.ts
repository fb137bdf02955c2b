/**
 * SGDPlayground: the lesson's line fit by gradient descent, computed by torch in the
 * kernel and animated here at display rate. Three linked views of the step shown: the
 * data with each run's fitted line, the loss per step, and the loss surface's contour
 * (drawn here from `quad` as an image under the plot, core/surface.ts) with the
 * trajectories, the minimum and the start point (click or drag to move it) on a canvas
 * over it (core/trajcanvas.ts).
 *
 * Series (streaming core, one reset per recompute): "data" (x, y), and per run K
 * "rK:a1", "rK:a2", "rK:loss" with x = step.
 *
 * Choices: on the data and loss views, what changes per animation frame (fitted lines,
 * current-step markers) is a layout shape, so a frame makes plotly redraw shapes only,
 * never recompute traces; the contour's frame is a canvas redraw. New data restarts a playing animation at step 0 and
 * shows the last step when paused (core/animation.ts). Hovering a trajectory or loss
 * point seeks to its step (and pauses), as the step slider does.
 */
import type { AnyModel, Initialize, Render } from "@anywidget/types";
import Plotly from "plotly.js-basic-dist-min";
import type { Data, Layout, PlotHoverEvent, PlotlyHTMLElement, Shape } from "plotly.js";
import { Player } from "./core/animation";
import { el } from "./core/dom";
import { isolateKeys } from "./core/keys";
import { axisValueAt, dragOnPlot, fullLayout, type PlotDragHandle } from "./core/pick";
import { FrameScheduler, injectStyle, PALETTE, PLOT_CONFIG, themeColors, type Theme } from "./core/plot";
import {
  contourBox, lossRange, paddedRange, parsePoint, parseQuad, snap, steadyBox, type Box, type Point, type Quad,
} from "./core/quadratic";
import {
  formatLimit, formatNumber, lrToSlider, LR_LOG_RANGE, MAX_RUNS, nextCompare, OPTIMIZERS, parseBatch, parseCompare,
  parseLr, parseMomentum, parseN, parseNoiseScale, parseSeed, parseSteps, sliderFraction, sliderToLr,
  type CompareRun, type Optimizer, type Parsed,
} from "./core/sgdform";
import type { SeriesStore } from "./core/store";
import { surfaceDataUrl } from "./core/surface";
import { Throttle } from "./core/throttle";
import { drawScene, nearestPoint, toPixel, type Scene } from "./core/trajcanvas";
import { attachStream, Disposer, redrawOn, streamStore, type StreamTraits } from "./core/widget";

interface RunInfo {
  key: string;
  optimizer: string;
  lr: number;
  momentum: number;
  diverged_at: number | null;
  label: string;
}

interface SGDTraits extends StreamTraits {
  lr: number;
  momentum: number;
  optimizer: Optimizer;
  batch_size: number | null;
  steps: number;
  n: number;
  noise: "uniform" | "normal";
  noise_scale: number | null;
  seed: number;
  start: number[];
  compare: CompareRun[];
  show_code: boolean;
  code: string;
  stability: number;
  minimum: number[];
  quad: unknown;
  runs: RunInfo[];
  message: string;
  user_data: boolean;
}

type Model = AnyModel<SGDTraits>;

/** One run's data, copied out of the store once per new data (stable arrays for plotly's diff). */
interface RunData {
  key: string;
  color: string;
  label: string;
  divergedAt: number | null;
  steps: Float64Array;
  a1: Float64Array;
  a2: Float64Array;
  lossSteps: Float64Array;
  loss: Float64Array;
}

/** Traits the plots show: a change redraws. */
const PLOT_TRAITS = ["start", "minimum", "quad", "runs"] as const;
/** Traits only the controls show: a change updates them, no redraw (a recompute sends several at once). */
const CONTROL_TRAITS = [
  "lr", "momentum", "optimizer", "batch_size", "steps", "n", "noise", "noise_scale", "seed",
  "compare", "show_code", "code", "stability", "message", "user_data",
] as const;
const OPTIMIZER_LABELS: Record<Optimizer, string> = { sgd: "SGD", momentum: "SGD + momentum", adam: "Adam" };
const SPEEDS = [5, 10, 25, 50, 100, 250, 1000];
const DEFAULT_SPEED = 25;
/** Sends while dragging (lr, start) go out at most this often; the release always sends. */
const SEND_MS = 50;
/** The surface image's pixels per CSS pixel, at most (a retina screen's 2). */
const MAX_PIXEL_RATIO = 2;
/** Trajectories longer than this are drawn without a marker per step. */
const MAX_MARKERS = 500;
const MARGIN = { l: 52, r: 12, t: 28, b: 40 };
const NOISE_DEFAULT = { uniform: "1.0", normal: "0.25" };
/** A press on the contour moves the start point, so its modebar offers no zoom or pan. */
const CONTOUR_CONFIG = {
  ...PLOT_CONFIG,
  modeBarButtonsToRemove: [...(PLOT_CONFIG.modeBarButtonsToRemove ?? []), "zoom2d", "pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d", "resetScale2d"],
} as typeof PLOT_CONFIG;

const CSS = `
.fw-sgd { font: 12px var(--jp-ui-font-family, system-ui, sans-serif); color: var(--jp-ui-font-color1, #333); }
.fw-sgd .fw-row { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px; padding: 3px 4px; }
.fw-sgd label { display: inline-flex; align-items: center; gap: 4px; }
.fw-sgd input[type=text] { font: inherit; width: 4.5em; padding: 1px 3px; color: inherit; background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #bbb); border-radius: 3px; }
.fw-sgd input.fw-invalid { border-color: #d62728; box-shadow: 0 0 0 1px #d62728; }
.fw-sgd select, .fw-sgd button { font: inherit; color: inherit; background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #bbb); border-radius: 3px; padding: 1px 6px; }
.fw-sgd button { cursor: pointer; }
.fw-sgd button:hover:not(:disabled) { background: var(--jp-layout-color2, #eee); }
.fw-sgd :disabled, .fw-sgd .fw-unused { opacity: 0.5; }
.fw-sgd .fw-swatch { width: 12px; height: 12px; border-radius: 2px; flex: none; }
.fw-sgd .fw-lr-wrap { position: relative; display: inline-block; width: 200px; height: 20px; }
.fw-sgd .fw-lr-wrap input[type=range] { width: 100%; margin: 0; position: relative; z-index: 1; }
.fw-sgd .fw-unstable { position: absolute; right: 8px; bottom: 0; height: 3px; background: rgba(214,39,40,0.55); border-radius: 1px; }
.fw-sgd .fw-stability-tick { position: absolute; top: -2px; bottom: -2px; width: 0; border-left: 2px solid #d62728; }
.fw-sgd .fw-stability { color: #b22222; white-space: nowrap; }
.fw-sgd .fw-step-slider { width: 220px; }
.fw-sgd .fw-step-label { font-variant-numeric: tabular-nums; min-width: 7em; }
.fw-sgd .fw-message { margin: 4px; padding: 5px 8px; border-radius: 3px; font-weight: 600;
  background: rgba(214,39,40,0.12); border-left: 4px solid #d62728; }
.fw-sgd .fw-legend { display: flex; flex-wrap: wrap; gap: 2px 14px; padding: 2px 4px; }
.fw-sgd .fw-legend span { display: inline-flex; align-items: center; gap: 5px; }
.fw-sgd .fw-plots { display: flex; flex-wrap: wrap; gap: 8px; }
.fw-sgd .fw-contour-wrap { position: relative; }
.fw-sgd .fw-contour { cursor: crosshair; }
.fw-sgd .fw-traj { position: absolute; pointer-events: none; }
.fw-sgd .fw-tip { position: absolute; pointer-events: none; white-space: nowrap; padding: 2px 6px; border-radius: 3px;
  background: var(--jp-layout-color0, #fff); border: 1px solid; font-size: 11px; transform: translate(10px, -50%); }
.fw-sgd .fw-contour .modebar { cursor: default; }
.fw-sgd .fw-code { font: 12px var(--jp-code-font-family, monospace); margin: 4px; padding: 6px 8px; border-radius: 3px;
  background: var(--jp-layout-color2, #f3f3f3); white-space: pre; overflow-x: auto; }
`;

const num = (v: unknown, fallback: number): number => (typeof v === "number" && Number.isFinite(v) ? v : fallback);

/** CSS left of fraction `f` along a range input: its thumb (~16 px) keeps 8 px from each end. */
const alongSlider = (f: number) => `calc(8px + ${f} * (100% - 16px))`;

/** An lr slider on a log scale (value = log10 lr) with the stability limit marked on it. */
class LrSlider {
  readonly slider: HTMLInputElement;
  private readonly tick: HTMLSpanElement;
  private readonly unstable: HTMLSpanElement;

  /** `send(lr, final)`: while dragging (throttled by the caller), and on release. */
  constructor(parent: HTMLElement, cls: string, send: (lr: number, final: boolean) => void) {
    const wrap = el("span", "fw-lr-wrap", parent);
    this.unstable = el("span", "fw-unstable", wrap);
    this.tick = el("span", "fw-stability-tick", wrap);
    this.slider = el("input", cls, wrap);
    Object.assign(this.slider, { type: "range", min: String(LR_LOG_RANGE[0]), max: String(LR_LOG_RANGE[1]), step: "0.01" });
    this.slider.title = "learning rate (log scale, 1e-3 … 10)";
    this.slider.addEventListener("input", () => send(sliderToLr(Number(this.slider.value)), false));
    this.slider.addEventListener("change", () => send(sliderToLr(Number(this.slider.value)), true));
  }

  set(lr: number, stability: unknown): void {
    this.slider.value = String(lrToSlider(lr));
    const f = sliderFraction(stability);
    this.tick.hidden = this.unstable.hidden = f === null;
    if (f !== null) {
      this.tick.style.left = alongSlider(f);
      this.unstable.style.left = alongSlider(f);
      this.tick.title = `stability limit 2/λmax ≈ ${formatLimit(stability as number)}: plain SGD diverges above it`;
    }
  }
}

interface CompareControls {
  optimizer: HTMLSelectElement;
  lr: LrSlider;
  lrValue: HTMLInputElement;
  momentum: HTMLInputElement;
}

interface Traces {
  key: string;
  scatter: Data[];
  loss: Data[];
}

/** One rendered view; several may show the same model (they share its store). */
class SGDView {
  private readonly store: SeriesStore;
  private readonly d = new Disposer();
  private readonly scheduler = new FrameScheduler(() => this.draw());
  private readonly player = new Player(DEFAULT_SPEED);
  private readonly send: Throttle;
  private readonly root: HTMLDivElement;
  private readonly messageEl: HTMLDivElement;
  private readonly lr: LrSlider;
  private readonly lrValue: HTMLInputElement;
  private readonly stabilityEl: HTMLSpanElement;
  private readonly optimizer: HTMLSelectElement;
  private readonly momentum: HTMLInputElement;
  private readonly compareRows: HTMLDivElement;
  private readonly compareAdd: HTMLButtonElement;
  private readonly batch: HTMLInputElement;
  private readonly steps: HTMLInputElement;
  private readonly n: HTMLInputElement;
  private readonly noise: HTMLSelectElement;
  private readonly noiseScale: HTMLInputElement;
  private readonly seed: HTMLInputElement;
  private readonly stepSlider: HTMLInputElement;
  private readonly stepLabel: HTMLSpanElement;
  private readonly logY: HTMLInputElement;
  private readonly showCode: HTMLInputElement;
  private readonly code: HTMLPreElement;
  private readonly legend: HTMLDivElement;
  private readonly scatter: HTMLDivElement;
  private readonly loss: HTMLDivElement;
  private readonly contour: HTMLDivElement;
  /** Over the contour's plot area: trajectories, minimum, current steps, start handle. */
  private readonly trajCanvas: HTMLCanvasElement;
  private readonly tip: HTMLDivElement;
  /** What the canvas shows (also what hover searches). */
  private scene: Scene | null = null;
  /** The contour's layout as last handed to plotly: unchanged, plotly is not called. */
  private contourKey = "";
  private compareControls: CompareControls[] = [];
  /** A local refusal of a typed value, shown instead of Python's message until that field changes. */
  private local: { input: HTMLInputElement; message: string } | null = null;
  private runs: RunData[] = [];
  private dataVersion = -1;
  /** The `runs` trait the runs were last labelled from. */
  private runsKey = "";
  /** Bumped by every loadRuns: the traces' arrays are new. */
  private loads = 0;
  private points: { x: Float64Array; y: Float64Array; xr: [number, number]; yr: [number, number] } = {
    x: new Float64Array(0), y: new Float64Array(0), xr: [-1, 1], yr: [-1, 1],
  };
  private traces: Traces | null = null;
  /** The surface image and what it was drawn for (surface, box, size). */
  private surface: { key: string; url: string } | null = null;
  private box: Box | null = null;
  private startDrag: PlotDragHandle | null = null;
  /** The start point is being dragged on the contour. */
  private get dragging(): boolean {
    return this.startDrag?.dragging ?? false;
  }
  /** A draw was asked for by something other than the animation clock. */
  private dirty = true;
  /** Asks for a draw: something other than the animation clock changed. */
  private readonly redraw = (): void => {
    this.dirty = true;
    this.scheduler.request();
  };
  private legendKey = "";
  private readonly hooked = new WeakSet<HTMLElement>();
  private drawn = 0;
  private width = 0;
  private destroyed = false;

  constructor(private readonly model: Model, host: HTMLElement) {
    injectStyle("fw-sgd-style", CSS);
    this.store = streamStore(model);
    this.send = new Throttle(() => model.save_changes(), SEND_MS);
    this.d.add(() => this.send.flush());
    const root = (this.root = el("div", "fw-root fw-sgd", host));
    root.dataset.fwWidget = "sgd";
    this.d.add(isolateKeys(root));

    this.messageEl = el("div", "fw-message", root);
    this.messageEl.setAttribute("role", "status");

    // the main run: lr, optimizer, β
    const main = el("div", "fw-row fw-run", root);
    el("span", "fw-swatch", main).style.background = PALETTE[0];
    main.append("lr");
    this.lr = new LrSlider(main, "fw-lr", (lr, final) => this.setTrait("lr", lr, final));
    this.lrValue = this.textField(main, "", "fw-lr-value", parseLr, (v) => this.setTrait("lr", v));
    this.lrValue.title = "learning rate: type a value and press Enter";
    this.stabilityEl = el("span", "fw-stability", main);
    this.optimizer = this.optimizerSelect(main, "fw-optimizer");
    this.optimizer.addEventListener("change", () => this.setTrait("optimizer", this.optimizer.value as Optimizer));
    this.momentum = this.textField(main, "β", "fw-momentum", parseMomentum, (v) => this.setTrait("momentum", v));
    this.momentum.title = "momentum β (used by SGD + momentum)";

    this.compareRows = el("div", "fw-compare-rows", root);
    const addRow = el("div", "fw-row", root);
    this.compareAdd = el("button", "fw-compare-add", addRow);
    this.compareAdd.textContent = "+ compare";
    this.compareAdd.title = `run another optimizer or lr side by side (up to ${MAX_RUNS} runs)`;
    this.compareAdd.addEventListener("click", () => {
      const compare = parseCompare(model.get("compare"));
      if (compare.length >= MAX_RUNS - 1) return;
      const next = nextCompare(this.optimizer.value as Optimizer, compare, num(model.get("lr"), 0.1), num(model.get("momentum"), 0.9));
      this.setTrait("compare", [...compare, next]);
    });

    // the data and the loop
    const data = el("div", "fw-row fw-settings", root);
    this.batch = this.textField(data, "batch size", "fw-batch", (t) => parseBatch(t, num(model.get("n"), Infinity)), (v) => this.setTrait("batch_size", v));
    this.batch.placeholder = "full";
    this.steps = this.textField(data, "steps", "fw-steps", parseSteps, (v) => this.setTrait("steps", v));
    this.n = this.textField(data, "n", "fw-n", (t) => parseN(t, this.batchSize()), (v) => this.setTrait("n", v));
    const noiseLabel = el("label", "", data);
    noiseLabel.append("noise");
    this.noise = el("select", "fw-noise", noiseLabel);
    for (const kind of ["uniform", "normal"]) el("option", "", this.noise).textContent = kind;
    this.noise.addEventListener("change", () => this.setTrait("noise", this.noise.value as "uniform" | "normal"));
    this.noiseScale = this.textField(data, "scale", "fw-noise-scale", parseNoiseScale, (v) => this.setTrait("noise_scale", v));
    this.seed = this.textField(data, "seed", "fw-seed", parseSeed, (v) => this.setTrait("seed", v));

    // the player and the view options
    const play = el("div", "fw-row fw-player", root);
    const button = (cls: string, text: string, title: string, fn: () => void) => {
      const b = el("button", cls, play);
      b.textContent = text;
      b.title = title;
      b.addEventListener("click", () => {
        fn();
        this.redraw();
      });
    };
    button("fw-play", "▶ play", "play the steps", () => this.player.play());
    button("fw-pause", "❚❚ pause", "pause", () => this.player.pause());
    button("fw-step", "step ›", "one step forward", () => this.player.stepOnce());
    button("fw-reset", "⟲ reset", "back to step 0", () => this.player.reset());
    const speedLabel = el("label", "", play);
    const speed = el("select", "fw-speed", speedLabel);
    for (const s of SPEEDS) {
      const o = el("option", "", speed);
      o.value = String(s);
      o.textContent = `${s} steps/s`;
    }
    speed.value = String(DEFAULT_SPEED);
    speed.title = "animation speed";
    speed.addEventListener("change", () => (this.player.speed = Number(speed.value)));
    this.stepSlider = el("input", "fw-step-slider", play);
    Object.assign(this.stepSlider, { type: "range", min: "0", max: "0", step: "1", value: "0" });
    this.stepSlider.title = "the step shown";
    this.stepSlider.addEventListener("input", () => {
      this.player.seek(Number(this.stepSlider.value));
      this.redraw();
    });
    this.stepLabel = el("span", "fw-step-label", play);
    this.logY = this.checkbox(play, "log loss", "fw-logy", this.redraw);
    this.showCode = this.checkbox(play, "show code", "fw-show-code", () => this.setTrait("show_code", this.showCode.checked));

    this.legend = el("div", "fw-legend", root);
    const plots = el("div", "fw-plots", root);
    this.scatter = el("div", "fw-plot fw-scatter", plots);
    this.loss = el("div", "fw-plot fw-loss", plots);
    const wrap = el("div", "fw-contour-wrap", plots);
    this.contour = el("div", "fw-plot fw-contour", wrap);
    this.trajCanvas = el("canvas", "fw-traj", wrap);
    this.tip = el("div", "fw-tip", wrap);
    this.tip.hidden = true;
    this.code = el("pre", "fw-code", root);

    this.hookStartDrag();
    this.hookContourHover();
    redrawOn({
      model, store: this.store, root, d: this.d, redraw: this.redraw, traits: PLOT_TRAITS,
      onTraitChange: () => this.syncControls(), drawnWidth: () => this.width,
    });
    for (const trait of CONTROL_TRAITS) this.d.on(model, `change:${trait}`, () => this.syncControls());
    this.syncControls();
    this.redraw();
  }

  destroy(): void {
    this.destroyed = true;
    this.scheduler.dispose();
    this.d.dispose();
    for (const gd of [this.scatter, this.loss, this.contour]) Plotly.purge(gd);
  }

  /** Sets a trait locally (the views follow at once) and sends it: now, or throttled while dragging. */
  private setTrait<K extends keyof SGDTraits>(name: K, value: SGDTraits[K], now = true): void {
    this.model.set(name, value);
    if (now) this.send.flush(true);
    else this.send.call();
  }

  private batchSize(): number | null {
    const b = this.model.get("batch_size");
    return typeof b === "number" && Number.isFinite(b) ? b : null;
  }

  private optimizerSelect(parent: HTMLElement, cls: string): HTMLSelectElement {
    const select = el("select", cls, parent);
    for (const o of OPTIMIZERS) {
      const opt = el("option", "", select);
      opt.value = o;
      opt.textContent = OPTIMIZER_LABELS[o];
    }
    return select;
  }

  private checkbox(parent: HTMLElement, text: string, cls: string, fn: () => void): HTMLInputElement {
    const label = el("label", "", parent);
    const box = el("input", cls, label);
    box.type = "checkbox";
    label.append(text);
    box.addEventListener("change", fn);
    return box;
  }

  /** A text field checked locally on commit (Enter, blur): invalid values are refused here, never sent. */
  private textField<T>(parent: HTMLElement, text: string, cls: string, parse: (t: string) => Parsed<T>, commit: (v: T) => void): HTMLInputElement {
    const label = el("label", "", parent);
    label.append(text);
    const input = el("input", cls, label);
    input.type = "text";
    // typing marks the field as being edited (fill leaves it alone); a valid commit ends that
    input.addEventListener("input", () => (input.dataset.fwEditing = "true"));
    input.addEventListener("change", () => {
      const p = parse(input.value);
      if (!p.ok) return this.refuse(input, p.message);
      delete input.dataset.fwEditing;
      this.clearRefusal(input);
      commit(p.value);
    });
    return input;
  }

  private refuse(input: HTMLInputElement, message: string): void {
    input.classList.add("fw-invalid");
    input.setAttribute("aria-invalid", "true");
    this.local = { input, message };
    this.showMessage();
  }

  private clearRefusal(input: HTMLInputElement): void {
    input.classList.remove("fw-invalid");
    input.removeAttribute("aria-invalid");
    if (this.local?.input === input) this.local = null;
    this.showMessage();
  }

  private showMessage(): void {
    const text = this.local?.message || this.model.get("message") || "";
    this.messageEl.textContent = text;
    this.messageEl.hidden = !text;
  }

  /**
   * Writes a trait's value into a text field (a refused value Python restored included),
   * unless the user is typing in it: focused with text not committed yet.
   */
  private fill(input: HTMLInputElement, text: string): void {
    if (document.activeElement === input && input.dataset.fwEditing) return;
    delete input.dataset.fwEditing;
    input.value = text;
    this.clearRefusal(input);
  }

  /** Controls from the traits (text only: nothing from Python becomes HTML). */
  private syncControls(): void {
    const m = this.model;
    const stability = m.get("stability");
    const lr = num(m.get("lr"), 0.1);
    this.lr.set(lr, stability);
    this.fill(this.lrValue, formatNumber(lr, 4));
    const limit = typeof stability === "number" ? formatLimit(stability) : "";
    this.stabilityEl.textContent = limit ? `stable below ≈ ${limit}` : "";
    this.stabilityEl.title = "the stability limit 2/λmax of the loss's Hessian: plain SGD diverges above this lr";
    this.optimizer.value = m.get("optimizer") || "sgd";
    this.fill(this.momentum, formatNumber(num(m.get("momentum"), 0.9), 4));
    this.momentum.classList.toggle("fw-unused", this.optimizer.value !== "momentum");
    const batch = this.batchSize();
    this.fill(this.batch, batch === null ? "full" : String(batch));
    this.fill(this.steps, String(num(m.get("steps"), 100)));
    this.fill(this.n, String(num(m.get("n"), 100)));
    const noise = m.get("noise") === "normal" ? "normal" : "uniform";
    this.noise.value = noise;
    const scale = m.get("noise_scale");
    this.fill(this.noiseScale, typeof scale === "number" ? formatNumber(scale, 4) : "");
    this.noiseScale.placeholder = NOISE_DEFAULT[noise];
    this.fill(this.seed, String(num(m.get("seed"), 42)));
    const user = Boolean(m.get("user_data"));
    // the seed still draws the minibatches of the user's own data
    for (const c of [this.n, this.noise, this.noiseScale]) {
      c.disabled = user;
      c.title = user ? "fixed by your own x and y" : "";
    }
    this.showCode.checked = Boolean(m.get("show_code"));
    this.code.hidden = !this.showCode.checked;
    this.code.textContent = m.get("code") || "";
    this.syncCompare(stability);
    this.showMessage();
  }

  /** The compare rows: rebuilt when their number changes, values written every time. */
  private syncCompare(stability: unknown): void {
    const compare = parseCompare(this.model.get("compare"));
    this.compareAdd.disabled = compare.length >= MAX_RUNS - 1;
    if (this.compareControls.length !== compare.length) {
      this.compareRows.replaceChildren();
      this.compareControls = compare.map((_, i) => this.compareRow(i));
    }
    compare.forEach((c, i) => {
      const ctl = this.compareControls[i];
      ctl.optimizer.value = c.optimizer;
      ctl.lr.set(c.lr, stability);
      this.fill(ctl.lrValue, formatNumber(c.lr, 4));
      this.fill(ctl.momentum, formatNumber(c.momentum, 4));
      ctl.momentum.classList.toggle("fw-unused", c.optimizer !== "momentum");
    });
  }

  private compareRow(i: number): CompareControls {
    const row = el("div", "fw-row fw-compare", this.compareRows);
    el("span", "fw-swatch", row).style.background = PALETTE[(i + 1) % PALETTE.length];
    const edit = (patch: Partial<CompareRun>, now = true) => {
      const compare = parseCompare(this.model.get("compare"));
      if (!compare[i]) return;
      compare[i] = { ...compare[i], ...patch };
      this.setTrait("compare", compare, now);
    };
    const optimizer = this.optimizerSelect(row, "fw-compare-optimizer");
    optimizer.addEventListener("change", () => edit({ optimizer: optimizer.value as Optimizer }));
    row.append("lr");
    const lr = new LrSlider(row, "fw-compare-lr", (v, final) => edit({ lr: v }, final));
    const lrValue = this.textField(row, "", "fw-compare-lr-value", parseLr, (v) => edit({ lr: v }));
    const momentum = this.textField(row, "β", "fw-compare-momentum", parseMomentum, (v) => edit({ momentum: v }));
    momentum.title = "momentum β (used by SGD + momentum)";
    const remove = el("button", "fw-compare-remove", row);
    remove.textContent = "✕ remove";
    remove.title = "remove this run";
    remove.addEventListener("click", () => {
      const compare = parseCompare(this.model.get("compare"));
      compare.splice(i, 1);
      this.setTrait("compare", compare);
    });
    return { optimizer, lr, lrValue, momentum };
  }

  /**
   * Click or drag on the contour moves the start point: locally at once (the handle
   * follows the mouse), to Python at most every SEND_MS while dragging and on release.
   * The axes stay as they are during a drag, so the point under the mouse keeps its place.
   */
  private hookStartDrag(): void {
    const gd = this.contour;
    const at = (ev: MouseEvent): Point | null => {
      const a1 = axisValueAt(gd, "x", ev.clientX);
      const a2 = axisValueAt(gd, "y", ev.clientY);
      if (a1 === null || a2 === null || !this.box) return null;
      const span = Math.max(this.box.x[1] - this.box.x[0], this.box.y[1] - this.box.y[0]);
      return [snap(a1, span), snap(a2, span)];
    };
    const move = (ev: MouseEvent, now: boolean) => {
      const p = at(ev);
      if (p) this.setTrait("start", p, now);
    };
    this.startDrag = dragOnPlot(gd, { accept: (ev) => at(ev) !== null, move, stopPropagation: true }, this.d);
  }

  /** Hovering a loss point shows its step everywhere (the contour's hover: `hookContourHover`). */
  private hookLossHover(gd: PlotlyHTMLElement): void {
    if (this.hooked.has(gd)) return;
    this.hooked.add(gd);
    gd.on("plotly_hover", (ev: PlotHoverEvent) => {
      const p = ev.points?.[0];
      if (!p || this.dragging) return;
      const meta = (p.data as { meta?: unknown }).meta;
      const step = meta === "loss" ? Number(p.x) : NaN;
      if (!Number.isFinite(step) || step === this.player.step) return;
      this.player.seek(step);
      this.redraw();
    });
  }

  /** Runs and data points from the store (run order and labels from `runs`, else from the series names). */
  private loadRuns(): void {
    const info = new Map<string, RunInfo>();
    const traitRuns = this.model.get("runs");
    this.runsKey = JSON.stringify(traitRuns ?? null);
    for (const r of Array.isArray(traitRuns) ? traitRuns : []) if (r && typeof r.key === "string") info.set(r.key, r);
    const keys = info.size ? [...info.keys()] : this.store.series.map((s) => /^(r\d+):a1$/.exec(s.name)?.[1]).filter((k): k is string => !!k);
    this.runs = [];
    for (const key of keys) {
      const a1 = this.store.get(`${key}:a1`);
      const a2 = this.store.get(`${key}:a2`);
      const loss = this.store.get(`${key}:loss`);
      if (!a1 || !a2 || !a1.length) continue;
      const n = Math.min(a1.length, a2.length);
      const r = info.get(key);
      const k = Number(key.slice(1)) || 0;
      this.runs.push({
        key, color: PALETTE[k % PALETTE.length], label: r?.label || key,
        divergedAt: typeof r?.diverged_at === "number" ? r.diverged_at : null,
        steps: a1.x.slice(0, n), a1: a1.y.slice(0, n), a2: a2.y.slice(0, n),
        lossSteps: loss ? loss.x.slice(0, loss.length) : new Float64Array(0),
        loss: loss ? loss.y.slice(0, loss.length) : new Float64Array(0),
      });
    }
    // the data points stay the same objects while unchanged (an lr change), so plotly
    // finds nothing to recompute in the scatter
    const data = this.store.get("data");
    const x = data ? data.xs : new Float64Array(0);
    const y = data ? data.ys : new Float64Array(0);
    if (!sameValues(x, this.points.x) || !sameValues(y, this.points.y)) {
      this.points = { x: x.slice(), y: y.slice(), xr: paddedRange(x) ?? [-1, 1], yr: paddedRange(y, 0.1) ?? [-1, 1] };
    }
    this.loads++;
  }

  private renderLegend(): void {
    const items = this.runs.map((r) => [r.color, r.divergedAt === null ? r.label : `${r.label} · diverged at step ${r.divergedAt}`]);
    const key = JSON.stringify(items);
    if (key === this.legendKey) return;
    this.legendKey = key;
    this.legend.replaceChildren(...items.map(([color, text]) => {
      const item = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = "fw-swatch";
      swatch.style.background = color;
      item.append(swatch, text);
      return item;
    }));
  }

  private async draw(): Promise<void> {
    // new data: the store changed since the last draw (an empty store at the start is not data)
    const fresh = this.store.version !== this.dataVersion && (this.dataVersion !== -1 || !this.store.isEmpty);
    if (fresh) {
      this.dataVersion = this.store.version;
      this.loadRuns();
      this.player.load(Math.max(0, ...this.runs.map((r) => r.steps[r.steps.length - 1] ?? 0)));
    } else if (JSON.stringify(this.model.get("runs") ?? null) !== this.runsKey) this.loadRuns(); // labels, divergence
    const moved = this.player.tick(performance.now());
    if (!fresh && !this.dirty && !moved) {
      // an animation frame that shows the same step (slow speeds): nothing to draw
      if (this.player.playing) this.scheduler.request();
      return;
    }
    this.dirty = false;
    const step = this.player.step;
    const width = (this.width = this.root.clientWidth || 960);
    const cols = width >= 900 ? 3 : width >= 560 ? 2 : 1;
    const pw = Math.floor((width - 8 * (cols - 1)) / cols);
    const ph = cols === 1 ? Math.round(pw * 0.8) : Math.min(380, Math.max(260, Math.round(pw * 0.85)));
    const theme = themeColors(this.root);
    const base = (title: string): Partial<Layout> => ({
      width: pw, height: ph, margin: MARGIN, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: theme.text, size: 11 }, showlegend: false, hovermode: "closest", uirevision: "fw",
      title: { text: title, font: { size: 12 }, x: 0.02, xanchor: "left", y: 0.98, yanchor: "top" },
    });
    const axis = { gridcolor: theme.grid, zeroline: false, ticklabeloverflow: "allow" as const, tickangle: 0 };
    const m = this.model;
    const minimum = parsePoint(m.get("minimum"));
    const start = parsePoint(m.get("start"));
    // the box follows the data, not the mouse: frozen while the start point is dragged
    if (!this.dragging || !this.box) {
      this.box = steadyBox(this.box, contourBox(minimum, start, this.runs) ?? { x: [-1, 4], y: [-1, 4] });
    }
    const traces = this.tracesFor();
    const surface = this.surfaceFor(parseQuad(m.get("quad")), minimum, this.box, pw, ph);

    const contourLayout = this.contourLayout(surface, base("loss surface L(a1, a2)"), axis);
    // the image by its key, not its data URL (hundreds of KB to stringify every frame)
    const contourKey = JSON.stringify({ ...contourLayout, images: this.surface?.key ?? null });
    const gds = await Promise.all([
      Plotly.react(this.scatter, traces.scatter, this.scatterLayout(step, base("data and fitted line"), axis), PLOT_CONFIG),
      Plotly.react(this.loss, traces.loss, this.lossLayout(step, base("loss per step"), axis), PLOT_CONFIG),
      // axes and surface only: what moves is on the canvas, so most draws leave plotly out
      contourKey === this.contourKey ? this.contour : Plotly.react(this.contour, [], contourLayout, CONTOUR_CONFIG),
    ]);
    if (this.destroyed) {
      for (const gd of gds) Plotly.purge(gd);
      return;
    }
    this.contourKey = contourKey;
    this.hookLossHover(gds[1]);
    this.drawTrajectories(step, minimum, start, theme);
    this.renderLegend();
    this.stepSlider.max = String(this.player.last);
    this.stepSlider.value = String(step);
    this.stepLabel.textContent = `step ${step} / ${this.player.last}`;
    if (fresh) this.drawn++;
    Object.assign(this.root.dataset, {
      fwStep: String(step),
      fwRuns: String(this.runs.length),
      fwPoints: String(this.runs.reduce((t, r) => t + r.steps.length, 0)),
      fwPlaying: String(this.player.playing),
      fwSource: this.store.provisional ? "snapshot" : "live",
      fwDrawn: String(this.drawn),
    });
    if (this.player.playing) this.scheduler.request();
  }

  /**
   * The data and loss plots' traces, rebuilt only when what they show changes (new data,
   * labels). An animation frame passes plotly the very same objects and arrays, so its
   * diff finds no trace change and redraws the shapes only: any new array (even a
   * one-point one) would make it recompute every trace of that plot.
   */
  private tracesFor(): Traces {
    const key = String(this.loads);
    if (this.traces?.key === key) return this.traces;
    const scatter: Data[] = [{
      type: "scatter", mode: "markers", x: this.points.x, y: this.points.y,
      marker: { color: "rgba(120,120,120,0.7)", size: 5 }, hovertemplate: "x %{x:.3f}<br>y %{y:.3f}<extra></extra>",
    } as Data];
    const loss: Data[] = this.runs.map((r) => ({
      type: "scatter", mode: "lines", name: r.label, meta: "loss", x: r.lossSteps, y: r.loss,
      line: { color: r.color, width: 2 }, hovertemplate: "step %{x}<br>loss %{y:.4g}",
    }) as Data);
    return (this.traces = { key, scatter, loss });
  }

  /**
   * The surface under the contour as a layout image covering `box`, drawn again only when
   * the surface, the box or the plot's size changes. Opaque colours under an image
   * opacity, so a dark theme shows through.
   */
  private surfaceFor(quad: Quad | null, minimum: Point | null, box: Box, width: number, height: number): Partial<Layout>["images"] {
    if (!quad) return [];
    const ratio = Math.min(MAX_PIXEL_RATIO, Math.max(1, window.devicePixelRatio || 1));
    const w = Math.round((width - MARGIN.l - MARGIN.r) * ratio);
    const h = Math.round((height - MARGIN.t - MARGIN.b) * ratio);
    const key = JSON.stringify([quad, minimum, box, w, h]);
    if (this.surface?.key !== key) this.surface = { key, url: surfaceDataUrl(quad, box, minimum, w, h, ratio) };
    return [{
      source: this.surface.url, xref: "x", yref: "y", x: box.x[0], y: box.y[1], sizex: box.x[1] - box.x[0], sizey: box.y[1] - box.y[0],
      xanchor: "left", yanchor: "top", sizing: "stretch", layer: "below", opacity: 0.75,
    }];
  }

  /** A run's index for step `step` (its last point when it stopped earlier). */
  private static at(r: RunData, step: number): number {
    let i = Math.min(step, r.steps.length - 1);
    while (i > 0 && r.steps[i] > step) i--;
    return i;
  }

  /** The fitted line of each run at the step shown, across the data's x range. */
  private scatterLayout(step: number, layout: Partial<Layout>, axis: object): Partial<Layout> {
    const { xr, yr } = this.points;
    const shapes: Partial<Shape>[] = this.runs.map((r) => {
      const i = SGDView.at(r, step);
      const [a1, a2] = [r.a1[i], r.a2[i]];
      return { type: "line", xref: "x", yref: "y", x0: xr[0], x1: xr[1], y0: a1 * xr[0] + a2, y1: a1 * xr[1] + a2, line: { color: r.color, width: 2.5 } };
    });
    return {
      ...layout, shapes, dragmode: "zoom",
      xaxis: { ...axis, range: xr, autorange: false, title: { text: "x" } },
      yaxis: { ...axis, range: yr, autorange: false, title: { text: "y" } },
    };
  }

  /** A line at the step shown and each run's loss there. */
  private lossLayout(step: number, layout: Partial<Layout>, axis: object): Partial<Layout> {
    const log = this.logY.checked;
    const last = Math.max(1, this.player.last);
    const yr = lossRange(this.runs.map((r) => ({ loss: r.loss, diverged: r.divergedAt !== null })), log);
    const shapes: Partial<Shape>[] = [{
      type: "line", xref: "x", yref: "paper", x0: step, x1: step, y0: 0, y1: 1,
      line: { color: "rgba(128,128,128,0.7)", width: 1, dash: "dot" },
    }];
    for (const r of this.runs) {
      const i = Math.min(SGDView.at(r, step), r.loss.length - 1);
      const v = r.loss[i];
      if (!(i >= 0 && Number.isFinite(v) && (!log || v > 0))) continue;
      const marker = dot(r.lossSteps[i], v, r.color, 5);
      if (log && yr) {
        // plotly draws a pixel-sized shape on a log axis at half its height: size it in
        // data units instead, 5 px of the axis' decades either side
        const k = (5 * (yr[1] - yr[0])) / Math.max(1, Number(layout.height) - MARGIN.t - MARGIN.b);
        Object.assign(marker, { ysizemode: "scaled", yanchor: undefined, y0: v / 10 ** k, y1: v * 10 ** k });
      }
      shapes.push(marker);
    }
    return {
      ...layout, shapes, dragmode: "zoom", hovermode: "x",
      xaxis: { ...axis, range: [-0.02 * last, 1.02 * last], autorange: false, title: { text: "step" } },
      yaxis: {
        ...axis, type: log ? "log" : "linear", exponentformat: "e", title: { text: "loss" }, ...(log ? { dtick: "D2" } : {}),
        uirevision: log ? "log" : "linear", // a zoom in one scale means nothing in the other
        ...(yr ? { range: yr, autorange: false } : { autorange: true }),
      },
    };
  }

  /** The contour plot: axes over the box and the surface image; the rest is on the canvas. */
  private contourLayout(images: Partial<Layout>["images"], layout: Partial<Layout>, axis: object): Partial<Layout> {
    const box = this.box!;
    return {
      ...layout, images, dragmode: false, hovermode: false,
      // fixed: the canvas maps through the box, so the axes must not move under it
      xaxis: { ...axis, range: box.x, autorange: false, fixedrange: true, title: { text: "a1 (slope)" } },
      yaxis: { ...axis, range: box.y, autorange: false, fixedrange: true, title: { text: "a2 (intercept)" } },
    };
  }

  /** The canvas over the contour's plot area, sized to it (device pixels), and what it shows. */
  private drawTrajectories(step: number, minimum: Point | null, start: Point | null, theme: Theme): void {
    const size = fullLayout(this.contour)?._size;
    if (!size || !this.box) return;
    const ratio = Math.min(MAX_PIXEL_RATIO, Math.max(1, window.devicePixelRatio || 1));
    const c = this.trajCanvas;
    const [w, h] = [Math.round(size.w * ratio), Math.round(size.h * ratio)];
    if (c.width !== w) c.width = w;
    if (c.height !== h) c.height = h;
    Object.assign(c.style, { left: `${size.l}px`, top: `${size.t}px`, width: `${size.w}px`, height: `${size.h}px` });
    this.scene = {
      box: this.box, width: size.w, height: size.h, minimum, start, startStroke: theme.text,
      paths: this.runs.map((r) => ({
        color: r.color, label: r.label, steps: r.steps, a1: r.a1, a2: r.a2, markers: r.steps.length <= MAX_MARKERS,
      })),
      current: this.runs.map((r) => SGDView.at(r, step)),
    };
    const ctx = c.getContext("2d");
    if (ctx) drawScene(ctx, this.scene, ratio);
    Object.assign(c, { fwScene: this.scene }); // what is drawn, for the browser tests
  }

  /** Hovering a step on the contour shows it everywhere (and names it); the minimum is named. */
  private hookContourHover(): void {
    const gd = this.contour;
    const hide = () => (this.tip.hidden = true);
    const onMove = (ev: MouseEvent) => {
      const size = fullLayout(gd)?._size;
      if (this.dragging || !this.scene || !size) return hide();
      const rect = gd.getBoundingClientRect();
      const hit = nearestPoint(this.scene, ev.clientX - rect.left - size.l, ev.clientY - rect.top - size.t);
      if (!hit) return hide();
      // everything from the scene the hit was found in (new runs may be on their way)
      const run = hit.path >= 0 ? this.scene.paths[hit.path] : null;
      const a: Point | null = run ? [run.a1[hit.index], run.a2[hit.index]] : this.scene.minimum;
      if (!a) return hide();
      const where = `a = (${a[0].toFixed(3)}, ${a[1].toFixed(3)})`;
      this.tip.textContent = run ? `${run.label} · step ${run.steps[hit.index]} · ${where}` : `minimum · ${where}`;
      this.tip.style.borderColor = run ? run.color : "#ffc107";
      const [x, y] = toPixel(this.scene.box, this.scene.width, this.scene.height, a[0], a[1]) ?? [0, 0];
      this.tip.style.left = `${size.l + x}px`;
      this.tip.style.top = `${size.t + y}px`;
      this.tip.hidden = false;
      const step = run ? run.steps[hit.index] : undefined;
      if (step !== undefined && step !== this.player.step) {
        this.player.seek(step);
        this.redraw();
      }
    };
    gd.addEventListener("mousemove", onMove);
    gd.addEventListener("mouseleave", hide);
    this.d.add(() => {
      gd.removeEventListener("mousemove", onMove);
      gd.removeEventListener("mouseleave", hide);
    });
  }
}

function sameValues(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** A round marker of `r` px at a data point, as a shape (a frame redraws shapes only). */
function dot(x: number, y: number, color: string, r: number): Partial<Shape> {
  return {
    type: "circle", xref: "x", yref: "y", xsizemode: "pixel", ysizemode: "pixel", xanchor: x, yanchor: y,
    x0: -r, x1: r, y0: -r, y1: r, fillcolor: color, line: { color: "#fff", width: 1.5 },
  };
}

const initialize: Initialize<SGDTraits> = ({ model }) => attachStream(model);

const render: Render<SGDTraits> = ({ model, el: host }) => {
  const view = new SGDView(model, host);
  return () => view.destroy();
};

export default { initialize, render };
