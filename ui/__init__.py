"""Streamlit helpers shared by the pages: the sidebar, the cached engine, error display.

Everything here is screen-side glue; the work itself happens in ``core``.
"""
