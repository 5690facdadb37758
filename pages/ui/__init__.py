"""Widgets and figures shared by the pages. UI only.

Each page starts with :func:`setup`: page config, the demo seeded once per server, a worker for
the embedded default, the navigation and the project/annotator sidebar. (Streamlit runs a file in
``pages/`` on its own when its URL is opened, so the entrypoint cannot do this for the pages.)
"""

from __future__ import annotations

import atexit
import html
import os
import re
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from xil import services

IRRELEVANT_RGBA = "rgba(255, 0, 200, 0.55)"
RELEVANT_RGBA = "rgba(0, 200, 80, 0.55)"
HEAT_SCALE = [[0.0, "rgba(255,80,0,0)"], [0.3, "rgba(255,80,0,0.35)"], [1.0, "rgba(255,230,0,0.95)"]]
# Grey images are shown with this gamma: a dark shade on black (Decoy-Digits' swatch of label 9 is
# 0.12) is nearly invisible on a linear scale and plainly visible on this one.
DISPLAY_GAMMA = 0.5
# Room above an image chart for Plotly's toolbar, which otherwise lies over the image's top-right
# corner and swallows drags started there.
TOOLBAR_MARGIN = 32


NAV = [
    ("streamlit_app.py", "Home", ":material/home:"),
    ("pages/annotate.py", "Annotate", ":material/edit:"),
    ("pages/rank.py", "Rank", ":material/format_list_numbered:"),
    ("pages/revise.py", "Revise (RiT)", ":material/manage_search:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/models.py", "Models", ":material/compare:"),
    ("pages/export.py", "Export", ":material/download:"),
    ("pages/data.py", "Data", ":material/folder_open:"),
]


@st.cache_resource(show_spinner="Preparing the Decoy-Digits demo (the first run trains a model, a few seconds)...")
def _seed_demo() -> int:
    return services.seed_demo().id


@st.cache_resource
def _start_worker() -> subprocess.Popen | None:
    """One background worker per app server for the embedded default (XIL_START_WORKER=0: none)."""
    if os.environ.get("XIL_START_WORKER", "1") == "0":
        return None
    worker = subprocess.Popen([sys.executable, "-m", "xil.cli", "worker"], env=dict(os.environ))
    atexit.register(worker.terminate)  # the worker goes when the app server goes
    return worker


def setup(title: str) -> None:
    st.set_page_config(page_title=f"{title} · xil studio", page_icon=":material/search:", layout="wide")
    try:
        services.open_database()  # every run: the demo below is seeded once per server process
        _seed_demo()
    except services.DatabaseSetupError as exc:  # a bad DATABASE_URL, a server that is down: say so, no traceback
        st.error(f"The studio cannot open its database. {exc}", icon=":material/database:")
        st.stop()
    _start_worker()
    with st.sidebar:
        for path, label, icon in NAV:
            st.page_link(path, label=label, icon=icon)
        st.divider()
    sidebar()


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^])")


