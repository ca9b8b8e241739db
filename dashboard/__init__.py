"""The dashboard's Streamlit helpers: the only Streamlit code besides app.py and the page scripts in pages/.

`router` declares the pages and routes to them (app.py runs it; every page checks it came through
it); `ui` calls musicgen without showing tracebacks and draws config inputs; `live` is the Train
page's live run panel; `data` and `generate` adapt uploads, caches and progress bars for the Dataset
and Generate pages; `listen` holds the Listen page's pair and votes; `home` the Home checklist; `links`
the shareable links (query parameters); `fields` the forms' one-line errors.
May import: streamlit and musicgen. musicgen never imports this package.
"""
