"""Optional controls for the notebooks (ipywidgets): pick a student, a method, a budget, T and alpha.

Widgets are sugar: a notebook's `parameters` cell decides what runs (papermill never clicks), and
each callback is a thin wrapper over a library function. No `interact` (it hangs papermill with
plotly); buttons run their action into an `Output` area.
"""
from __future__ import annotations

import ipywidgets as W
import traitlets

from .budget import BUDGETS, get_budget
from .estimate import estimate, warning
from .methods import METHODS, PD, PRETRAINED
from .sizes import HIDDENS, LAYERS, Size, parse_size


def _label(size: Size) -> str:
    name = f"{size.name} " if size.name != size.short else ""
    return f"{name}{size.short} · {size.mlm_params / 1e6:.1f}M"


class StudentPicker(W.VBox):
    """A 6x4 grid (layers down, hidden across) of toggle buttons; `.value` is the chosen 'L4/H256'.

    With `save=True` a click also writes runs/student.json, which the later notebooks read when
    their STUDENT parameter is None."""
    value = traitlets.Unicode("L2/H128")

    def __init__(self, value="tiny", save: bool = True, on_change=None, budget="classroom"):
        self._save = save
        self._budget = budget
        self._on_change = on_change
        self._busy = False
        self.buttons = {}
        cells = [W.Label("")] + [W.HTML(f"<b>H={h}</b>") for h in HIDDENS]
        for layers in LAYERS:
            cells.append(W.HTML(f"<b>L={layers}</b>"))
            for hidden in HIDDENS:
                size = Size(layers, hidden)
                button = W.ToggleButton(description=_label(size), tooltip=f"{size.hub_id}",
                                        layout=W.Layout(width="auto"))
                button.observe(lambda change, s=size: self._clicked(change, s), names="value")
                self.buttons[size.short] = button
                cells.append(button)
        grid = W.GridBox(cells, layout=W.Layout(grid_template_columns="70px repeat(4, 200px)", grid_gap="4px"))
        self.status = W.HTML()
        super().__init__([grid, self.status])
        self._select(parse_size(value), save=False)

    def _clicked(self, change, size: Size) -> None:
        if self._busy:
            return
        if change["new"]:
            self._select(size, save=self._save)
        elif size.short == self.value:  # clicking the chosen one again keeps it chosen
            self._select(size, save=False)

    def _select(self, size: Size, save: bool) -> None:
        self._busy = True  # setting the buttons below must not re-enter _clicked
        try:
            for short, button in self.buttons.items():
                button.value = short == size.short
                button.button_style = "success" if short == size.short else ""
        finally:
            self._busy = False
        self.value = size.short
        note = ""
        if save:
            from .lessons import save_student
            note = f" — saved to {save_student(size)} for the next notebooks"
        guess = estimate(size, PD.name, get_budget(self._budget))
        advice = (f"PD at the {self._budget!r} budget here: {guess}" if guess.fits and not guess.slow else
                  f"<span style='color:#d62728'>{warning(size, PD.name, get_budget(self._budget))}</span>")
        self.status.value = (f"Student: <b>{size}</b> ({size.short}, {size.mlm_params / 1e6:.1f}M parameters){note}"
                             f"<br>{advice}")
        if self._on_change:
            self._on_change(size)

    @property
    def size(self) -> Size:
        return parse_size(self.value)


def student_picker(value="tiny", save: bool = True, on_change=None, budget="classroom") -> StudentPicker:
    """The 6x4 student grid; clicking a size selects it (and saves it for the later notebooks) and says how long
    PD with it would take here at `budget`, warning before a size that will not fit."""
    return StudentPicker(value, save=save, on_change=on_change, budget=budget)


def method_picker(value="pd", methods=None) -> W.Dropdown:
    methods = list(methods or METHODS)
    return W.Dropdown(options=[(f"{m}: {METHODS[m].description}", m) for m in methods], value=value,
                      description="method", style={"description_width": "initial"}, layout=W.Layout(width="420px"))


def pretrained_picker(value="own") -> W.ToggleButtons:
    """Where PF's and PD's pre-trained student comes from (recipes.PRETRAINED)."""
    return W.ToggleButtons(options=list(PRETRAINED), value=value, description="pre-trained",
                           tooltips=list(PRETRAINED.values()))


def budget_picker(value="classroom") -> W.ToggleButtons:
    tips = {"smoke": "CI: seconds, numbers only checked for sanity", "classroom": "a laptop: one student in minutes",
            "classroom-v2": "the committed main grid's: twice the classroom's pre-training, 4x its transfer text",
            "classroom-v1": "the committed analyses': 6x the classroom's pre-training, 8x its transfer text",
            "gpu": "one GPU for about half an hour: far more pre-training",
            "paper": "a GPU with internet: hub data, paper-scale steps"}
    return W.ToggleButtons(options=list(BUDGETS), value=value, description="budget",
                           tooltips=[tips.get(name, name) for name in BUDGETS])


def temperature_slider(value: float = 1.0) -> W.FloatLogSlider:
    return W.FloatLogSlider(value=value, base=2, min=-1, max=3, step=0.25, description="T",
                            readout_format=".2f", continuous_update=False)


def alpha_slider(value: float = 0.0) -> W.FloatSlider:
    return W.FloatSlider(value=value, min=0.0, max=1.0, step=0.1, description="alpha",
                         readout_format=".1f", continuous_update=False)


def run_button(action, *controls, description="Run", output: W.Output | None = None) -> W.VBox:
    """A button that calls `action(*[c.value for c in controls])` and shows what it prints/returns.

    Nothing runs until the button is clicked, so papermill (which never clicks) skips it."""
    output = output or W.Output()
    button = W.Button(description=description, button_style="primary", icon="play")

    def clicked(_):
        button.disabled = True
        with output:
            output.clear_output()
            try:
                result = action(*[c.value for c in controls])
                if result is not None:
                    from IPython.display import display
                    display(result)
            finally:
                button.disabled = False
    button.on_click(clicked)
    return W.VBox([W.HBox(list(controls) + [button]), output])


def redraw_on_change(draw, *controls, output: W.Output | None = None) -> W.VBox:
    """Redraw `draw(*values)` (which returns a figure) in an Output area whenever a control changes."""
    output = output or W.Output()

    def redraw(_=None):
        with output:
            output.clear_output(wait=True)
            draw(*[c.value for c in controls]).show()
    for c in controls:
        c.observe(redraw, names="value")
    return W.VBox([W.HBox(list(controls)), output])
