"""musicgen dashboard: the entry point routes to the pages (logic lives in musicgen/)."""

import streamlit as st

st.set_page_config(page_title="musicgen", layout="wide")
st.title("musicgen")
st.write("A lab for learning to generate polyphonic music from piano-rolls.")
