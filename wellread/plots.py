"""The notebooks' figures: plain functions that take numbers and return a plotly `go.Figure`.

No function here trains or loads anything, so each can be tested with made-up numbers. Showing a
figure is the notebook's job (`fig.show()`; the renderer is chosen in `lessons.setup`).
"""
from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import methods
from .methods import BASIC, METHODS, PD, PF, REFERENCES, TRUNCATED
from .sizes import HIDDENS, LAYERS, all_sizes, parse_size

TEMPLATE = "plotly_white"


def _known(methods) -> list[str]:
    """The registry's methods and the teacher that occur in `methods`, in the registry's order."""
    present = set(methods)
    return [m for m in (*METHODS, *REFERENCES) if m in present]


def _layout(fig: go.Figure, title: str, **kwargs) -> go.Figure:
    fig.update_layout(title=title, template=TEMPLATE, margin=dict(l=60, r=30, t=60, b=50), **kwargs)
    return fig


def _millions(n: float) -> str:
    return f"{n / 1e6:.1f}M"


# ---------------------------------------------------------------------------------------------------
# Notebook 0: the 24 students

def size_grid(values: dict, *, title: str, colorbar: str, text: dict | None = None, log: bool = False,
              highlight=None) -> go.Figure:
    """A 6x4 heatmap (layers down, hidden across) of `values[(L, H)]`; missing cells stay blank."""
    z, labels = [], []
    for layers in LAYERS:
        row, row_text = [], []
        for hidden in HIDDENS:
            v = values.get((layers, hidden))
            row.append(None if v is None else (math.log10(v) if log and v > 0 else v))
            row_text.append((text or {}).get((layers, hidden), "" if v is None else f"{v:.3g}"))
        z.append(row)
        labels.append(row_text)
    fig = go.Figure(go.Heatmap(z=z, x=[f"H={h}" for h in HIDDENS], y=[f"L={l}" for l in LAYERS], text=labels,
                               texttemplate="%{text}", colorscale="Blues", hoverongaps=False,
                               colorbar=dict(title=colorbar + (" (log10)" if log else ""))))
    if highlight is not None:
        size = parse_size(highlight)
        fig.add_shape(type="rect", x0=HIDDENS.index(size.hidden) - 0.5, x1=HIDDENS.index(size.hidden) + 0.5,
                      y0=LAYERS.index(size.layers) - 0.5, y1=LAYERS.index(size.layers) + 0.5,
                      line=dict(color="#d62728", width=3))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=460)


def params_grid(sizes=None, highlight=None) -> go.Figure:
    """Parameters (BertForMaskedLM) of each size, named and counted."""
    sizes = sizes or all_sizes()
    values = {(s.layers, s.hidden): s.mlm_params for s in sizes}
    text = {(s.layers, s.hidden): (f"{s.name}<br>" if s.name != s.short else "") + _millions(s.mlm_params)
            for s in sizes}
    return size_grid(values, title="The 24 students: parameters", colorbar="parameters", text=text, log=True,
                     highlight=highlight)


def param_shares(sizes=None) -> go.Figure:
    """Stacked bars: embedding vs encoder parameters of each size (small models are mostly vocabulary)."""
    sizes = sorted(sizes or all_sizes(), key=lambda s: s.mlm_params)
    names = [s.name if s.name != s.short else s.short for s in sizes]
    emb = [s.embedding_params / 1e6 for s in sizes]
    enc = [s.encoder_params / 1e6 for s in sizes]
    share = [s.embedding_params / (s.embedding_params + s.encoder_params) for s in sizes]
    fig = go.Figure([
        go.Bar(name="embeddings (vocabulary + positions)", x=names, y=emb, marker_color="#ff7f0e",
               customdata=share, hovertemplate="%{x}: %{y:.1f}M embedding params (%{customdata:.0%})<extra></extra>"),
        go.Bar(name="transformer layers", x=names, y=enc, marker_color="#1f77b4",
               hovertemplate="%{x}: %{y:.1f}M encoder params<extra></extra>"),
    ])
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="millions of parameters")
    return _layout(fig, "Where the parameters are: embeddings vs transformer layers", height=450)


