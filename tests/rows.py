"""Test rows written the short way: a setting's name ("labels=1000,epochs=10") as the typed columns a run records."""
from wellread.results import Setting


def typed(name: str = "default") -> dict:
    """The columns Setting.columns() gives for the setting this name spells (test data only: the kit never parses)."""
    head, _, variant = name.partition(",")
    analysis, _, x = head.partition("=")
    for kind in (int, float):
        try:
            x = kind(x)
            break
        except ValueError:
            pass
    setting = Setting(analysis, x, variant)
    assert setting.name == name, (setting.name, name)
    return setting.columns()