def md(text: object) -> str:
    """User text (names, texts, prompts, answers, class names) made safe for ``st.markdown``,
    ``st.info`` and the like: every Markdown, HTML and Streamlit directive character is escaped and
    newlines are kept, so ``![](http://host/x)`` shows as text instead of making every browser fetch
    it. Use it for every piece of user text a page renders as Markdown."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", str(text))
    return escaped.replace("\n", "  \n")


def _query_int(name: str) -> int | None:
    value = st.query_params.get(name)
    return int(value) if value and value.isdigit() else None


def sidebar() -> None:
    """Project and annotator, kept in session state and the URL (so a reload keeps them)."""
    projects = services.list_projects()
    if not projects:
        st.sidebar.warning("No project yet.")
        return
    ids = [p.id for p in projects]
    names = {p.id: p.name for p in projects}
    # The project lives under its own key, seeded from the URL once per session, and seeds the keyed
    # widget on every run (widget state does not survive a page switch). An index computed from it
    # instead gave the unkeyed widget a new identity one run late, which dropped every second change.
    if st.session_state.get("project_id") not in ids:
        wanted = _query_int("project")
        st.session_state["project_id"] = wanted if wanted in ids else ids[0]
    st.session_state["project_select"] = st.session_state["project_id"]
    st.sidebar.selectbox("Project", ids, format_func=names.get, key="project_select", on_change=_switch_project)
    st.query_params["project"] = str(st.session_state["project_id"])
    # Widget state does not survive a page switch, so the name lives under its own key and seeds
    # the widget on every run; typing updates it through the callback, which runs first.
    if "annotator" not in st.session_state:
        st.session_state["annotator"] = st.query_params.get("annotator", "").strip()
    st.session_state["annotator_input"] = st.session_state["annotator"]
    st.sidebar.text_input("Annotator", key="annotator_input", placeholder="your name", on_change=_remember_annotator)
    if st.session_state["annotator"]:
        st.query_params["annotator"] = st.session_state["annotator"]


def _switch_project() -> None:
    """Another project: what belonged to the old one (its example, in state and URL) goes."""
    st.session_state["project_id"] = st.session_state["project_select"]
    for key in ("example_id", "back_trail"):
        st.session_state.pop(key, None)
    st.query_params.pop("example", None)


def _remember_annotator() -> None:
    st.session_state["annotator"] = st.session_state["annotator_input"].strip()


def require_project() -> int:
    """The sidebar's project; without one the page says where to get one and stops here."""
    pid = st.session_state.get("project_id")
    if pid is None:
        st.info("No project yet: import data on the Data page.")
        st.stop()
    return pid


def version_label(version) -> str:
    acc = version.metrics.get("test_acc")
    method = services.method_title(version.method, services.get_project(version.project_id).task)
    score = f" · acc {acc:.3f}" if acc is not None else ""
    return f"v{version.version}{score} · {method} · {version.arch}"  # the numbers first: long titles get cut


def pick_version(label: str, versions: list, key: str, default_index: int = -1):
    index = default_index % len(versions)
    return st.selectbox(label, versions, index=index, format_func=version_label, key=key)


def _gray(image: np.ndarray) -> np.ndarray:
    """The image as one grey channel, brightened for display (see DISPLAY_GAMMA)."""
    gray = image.mean(axis=0) if image.shape[0] in (1, 3) else image[0]
    return np.clip(gray, 0.0, 1.0) ** DISPLAY_GAMMA


def explanation_figure(
    view: services.ExampleView,
    irrelevant: np.ndarray | None = None,
    relevant: np.ndarray | None = None,
    show_heat: bool = True,
    selectable: bool = False,
    height: int = 460,
) -> go.Figure:
    """The image, its attribution as a heat overlay, the annotator's marks, and (when selectable)
    an invisible point per pixel block so box and lasso selection work on the pixel grid."""
    h, w = view.image.shape[1:]
    fig = go.Figure()
    if view.image.shape[0] == 3:
        fig.add_trace(go.Image(z=(view.image.transpose(1, 2, 0) * 255).astype(np.uint8), hoverinfo="skip"))
    else:
        fig.add_trace(
            go.Heatmap(z=_gray(view.image), colorscale="gray", showscale=False, zmin=0, zmax=1, hoverinfo="skip")
        )
    if show_heat:
        heat = np.abs(view.attribution)
        heat = heat / heat.max() if heat.max() > 0 else heat
        fig.add_trace(go.Heatmap(z=heat, colorscale=HEAT_SCALE, zmin=0, zmax=1, showscale=False, hoverinfo="skip"))
    for mask, color in ((irrelevant, IRRELEVANT_RGBA), (relevant, RELEVANT_RGBA)):
        if mask is not None and mask.any():
            fig.add_trace(
                go.Heatmap(
                    z=mask.astype(float),
                    colorscale=[[0, "rgba(0,0,0,0)"], [1, color]],
                    zmin=0,
                    zmax=1,
                    showscale=False,
                    hoverinfo="skip",
                )
            )
    if selectable:
        step = grid_step(h, w)
        ys, xs = np.mgrid[0:h:step, 0:w:step]
        fig.add_trace(
            go.Scatter(
                x=xs.ravel() + (step - 1) / 2,
                y=ys.ravel() + (step - 1) / 2,
                mode="markers",
                marker={"size": max(4, 360 // max(h, w) * step), "opacity": 0.02, "color": "white"},
                hoverinfo="none",
                name="pixels",
            )
        )
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5], constrain="domain")
    # both axes shrink to the image, which sits at the top: the plot area is the image, whatever the
    # chart's width, so a drag anywhere in it lands on pixels
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x", constrain="domain", constraintoward="top")
    fig.update_layout(
        height=height,
        margin={"l": 0, "r": 0, "t": TOOLBAR_MARGIN if selectable else 0, "b": 0},
        dragmode="select" if selectable else False,
        showlegend=False,
        newselection_mode="immediate",
    )
    return fig


