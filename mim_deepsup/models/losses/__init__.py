"""losses of the deep-supervision techniques (added with each method)."""
