"""The nodes of workflow_example.ipynb. Nodes live in a module, not in the notebook, so
that a saved result (which names its nodes' functions) can be loaded again later."""

import pyiron_workflow as pwf


@pwf.as_function_node
def square(x):
    y = x * x
    return y
