"""The booking API: routes, API keys, error answers and the OpenAPI document.

The top part: imports every part below; only ``__main__`` imports it.
"""
