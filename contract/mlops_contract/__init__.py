"""Facts the hub side and the notebook side must agree on, written once.

The hub side (``jupyterhub_mlops``) and the notebook side (``jupyter_mlops``)
run in different pods and never import each other. What one writes and the
other reads lives here, in modules that import nothing but the standard
library and pydantic (the REST documents, ``api``; JupyterHub and Hera already
require it), so either side can use them without pulling in the other's runtime
(``tests/contract/test_contract_is_dependency_free.py`` holds this package to that).
"""
