"""The engine: sort, sessions, matched paths per unit, and the tables built from them."""
