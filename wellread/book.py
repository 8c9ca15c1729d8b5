"""The executed lessons as a static site: a tour's notebooks with their outputs and interactive figures, the README as
the front page and docs/ beside them, built into one folder any static host serves (`make book`).

Built with Sphinx, MyST-NB and the book theme (the engine of Jupyter Book 1), which need nothing but PyPI: Jupyter
Book 2 (mystmd) downloads its site theme when it builds, which an offline machine cannot. `python -m wellread.book [--tour DIR] [--out DIR]`.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .lessons import NOTEBOOKS, REPO_URL, TOUR, install_cell

ROOT = Path(__file__).resolve().parents[1]
# The pages besides the lessons, in the README's reading order; docs/ pages not named here follow them.
GUIDES = ["docs/teachers.md", "docs/results.md", "docs/performance.md", "docs/reliability.md", "docs/library.md"]
ABOUT = ["data/README.md", "CHANGELOG.md"]
IMAGES = (".svg", ".png", ".jpg", ".jpeg", ".gif")
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def latest_tour(runs=None) -> Path | None:
    """The newest runs/tour/<time>/ holding an executed copy of every tour notebook (None if there is none)."""
    from .cache import runs_dir
    tours = Path(runs) if runs else runs_dir() / "tour"
    done = [d for d in tours.glob("*/") if all((d / f"{n}.ipynb").exists() for n in TOUR)]
    return max(done, key=lambda d: d.stat().st_mtime) if done else None


def guide_pages() -> list[str]:
    extra = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md") if str(p.relative_to(ROOT)) not in GUIDES)
    return [p for p in GUIDES if (ROOT / p).exists()] + extra


# ----------------------------------------------------------------------------------------------- one lesson

def header(params: dict, provenance: dict, seconds: float | None) -> str:
    """The note under a lesson's title: which machine, budget, precision and commit produced what the page shows."""
    machine = " ".join(str(provenance.get("machine") or "not recorded").split())
    flags = provenance.get("cpu_flags")
    if flags is not None:
        machine += f" (CPU flags: {', '.join(flags) if flags else 'none of avx2, avx512f, avx512_bf16, amx'})"
    precision = provenance.get("precision")
    precision = f"**{precision}** ({provenance.get('precision_why')})" if precision else "not recorded"
    when = str(provenance.get("date", "?")).replace("T", " ")[:16]
    took = f" in {seconds:.0f} s" if seconds else ""
    return (f"```{{admonition}} How this page was made\n:class: note\n"
            f"Executed on {when}{took}. Machine: {machine}. Budget: **{params.get('BUDGET', '?')}**. "
            f"Precision: {precision}. Student: `{params.get('STUDENT')}`, seed {params.get('SEED')}. Commit: "
            f"`{provenance.get('commit') or 'unknown'}`. To run it yourself and use its controls, open it on Binder or "
            f"Colab (the rocket button above) or in your own JupyterLab.\n```")


def figure_html(figure: dict, div_id: str) -> str:
    """A plotly figure as a div and a script that draws it with the one plotly.js the site loads (no CDN, no
    MathJax, no copy of plotly.js per figure as the notebook renderer writes)."""
    import plotly.io as pio
    return pio.to_html(figure, include_plotlyjs=False, include_mathjax=False, full_html=False, validate=False,
                       div_id=div_id, default_height="450px", config={"responsive": True})


def widget_html(model_id: str, state: dict, plain: str = "") -> str:
    """A widget frozen as it was left: a progress bar as its text and bar; any other control as a one-line note
    (a static page has no kernel to answer it)."""
    found, todo = [], [model_id]
    while todo:
        model = state.get(todo.pop(0))
        if model:
            found.append(model)
            todo += [c.removeprefix("IPY_MODEL_") for c in model["state"].get("children", []) if isinstance(c, str)]
    bar = next((m["state"] for m in found if m["model_name"] in ("FloatProgressModel", "IntProgressModel")), None)
    if bar is not None:
        texts = [html.escape(html.unescape(m["state"].get("value", ""))) for m in found if m["model_name"] == "HTMLModel"]
        left, right = (texts[0], texts[-1]) if len(texts) > 1 else ("", "")
        return (f'<div class="wr-progress">{left} <progress value="{bar.get("value", 0)}" max="{bar.get("max", 1)}">'
                f'</progress> {right}</div>')
    named = re.match(r"^(\w+)\(", plain)  # the widget's class, as its text form starts ("StudentPicker(...")
    name = named.group(1) if named else found[0]["model_name"].removesuffix("Model") if found else "a widget"
    return (f'<p class="wr-widget"><em>An interactive control ({html.escape(name)}) stands here in a live notebook: '
            f'open the lesson on Binder or Colab, or in JupyterLab, to use it.</em></p>')


