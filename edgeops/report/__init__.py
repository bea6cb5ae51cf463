"""What a bundle shows a person: kept outputs, the sample gallery and ``report.html``.

- :mod:`edgeops.report.outputs`: per-sample scores of each variant's kept outputs;
- :mod:`edgeops.report.gallery`: PNGs of inputs, reference and variant outputs, differences;
- :mod:`edgeops.report.html`: the self-contained ``report.html`` (plotly.js inline);
- :mod:`edgeops.report.kept_float`: mixed-precision variants, their kept layers and sensitivity.
"""
