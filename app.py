"""musicgen dashboard: the entry point only routes to the pages (all logic lives in musicgen/)."""

import streamlit as st

st.set_page_config(page_title="musicgen", page_icon="🎹", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", url_path="home", default=True),
    st.Page("pages/data.py", title="Dataset", icon="🗂️", url_path="data"),
    st.Page("pages/train.py", title="Train", icon="📈", url_path="train"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️", url_path="compare"),
    st.Page("pages/generate.py", title="Generate", icon="🎼", url_path="generate"),
]
st.navigation(PAGES).run()
