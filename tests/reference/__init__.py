"""A reference model of the policy language, and generators of policies and requests for it.

`interpreter.py` decides a request by walking the syntax tree, written from the README alone;
`strategies.py` generates valid policies (as text) and requests near their boundaries. The
differential test (`tests/test_reference_differential.py`) holds the compiled engine to it.
"""
