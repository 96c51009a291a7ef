"""The admins' dashboard below the routes: charts as data and geometry, sessions, page models."""
