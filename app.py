"""musicgen dashboard: the entry point only routes to the pages (all logic lives in musicgen/)."""

import streamlit as st

st.set_page_config(page_title="musicgen", page_icon=":material/piano:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page("pages/data.py", title="Dataset", icon=":material/library_music:", url_path="data"),
    st.Page("pages/train.py", title="Train", icon=":material/monitoring:", url_path="train"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("pages/generate.py", title="Generate", icon=":material/piano:", url_path="generate"),
]
st.navigation(PAGES).run()
