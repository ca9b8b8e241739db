"""musicgen dashboard: the entry point only routes to the pages (all logic lives in musicgen/, page helpers in dashboard/)."""

import streamlit as st

from dashboard.router import PAGE_CONFIG, pages, route

st.set_page_config(**PAGE_CONFIG)
page = st.navigation(pages())
with route():
    page.run()
