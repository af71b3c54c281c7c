"""The command line: `app.py` parses, calls one operation and renders (`render.py`,
`client_report.py`)."""
