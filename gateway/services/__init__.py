"""The request pipeline below the routes: plain data in, plain data out, no web framework."""
