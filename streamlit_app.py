"""xil studio: the Streamlit entrypoint. UI only; everything else goes through xil.services."""

from __future__ import annotations

import os
import subprocess
import sys

import streamlit as st

from pages import common
from xil import services

st.set_page_config(page_title="xil studio", page_icon="🔎", layout="wide")


@st.cache_resource(show_spinner="Preparing the Decoy-Digits demo (first run trains a model, a few seconds)...")
def _seed_demo() -> int:
    return services.seed_demo().id


@st.cache_resource
def _start_worker() -> subprocess.Popen | None:
    """One background worker per app server for the embedded default (XIL_START_WORKER=0 turns it off)."""
    if os.environ.get("XIL_START_WORKER", "1") == "0":
        return None
    return subprocess.Popen([sys.executable, "-m", "xil.cli", "worker"], env=dict(os.environ))


_seed_demo()
_start_worker()
common.sidebar()

pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/annotate.py", title="Annotate", icon="✏️"),
    st.Page("pages/train.py", title="Train", icon="⚙️"),
    st.Page("pages/models.py", title="Models", icon="📊"),
    st.Page("pages/export.py", title="Export", icon="📦"),
    st.Page("pages/data.py", title="Data", icon="🗂️"),
]
st.navigation(pages).run()
