"""One module per command: parse flags, call the library, print. Library modules below carry
the work; nothing here is imported by them."""
