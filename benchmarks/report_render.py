"""What report.html and the gallery cost a bundle: render time and file size.

Re-renders ``gallery/`` and ``report.html`` of an existing bundle into a
temporary folder (the bundle is not touched), three times, and prints the
median times, the number of PNGs and the report's size.

    python3 benchmarks/report_render.py dist/segmenter-1.0.0

Run it from the folder ship ran in: the bundle's results name the cache's files
as ship saw them.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(bundle: Path) -> None:
    from edgeops.pipeline.bundle import read_results
    from edgeops.report.gallery import write_gallery
    from edgeops.report.html import write_report

    results = read_results(bundle)
    gallery_s, report_s = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            started = time.perf_counter()
            gallery = write_gallery(results, out)
            middle = time.perf_counter()
            report = write_report(results, gallery, out)
            gallery_s.append(middle - started)
            report_s.append(time.perf_counter() - middle)
            size_mb = report.stat().st_size / 1e6
            pngs = len(gallery.files()) if gallery else 0
    print(
        f"{len(results.variants)} variants, {len(results.outputs)} with kept outputs, {pngs} PNGs: "
        f"gallery {statistics.median(gallery_s):.2f} s, report.html "
        f"{statistics.median(report_s):.2f} s, {size_mb:.2f} MB (median of 3)"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 benchmarks/report_render.py BUNDLE")
    main(Path(sys.argv[1]))
