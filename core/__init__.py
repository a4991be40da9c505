"""PromptTune Lab core: models, generation, history. Works without any UI.

Nothing in this package imports Streamlit; the pages in ``pages/`` and the
command line (``python -m core``) are two front ends over the same calls.
"""

__version__ = "0.1.0"
