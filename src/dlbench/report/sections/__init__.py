"""The report's sections, one module per family; each function returns a page.Section that
report/html.py renders. A new section: a function here (or a new module), added to the list in
html.py `build_report`."""
