"""xil: an explanatory interactive learning studio.

The domain package: importable without Streamlit. The UI lives in ``streamlit_app.py`` and ``pages/``,
the use cases in :mod:`xil.services`, the tables in :mod:`db`.
"""

__version__ = "0.1.0"
