"""Widgets and figures shared by the pages. UI only.

Each page starts with :func:`setup`: page config, the demo seeded once per server, a worker for
the embedded default, the sign-in (team mode), the navigation and the project/annotator sidebar.
(Streamlit runs a file in ``pages/`` on its own when its URL is opened, so the entrypoint cannot do
this for the pages.)

Team mode (``services.team_mode()``: ``XIL_AUTH=on``, which ``xil serve`` sets for a non-loopback
address): everyone signs in, with a name and password (a signed token in the ``xil_session`` cookie
keeps them signed in across reloads) or, where ``.streamlit/secrets.toml`` has an ``[auth]`` section,
through single sign-on (OIDC, matched to an account by e-mail). :func:`actor` is the signed-in user
(``None`` in the local studio) and :func:`annotator` the name judgements are stored under; a page whose
use needs a permission calls :func:`require_permission` after :func:`setup`. The navigation shows a
page only to those whose role on the current project allows it; the services check again.
"""

from __future__ import annotations

import atexit
import html
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

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
    ("pages/compare.py", "Compare", ":material/thumbs_up_down:"),
    ("pages/export.py", "Export", ":material/download:"),
    ("pages/data.py", "Data", ":material/folder_open:"),
    ("pages/review.py", "Review", ":material/rule:"),
    ("pages/team.py", "Team", ":material/groups:"),
]
# What a page needs in team mode (the others: any member of the project). Data imports new projects,
# which studio owners do, so an account whose own role is owner sees it whatever the project.
NAV_PERMISSION = {
    "pages/train.py": "train",
    "pages/data.py": "import",
    "pages/export.py": "export",
    "pages/review.py": "review",
}
APP_ROOT = Path(__file__).resolve().parents[2]
COOKIE = "xil_session"


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
    services.freeze_startup_objects()
    if services.team_mode():
        _sign_in()  # the signed-in actor in session state, or the sign-in form and a stop
    nav = st.sidebar.container()  # filled once the project (which decides what a member may open) is known
    st.sidebar.divider()
    sidebar()
    with nav:
        for path, label, icon in NAV:
            if (APP_ROOT / path).exists() and _allowed(
                actor(), st.session_state.get("project_id"), NAV_PERMISSION.get(path)
            ):
                st.page_link(path, label=label, icon=icon)


def actor() -> services.Actor | None:
    """The signed-in user in team mode; None in the local studio (the trusted operator)."""
    return st.session_state.get("xil_actor") if services.team_mode() else None


def annotator() -> str:
    """The name judgements are stored under: the signed-in user's in team mode (never a typed one),
    else the name typed in the sidebar ("" when none yet)."""
    who = actor()
    return who.name if who is not None else st.session_state.get("annotator", "")


def _allowed(who: services.Actor | None, project_id: int | None, permission: str | None) -> bool:
    if who is None or permission is None:
        return True
    if permission == "import" and who.role == "owner":
        return True
    return project_id is not None and services.can(who, project_id, permission)


def can_here(permission: str) -> bool:
    """Whether the signed-in user may ``permission`` on the current project (always, in the local studio)."""
    return _allowed(actor(), st.session_state.get("project_id"), permission)


def require_permission(permission: str) -> None:
    """For a page whose use needs ``permission`` (one of the services' permissions: judge, review,
    see_all, import, train, export, manage): call it after :func:`setup`. In team mode a user whose role
    on the current project lacks it sees why and nothing else (the link is hidden too, but a URL can be
    typed). The local studio allows everything."""
    who = actor()
    pid = st.session_state.get("project_id")
    if _allowed(who, pid, permission):
        return
    role = services.project_role(who, pid) if pid is not None else None
    where = f"your role on this project is {role}" if role else "you are not a member of this project"
    st.error(
        f"Signed in as {md(who.name)}, {where}: your role does not allow you to "
        f"{services.PERMISSION_WHAT.get(permission, permission)}. Ask an owner if you need to.",
        icon=":material/lock:",
    )
    st.stop()


# Sign-in (team mode). Session state: ``xil_token`` the signed token of the signed-in user (checked on
# every run, so a disabled account or a new password ends the session at once), ``xil_actor`` its
# Actor, ``xil_dead`` tokens signed out of (the connection's cookie header still holds one until the
# page is reloaded), ``xil_signed_out`` the browser's cookie still needs clearing.


def _oidc_providers() -> list[str | None] | None:
    """The single sign-on providers of ``[auth]`` in ``.streamlit/secrets.toml`` (None: the default
    one), or None when there is no such section (or no secrets file)."""
    try:
        if "auth" not in st.secrets:
            return None
        auth = st.secrets["auth"]
        named = [key for key, value in auth.items() if isinstance(value, Mapping)]
    except Exception:  # no secrets file, a malformed one: password sign-in
        return None
    return [None] if "client_id" in auth or not named else named


