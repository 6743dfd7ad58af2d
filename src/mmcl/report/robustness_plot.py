"""ID-vs-OOD scatter for effective robustness, and an HTML section embedding it.

The axes are in the fit's transformed space (logit by default), as in imagenet-testbed's
``model_scatter_plot``, so the baseline is a straight line; tick labels are accuracies in %.
The shaded band is the bootstrap 95 % band of the baseline fit (baseline models, or whole runs,
resampled: the line's uncertainty only); y = x is dashed. The axes span the points drawn
(`accuracy_axis`), and an accuracy of exactly 0 or 1, which has no logit, sits on the edge.
Uses matplotlib's object API (Figure + Agg canvas) so no global pyplot state is touched.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmcl.eval.robustness import RobustnessResult, get_transform, prediction_band
from mmcl.report.accuracy_axis import fit_axis, note_edge, scatter_points, set_accuracy_axes


def _points(result: RobustnessResult, target: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """group -> (ID accuracies, OOD accuracies) of the models that have the target."""
    groups: dict[str, tuple[list[float], list[float]]] = {}
    for m in result.models:
        if target in m.acc:
            xs, ys = groups.setdefault(m.point.group, ([], []))
            xs.append(m.point.id_acc)
            ys.append(m.acc[target])
    return {g: (np.array(x), np.array(y)) for g, (x, y) in groups.items()}


def scatter_figure(result: RobustnessResult, target: str) -> Figure:
    """The scatter for one target: groups coloured, baseline grey, fit line and band in red, on
    axes that span every point (0 or 1 on the edge where the transform has no value for it)."""
    t = get_transform(result.config.transform)
    tf = result.fits[target]
    groups = _points(result, target)
    axis = fit_axis(
        np.concatenate([np.concatenate([x, y]) for x, y in groups.values()]),
        forward=t.forward,
        inverse=t.inverse,
    )
    grid = np.linspace(axis.low, axis.high, 200)  # (200,)
    grid_acc = t.inverse(grid)
    fig = Figure(figsize=(7, 6.5))
    ax = fig.add_subplot()
    ax.plot(grid, grid, ls="--", color="black", lw=1, label="y = x")
    ax.plot(grid, t.forward(tf.fit.predict(grid_acc)), color="tab:red", lw=2, label="baseline fit")
    if tf.coeffs is not None:
        band_lo, band_hi = prediction_band(tf.coeffs, grid_acc, result.config.transform)
        ax.fill_between(grid, t.forward(band_lo), t.forward(band_hi), color="tab:red", alpha=0.2,
                        label="95% band of the line (baseline resampled)")  # fmt: skip
    colours = iter(f"C{i}" for i in range(1, 100))
    on_edge = False
    for group, (x, y) in sorted(groups.items(), key=lambda kv: kv[0] != "baseline"):
        baseline = group == "baseline"
        colour = "0.6" if baseline else next(colours)
        size, layer = (14, 2) if baseline else (30, 3)
        on_edge |= scatter_points(
            ax, axis, x, y, s=size, alpha=0.75, color=colour, label=group, zorder=layer
        )
    for m in result.models:  # name the models the user brought; the baseline is the backdrop
        if target in m.acc and m.point.reported and not m.point.baseline:
            xy = (float(axis.position(m.point.id_acc)), float(axis.position(m.acc[target])))
            ax.annotate(m.point.label, xy, xytext=(4, 3), textcoords="offset points", fontsize=7)
    if on_edge:
        note_edge(ax)
    set_accuracy_axes(ax, axis, "ID accuracy (%)", f"OOD accuracy, {target} (%)")
    ax.set_title(f"{target}: {result.config.transform} axes, baseline n={tf.fit.n}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def save_scatter(result: RobustnessResult, target: str, path: str | Path) -> Path:
    """Write the scatter PNG for one target."""
    path = Path(path)
    fig = scatter_figure(result, target)
    FigureCanvasAgg(fig).print_png(str(path))
    return path


def interval_in_words(result: RobustnessResult, name: str) -> str:
    """Exactly what a model's effective-robustness interval holds (and what it does not)."""
    tf, cfg = result.fits[name], result.config
    if tf.coeffs is None:
        return "No interval: the bootstrap was switched off (--bootstrap 0)."
    units = (
        f"its {tf.runs} runs (checkpoints of one run drawn together)"
        if tf.runs < tf.fit.n
        else f"its {tf.fit.n} models"
    )
    return (
        f"The {cfg.level:g}% interval of a model's effective robustness is the spread of the line "
        f"itself: the baseline refitted on {len(tf.coeffs)} resamples of {units} with "
        "replacement, read at the model's ID accuracy. It holds the baseline's uncertainty only, "
        "not the test-sample noise of the model's own accuracies, nor how far another seed "
        "would move the model."
    )


