"""Form errors as a page states them: every bad field at once, named as the page labels it, without CLI flags.

A config's `__post_init__` stops at its first bad value and words it for the command line ("lr must be
...; e.g. --seq-len 64"). `field_errors` asks the config about each field on its own, so that a form with
two bad fields hears about both; `form_message` turns them into the one line the page shows.
"""

from __future__ import annotations

import re

from musicgen.errors import ConfigError

_FLAG_EXAMPLE = re.compile(r"; e\.g\. --[\w-]+ \S+")  # "; e.g. --seq-len 64": the command line's fix, not the form's
_FLAG = re.compile(r"--([a-z][\w-]*)")


def field_errors(cls, **values) -> dict[str, str]:
    """Return {field: message} for each of `values` that config class `cls` refuses; {} when `cls(**values)` is valid.

    Each field is checked with the others at their defaults; when every field passes alone but not together
    (e.g. shares that do not sum to 1), the combined message comes under the key "".
    """
    try:
        cls(**values)
        return {}
    except ConfigError as e:
        whole = str(e)
    errors = {}
    for name, value in values.items():
        try:
            cls(**{name: value})
        except ConfigError as e:
            errors[name] = str(e)
    return errors or {"": whole}


def form_errors(not_numbers, *checks) -> dict[str, str]:
    """Return every bad field of a form: `not_numbers` (fields whose text is not a number), then each
    `(cls, values)` of `checks` by `field_errors` (a class is asked only about the fields that are numbers).
    """
    errors = {name: f"{name} is not a number; type one or leave it empty for automatic" for name in not_numbers}
    for cls, values in checks:
        errors |= field_errors(cls, **{k: v for k, v in values.items() if k not in not_numbers})
    return errors


def label_of(field: str, labels: dict[str, str]) -> str:
    """Return the form's label of a config field: `labels[field]`, else its name with spaces."""
    return labels.get(field, field.replace("_", " "))


def form_message(errors: dict[str, str], labels: dict[str, str]) -> str:
    """Return one line naming every bad field by its label and what is wrong, e.g. 'learning rate must be ...; epochs ...'."""
    parts = []
    for field, message in errors.items():
        text = _FLAG.sub(lambda m: label_of(m.group(1).replace("-", "_"), labels), _FLAG_EXAMPLE.sub("", message))
        if field and text.startswith(field):
            text = label_of(field, labels) + text[len(field) :]
        elif field:
            text = f"{label_of(field, labels)}: {text}"
        parts.append(text)
    n = len(parts)
    return f"{'This field needs' if n == 1 else f'These {n} fields need'} a fix: " + "; ".join(parts) + "."