def _cookie_script(token: str | None) -> None:
    """Set (or, with None, clear) the session cookie in the browser. The script runs when the element
    is mounted; the server sees the cookie from the next connection (a reload) on."""
    if token is None:
        value, age = "", 0
    else:
        value, age = token, int(services.accounts.SESSION_HOURS * 3600)
    st.html(
        f"<script>document.cookie = '{COOKIE}={value}; path=/; max-age={age}; SameSite=Strict'"
        " + (location.protocol === 'https:' ? '; Secure' : '');</script>",
        unsafe_allow_javascript=True,
    )


def _sign_in() -> None:
    """Resolve the signed-in actor (session, cookie or single sign-on) into ``xil_actor``; without one,
    show the sign-in and stop."""
    state = st.session_state
    providers = _oidc_providers()
    cookie = st.context.cookies.get(COOKIE)
    if state.get("xil_token") is None:
        if providers is not None:
            if st.user.get("is_logged_in") and (found := services.accounts.actor_for_email(st.user.get("email") or "")):
                state["xil_token"] = services.accounts.session_token(found)
        elif cookie and cookie not in state.get("xil_dead", ()):
            state["xil_token"] = cookie
    who = services.accounts.actor_from_token(state.get("xil_token"))
    if who is not None:
        state["xil_actor"] = who
        state.pop("xil_signed_out", None)
        if providers is None and cookie != state["xil_token"]:
            _cookie_script(state["xil_token"])  # every run until a reload brings it back: it surely ran
        return
    ended = state.pop("xil_token", None) is not None
    state.pop("xil_actor", None)
    if cookie and cookie not in state.setdefault("xil_dead", []):
        state["xil_dead"].append(cookie)
    if providers is None and (cookie or state.get("xil_signed_out")):
        _cookie_script(None)
    st.title("xil studio")
    if ended:
        st.info("Your session has ended (a new password, or the account was disabled): sign in again.")
    if providers is not None:
        _single_sign_on(providers)
    else:
        _password_form()
    st.stop()


def _password_form() -> None:
    with st.form("sign_in"):
        st.subheader("Sign in")
        name = st.text_input("Name", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    if not name.strip() or not password:
        st.error("Enter your name and your password.")
        return
    try:
        who = services.accounts.authenticate(name, password)
    except services.accounts.LoginError as exc:
        st.error(str(exc), icon=":material/lock:")
        return
    st.session_state["xil_token"] = services.accounts.session_token(who)
    st.rerun()  # the next run sets the cookie and shows the page


def _single_sign_on(providers: list[str | None]) -> None:
    if st.user.get("is_logged_in"):  # (an attribute error where the login is not set up)
        email = st.user.get("email") or "(none given)"
        st.error(
            f"No active account has the e-mail address {md(email)}: ask an owner to add one "
            f"(`xil user add NAME --role annotator --email {md(email)}`).",
            icon=":material/lock:",
        )
        st.button("Sign out", on_click=st.logout)
        return
    st.subheader("Sign in")
    for provider in providers:
        label = "Sign in with single sign-on" if provider is None else f"Sign in with {provider}"
        st.button(label, type="primary", key=f"sso-{provider}", on_click=st.login, args=(provider,) if provider else ())


def _sign_out() -> None:
    """The sign-out button's callback: forget the session (the sign-in page that follows clears the
    cookie; single sign-on signs out of the provider's session too)."""
    dead = [*st.session_state.get("xil_dead", ()), st.session_state.get("xil_token")]
    cookie = st.context.cookies.get(COOKIE)
    for key in list(st.session_state.keys()):  # each key: clear() lets a page switch bring old keys back
        del st.session_state[key]
    st.session_state["xil_dead"] = [*dead, cookie] if cookie else dead
    st.session_state["xil_signed_out"] = True
    if _oidc_providers() is not None:
        st.logout()


def _account(who: services.Actor, project_id: int | None) -> None:
    """Who is signed in, with their role on the project, and the way out."""
    role = services.project_role(who, project_id) if project_id is not None else who.role
    st.sidebar.markdown(
        f"Signed in as **{md(who.name)}** ({role} on this project)"
        if project_id
        else f"Signed in as **{md(who.name)}**"
    )
    st.sidebar.button("Sign out", key="sign_out", icon=":material/logout:", on_click=_sign_out)


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
    """Project and annotator, kept in session state and the URL (so a reload keeps them). In team mode
    the projects are the user's and the annotator is the user."""
    who = actor()
    projects = services.list_projects() if who is None else services.visible_projects(who)
    if not projects:
        if who is not None and who.role != "owner":
            _account(who, None)
            st.info("You are not a member of any project yet: ask an owner (`xil member add`).")
            st.stop()
        st.sidebar.warning("No project yet.")
        if who is not None:
            _account(who, None)
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
    if who is not None:  # judgements are stored under the signed-in name: no name to type
        st.session_state["annotator"] = who.name
        st.query_params.pop("annotator", None)
        _account(who, st.session_state["project_id"])
        return
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
            textangle=0,  # "auto" turns a small bar's label on its side
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
