"""``edgeops studio``: a local web app over a workspace's run history and its bundles.

- :mod:`edgeops.studio.data`: read-only access to ``runs.sqlite`` and the bundles it
  names, and the one place a URL's names become paths (checked);
- :mod:`edgeops.studio.app`: the Starlette application, its pages and the token check;
- :mod:`edgeops.studio.command`: the CLI command that serves it on uvicorn.
"""