def latency_grid(rows: list[dict], batch: int = 1, source: str = "") -> go.Figure:
    """Speed-up against the largest size measured, for each measured size (rows from speed.speed_grid); `source`
    names where the rows were measured when not on this machine."""
    key = f"speedup_batch{batch}"
    values = {(r["layers"], r["hidden"]): r[key] for r in rows if key in r}
    text = {(r["layers"], r["hidden"]): f"{r[key]:.1f}x<br>{r[f'ms_batch{batch}']:.0f} ms" for r in rows if key in r}
    against = rows[0].get("speedup_against", "the largest") if rows else ""
    where = f"<br><sub>{source}</sub>" if source else ""
    return size_grid(values, title=f"CPU speed-up against {against} (batch {batch}; blank: not measured){where}",
                     colorbar="speed-up", text=text, log=True)


def speed_vs_params(rows: list[dict], batch: int = 1, source: str = "") -> go.Figure:
    """Latency (ms) against parameters: speed follows the encoder, not the embedding table; `source` names the
    machine (lessons.machine_words())."""
    fig = go.Figure()
    for hidden in sorted({r["hidden"] for r in rows}):
        part = sorted([r for r in rows if r["hidden"] == hidden], key=lambda r: r["layers"])
        fig.add_trace(go.Scatter(x=[r["params"] / 1e6 for r in part], y=[r[f"ms_batch{batch}"] for r in part],
                                 mode="lines+markers+text", name=f"H={hidden}", text=[r["name"] for r in part],
                                 textposition="top center"))
    fig.update_xaxes(title="parameters (millions)", type="log")
    fig.update_yaxes(title=f"ms per forward pass (batch {batch}, this machine)", type="log")
    return _layout(fig, "Latency against size" + (f"<br><sub>{source}</sub>" if source else ""), height=450)