def book_notebook(source: Path, dest: Path, summary: dict | None) -> int:
    """Write the book's copy of one executed notebook; returns how many figures it holds."""
    import nbformat
    nb = nbformat.read(str(source), as_version=4)
    name = source.stem
    state = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})  # no widget manager from a CDN
    meta = nb.metadata.get("papermill", {})
    cells, figures, titled = [], 0, False
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags:
            continue  # the note above says what was passed
        if cell.cell_type == "code":
            if cell.source == install_cell():
                tags.append("remove-cell")  # Colab's install step: nothing to read
            if cell.metadata.get("jupyter", {}).get("source_hidden"):
                tags.append("hide-input")  # an exercise's solution stays folded, as in the notebook
            outputs = []
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if PLOTLY in data:
                    figures += 1
                    out.data = {"text/html": figure_html(data[PLOTLY], f"{name}-figure-{figures}")}
                elif "window.Plotly = Plotly" in data.get("text/html", ""):
                    continue  # the notebook renderer's own plotly.js (~5 MB): the site loads one copy for all pages
                elif WIDGET in data:
                    out.data = {"text/html": widget_html(data[WIDGET]["model_id"], state, data.get("text/plain", ""))}
                outputs.append(out)
            cell.outputs = outputs
        if cell.cell_type == "markdown" and cell.source.startswith("# ") and not titled:  # the note under the title
            title, _, rest = cell.source.partition("\n")
            note = header(meta.get("parameters", {}), (summary or {}).get("provenance", {}), meta.get("duration"))
            cell.source, titled = f"{title}\n\n{note}\n{rest}", True
        cells.append(cell)
    nb.cells = cells
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(dest))
    return figures


# ----------------------------------------------------------------------------------------------- pages and links

def page_links(text: str, page: str, pages: set[str], images: set[str]) -> str:
    """Links between the book's pages stay relative (Sphinx turns them into page links); a linked image is kept (added
    to `images`); a link to any other file of the repository points at it on GitHub."""
    def fix(match):
        bang, label, target = match.groups()
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = (ROOT / Path(page).parent / path).resolve()
        try:
            rel = resolved.relative_to(ROOT).as_posix()
        except ValueError:
            return match.group(0)
        if rel in pages:
            return match.group(0)
        if rel.lower().endswith(IMAGES) and resolved.is_file():
            images.add(rel)
            return match.group(0)
        kind = "tree" if resolved.is_dir() else "blob"
        return f"{bang}[{label}]({REPO_URL}/{kind}/main/{rel}{'#' + anchor if anchor else ''})"
    return LINK.sub(fix, text)


def conf_py(title: str) -> str:
    """Sphinx's settings: MyST-NB shows the stored outputs (never executes), the book theme, one plotly.js for all."""
    settings = {
        "project": title, "html_title": title, "root_doc": "README", "exclude_patterns": ["_build"],
        "extensions": ["myst_nb", "sphinx_external_toc"], "external_toc_path": "_toc.yml",
        "nb_execution_mode": "off", "myst_heading_anchors": 4,  # README's docs/results.md#the-reading-curve resolves
        "myst_enable_extensions": ["dollarmath", "colon_fence"],
        "html_theme": "sphinx_book_theme", "html_static_path": ["_static"], "html_js_files": ["plotly.min.js"],
        # the rocket button opens the lesson's clean notebook (same path in the repository) on Binder or Colab
        "html_theme_options": {"repository_url": REPO_URL, "repository_branch": "main", "path_to_docs": "",
                               "use_repository_button": True, "use_download_button": False, "home_page_in_toc": True,
                               "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface":
                                                  "jupyterlab", "colab_url": "https://colab.research.google.com"}},
        "html_show_sphinx": False, "html_show_copyright": False, "html_copy_source": False,
        "suppress_warnings": ["mystnb.unknown_mime_type", "myst.header"],
    }
    return "".join(f"{key} = {value!r}\n" for key, value in settings.items())


