"""Shareable links: /compare?runs=A,B, /compare?sweep=ID and /generate?model=ID open their page in that state."""

from app_helpers import APP, no_failure, seed_run, texts


def open_with(page: str, **query):
    """Return an AppTest of pages/<page>.py run once with the URL's query parameters `query`."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60).run()
    at = at.switch_page(f"pages/{page}.py")
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def test_compare_opens_the_runs_of_its_link_and_names_the_unknown_ones(seeded_home):
    _, ids = seeded_home
    at = open_with("compare", runs=f"{ids[0]},nope,{ids[2]}")
    assert not at.exception
    assert at.radio(key="cmp_mode").value == "runs"
    assert at.multiselect(key="cmp_runs").value == [ids[0], ids[2]]
    assert any("names runs nope, which this musicgen home does not have" in w for w in texts(at.warning))
    at.multiselect(key="cmp_runs").set_value([ids[1]]).run()  # a later choice is the user's, and the URL follows it
    assert at.multiselect(key="cmp_runs").value == [ids[1]]
    assert at.query_params["runs"] == ids[1]


def test_compare_opens_the_sweep_of_its_link(home):
    from musicgen.runs import store

    sweep = store.create_sweep("grid", {"data": "bach"})
    store.create_sweep("later", {"data": "bach"})  # the newest: what the page would pick without the link
    at = open_with("compare", sweep=sweep)
    assert not at.exception
    assert at.radio(key="cmp_mode").value.startswith("a sweep") and at.selectbox(key="cmp_sweep").value == sweep


def test_generate_opens_with_the_model_of_its_link(home):
    run = seed_run("mine", "adam", "bce", 0)
    at = open_with("generate", model=run)
    no_failure(at)
    assert at.multiselect(key="gen_models").value == [run]
    at = open_with("generate", model="gone")
    assert any("names models gone" in w and "pick from the list instead" in w for w in texts(at.warning))
    assert at.multiselect(key="gen_models").value == ["demo"]