def glue_scores(df, tasks=("GLUE", "SST-2", "MNLI-m", "QNLI", "MRPC")) -> go.Figure:
    """Published GLUE test figures (long table from data/paper_results.csv), grouped by task."""
    fig = go.Figure()
    for model in dict.fromkeys(df["model"]):
        part = df[(df["model"] == model) & (df["task"].isin(tasks))]
        part = part[~part["metric"].astype(str).str.startswith("average")]  # BERT-Base's paper average is not the GLUE score
        part = part.drop_duplicates("task")  # the first metric per task (accuracy / F1 / score)
        fig.add_trace(go.Bar(name=model, x=part["task"], y=part["value"].astype(float),
                             text=part["value"].astype(float), texttemplate="%{text:.1f}",
                             customdata=part["metric"], hovertemplate="%{x} (%{customdata}): %{y}<extra>" + model + "</extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="GLUE test score", range=[50, 100])
    return _layout(fig, "Published GLUE test scores of the released miniatures", height=420)


# ---------------------------------------------------------------------------------------------------
# Notebook 1: pre-training

def vocab_share(sizes=None, vocab_sizes=(30522, 8192)) -> go.Figure:
    """The vocabulary's share of each model's parameters, for several vocabulary sizes."""
    from .sizes import Size
    sizes = sorted(sizes or all_sizes(), key=lambda s: s.mlm_params)
    fig = go.Figure()
    for v in vocab_sizes:
        shares = []
        for s in sizes:
            sv = Size(s.layers, s.hidden, vocab_size=v, off_grid=s.off_grid)
            shares.append(sv.vocab_size * sv.hidden / sv.mlm_params)
        fig.add_trace(go.Scatter(x=[s.short for s in sizes], y=shares, mode="lines+markers", name=f"vocabulary {v:,}"))
    fig.update_yaxes(title="word embeddings / all parameters", tickformat=".0%", range=[0, 1])
    fig.update_xaxes(title="student (ordered by size)")
    return _layout(fig, "The vocabulary's share of a compact model", height=420)


def masked_tokens(before: list[str], after: list[str], targets: list[str | None]) -> go.Figure:
    """A table: each token, what the model sees after masking, and what it must predict."""
    colors = ["#fde0dd" if t is not None else "white" for t in targets]
    fig = go.Figure(go.Table(
        header=dict(values=["position", "original", "model sees", "must predict"], fill_color="#e8eef7"),
        cells=dict(values=[list(range(len(before))), before, after, [t or "" for t in targets]],
                   fill_color=[colors] * 4)))
    return _layout(fig, "Masking: ~15% of tokens are chosen (red); of those 80% [MASK], 10% random, 10% kept",
                   height=min(900, 120 + 22 * len(before)))


def pretrain_curve(curve: list[dict], eval_curve: list[dict], unigram: float | None = None,
                   initial: float | None = None, title: str = "Masked-LM pre-training") -> go.Figure:
    """Training loss (smoothed) and held-out loss against steps, with the unigram baseline."""
    fig = go.Figure()
    if curve:
        fig.add_trace(go.Scatter(x=[p["step"] for p in curve], y=[p["loss"] for p in curve], mode="lines",
                                 name="training loss (smoothed)", line=dict(color="#1f77b4")))
    points = list(eval_curve or [])
    if initial is not None:
        points = [{"step": 0, "heldout_loss": initial}] + points
    if points:
        fig.add_trace(go.Scatter(x=[p["step"] for p in points], y=[p["heldout_loss"] for p in points],
                                 mode="lines+markers", name="held-out loss", line=dict(color="#2ca02c")))
    if unigram is not None:
        fig.add_hline(y=unigram, line_dash="dash", line_color="#d62728",
                      annotation_text=f"unigram baseline {unigram:.2f}", annotation_position="top right")
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="nats per masked token")
    return _layout(fig, title, height=420)


def fill_mask_bars(guesses: dict, title: str = "What the student guesses for [MASK]") -> go.Figure:
    """`guesses[label] = [(token, prob), ...]`: one bar panel per model (e.g. before / after)."""
    labels = list(guesses)
    fig = make_subplots(rows=1, cols=len(labels), subplot_titles=labels)
    for i, label in enumerate(labels, start=1):
        pairs = guesses[label][::-1]
        fig.add_trace(go.Bar(x=[p for _, p in pairs], y=[t for t, _ in pairs], orientation="h", showlegend=False,
                             marker_color="#1f77b4" if i > 1 else "#9e9e9e"), row=1, col=i)
        fig.update_xaxes(title="probability", row=1, col=i)
    return _layout(fig, title, height=360)


# ---------------------------------------------------------------------------------------------------
# Notebook 2: the task and the teacher

def label_balance(counts: dict, label_names=("negative", "positive")) -> go.Figure:
    """`counts[split] = [n_label0, n_label1, ...]` as grouped bars."""
    fig = go.Figure()
    for k, name in enumerate(label_names):
        fig.add_trace(go.Bar(name=name, x=list(counts), y=[c[k] for c in counts.values()],
                             text=[c[k] for c in counts.values()], textposition="auto"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="examples")
    return _layout(fig, "Examples per split and label", height=380)


def confidence_hist(confidence, labeled=None) -> go.Figure:
    """Histogram of the teacher's top-class probability, split into labeled / unlabeled inputs."""
    import numpy as np
    confidence = np.asarray(confidence, dtype=float)
    fig = go.Figure()
    if labeled is None:
        fig.add_trace(go.Histogram(x=confidence, nbinsx=25, name="all"))
    else:
        labeled = np.asarray(labeled, dtype=bool)
        fig.add_trace(go.Histogram(x=confidence[~labeled], nbinsx=25, name="unlabeled transfer text", opacity=0.75))
        fig.add_trace(go.Histogram(x=confidence[labeled], nbinsx=25, name="labeled training text", opacity=0.75))
        fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="teacher's probability of its top class", range=[0.5, 1.0])
    fig.update_yaxes(title="examples")
    return _layout(fig, "How sure is the teacher? (soft labels on the transfer set)", height=400)


# ---------------------------------------------------------------------------------------------------
# Notebook 3: distillation

def temperature_softmax(probs: dict, texts: list[str], label_names=("negative", "positive")) -> go.Figure:
    """`probs[T] = [[p per class] per example]`: one panel per example, bars per temperature."""
    n = len(texts)
    short = [t if len(t) <= 45 else t[:42] + "..." for t in texts]
    fig = make_subplots(rows=1, cols=n, subplot_titles=short, shared_yaxes=True)
    for j, (temperature, rows) in enumerate(probs.items()):
        for i in range(n):
            fig.add_trace(go.Bar(name=f"T={temperature:g}", x=list(label_names), y=rows[i],
                                 marker_color=["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"][j % 4],
                                 legendgroup=f"T{temperature}", showlegend=i == 0), row=1, col=i + 1)
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="soft label", range=[0, 1], row=1, col=1)
    fig.update_annotations(font_size=11)
    return _layout(fig, "The teacher's soft labels at temperatures T", height=400)