def grid_step(h: int, w: int) -> int:
    """Pixels per selectable point: 1 up to 64x64 images, coarser beyond so the chart stays fast."""
    return max(1, int(np.ceil(max(h, w) / 64)))


def selection_to_mask(points: list[dict], shape: tuple[int, int]) -> np.ndarray:
    """Turn selected grid points (their x/y centres) back into a pixel mask."""
    h, w = shape
    step = grid_step(h, w)
    mask = np.zeros(shape, dtype=bool)
    for point in points:
        x, y = point.get("x"), point.get("y")
        if x is None or y is None:
            continue
        left, top = int(round(x - (step - 1) / 2)), int(round(y - (step - 1) / 2))
        mask[max(top, 0) : top + step, max(left, 0) : left + step] = True
    return mask


def probability_figure(view: services.ExampleView, k: int = 5) -> go.Figure:
    order = np.argsort(-view.probs)[:k][::-1]
    colors = ["#2a9d8f" if i == view.label else "#8d99ae" for i in order]
    fig = go.Figure(
        go.Bar(
            x=view.probs[order],
            y=[f"{html.escape(view.class_names[i])} " for i in order],  # Plotly reads tags in labels
            orientation="h",
            marker_color=colors,
            text=[f"{p:.1%}" for p in view.probs[order]],
            textposition="auto",
        )
    )
    fig.update_layout(
        height=40 + 32 * len(order),
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        xaxis={"range": [0, 1], "visible": False},
        yaxis={"type": "category"},
    )
    return fig


def _word_span(word: str, score: float, peak: float, style: str = "") -> str:
    colour = "255,140,0" if score >= 0 else "30,120,255"  # orange: for the prediction, blue: against
    return (
        f'<span title="{score:+.3f}" style="background:rgba({colour},{abs(score) / (peak or 1.0):.2f});'
        f'padding:2px 3px;margin:1px;border-radius:3px;{style}">{html.escape(word)}</span>'
    )


def word_heatmap(
    view: services.ExampleView,
    irrelevant: np.ndarray | None = None,
    relevant: np.ndarray | None = None,
    show_heat: bool = True,
) -> str:
    """The text as HTML, each word shaded by its attribution and outlined where marked (magenta:
    irrelevant, green: relevant)."""
    scores = view.attribution if show_heat else np.zeros(len(view.words))
    peak = float(np.abs(scores).max())
    spans = []
    for i, word in enumerate(view.words):
        style = ""
        if irrelevant is not None and irrelevant[i]:
            style = f"outline:2px solid {IRRELEVANT_RGBA};text-decoration:line-through;"
        elif relevant is not None and relevant[i]:
            style = f"outline:2px solid {RELEVANT_RGBA};"
        spans.append(_word_span(word, float(scores[i]), peak, style))
    return f'<div style="font-size:1.25rem;line-height:2.2;">{" ".join(spans)}</div>'


def scored_words(words: list[tuple[str, float]]) -> str:
    """Words shaded by a score, as HTML."""
    peak = max((abs(score) for _, score in words), default=0.0)
    return f'<div style="line-height:1.9;">{" ".join(_word_span(w, s, peak) for w, s in words)}</div>'