def toc(lessons: list[str], guides: list[str], about: list[str]) -> str:
    part = lambda caption, files: {"caption": caption, "chapters": [{"file": f.removesuffix(".md")} for f in files]}
    return json.dumps({"format": "jb-book", "root": "README",  # JSON is YAML: no YAML writer needed
                       "parts": [part("Lessons", lessons), part("Guides", guides), part("About", about)]}, indent=1)


def stage(tour: Path, src: Path) -> dict:
    """Lay out the book's sources in `src` from the tour folder `tour`; returns what went in."""
    import plotly
    lessons = [n for n in NOTEBOOKS if (tour / f"{n}.ipynb").exists()]
    if not lessons:
        raise FileNotFoundError(f"{tour} holds no executed lesson (run `make tour` first, or pass --tour DIR)")
    guides, about = guide_pages(), [p for p in ABOUT if (ROOT / p).exists()]
    pages = {"README.md", *guides, *about, *(f"notebooks/{n}.ipynb" for n in lessons)}
    images, figures = set(), {}
    for page in ["README.md", *guides, *about]:
        (src / page).parent.mkdir(parents=True, exist_ok=True)
        (src / page).write_text(page_links((ROOT / page).read_text(encoding="utf-8"), page, pages, images), encoding="utf-8")
    for image in images:
        (src / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / image, src / image)
    for name in lessons:
        summary = tour / f"{name}.json"
        figures[name] = book_notebook(tour / f"{name}.ipynb", src / "notebooks" / f"{name}.ipynb",
                                      json.loads(summary.read_text()) if summary.exists() else None)
    (src / "_static").mkdir(exist_ok=True)
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", src / "_static" / "plotly.min.js")
    (src / "conf.py").write_text(conf_py("wellread: Well-Read Students Learn Better, on a laptop"))
    (src / "_toc.yml").write_text(toc([f"notebooks/{n}" for n in lessons], guides, about))
    return {"lessons": lessons, "guides": guides, "about": about, "images": sorted(images), "figures": figures}


def build(tour=None, out="build/book", quiet: bool = False) -> Path:
    """Build the site from `tour` (default: the newest complete tour under runs/tour) into `out`; returns `out`."""
    tour = Path(tour) if tour else latest_tour()
    if tour is None:
        raise FileNotFoundError("no complete tour under runs/tour: run `make tour` first (or pass --tour DIR)")
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="wellread-book-") as tmp:
        src = Path(tmp) / "src"
        staged = stage(tour, src)
        run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src), str(Path(tmp) / "html")],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"sphinx failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        if run.stderr.strip() and not quiet:  # a warning (a broken link, a missing image) is worth reading
            print(run.stderr.strip(), file=sys.stderr)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(Path(tmp) / "html", out, ignore=shutil.ignore_patterns("*.map", ".buildinfo", ".doctrees"))
    (out / ".nojekyll").touch()  # GitHub Pages would hide _static/ and _images/ otherwise
    if not quiet:
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        print(f"book: {len(staged['lessons'])} lessons ({sum(staged['figures'].values())} figures) from {tour}, "
              f"{len(staged['guides']) + len(staged['about']) + 1} other pages -> {out}/ ({size / 1e6:.1f} MB); "
              f"open {out / 'index.html'}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wellread.book", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tour", help="a tour's folder (default: the newest complete one under runs/tour)")
    parser.add_argument("--out", default="build/book")
    args = parser.parse_args(argv)
    try:
        build(args.tour, args.out)
    except (FileNotFoundError, RuntimeError) as e:
        print(f"book: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