def training_curves(curves: dict, title: str = "Training loss") -> go.Figure:
    """`curves[name] = [{"step", "loss"}, ...]` as lines (e.g. from Result.curves)."""
    fig = go.Figure()
    for name, curve in curves.items():
        if curve:
            fig.add_trace(go.Scatter(x=[p["step"] for p in curve], y=[p["loss"] for p in curve], mode="lines",
                                     name=name))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="loss")
    return _layout(fig, title, height=380)


# ---------------------------------------------------------------------------------------------------
# Notebooks 3-5: comparing methods

def method_bars(df, metric: str = "test_acc", reference: dict | None = None,
                title: str = "Test accuracy by method") -> go.Figure:
    """Mean of `metric` per method (rows of Result.row()), with error bars (std) when several seeds ran.

    `reference` = {"label": value} adds horizontal lines (e.g. the teacher's accuracy)."""
    order = _known(df["method"]) + sorted(set(df["method"]) - set(_known(df["method"])))
    stats = df.groupby("method")[metric].agg(["mean", "std", "count"]).reindex(order)
    many = bool((stats["count"] > 1).any())
    fig = go.Figure(go.Bar(
        x=[methods.label(m) for m in order], y=stats["mean"],
        error_y=dict(type="data", array=stats["std"].fillna(0), visible=many),
        marker_color=[methods.color(m) for m in order],
        text=[f"{v:.3f}" + (f" ± {s:.3f}" if many and s == s else "") for v, s in zip(stats["mean"], stats["std"])],
        textposition="outside", customdata=stats["count"],
        hovertemplate="%{x}: %{y:.3f} (%{customdata} seed(s))<extra></extra>"))
    for label, value in (reference or {}).items():
        fig.add_hline(y=value, line_dash="dash", line_color="#d62728", annotation_text=f"{label} {value:.3f}")
    low = float((stats["mean"] - stats["std"].fillna(0)).min())
    fig.update_yaxes(title=metric.replace("_", " "), range=[max(0.0, min(0.5, low - 0.05)), 1.0])
    return _layout(fig, title + (" (mean ± std over seeds)" if many else " (one seed)"), height=450)


def accuracy_vs_latency(df, metric: str = "test_acc", teacher: dict | None = None) -> go.Figure:
    """Each method's accuracy against its measured CPU latency (batch 1): up and left is better."""
    fig = go.Figure()
    stats = df.groupby(["method", "size"]).agg(acc=(metric, "mean"), latency=("latency_ms", "mean"),
                                                params=("params", "first")).reset_index()
    for _, r in stats.iterrows():
        fig.add_trace(go.Scatter(x=[r["latency"]], y=[r["acc"]], mode="markers+text", name=methods.label(r["method"]),
                                 text=[f"{r['method']} {r['size']}"], textposition="top center",
                                 marker=dict(size=8 + 10 * math.log10(max(r["params"], 1e6) / 1e6),
                                             color=methods.color(r["method"])),
                                 hovertemplate=f"{r['method']} {r['size']}: %{{y:.3f}} at %{{x:.1f}} ms, "
                                               f"{_millions(r['params'])} params<extra></extra>"))
    if teacher:
        fig.add_trace(go.Scatter(x=[teacher["latency_ms"]], y=[teacher[metric]], mode="markers+text",
                                 name="teacher", text=["teacher"], textposition="top center",
                                 marker=dict(symbol="star", size=16, color=methods.color("teacher"))))
    fig.update_xaxes(title="CPU latency, ms (batch 1, this machine)", type="log")
    fig.update_yaxes(title=metric.replace("_", " "))
    return _layout(fig, "Accuracy against speed (marker size: parameters)", height=450)


