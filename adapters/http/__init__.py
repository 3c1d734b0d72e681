"""The backend over HTTP (spec section 6): the hardened client and the strict parsing of its answers."""
