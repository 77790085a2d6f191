"""One module per route: answer, event, fallback, history (GET /calls and /calls/{id}), token,
health. Each reads top to bottom: its request, its settings, its one call to the store, its
reply. What they share lives in modules of its own: http (Request, Reply), adapters (the I/O
passed in), signed (the signature check in front of every webhook) and outcomes (the request
line every request writes, and the one table of what each failure becomes)."""