def experiment(df, x: str, y: str = "test_acc", color: str = "method", title: str = "", log_x: bool = False,
               x_title: str | None = None) -> go.Figure:
    """Lines of `y` against `x`, one per value of `color` and `variant` (means ± sd over seeds when several ran)."""
    fig = go.Figure()
    df = df.assign(variant=df["variant"].fillna("")) if "variant" in df else df.assign(variant="")
    seeds = int(df.groupby([color, "variant", x])[y].count().max()) if len(df) else 0
    for (key, variant), part in df.groupby([color, "variant"], sort=False):
        stats = part.groupby(x)[y].agg(["mean", "std", "count"]).reset_index()
        categorical = stats[x].dtype == object
        name = methods.label(key) + (f", {variant.replace('=', ' ')}" if variant else "")
        fig.add_trace(go.Scatter(x=stats[x], y=stats["mean"], mode="lines+markers" if not categorical else "markers",
                                 name=name, line=dict(dash="dot" if variant else None),
                                 marker=dict(size=10, color=methods.color(key), symbol="diamond" if variant else None),
                                 error_y=dict(type="data", array=stats["std"].fillna(0),
                                              visible=bool((stats["count"] > 1).any()))))
    fig.update_xaxes(title=x_title or x.replace("_", " "), type="log" if log_x else None)
    fig.update_yaxes(title=y.replace("_", " "))
    if title:
        title += " (mean ± sd over seeds)" if seeds > 1 else " (one seed)"
    return _layout(fig, title, height=400)


# ---------------------------------------------------------------------------------------------------
# The reproduction grid by size (results.py decides what to draw)

def _params(size) -> float:
    try:
        return parse_size(size, off_grid=True).mlm_params
    except ValueError:
        return float("inf")


def methods_by_size(df, metric: str = "test_acc", title: str = "Test accuracy by student size and method") -> go.Figure:
    """Grouped bars: one group per size (ordered by parameters), one bar per method, mean ± std over seeds."""
    order = sorted(df["size"].unique(), key=_params)
    fig = go.Figure()
    for method in _known(df["method"]):
        stats = df[df["method"] == method].groupby("size")[metric].agg(["mean", "std", "count"]).reindex(order)
        fig.add_trace(go.Bar(name=methods.label(method), x=order, y=stats["mean"], marker_color=methods.color(method),
                             error_y=dict(type="data", array=stats["std"].fillna(0), visible=bool((stats["count"] > 1).any()))))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=metric.replace("_", " "))
    fig.update_xaxes(title="student (ordered by parameters)")
    return _layout(fig, title, height=420)


def starts_bars(df, teacher: float | None = None, title: str = "Where the student started") -> go.Figure:
    """Test accuracy by start (none / classroom / minilm / google) and size, fine-tuned vs distilled
    (results.starts_frame), with the teacher as a line: what reading before training buys."""
    fig = go.Figure()
    df = df.assign(group=[f"{s}<br>{z}<br>{src}" for s, z, src in zip(df["start"], df["size"], df["source"])])
    many = bool((df["seeds"] > 1).any()) if len(df) else False  # error bars only where seeds make them
    for recipe, shade in ((PF.recipe, PF.color), (PD.recipe, PD.color)):
        part = df[df["recipe"] == recipe]
        fig.add_trace(go.Bar(x=part["group"], y=part["test_acc"], name=recipe, marker_color=shade,
                             error_y=dict(type="data", array=part["test_sd"].fillna(0), visible=many),
                             text=[f"{v:.3f}" for v in part["test_acc"]], textposition="outside",
                             customdata=part["seeds"], hovertemplate="%{x}: %{y:.3f} (%{customdata} seed(s))<extra></extra>"))
    if teacher is not None:
        fig.add_hline(y=teacher, line_dash="dash", line_color="#d62728", annotation_text=f"teacher {teacher:.3f}")
    low = float(df["test_acc"].min()) if len(df) else 0.5
    fig.update_yaxes(title="test accuracy", range=[max(0.0, min(0.5, low - 0.05)), 1.0])
    fig.update_layout(barmode="group")
    return _layout(fig, title + (" (bars: mean ± sd over seeds)" if many else " (one seed)"), height=480)