def fit_in_words(result: RobustnessResult, name: str) -> str:
    """The baseline line of one target as a sentence a reader can check against the plot, and
    what the intervals beside it hold."""
    tf, transform = result.fits[name], result.config.transform
    f = tf.fit
    sign = "+" if f.intercept >= 0 else "-"
    return (
        f"On {name}, the baseline's {f.n} models lie on {transform}(OOD) = {f.slope:.3f} x "
        f"{transform}(ID) {sign} {abs(f.intercept):.3f} (r = {f.r:.3f}); "
        "a model's effective robustness is its OOD accuracy above this line at its own ID "
        f"accuracy, in points. {interval_in_words(result, name)}"
    )


def html_section(result: RobustnessResult, pngs: dict[str, Path], baseline: str = "") -> str:
    """An HTML fragment: the plots first (PNGs inlined), each fit in words, then the tables."""
    main = result.main_target.name
    parts = ["<section class='mmcl-robustness'>", "<h2>Effective robustness</h2>"]
    for name, png in pngs.items():
        data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
        alt = html.escape(f"ID vs OOD accuracy, {name}")
        parts.append(f"<img alt='{alt}' src='data:image/png;base64,{data}'/>")
        parts.append(f"<p>{html.escape(fit_in_words(result, name))}</p>")
    settings = f"transform {result.config.transform}; baseline: {baseline}; sorted by ER on {main}"
    parts.append(f"<p>{html.escape(settings)}</p>")
    parts += [f"<p>{html.escape(t.name)}: {html.escape(t.description)}</p>" for t in result.targets]
    parts.append("<h3>Models</h3>")
    parts.append(_models_table(result, main))
    parts.append("<h3>Baseline fits</h3>")
    parts.append(
        "<div class='scroll'><table><tr><th>target</th><th>slope</th><th>intercept</th>"
        "<th>r</th><th>n</th></tr>"
    )
    for name, tf in result.fits.items():
        f = tf.fit
        parts.append(
            f"<tr><td class='text'>{html.escape(name)}</td><td>{f.slope:.4f}</td>"
            f"<td>{f.intercept:.4f}</td><td>{f.r:.4f}</td><td>{f.n}</td></tr>"
        )
    parts.append("</table></div>")
    if result.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in result.notes) + "</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _models_table(result: RobustnessResult, main: str) -> str:
    """Rows of reported models: label, group, ID %, OOD % and ER [CI] on the main target."""
    rows = ["<div class='scroll'><table><tr><th>model</th><th>group</th><th>ID %</th>"]
    rows.append(f"<th>{html.escape(main)} %</th><th>ER (pp)</th><th>95% CI of the line</th></tr>")
    for m in result.models:
        if not m.point.reported or main not in m.er:
            continue
        ci = m.er_ci.get(main)
        ci_text = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
        rows.append(
            f"<tr><td class='text'>{html.escape(m.point.label)}</td>"
            f"<td class='text'>{html.escape(m.point.group)}</td>"
            f"<td>{100 * m.point.id_acc:.2f}</td><td>{100 * m.acc[main]:.2f}</td>"
            f"<td>{m.er[main]:.2f}</td><td>{ci_text}</td></tr>"
        )
    rows.append("</table></div>")
    return "\n".join(rows)
