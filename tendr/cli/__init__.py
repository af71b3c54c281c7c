"""The command line: `app.py` is the one Typer app; each command family is a module that
parses, calls one operation and renders (`render.py`, `client_report.py`, `progress.py`);
`common.py` holds the options, the error rendering and the workspace a command starts from."""