# ---------------------------------------------------------------------------------------------------
# The reading curve

def reading_curve(df, ends=None, learner: dict | None = None, paper_words: float = 3.3e9,
                  title: str = "The reading curve: what a Tiny student (L2/H128) gains from the tokens it read") -> go.Figure:
    """Three panels against tokens read (log scale): held-out masked-LM loss beside a unigram model's, then test
    accuracy with all labels and with 1,000 (mean ± sd over seeds; the random start as a dashed line). `ends`:
    students that read at scale elsewhere (results.reading_ends), drawn at the paper's 3.3B words. `learner`: your
    own point, {"tokens", "test_acc", "heldout_loss"} (all labels)."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07,
                        subplot_titles=("held-out MLM loss (nats)", "test accuracy, all labels",
                                        "test accuracy, 1,000 labels"))
    read = df[df["steps"] > 0]
    losses = read.groupby("steps").agg(tokens=("pretrain_tokens", "first"), loss=("heldout_loss", "first"),
                                       unigram=("unigram_loss", "first")).reset_index()
    fig.add_trace(go.Scatter(x=losses["tokens"], y=losses["loss"], mode="lines+markers", name="the student",
                             marker=dict(color=PF.color)), row=1, col=1)
    if len(losses):
        fig.add_hline(y=float(losses["unigram"].iloc[0]), line_dash="dot", line_color="#7f7f7f", row=1, col=1,
                      annotation_text="unigram model", annotation_position="bottom right")
    for col, labels in ((2, "all"), (3, "1000")):
        part = read[read["labels"] == labels]
        stats = part.groupby("steps").agg(tokens=("pretrain_tokens", "first"), mean=("test_acc", "mean"),
                                          sd=("test_acc", "std"), seeds=("seed", "nunique")).reset_index()
        fig.add_trace(go.Scatter(x=stats["tokens"], y=stats["mean"], mode="lines+markers", showlegend=False,
                                 marker=dict(color=PF.color), customdata=stats["seeds"],
                                 error_y=dict(type="data", array=stats["sd"].fillna(0),
                                              visible=bool((stats["seeds"] > 1).any())),
                                 hovertemplate="%{x:.3s} tokens: %{y:.3f} (%{customdata} seeds)<extra></extra>"),
                      row=1, col=col)
        random_start = df[(df["steps"] == 0) & (df["labels"] == labels)]["test_acc"]
        if len(random_start):
            fig.add_hline(y=float(random_start.mean()), line_dash="dash", line_color=BASIC.color, row=1,
                          col=col, annotation_text=f"random start {random_start.mean():.3f}",
                          annotation_position="bottom right")
    if ends is not None and len(ends):
        fig.add_trace(go.Scatter(x=[paper_words] * len(ends), y=ends["test_acc"], mode="markers+text",
                                 text=[f"MiniLM's layers, {s}" for s in ends["size"]], textposition="middle left",
                                 marker=dict(symbol="diamond", size=11, color=TRUNCATED.color),
                                 error_y=dict(type="data", array=ends["test_sd"].fillna(0),
                                              visible=bool(ends["test_sd"].notna().any())),
                                 name="read at scale elsewhere (another shape; x: the paper's 3.3B words)"),
                      row=1, col=2)
    if learner:
        for col, y in ((1, learner.get("heldout_loss")), (2, learner.get("test_acc"))):
            if y is not None:
                fig.add_trace(go.Scatter(x=[learner["tokens"]], y=[y], mode="markers", name="your run",
                                         marker=dict(symbol="star", size=16, color="#d62728"),
                                         showlegend=col == 2), row=1, col=col)
    fig.update_xaxes(type="log", title="tokens read in pre-training")
    return _layout(fig, title, height=430, legend=dict(orientation="h", y=-0.25))
