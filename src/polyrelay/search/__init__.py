"""Server-side web search: tool validation, domain rules and the search backends.

`make_backend` builds the backend the `search:` settings name; the tool loop calls
`search_filtered` on it, which applies the tool's domain filter whatever the backend.
"""
